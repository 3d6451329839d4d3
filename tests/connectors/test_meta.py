"""WhatsApp, Messenger and Instagram through Meta's webhooks (payloads in Meta's format, signed
with X-Hub-Signature-256) and the Graph API (a local stand-in, real HTTP)."""

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from apps.connectors.models import InboundEvent
from apps.interactions.models import Interaction, Message
from apps.interactions.services import message_add
from tests.connectors.conftest import channel_account
from tests.factories import agent_in_queue

pytestmark = pytest.mark.django_db

SECRET = "meta-app-secret"
SECRETS = {"app_secret": SECRET, "verify_token": "verify-me", "access_token": "EAAG-token"}


@pytest.fixture
def whatsapp(roles):
    account = channel_account("whatsapp", address="106540352242922", secrets=SECRETS)
    agent_in_queue(account.queue)
    return account


@pytest.fixture
def messenger(roles):
    return channel_account("messenger", address="1234567890", secrets=SECRETS)


def _post(client, account, payload, *, secret=SECRET):
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post(
        reverse("connectors-meta", kwargs={"key": account.key}),
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature,
    )


def _whatsapp(messages=(), statuses=(), name="Sheena Nelson", wa_id="16505551234"):
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
    }
    if messages:
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}],
    }


def _text(id_="wamid.HBgL1", body="Does it come in another color?", ts=None):
    ts = ts or str(int(timezone.now().timestamp()))
    return {
        "from": "16505551234",
        "id": id_,
        "timestamp": ts,
        "type": "text",
        "text": {"body": body},
    }


def test_meta_checks_the_subscription_with_the_verify_token(client, whatsapp):
    url = reverse("connectors-meta", kwargs={"key": whatsapp.key})
    ok = client.get(
        url,
        {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"},
    )
    assert ok.status_code == 200 and ok.content == b"1158201444"
    wrong = client.get(
        url, {"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"}
    )
    assert wrong.status_code == 403


def test_a_whatsapp_message_becomes_a_conversation_with_the_customers_name(
    client, whatsapp, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, whatsapp, _whatsapp([_text()]))
    assert response.status_code == 200
    message = Message.objects.get()
    interaction = message.interaction
    # Stored in E.164, so the same number on SMS or voice is the same customer.
    assert (interaction.channel, interaction.identity.value) == ("whatsapp", "+16505551234")
    assert interaction.contact.first_name == "Sheena" and interaction.contact.last_name == "Nelson"
    assert message.body == "Does it come in another color?" and message.provider_id == "wamid.HBgL1"
    assert interaction.state == "offered"


def test_a_bad_signature_stores_nothing_and_replays_store_once(
    client, whatsapp, django_capture_on_commit_callbacks
):
    assert _post(client, whatsapp, _whatsapp([_text()]), secret="wrong").status_code == 403
    assert not InboundEvent.objects.exists()
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            assert _post(client, whatsapp, _whatsapp([_text()])).status_code == 200
    assert InboundEvent.objects.count() == 1 and Message.objects.count() == 1
    garbage = client.post(
        reverse("connectors-meta", kwargs={"key": whatsapp.key}),
        b"not json",
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256="sha256="
        + hmac.new(SECRET.encode(), b"not json", hashlib.sha256).hexdigest(),
    )
    assert garbage.status_code == 400


def test_location_buttons_and_media_arrive_readable(
    client, whatsapp, provider, django_capture_on_commit_callbacks
):
    provider.on(
        "GET",
        "/graph/MEDIA1",
        (200, {"url": f"{provider.url}/cdn/MEDIA1", "mime_type": "image/jpeg"}),
    )
    provider.on("GET", "/cdn/MEDIA1", (200, b"\xff\xd8jpeg", "image/jpeg"))
    ts = str(int(timezone.now().timestamp()))
    messages = [
        {
            "from": "16505551234",
            "id": "wamid.loc",
            "timestamp": ts,
            "type": "location",
            "location": {
                "latitude": 48.8584,
                "longitude": 2.2945,
                "name": "Tour Eiffel",
                "address": "Paris",
            },
        },
        {
            "from": "16505551234",
            "id": "wamid.btn",
            "timestamp": ts,
            "type": "interactive",
            "interactive": {
                "type": "button_reply",
                "button_reply": {"id": "yes-refund", "title": "Yes, refund"},
            },
        },
        {
            "from": "16505551234",
            "id": "wamid.img",
            "timestamp": ts,
            "type": "image",
            "image": {
                "id": "MEDIA1",
                "mime_type": "image/jpeg",
                "sha256": "x",
                "caption": "The damage",
            },
        },
    ]
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, whatsapp, _whatsapp(messages))
    by_id = {m.provider_id: m for m in Message.objects.all()}
    assert by_id["wamid.loc"].body == "Tour Eiffel, Paris (48.8584, 2.2945)"
    assert by_id["wamid.loc"].content["location"]["latitude"] == 48.8584
    assert (by_id["wamid.btn"].body, by_id["wamid.btn"].content["reply"]) == (
        "Yes, refund",
        "yes-refund",
    )
    image = by_id["wamid.img"]
    assert image.body == "The damage"
    attachment = image.attachments.get()
    assert attachment.content_type == "image/jpeg" and attachment.file.read() == b"\xff\xd8jpeg"
    assert provider.made("GET", "/cdn/MEDIA1")[0].headers["Authorization"] == "Bearer EAAG-token"
    assert Interaction.objects.count() == 1


def test_a_reply_within_24_hours_goes_out_and_statuses_follow(
    client, whatsapp, provider, django_capture_on_commit_callbacks
):
    provider.on(
        "POST",
        "/graph/106540352242922/messages",
        (200, {"messaging_product": "whatsapp", "messages": [{"id": "wamid.OUT1"}]}),
    )
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, whatsapp, _whatsapp([_text()]))
    interaction = Interaction.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        message, _ = message_add(
            interaction=interaction, direction="outbound", author_kind="agent", body="Yes, in blue"
        )
    sent = provider.made("POST", "/graph/106540352242922/messages")[0]
    assert sent.json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "16505551234",
        "type": "text",
        "text": {"body": "Yes, in blue"},
    }
    assert sent.headers["Authorization"] == "Bearer EAAG-token"
    message.refresh_from_db()
    assert (message.provider_id, message.delivery_status) == ("wamid.OUT1", "sent")
    for status in ("delivered", "read"):
        with django_capture_on_commit_callbacks(execute=True):
            _post(
                client,
                whatsapp,
                _whatsapp(
                    statuses=[
                        {
                            "id": "wamid.OUT1",
                            "status": status,
                            "timestamp": "1",
                            "recipient_id": "16505551234",
                        }
                    ]
                ),
            )
    message.refresh_from_db()
    assert message.delivery_status == "read"


def test_outside_the_24_hour_window_free_text_is_refused_and_a_template_goes(
    client, whatsapp, provider, django_capture_on_commit_callbacks
):
    provider.on(
        "POST", "/graph/106540352242922/messages", (200, {"messages": [{"id": "wamid.TPL"}]})
    )
    old = str(int((timezone.now() - timedelta(hours=30)).timestamp()))
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, whatsapp, _whatsapp([_text(ts=old)]))
    interaction = Interaction.objects.get()
    with pytest.raises(ValidationError, match="24 hours"):
        message_add(
            interaction=interaction, direction="outbound", author_kind="agent", body="Hello?"
        )
    assert not Message.objects.filter(direction="outbound").exists()
    with django_capture_on_commit_callbacks(execute=True):
        message_add(
            interaction=interaction,
            direction="outbound",
            author_kind="agent",
            body="(template: follow_up)",
            content={"template": "follow_up", "language": "fr"},
        )
    sent = provider.made("POST", "/graph/106540352242922/messages")[0].json()
    assert sent["type"] == "template"
    assert sent["template"] == {"name": "follow_up", "language": {"code": "fr"}}


def test_messenger_text_delivery_and_read_receipts(
    client, messenger, provider, django_capture_on_commit_callbacks
):
    provider.on(
        "POST",
        "/graph/1234567890/messages",
        (200, {"recipient_id": "PSID1", "message_id": "m_OUT"}),
    )
    ts = int(timezone.now().timestamp() * 1000)
    inbound = {
        "object": "page",
        "entry": [
            {
                "id": "1234567890",
                "time": ts,
                "messaging": [
                    {
                        "sender": {"id": "PSID1"},
                        "recipient": {"id": "1234567890"},
                        "timestamp": ts,
                        "message": {"mid": "m_IN1", "text": "Is the shop open on Sunday?"},
                    },
                    {
                        "sender": {"id": "1234567890"},
                        "recipient": {"id": "PSID1"},
                        "timestamp": ts,
                        "message": {"mid": "m_ECHO", "text": "an echo of ours", "is_echo": True},
                    },
                ],
            }
        ],
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(client, messenger, inbound).status_code == 200
    message = Message.objects.get()  # the echo is not a customer message
    assert (message.body, message.interaction.identity.value) == (
        "Is the shop open on Sunday?",
        "PSID1",
    )
    with django_capture_on_commit_callbacks(execute=True):
        reply, _ = message_add(
            interaction=message.interaction,
            direction="outbound",
            author_kind="agent",
            body="Yes, 10-18",
        )
    assert provider.made("POST", "/graph/1234567890/messages")[0].json() == {
        "recipient": {"id": "PSID1"},
        "messaging_type": "RESPONSE",
        "message": {"text": "Yes, 10-18"},
    }
    later = int((timezone.now() + timedelta(seconds=5)).timestamp() * 1000)
    read = {
        "object": "page",
        "entry": [
            {
                "id": "1234567890",
                "time": later,
                "messaging": [
                    {
                        "sender": {"id": "PSID1"},
                        "recipient": {"id": "1234567890"},
                        "timestamp": later,
                        "read": {"watermark": later},
                    }
                ],
            }
        ],
    }
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, messenger, read)
    reply.refresh_from_db()
    assert reply.delivery_status == "read"


def test_instagram_messages_arrive_on_their_channel(
    client, roles, django_capture_on_commit_callbacks
):
    instagram = channel_account("instagram", address="17841400000000", secrets=SECRETS)
    ts = int(timezone.now().timestamp() * 1000)
    payload = {
        "object": "instagram",
        "entry": [
            {
                "id": "17841400000000",
                "time": ts,
                "messaging": [
                    {
                        "sender": {"id": "IGSID9"},
                        "recipient": {"id": "17841400000000"},
                        "timestamp": ts,
                        "message": {"mid": "aWdfZAG1", "text": "Do you ship to Lyon?"},
                    }
                ],
            }
        ],
    }
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, instagram, payload)
    message = Message.objects.get()
    assert (message.channel, message.interaction.identity.kind) == ("instagram", "instagram")


def test_the_desk_offers_the_approved_templates_once_the_window_closed(
    client, whatsapp, provider, django_capture_on_commit_callbacks
):
    whatsapp.config = {
        "templates": [
            {"name": "follow_up", "language": "en", "text": "Hello, are you still there?"}
        ]
    }
    whatsapp.save()
    provider.on("POST", "/graph/106540352242922/messages", (200, {"messages": [{"id": "wamid.T"}]}))
    old = str(int((timezone.now() - timedelta(hours=30)).timestamp()))
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, whatsapp, _whatsapp([_text(ts=old)]))
    interaction = Interaction.objects.get()
    from apps.queues import services as queues
    from apps.queues.models import Offer

    offer = Offer.objects.get(interaction=interaction)
    queues.offer_accept(offer=offer, agent=offer.agent)
    client.force_login(offer.agent)
    page = client.get(reverse("desk-interaction", args=[interaction.pk])).content.decode()
    assert 'data-testid="whatsapp-window"' in page and "Hello, are you still there?" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("desk-template", args=[interaction.pk]),
            {"template": "follow_up"},
            HTTP_HX_REQUEST="true",
        )
    assert response.status_code == 200
    sent = provider.made("POST", "/graph/106540352242922/messages")[0].json()
    assert sent["template"] == {"name": "follow_up", "language": {"code": "en"}}
    refused = client.post(
        reverse("desk-template", args=[interaction.pk]),
        {"template": "made_up"},
        HTTP_HX_REQUEST="true",
    )
    assert refused.status_code == 400 and "approved templates" in refused.content.decode()
