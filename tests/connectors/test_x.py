"""X direct messages: the CRC check, signed events, our own echoes skipped, replies sent."""

import base64
import hashlib
import hmac
import json

import pytest
from django.urls import reverse

from apps.connectors.models import InboundEvent
from apps.interactions.models import Message
from apps.interactions.services import message_add
from tests.connectors.conftest import channel_account

pytestmark = pytest.mark.django_db

SECRET = "x-consumer-secret"


@pytest.fixture
def x_account(roles):
    return channel_account(
        "x",
        address="4337869213",
        secrets={"consumer_secret": SECRET, "access_token": "x-user-token"},
    )


def _sign(data: bytes, secret=SECRET) -> str:
    return (
        "sha256="
        + base64.b64encode(hmac.new(secret.encode(), data, hashlib.sha256).digest()).decode()
    )


def _dm(event_id="1062015437679050760", sender="3001969357", text="Hey, my parcel?"):
    return {
        "for_user_id": "4337869213",
        "direct_message_events": [
            {
                "type": "message_create",
                "id": event_id,
                "created_timestamp": "1542039186292",
                "message_create": {
                    "target": {
                        "recipient_id": "4337869213" if sender != "4337869213" else "3001969357"
                    },
                    "sender_id": sender,
                    "message_data": {"text": text, "entities": {}},
                },
            }
        ],
        "users": {
            "3001969357": {"id": "3001969357", "name": "Jordan Brown", "screen_name": "jbrown"}
        },
    }


def _post(client, account, payload, secret=SECRET):
    body = json.dumps(payload).encode()
    return client.post(
        reverse("connectors-x", kwargs={"key": account.key}),
        body,
        content_type="application/json",
        HTTP_X_TWITTER_WEBHOOKS_SIGNATURE=_sign(body, secret),
    )


def test_the_crc_challenge_is_answered_with_the_consumer_secret(client, x_account):
    url = reverse("connectors-x", kwargs={"key": x_account.key})
    response = client.get(url, {"crc_token": "challenge-123"})
    assert response.status_code == 200
    assert response.json() == {"response_token": _sign(b"challenge-123")}
    assert client.get(url).status_code == 400


def test_a_dm_arrives_once_and_our_own_echo_is_skipped(
    client, x_account, django_capture_on_commit_callbacks
):
    assert _post(client, x_account, _dm(), secret="bad").status_code == 403
    assert not InboundEvent.objects.exists()
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            assert _post(client, x_account, _dm()).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, x_account, _dm(event_id="999", sender="4337869213", text="our reply"))
    message = Message.objects.get()
    assert message.body == "Hey, my parcel?"
    assert message.interaction.identity.value == "3001969357"
    assert message.interaction.contact.first_name == "Jordan"


def test_a_reply_is_sent_as_a_dm(client, x_account, provider, django_capture_on_commit_callbacks):
    provider.on(
        "POST",
        "/x/dm_conversations/with/3001969357/messages",
        (201, {"data": {"dm_conversation_id": "1-2", "dm_event_id": "1122334455"}}),
    )
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, x_account, _dm())
    interaction = Message.objects.get().interaction
    with django_capture_on_commit_callbacks(execute=True):
        reply, _ = message_add(
            interaction=interaction,
            direction="outbound",
            author_kind="agent",
            body="It ships today",
        )
    call = provider.made("POST", "/x/dm_conversations/with/3001969357/messages")[0]
    assert call.json() == {"text": "It ships today"}
    assert call.headers["Authorization"] == "Bearer x-user-token"
    reply.refresh_from_db()
    assert (reply.provider_id, reply.delivery_status) == ("1122334455", "sent")
