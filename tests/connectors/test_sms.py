"""SMS through Twilio: signed webhooks in (once, whatever the replays), opt-out keywords, the
outbox to Twilio's REST API (the real ``twilio`` client against a local stand-in), statuses."""

import pytest
from django.urls import reverse
from twilio.request_validator import RequestValidator

from apps.connectors import services
from apps.connectors.models import InboundEvent, Outbound
from apps.contacts.models import Consent, Identity
from apps.interactions.models import Interaction, Message, State
from apps.interactions.services import message_add
from tests.connectors.conftest import channel_account
from tests.factories import agent_in_queue

pytestmark = pytest.mark.django_db

TOKEN = "twilio-auth-token"
ACCOUNT_SID = "AC" + "0" * 32


@pytest.fixture
def sms(roles):
    account = channel_account(
        "sms",
        address="+15005550006",
        secrets={"auth_token": TOKEN},
        config={"account_sid": ACCOUNT_SID, "help_text": "Acme: call 555-0100 for help."},
    )
    agent_in_queue(account.queue)
    return account


def _post(client, account, params, *, path=None, token=TOKEN):
    """Signed as Twilio signs: on the public URL (PUBLIC_BASE_URL behind a proxy)."""
    from django.conf import settings

    url = path or reverse("connectors-twilio-sms", kwargs={"key": account.key})
    base = settings.PUBLIC_BASE_URL or "http://testserver"
    signature = RequestValidator(token).compute_signature(f"{base}{url}", params)
    return client.post(url, params, HTTP_X_TWILIO_SIGNATURE=signature)


def _sms(sid="SM" + "1" * 32, body="Hello, my order is late", sender="+14155550123", **extra):
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "To": "+15005550006",
        "Body": body,
        "NumMedia": "0",
        **extra,
    }


def test_a_signed_sms_becomes_a_routed_conversation(
    client, sms, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, sms, _sms())
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml") and b"<Response/>" in response.content
    event = InboundEvent.objects.get()
    assert (event.kind, event.status) == ("message", InboundEvent.Status.DONE)
    message = Message.objects.get()
    interaction = message.interaction
    assert (interaction.channel, interaction.direction) == ("sms", "inbound")
    assert interaction.channel_account_id == sms.pk and interaction.queue_id == sms.queue_id
    assert interaction.state == State.OFFERED  # routed to the queue's available agent
    assert interaction.identity.value == "+14155550123"
    assert message.body == "Hello, my order is late" and message.provider_id == "SM" + "1" * 32

    # The customer's next SMS joins the same conversation.
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, sms, _sms(sid="SM" + "2" * 32, body="Any news?"))
    assert Interaction.objects.count() == 1
    assert interaction.messages.count() == 2


def test_a_bad_signature_is_refused_and_nothing_is_stored(client, sms):
    response = _post(client, sms, _sms(), token="not-the-token")
    assert response.status_code == 403
    unsigned = client.post(reverse("connectors-twilio-sms", kwargs={"key": sms.key}), _sms())
    assert unsigned.status_code == 403
    assert not InboundEvent.objects.exists() and not Message.objects.exists()
    assert not Identity.objects.exists()


def test_an_unknown_or_inactive_account_is_404(client, sms):
    sms.is_active = False
    sms.save()
    assert _post(client, sms, _sms()).status_code == 404
    assert not InboundEvent.objects.exists()


def test_the_same_sms_delivered_twice_is_stored_once(
    client, sms, django_capture_on_commit_callbacks
):
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            assert _post(client, sms, _sms()).status_code == 200
    assert InboundEvent.objects.count() == 1
    assert Message.objects.count() == 1


def test_a_failure_in_processing_is_retried_and_loses_nothing(
    client, sms, provider, django_capture_on_commit_callbacks
):
    media = f"{provider.url}/media/ME1"
    provider.on("GET", "/media/ME1", (500, b"oops"), (200, b"\x89PNG...", "image/png"))
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(
            client, sms, _sms(body="", NumMedia="1", MediaUrl0=media, MediaContentType0="image/png")
        )
    assert response.status_code == 200  # acknowledged: the provider will not resend it
    event = InboundEvent.objects.get()
    assert event.status == InboundEvent.Status.FAILED and "HTTPError" in event.last_error
    assert not Message.objects.exists()
    # The sweep takes it again once its retry is due.
    from datetime import timedelta

    from django.utils import timezone

    assert services.inbound_retry_due(now=timezone.now() + timedelta(minutes=5)) == 1
    event.refresh_from_db()
    assert event.status == InboundEvent.Status.DONE and event.attempts == 2
    attachment = Message.objects.get().attachments.get()
    assert attachment.content_type == "image/png" and attachment.file.read() == b"\x89PNG..."
    # Media are fetched with the account's credentials.
    assert provider.made("GET", "/media/ME1")[-1].headers["Authorization"].startswith("Basic ")


@pytest.mark.parametrize("keyword", ["STOP", "stop", "Unsubscribe", "QUIT", "OPTOUT", "REVOKE"])
def test_an_opt_out_keyword_records_it_and_confirms_once(
    client, sms, keyword, django_capture_on_commit_callbacks
):
    for _ in range(2):  # the provider retries: still one consent, one confirmation
        with django_capture_on_commit_callbacks(execute=True):
            _post(client, sms, _sms(body=keyword))
    consent = Consent.objects.get()
    assert (consent.channel, consent.status, consent.source) == ("sms", "opt_out", "keyword")
    confirmation = Message.objects.get(direction="outbound")
    assert confirmation.author_kind == Message.Author.SYSTEM and "START" in confirmation.body
    assert Outbound.objects.get().message_id == confirmation.pk


def test_after_stop_an_agents_sms_is_refused_clearly_and_start_allows_it_again(
    client, sms, django_capture_on_commit_callbacks
):
    from django.core.exceptions import ValidationError

    with django_capture_on_commit_callbacks(execute=True):
        _post(client, sms, _sms(body="STOP"))
    interaction = Interaction.objects.get()
    with pytest.raises(ValidationError, match="asked not to be contacted"):
        message_add(interaction=interaction, direction="outbound", author_kind="agent", body="Hi")
    assert Message.objects.filter(author_kind="agent").count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, sms, _sms(sid="SM" + "3" * 32, body="START"))
    assert Consent.objects.order_by("-recorded_at", "-id").first().status == "opt_in"
    message, _ = message_add(
        interaction=interaction, direction="outbound", author_kind="agent", body="Welcome back"
    )
    assert message.outbound.status == Outbound.Status.PENDING


def test_help_answers_the_configured_text(client, sms, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, sms, _sms(body="HELP"))
    reply = Message.objects.get(direction="outbound")
    assert reply.body == "Acme: call 555-0100 for help."
    assert not Consent.objects.exists()


def test_a_reply_goes_out_through_twilios_api_and_its_statuses_come_back(
    client, sms, provider, settings, django_capture_on_commit_callbacks
):
    settings.PUBLIC_BASE_URL = "https://cc.example.com"
    path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    provider.on("POST", path, (201, {"sid": "SM" + "9" * 32, "status": "queued"}))
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, sms, _sms())
    interaction = Interaction.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        message, _ = message_add(
            interaction=interaction, direction="outbound", author_kind="agent", body="On its way!"
        )
    call = provider.made("POST", path)[0]
    form = call.form()
    assert form["To"] == ["+14155550123"] and form["From"] == ["+15005550006"]
    assert form["Body"] == ["On its way!"]
    assert form["StatusCallback"] == [f"https://cc.example.com/hooks/twilio/sms/{sms.key}/status/"]
    message.refresh_from_db()
    assert (message.provider_id, message.delivery_status) == ("SM" + "9" * 32, "sent")

    status_path = reverse("connectors-twilio-sms-status", kwargs={"key": sms.key})
    params = {
        "MessageSid": "SM" + "9" * 32,
        "MessageStatus": "delivered",
        "AccountSid": ACCOUNT_SID,
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(client, sms, params, path=status_path).status_code == 200
    message.refresh_from_db()
    assert message.delivery_status == "delivered"
    # A late "sent" never goes back from delivered.
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, sms, {**params, "MessageStatus": "sent"}, path=status_path)
    message.refresh_from_db()
    assert message.delivery_status == "delivered"


def test_a_twilio_refusal_fails_the_message_with_its_reason_and_an_outage_is_retried(
    client, sms, provider, django_capture_on_commit_callbacks
):
    path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    provider.on(
        "POST",
        path,
        (503, {"code": 20503, "message": "Service unavailable", "status": 503}),
        (400, {"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400}),
    )
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, sms, _sms())
    interaction = Interaction.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        message, _ = message_add(
            interaction=interaction, direction="outbound", author_kind="agent", body="Hello"
        )
    outbound = message.outbound
    outbound.refresh_from_db()
    assert outbound.status == Outbound.Status.FAILED and "503" in outbound.last_error
    from datetime import timedelta

    from django.utils import timezone

    assert services.outbound_retry_due(now=timezone.now() + timedelta(minutes=5)) == 1
    outbound.refresh_from_db()
    message.refresh_from_db()
    assert outbound.status == Outbound.Status.DEAD
    assert message.delivery_status == "failed" and "21211" in message.error


def test_a_status_before_our_send_is_recorded_is_retried(
    client, sms, django_capture_on_commit_callbacks
):
    status_path = reverse("connectors-twilio-sms-status", kwargs={"key": sms.key})
    params = {
        "MessageSid": "SM" + "7" * 32,
        "MessageStatus": "delivered",
        "AccountSid": ACCOUNT_SID,
    }
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, sms, params, path=status_path)
    event = InboundEvent.objects.get(kind="status")
    assert event.status == InboundEvent.Status.FAILED  # kept, tried again later
