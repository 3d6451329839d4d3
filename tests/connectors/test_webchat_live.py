"""Web chat live, through the real ASGI app: the visitor's socket and the agent's desk socket."""

import json

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from apps.connectors import webchat
from apps.interactions.models import Interaction, Message
from apps.interactions.services import interaction_note_add, message_add
from apps.queues import services as queue_services
from apps.queues.models import Offer
from contactcenter.asgi import application
from tests.connectors.conftest import channel_account
from tests.factories import agent_in_queue

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "t" * 43
SITE = "https://shop.example.com"


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    # Limits count in the cache: each test gets its own, empty (a local-memory one, so that
    # clearing it never flushes a shared Redis).
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "webchat-tests",
        }
    }
    cache.clear()


@pytest.fixture
def chat(roles):
    """A widget, an available agent in its queue, and a visitor whose chat the agent took."""
    account = channel_account("webchat", config={"allowed_origins": [SITE]})
    agent = agent_in_queue(account.queue, first_name="Grace")
    interaction = webchat.webchat_start(
        account=account, token=TOKEN, fields={"name": "Ada", "email": "ada@example.com"}
    )
    offer = Offer.objects.get(interaction=interaction)
    queue_services.offer_accept(offer=offer, agent=agent)
    interaction.refresh_from_db()
    return account, agent, interaction


def _visitor_path(account, token=TOKEN):
    return f"/ws/visitor/{account.key}/?token={token}"


async def _visitor(account, token=TOKEN, origin=SITE):
    headers = [(b"host", b"cc.example.com")]
    if origin:
        headers.append((b"origin", origin.encode()))
    communicator = WebsocketCommunicator(
        application, _visitor_path(account, token), headers=headers
    )
    connected, code = await communicator.connect()
    return communicator, connected, code


def _desk_headers(user):
    client = Client()
    client.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    return [(b"host", b"localhost"), (b"origin", b"http://localhost"), (b"cookie", cookie.encode())]


async def _receive_type(communicator, kind, timeout=5):
    while True:
        data = json.loads(await communicator.receive_from(timeout=timeout))
        if data["type"] == kind:
            return data


async def _desk_until(communicator, needle, timeout=5):
    while True:
        html = await communicator.receive_from(timeout=timeout)
        if needle in html:
            return html


def test_messages_both_ways_and_internal_notes_never_reach_the_visitor(chat):
    account, agent, interaction = chat
    headers = _desk_headers(agent)

    async def scenario():
        visitor, connected, _code = await _visitor(account)
        assert connected
        status = await _receive_type(visitor, "status")
        assert status["state"] == "active" and status["agent"] == "Grace"
        desk = WebsocketCommunicator(
            application, f"/ws/live/?desk=1&interaction={interaction.pk}", headers=headers
        )
        assert (await desk.connect())[0]
        try:
            await visitor.send_json_to({"type": "message", "body": "Hello <b>", "client_id": "a1"})
            ack = await _receive_type(visitor, "ack")
            assert ack["client_id"] == "a1"
            echoed = await _receive_type(visitor, "message")
            assert echoed["message"]["mine"] and echoed["message"]["body"] == "Hello <b>"
            html = await _desk_until(desk, 'id="thread"')
            assert "Hello &lt;b&gt;" in html

            await database_sync_to_async(interaction_note_add)(
                interaction=interaction, body="Internal: VIP", author=agent
            )
            await database_sync_to_async(message_add)(
                interaction=interaction,
                direction="outbound",
                author_kind=Message.Author.AGENT,
                author=agent,
                body="Hi Ada, Grace here",
            )
            reply = await _receive_type(visitor, "message")
            assert reply["message"]["body"] == "Hi Ada, Grace here"
            assert reply["message"]["author"] == "Grace" and not reply["message"]["mine"]
            assert reply["message"]["status"] == "sent"
            # Nothing else reached the visitor: no note, no desk fragment.
            while not await visitor.receive_nothing(timeout=0.3):
                extra = json.loads(await visitor.receive_from())
                assert extra["type"] == "status", extra
                assert "VIP" not in json.dumps(extra)
        finally:
            await visitor.disconnect()
            await desk.disconnect()

    async_to_sync(scenario)()


def test_receipts_move_the_delivery_status_and_the_desk_shows_it(chat):
    account, agent, interaction = chat
    message, _created = message_add(
        interaction=interaction,
        direction="outbound",
        author_kind=Message.Author.AGENT,
        author=agent,
        body="Are you there?",
    )
    headers = _desk_headers(agent)

    async def scenario():
        visitor, connected, _code = await _visitor(account)
        assert connected
        desk = WebsocketCommunicator(
            application, f"/ws/live/?desk=1&interaction={interaction.pk}", headers=headers
        )
        assert (await desk.connect())[0]
        try:
            await visitor.send_json_to(
                {"type": "receipt", "status": "delivered", "ids": [message.pk]}
            )
            html = await _desk_until(desk, "delivery-delivered")
            assert "Delivered" in html
            await visitor.send_json_to({"type": "receipt", "status": "read", "ids": [message.pk]})
            await _desk_until(desk, "delivery-read")
        finally:
            await visitor.disconnect()
            await desk.disconnect()

    async_to_sync(scenario)()
    message.refresh_from_db()
    assert message.delivery_status == "read"


def test_typing_both_ways(chat, client):
    account, agent, interaction = chat
    headers = _desk_headers(agent)
    client.force_login(agent)

    async def scenario():
        visitor, connected, _code = await _visitor(account)
        assert connected
        desk = WebsocketCommunicator(
            application, f"/ws/live/?desk=1&interaction={interaction.pk}", headers=headers
        )
        assert (await desk.connect())[0]
        try:
            await visitor.send_json_to({"type": "typing"})
            html = await _desk_until(desk, 'id="visitor-typing"')
            assert "The visitor is typing" in html and 'hx-swap-oob="true"' in html

            response = await database_sync_to_async(client.post)(
                f"/widget/agent-typing/{interaction.pk}/"
            )
            assert response.status_code == 204
            typing = await _receive_type(visitor, "typing")
            assert typing["agent"] == "Grace"
            # Throttled: a second keystroke at once is not sent again.
            await database_sync_to_async(client.post)(f"/widget/agent-typing/{interaction.pk}/")
            while not await visitor.receive_nothing(timeout=0.3):
                assert json.loads(await visitor.receive_from())["type"] != "typing"
        finally:
            await visitor.disconnect()
            await desk.disconnect()

    async_to_sync(scenario)()


def test_an_origin_not_allowed_is_refused(chat):
    account, _agent, _interaction = chat

    async def scenario():
        for origin in ("https://evil.example.net", None):
            communicator, connected, code = await _visitor(account, origin=origin)
            assert not connected
            assert code == 4403

    async_to_sync(scenario)()


def test_an_unknown_token_or_key_is_refused(chat):
    account, _agent, _interaction = chat

    async def scenario():
        _c, connected, code = await _visitor(account, token="u" * 43)
        assert not connected and code == 4403
        communicator = WebsocketCommunicator(
            application,
            f"/ws/visitor/00000000-0000-0000-0000-000000000000/?token={TOKEN}",
            headers=[(b"host", b"x"), (b"origin", SITE.encode())],
        )
        connected, code = await communicator.connect()
        assert not connected and code == 4404

    async_to_sync(scenario)()


def test_rate_limit_over_the_socket_refuses_with_a_clear_error(chat, settings):
    account, _agent, interaction = chat
    settings.WEBCHAT_MESSAGES_PER_MINUTE = 2

    async def scenario():
        visitor, connected, _code = await _visitor(account)
        assert connected
        try:
            for n in range(2):
                await visitor.send_json_to(
                    {"type": "message", "body": f"m{n}", "client_id": f"c{n}"}
                )
                await _receive_type(visitor, "ack")
            await visitor.send_json_to({"type": "message", "body": "m2", "client_id": "c2"})
            error = await _receive_type(visitor, "error")
            assert error["code"] == "rate_limited" and error["client_id"] == "c2"
            assert "too quickly" in error["detail"]
        finally:
            await visitor.disconnect()

    async_to_sync(scenario)()
    assert list(interaction.messages.values_list("body", flat=True)) == ["m0", "m1"]


def test_reconnect_resumes_the_conversation_and_a_resend_is_stored_once(chat):
    account, _agent, interaction = chat

    async def scenario():
        first, connected, _code = await _visitor(account)
        assert connected
        await first.send_to(text_data="{not json")  # ignored: the socket stays
        await first.send_json_to({"type": "message", "body": "before", "client_id": "k1"})
        await _receive_type(first, "ack")
        await first.disconnect()

        second, connected, _code = await _visitor(account)
        assert connected
        try:
            status = await _receive_type(second, "status")
            assert status["interaction"] == interaction.pk and status["open"]
            # The widget resends what it had not seen acknowledged: stored once.
            await second.send_json_to({"type": "message", "body": "before", "client_id": "k1"})
            ack = await _receive_type(second, "ack")
            assert ack["id"] == (
                await database_sync_to_async(lambda: interaction.messages.get(body="before").pk)()
            )
        finally:
            await second.disconnect()

    async_to_sync(scenario)()
    assert interaction.messages.filter(body="before").count() == 1
    history = webchat.visitor_history(webchat.visitor_for(account=account, token=TOKEN))
    assert [m["body"] for m in history["messages"]] == ["before"]


def test_queue_position_is_sent_while_waiting(roles, settings):
    settings.WEBCHAT_STATUS_SECONDS = 0.1
    account = channel_account("webchat", config={"allowed_origins": [SITE]})
    # Nobody available: both wait; the first to leave moves the second up.
    ahead = webchat.webchat_start(
        account=account, token="a" * 40, fields={"name": "A", "email": "a@x.co"}
    )
    webchat.webchat_start(account=account, token=TOKEN, fields={"name": "B", "email": "b@x.co"})

    async def scenario():
        visitor, connected, _code = await _visitor(account)
        assert connected
        try:
            status = await _receive_type(visitor, "status")
            assert status["state"] == "queued" and status["position"] == 2

            def leave():
                from apps.interactions.services import interaction_transition

                interaction_transition(
                    interaction=Interaction.objects.get(pk=ahead.pk), to="abandoned"
                )

            await database_sync_to_async(leave)()
            status = await _receive_type(visitor, "status")
            assert status["position"] == 1
        finally:
            await visitor.disconnect()

    async_to_sync(scenario)()


def test_the_end_and_a_new_chat_reach_the_open_socket(chat, settings):
    from apps.interactions.services import interaction_close

    settings.WEBCHAT_STATUS_SECONDS = 0.5  # an ended conversation: polled every 3 s
    account, agent, interaction = chat

    async def scenario():
        visitor, connected, _code = await _visitor(account)
        assert connected
        try:
            assert (await _receive_type(visitor, "status"))["open"]
            await database_sync_to_async(interaction_close)(interaction=interaction, actor=agent)
            ended = await _receive_type(visitor, "status")
            assert ended["open"] is False

            new = await database_sync_to_async(webchat.webchat_start)(
                account=account, token=TOKEN, fields={"name": "Ada", "email": "ada@example.com"}
            )
            assert new.pk != interaction.pk
            status = await _receive_type(visitor, "status", timeout=1)  # not the slow poll
            assert status["interaction"] == new.pk and status["open"]
        finally:
            await visitor.disconnect()

    async_to_sync(scenario)()
