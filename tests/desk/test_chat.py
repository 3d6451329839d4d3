"""Team chat: team rooms and direct conversations, live, with files; strangers see nothing."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.desk import services
from apps.desk.models import ChatMessage, ChatRoom
from contactcenter.asgi import application
from tests.desk.test_live import _headers
from tests.factories import TeamFactory, UserFactory


@pytest.fixture
def team(org_a, agent_a, supervisor_a):
    team = TeamFactory(organization=org_a, name="Night shift")
    team.members.add(agent_a)
    team.supervisors.add(supervisor_a)
    return team


@pytest.mark.django_db
def test_a_team_room_is_for_its_members_and_supervisors(login, team, agent_a, org_a, roles):
    outsider = UserFactory(organization=org_a, roles=["Agent"])
    client = login(agent_a)
    body = client.get(reverse("desk-chat")).content.decode()
    assert "# Night shift" in body
    room = ChatRoom.objects.get(team=team)
    assert client.get(reverse("desk-chat-room", args=[room.pk])).status_code == 200
    assert login(outsider).get(reverse("desk-chat-room", args=[room.pk])).status_code == 404
    with pytest.raises(ValidationError):
        services.chat_post(room=room, author=outsider, body="let me in")


@pytest.mark.django_db
def test_one_direct_room_per_pair_whoever_starts_it(login, agent_a, supervisor_a):
    first = login(agent_a).get(reverse("desk-chat-direct", args=[supervisor_a.pk]))
    second = login(supervisor_a).get(reverse("desk-chat-direct", args=[agent_a.pk]))
    assert first["Location"] == second["Location"]
    assert ChatRoom.objects.filter(kind="direct").count() == 1


@pytest.mark.django_db
def test_posting_text_and_a_file(login, team, agent_a, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    room = services.chat_team_room(team=team)
    client = login(agent_a)
    url = reverse("desk-chat-post", args=[room.pk])
    assert client.post(url, {"body": " "}, HTTP_HX_REQUEST="true").status_code == 400
    rota = SimpleUploadedFile("rota.pdf", b"%PDF rota", "application/pdf")
    response = client.post(url, {"body": "New rota", "file": rota}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    message = ChatMessage.objects.get()
    assert (message.body, message.filename) == ("New rota", "rota.pdf")
    got = client.get(reverse("desk-chat-file", args=[message.pk]))
    assert b"".join(got.streaming_content) == b"%PDF rota"


@pytest.mark.django_db(transaction=True)
def test_a_message_reaches_the_other_members_open_page_live(roles, org_a):
    team = TeamFactory(organization=org_a)
    alice = UserFactory(organization=org_a, roles=["Agent"], first_name="Alice")
    bob = UserFactory(organization=org_a, roles=["Agent"], first_name="Bob")
    stranger = UserFactory(organization=org_a, roles=["Agent"])
    team.members.add(alice, bob)
    room = services.chat_team_room(team=team)
    bobs, strangers = _headers(bob), _headers(stranger)

    async def scenario():
        bobs_page = WebsocketCommunicator(application, f"/ws/live/?chat={room.pk}", headers=bobs)
        strangers_page = WebsocketCommunicator(
            application, f"/ws/live/?chat={room.pk}", headers=strangers
        )
        assert (await bobs_page.connect())[0] and (await strangers_page.connect())[0]
        try:
            await database_sync_to_async(services.chat_post)(
                room=room, author=alice, body="Coffee at 3?"
            )
            html = await bobs_page.receive_from(timeout=5)
            assert 'id="chat-thread" hx-swap-oob="beforeend"' in html
            assert "Coffee at 3?" in html and "Alice" in html
            assert await strangers_page.receive_nothing(timeout=0.3)
        finally:
            await bobs_page.disconnect()
            await strangers_page.disconnect()

    async_to_sync(scenario)()


@pytest.mark.django_db
def test_no_direct_room_with_someone_of_another_organization(login, agent_a, admin_b):
    assert login(agent_a).get(reverse("desk-chat-direct", args=[admin_b.pk])).status_code == 404
    assert not ChatRoom.objects.exists()


@pytest.mark.django_db
def test_unread_counts_per_room_and_in_the_menu(login, team, agent_a, supervisor_a):
    from apps.desk.selectors import chat_unread

    room = services.chat_team_room(team=team)
    direct = services.chat_direct_room(user=agent_a, other=supervisor_a)
    services.chat_post(room=room, author=agent_a, body="Morning")  # one's own: never unread
    services.chat_post(room=room, author=supervisor_a, body="Briefing at 9")
    services.chat_post(room=room, author=supervisor_a, body="Room 2")
    services.chat_post(room=direct, author=supervisor_a, body="A word?")
    assert chat_unread(user=agent_a) == {room.pk: 2, direct.pk: 1}
    # Writing in a room reads it (what came before is seen).
    assert chat_unread(user=supervisor_a) == {}
    client = login(agent_a)
    home = client.get(reverse("desk")).content.decode()
    assert 'data-testid="chat-unread"' in home and 'data-count="3"' in home
    listing = client.get(reverse("desk-chat")).content.decode()
    assert listing.count('data-testid="room-unread"') == 2
    # Opening a room reads it.
    page = client.get(reverse("desk-chat-room", args=[room.pk])).content.decode()
    assert 'data-count="1"' in page
    assert chat_unread(user=agent_a) == {direct.pk: 1}


@pytest.mark.django_db(transaction=True)
def test_the_unread_count_follows_live_and_the_open_room_stays_read(roles, org_a):
    from apps.desk.selectors import chat_unread

    writer = UserFactory(organization=org_a, roles=["Agent"])
    reader = UserFactory(organization=org_a, roles=["Agent"])
    room = services.chat_direct_room(user=writer, other=reader)
    headers = _headers(reader)

    async def scenario():
        elsewhere = WebsocketCommunicator(application, "/ws/live/", headers=headers)
        reading = WebsocketCommunicator(application, f"/ws/live/?chat={room.pk}", headers=headers)
        assert (await elsewhere.connect())[0] and (await reading.connect())[0]
        try:
            await database_sync_to_async(services.chat_post)(room=room, author=writer, body="Hi")
            seen = [await elsewhere.receive_from(timeout=5)]
            while "chat-badge" not in seen[-1]:
                seen.append(await elsewhere.receive_from(timeout=5))
            # The tab with the room open marked it read, so the count the other tab shows is
            # 0 or 1 depending on which ran first; the open room's own badge says 0.
            opened = ""
            while 'id="chat-rooms"' not in opened:
                opened = await reading.receive_from(timeout=5)
            assert 'data-testid="room-unread"' not in opened
        finally:
            await elsewhere.disconnect()
            await reading.disconnect()

    async_to_sync(scenario)()
    assert chat_unread(user=reader) == {}
