"""A self-service flow on the web chat, through the real ASGI app: the pre-chat form starts
it, the visitor's socket receives its buttons and answers with one, and the desk shows them."""

import pytest
from asgiref.sync import async_to_sync
from django.urls import reverse

from apps.interactions.models import Event, Interaction, State
from contactcenter.asgi import application  # noqa: F401 (the routing the socket uses)
from tests.connectors.conftest import channel_account
from tests.connectors.test_chat_flows import _publish
from tests.connectors.test_webchat_live import (  # noqa: F401 (a fixture)
    SITE,
    TOKEN,
    _fresh_cache,
    _receive_type,
    _visitor,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_visitor_gets_the_flows_buttons_and_answers_with_one(client, roles):
    account = channel_account("webchat", config={"allowed_origins": [SITE]})
    _publish(account)
    started = client.post(
        reverse("webchat-start", kwargs={"key": account.key}),
        {"name": "Ada Lovelace", "message": "Hello there"},
        content_type="application/json",
        HTTP_ORIGIN=SITE,
        HTTP_X_VISITOR_TOKEN=TOKEN,
    )
    assert started.status_code == 201, started.content
    history = started.json()
    lines = [(m["mine"], m["body"]) for m in history["messages"]]
    # What the visitor wrote first, then the flow's prompts.
    assert lines == [(True, "Hello there"), (False, "Hello Ada!"), (False, "How can we help?")]
    menu = history["messages"][-1]
    assert menu["author"] == "Bot"
    assert [b["title"] for b in menu["buttons"]] == [
        "Billing",
        "Support",
        "Talk to a person",
        "Call me back",
        "Nothing, thanks",
    ]
    interaction = Interaction.objects.get()
    assert interaction.state == State.NEW

    async def scenario():
        visitor, connected, _code = await _visitor(account)
        assert connected
        try:
            await visitor.send_json_to(
                {"type": "message", "body": "Call me back", "client_id": "c1", "reply": "call"}
            )
            assert (await _receive_type(visitor, "ack"))["client_id"] == "c1"
            question = await _receive_type(visitor, "message")
            while question["message"]["mine"]:  # the visitor's own line comes back first
                question = await _receive_type(visitor, "message")
            assert question["message"]["body"] == "Shall we call you back?"
            ids = [b["id"] for b in question["message"]["buttons"]]
            assert ids == ["accepted", "declined"]
            await visitor.send_json_to(
                {"type": "message", "body": "No, I will wait", "client_id": "c2", "reply": ids[1]}
            )
            await _receive_type(visitor, "ack")
            status = await _receive_type(visitor, "status")
            while status["state"] == "new":
                status = await _receive_type(visitor, "status")
            assert status["state"] in ("queued", "offered")
        finally:
            await visitor.disconnect()

    async_to_sync(scenario)()
    interaction.refresh_from_db()
    assert interaction.data["flow"]["inputs"] == [
        {"node": "menu", "input": "call"},
        {"node": "call", "input": "declined"},
    ]
    assert Event.objects.get(type="flow.finished").data["decision"]["action"] == "enqueue"
    # The desk shows the choices the bot offered on its messages.
    from apps.accounts.models import User

    agent = User.objects.get(username="ada")
    client.force_login(agent)
    page = client.get(reverse("desk-interaction", args=[interaction.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="bot-choices"' in html and "Talk to a person" in html


def test_a_bad_reply_id_is_refused_and_nothing_is_stored(client, roles):
    from django.core.exceptions import ValidationError

    from apps.connectors import webchat

    account = channel_account("webchat", config={"allowed_origins": [SITE]})
    _publish(account)
    webchat.webchat_start(account=account, token=TOKEN, fields={"name": "Ada"})
    with pytest.raises(ValidationError):
        webchat.webchat_visitor_message(
            account=account, token=TOKEN, body="x", client_id="c1", reply="\x00bad"
        )
    assert Interaction.objects.get().messages.filter(direction="inbound").count() == 0
