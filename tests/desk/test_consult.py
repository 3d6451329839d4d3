"""Consult, conference and warm transfer from the desk, and the conversation kept live."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.urls import reverse

from apps.interactions.models import Message, Participant, State
from apps.interactions.services import interaction_note_add, message_add
from apps.queues import services
from apps.queues.models import Offer
from tests.desk.test_live import _headers, _open
from tests.factories import ContactFactory, InteractionFactory, QueueFactory, agent_in_queue

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def live(roles):
    """A chat answered by ``first``; ``second`` is another agent of the organization."""
    queue = QueueFactory(name="Support")
    first = agent_in_queue(queue, idle_minutes=30, first_name="Ann")
    second = agent_in_queue(queue, idle_minutes=1, first_name="Bob")
    contact = ContactFactory(organization=queue.organization, first_name="Ada")
    interaction = InteractionFactory(contact=contact, channel="webchat")
    services.interaction_enqueue(interaction=interaction, queue=queue)
    services.offer_accept(offer=Offer.objects.get(interaction=interaction), agent=first)
    interaction.refresh_from_db()
    return queue, first, second, interaction


def _action(participant, action):
    return reverse("desk-participant", args=[participant.pk, action])


@pytest.mark.django_db
def test_a_warm_transfer_from_the_desk(client, live):
    queue, first, second, interaction = live
    page = reverse("desk-interaction", args=[interaction.pk])
    client.force_login(first)
    response = client.post(
        reverse("desk-transfer", args=[interaction.pk]),
        {"to": f"agent:{second.pk}", "warm": "1", "note": "Refund over the limit"},
        **HTMX,
    )
    # The agent stays in the conversation, which now lists the colleague being asked.
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="participants"' in body and "To take it over" in body
    invitation = Participant.objects.get(interaction=interaction)

    client.force_login(second)
    desk = client.get(reverse("desk")).content.decode()
    assert "asks you to take it over" in desk and "Refund over the limit" in desk
    assert f'data-invitation="{invitation.pk}"' in desk
    # Before joining, the conversation is not theirs to read.
    assert client.get(page).status_code == 404
    response = client.post(_action(invitation, "accept"), **HTMX)
    assert response.status_code == 204 and response["HX-Redirect"] == page
    body = client.get(page).content.decode()
    assert 'data-testid="participation"' in body and "consulting you" in body
    # Consulted, they talk with the agent in the notes, not to the customer.
    assert 'data-testid="send"' not in body and 'data-testid="close"' not in body
    refused = client.post(reverse("desk-reply", args=[interaction.pk]), {"body": "Hi"}, **HTMX)
    assert refused.status_code == 400 and "internal notes" in refused.content.decode()
    assert not Message.objects.filter(interaction=interaction).exists()
    client.post(reverse("desk-note", args=[interaction.pk]), {"body": "I can do it"}, **HTMX)
    # Nor can they act on it as its agent.
    assert (
        client.post(reverse("desk-hold", args=[interaction.pk]), {"to": "on_hold"}).status_code
        == 404
    )

    client.force_login(first)
    body = client.get(page).content.decode()
    assert "I can do it" in body and 'data-testid="take-over"' in body
    response = client.post(_action(invitation, "take-over"), **HTMX)
    assert response.status_code == 204 and response["HX-Redirect"] == reverse("desk")
    interaction.refresh_from_db()
    assert (interaction.state, interaction.assigned_agent_id) == (State.ACTIVE, second.pk)
    assert client.get(page).status_code == 404  # no longer theirs

    client.force_login(second)
    body = client.get(page).content.decode()
    assert 'data-testid="send"' in body and 'data-testid="close"' in body


@pytest.mark.django_db
def test_a_colleague_in_conference_writes_to_the_customer(client, live):
    queue, first, second, interaction = live
    client.force_login(first)
    response = client.post(
        reverse("desk-consult", args=[interaction.pk]),
        {"agent": second.pk, "mode": "conference", "note": "Join us"},
        **HTMX,
    )
    assert response.status_code == 200
    invitation = Participant.objects.get(interaction=interaction)
    assert invitation.mode == Participant.Mode.CONFERENCE
    client.force_login(second)
    client.post(_action(invitation, "accept"), **HTMX)
    response = client.post(
        reverse("desk-reply", args=[interaction.pk]), {"body": "Bob here, I will help"}, **HTMX
    )
    assert response.status_code == 200
    message = Message.objects.get(interaction=interaction)
    assert (message.author_id, message.body) == (second.pk, "Bob here, I will help")
    # They leave; the conversation stays with its agent.
    response = client.post(_action(invitation, "end"), **HTMX)
    assert response.status_code == 204 and response["HX-Redirect"] == reverse("desk")
    interaction.refresh_from_db()
    assert interaction.assigned_agent_id == first.pk


@pytest.mark.django_db
def test_a_consult_brought_into_the_conversation_and_ended_by_the_agent(client, live):
    queue, first, second, interaction = live
    client.force_login(first)
    client.post(reverse("desk-consult", args=[interaction.pk]), {"agent": second.pk}, **HTMX)
    invitation = Participant.objects.get(interaction=interaction)
    services.participant_answer(participant=invitation, agent=second, accept=True)
    response = client.post(_action(invitation, "conference"), **HTMX)
    assert (
        response.status_code == 200 and 'data-testid="conference"' not in response.content.decode()
    )
    invitation.refresh_from_db()
    assert invitation.mode == Participant.Mode.CONFERENCE
    response = client.post(_action(invitation, "end"), **HTMX)
    assert response.status_code == 200
    invitation.refresh_from_db()
    assert invitation.status == Participant.Status.LEFT


@pytest.mark.django_db
def test_consult_errors_are_shown_and_change_nothing(client, live):
    queue, first, second, interaction = live
    client.force_login(first)
    url = reverse("desk-consult", args=[interaction.pk])
    response = client.post(url, {"agent": "999999"}, **HTMX)
    assert response.status_code == 400 and "Choose a colleague" in response.content.decode()
    empty = QueueFactory(organization=queue.organization, name="Sales")
    response = client.post(
        reverse("desk-transfer", args=[interaction.pk]),
        {"to": f"queue:{empty.pk}", "warm": "1"},
        **HTMX,
    )
    assert response.status_code == 400 and "Nobody in Sales is free" in response.content.decode()
    assert not Participant.objects.exists()
    interaction.refresh_from_db()
    assert interaction.assigned_agent_id == first.pk


@pytest.mark.django_db
def test_an_invitation_is_only_answered_by_its_colleague(client, live):
    queue, first, second, interaction = live
    third = agent_in_queue(queue)
    invitation = services.participant_invite(interaction=interaction, actor=first, agent=second)
    client.force_login(third)
    assert client.post(_action(invitation, "accept"), **HTMX).status_code == 404
    assert client.post(_action(invitation, "end"), **HTMX).status_code == 404
    client.force_login(second)
    assert client.post(_action(invitation, "dance"), **HTMX).status_code == 404
    response = client.post(_action(invitation, "decline"), **HTMX)
    assert response.status_code == 204
    invitation.refresh_from_db()
    assert invitation.status == Participant.Status.DECLINED
    # Answered once: a second answer is refused on the desk, not on a page they cannot see.
    response = client.post(_action(invitation, "accept"), **HTMX)
    assert response.status_code == 400 and "no longer open" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_open_conversation_follows_messages_notes_and_colleagues_live(live):
    queue, first, second, interaction = live
    headers = _headers(first)
    outsider = _headers(second)  # not in the conversation: refused its stream

    async def scenario():
        path = f"/ws/live/?desk=1&interaction={interaction.pk}"
        page = await _open(path, headers)
        other = await _open(path, outsider)
        try:
            assert 'id="desk-work"' in await page.receive_from(timeout=5)
            await other.receive_from(timeout=5)  # their own desk panels

            def customer_writes():
                message_add(
                    interaction=interaction,
                    direction="inbound",
                    body="Any news?",
                    author_kind="contact",
                )

            await database_sync_to_async(customer_writes)()
            html = await page.receive_from(timeout=5)
            while 'id="thread"' not in html:
                html = await page.receive_from(timeout=5)
            assert "Any news?" in html and 'hx-swap-oob="true"' in html

            await database_sync_to_async(interaction_note_add)(
                interaction=interaction, body="Checking the order", author=first
            )
            html = await page.receive_from(timeout=5)
            while 'id="notes-list"' not in html:
                html = await page.receive_from(timeout=5)
            assert "Checking the order" in html

            await database_sync_to_async(services.participant_invite)(
                interaction=interaction, actor=first, agent=second
            )
            html = await page.receive_from(timeout=5)
            while 'id="participants"' not in html:
                html = await page.receive_from(timeout=5)
            assert "Invited" in html
            # The colleague's desk rings with the invitation, but the thread never reaches them.
            html = await other.receive_from(timeout=5)
            assert 'data-testid="join"' in html and "Any news?" not in html
            assert await other.receive_nothing(timeout=0.3)
        finally:
            await page.disconnect()
            await other.disconnect()

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_who_takes_it_over_gets_the_agents_tools_on_the_open_page(live):
    queue, first, second, interaction = live
    invitation = services.participant_invite(
        interaction=interaction, actor=first, agent=second, for_transfer=True
    )
    services.participant_answer(participant=invitation, agent=second, accept=True)
    headers = _headers(second)

    async def scenario():
        page = await _open(f"/ws/live/?desk=1&interaction={interaction.pk}", headers)
        try:
            await page.receive_from(timeout=5)  # the desk panels
            await database_sync_to_async(services.participant_take_over)(
                participant=invitation, actor=first
            )
            html = await page.receive_from(timeout=5)
            while 'id="conversation"' not in html:
                html = await page.receive_from(timeout=5)
            assert 'hx-swap-oob="true"' in html
            assert 'data-testid="send"' in html and 'data-testid="close"' in html
            assert 'data-testid="participation"' not in html
        finally:
            await page.disconnect()

    async_to_sync(scenario)()
