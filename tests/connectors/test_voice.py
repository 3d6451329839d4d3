"""Voice webhooks: signatures (bad: 403, nothing stored), one interaction per CallSid however
often the provider asks, status callbacks stored once, the admin shows the URLs."""

import asyncio

import pytest
from django.urls import reverse
from twilio.request_validator import RequestValidator

from apps.connectors.models import InboundEvent
from apps.interactions.models import Event, Interaction, State
from tests.connectors.conftest import channel_account

pytestmark = pytest.mark.django_db

TOKEN = "voice-token"
ACCOUNT_SID = "AC" + "5" * 32
SID = "CA" + "1" * 32


@pytest.fixture
def number(roles):
    return channel_account(
        "voice",
        address="+15550100",
        secrets={"auth_token": TOKEN},
        config={"account_sid": ACCOUNT_SID},
    )


def _post(client, path, params, *, token=TOKEN):
    signature = RequestValidator(token).compute_signature(f"http://testserver{path}", params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def _incoming(**extra):
    return {
        "CallSid": SID,
        "AccountSid": ACCOUNT_SID,
        "From": "+14155550123",
        "To": "+15550100",
        "CallStatus": "ringing",
        "Direction": "inbound",
        **extra,
    }


def test_a_bad_signature_is_refused_and_nothing_is_stored(client, number):
    path = reverse("connectors-twilio-voice", kwargs={"key": number.key})
    assert _post(client, path, _incoming(), token="not-the-token").status_code == 403
    assert client.post(path, _incoming()).status_code == 403  # unsigned
    status = reverse("connectors-twilio-voice-status", kwargs={"key": number.key})
    assert _post(client, status, _incoming(CallStatus="completed"), token="x").status_code == 403
    assert not Interaction.objects.exists()
    assert not InboundEvent.objects.exists()


def test_the_same_call_twice_is_one_interaction_routed_to_the_queue(client, number):
    path = reverse("connectors-twilio-voice", kwargs={"key": number.key})
    first = _post(client, path, _incoming())
    second = _post(client, path, _incoming())
    assert first.status_code == second.status_code == 200
    assert first["Content-Type"].startswith("text/xml")
    assert "<Redirect" in first.content.decode()  # no flow: straight to the queue's wait loop
    interaction = Interaction.objects.get()
    assert interaction.provider_ref == SID and interaction.channel_account == number
    assert interaction.state == State.QUEUED and interaction.queue == number.queue
    assert Event.objects.filter(interaction=interaction, type="call.ringing").count() == 1
    wait = _post(
        client,
        f"{reverse('connectors-twilio-voice-wait', kwargs={'key': number.key})}?call={SID}",
        {},
    )
    assert "<Gather" in wait.content.decode() and "You are number 1 in line." in (
        wait.content.decode()
    )


def test_a_status_callback_is_stored_once_and_abandons_a_waiting_call(
    client, number, django_capture_on_commit_callbacks
):
    _post(client, reverse("connectors-twilio-voice", kwargs={"key": number.key}), _incoming())
    status = reverse("connectors-twilio-voice-status", kwargs={"key": number.key})
    params = _incoming(CallStatus="completed", CallDuration="42")
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(client, status, params).status_code == 200
        assert _post(client, status, params).status_code == 200
    assert InboundEvent.objects.filter(kind="call_status").count() == 1
    interaction = Interaction.objects.get()
    assert interaction.state == State.ABANDONED
    ended = Event.objects.get(interaction=interaction, type="call.ended")
    assert ended.data["outcome"] == "abandoned" and ended.data["duration"] == 42


def test_a_caller_hanging_up_in_line_updates_the_queue_live(
    client, number, django_capture_on_commit_callbacks
):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from apps.core.realtime import queue_group

    _post(client, reverse("connectors-twilio-voice", kwargs={"key": number.key}), _incoming())
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(queue_group(number.queue_id), channel)
    status = reverse("connectors-twilio-voice-status", kwargs={"key": number.key})
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, status, _incoming(CallStatus="completed", CallDuration="12"))

    async def receive():
        return await asyncio.wait_for(layer.receive(channel), timeout=2)

    message = async_to_sync(receive)()  # none: TimeoutError
    assert message["type"] == "queue.updated"
    assert message["data"]["waiting"] == 0


def test_an_unknown_number_key_is_404(client, number):
    number.is_active = False
    number.save()
    path = reverse("connectors-twilio-voice", kwargs={"key": number.key})
    assert _post(client, path, _incoming()).status_code == 404


def test_the_admin_shows_the_voice_webhook_urls(number, settings):
    from apps.connectors.admin import ChannelAccountAdmin
    from apps.connectors.models import ChannelAccount

    settings.PUBLIC_BASE_URL = "https://cc.example.com"
    shown = ChannelAccountAdmin(ChannelAccount, None).webhook_urls(number)
    assert f"https://cc.example.com/hooks/twilio/voice/{number.key}/" in shown
    assert f"https://cc.example.com/hooks/twilio/voice/{number.key}/status/" in shown
