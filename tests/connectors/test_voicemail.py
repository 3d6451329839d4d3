"""Voicemail for an agent (the end of their follow-me chain) and for a queue: routed for the
callback with its transcript, the people told in the desk, by e-mail (a real SMTP server) and
by SMS (Twilio's API stand-in), each with a signed, expiring link to the audio that our own
view fetches with the number's credentials."""

import base64
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone
from twilio.request_validator import RequestValidator

from apps.accounts.models import Role
from apps.connectors.voicemail import voicemails_notify_due
from apps.interactions.models import Event, Interaction, Message, State
from apps.notifications.models import Notification
from apps.queues.models import Offer, Presence
from tests.connectors.conftest import channel_account
from tests.connectors.mailservers import smtp_fixture  # noqa: F401 (fixture)
from tests.factories import QueueFactory, UserFactory, agent_in_queue
from tests.flows.factories import build_version

pytestmark = pytest.mark.django_db

TOKEN = "voice-token"
ACCOUNT_SID = "AC" + "5" * 32
SMS_SID = "AC" + "6" * 32
CALL = "CA" + "1" * 32
RECORDING = "RE" + "2" * 32
WAV = b"RIFF" + b"\x00" * 60
MOBILE = "+33612345678"


@pytest.fixture
def office(roles, provider, smtp):
    """A number whose flow puts callers through to alice, whose chain is her voicemail; the
    organization's mailbox and SMS number; Twilio's API stand-in."""
    queue = QueueFactory(name="Front desk", voicemail_email="frontdesk@acme.example")
    organization = queue.organization
    alice = agent_in_queue(queue, username="alice", email="alice@acme.example")
    profile = alice.agent_profile
    profile.mobile = MOBILE
    profile.follow_me = [{"kind": "voicemail"}]
    profile.voicemail_notify = ["desk", "email", "sms"]
    profile.save()
    version = build_version(
        organization, {"put": ("transfer", {"agent": "alice"}, {})}, status="published"
    )
    number = channel_account(
        "voice",
        address="+15550100",
        queue=queue,
        secrets={"auth_token": TOKEN},
        config={"account_sid": ACCOUNT_SID, "flow": version.flow.name},
    )
    channel_account(
        "email",
        queue=queue,
        address="help@acme.example",
        config={"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_security": "none"},
    )
    channel_account(
        "sms",
        queue=queue,
        address="+15005550006",
        secrets={"auth_token": "sms-token"},
        config={"account_sid": SMS_SID},
    )
    provider.on(
        "POST",
        f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/",
        (200, {"sid": CALL, "status": "in-progress"}),
    )
    provider.on(
        "POST",
        f"/2010-04-01/Accounts/{SMS_SID}/Messages.json",
        (201, {"sid": "SM" + "3" * 32, "status": "queued"}),
    )
    provider.on("GET", f"/recordings/{RECORDING}", (200, WAV, "audio/x-wav"))
    return number, alice


def _post(client, path, params, *, token=TOKEN):
    signature = RequestValidator(token).compute_signature(f"http://testserver{path}", params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def _url(number, name, **query):
    path = reverse(name, kwargs={"key": number.key})
    return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def _incoming(client, number, capture):
    fields = {"CallSid": CALL, "AccountSid": ACCOUNT_SID, "From": "+14155550123"}
    with capture(execute=True):
        return _post(
            client,
            _url(number, "connectors-twilio-voice"),
            {**fields, "To": "+15550100", "CallStatus": "ringing"},
        )


def _message_left(client, number, provider, capture, *, transcript=""):
    recording = {
        "CallSid": CALL,
        "AccountSid": ACCOUNT_SID,
        "RecordingSid": RECORDING,
        "RecordingUrl": f"{provider.url}/recordings/{RECORDING}",
        "RecordingDuration": "9",
    }
    with capture(execute=True):
        _post(client, _url(number, "connectors-twilio-voice-recording", call=CALL), recording)
    if transcript:
        fields = {**recording, "TranscriptionSid": "TR1", "TranscriptionText": transcript}
        with capture(execute=True):
            _post(client, _url(number, "connectors-twilio-voice-transcription", call=CALL), fields)


def test_a_voicemail_for_an_agent_is_routed_to_them_and_notified_everywhere_with_a_link(
    client, office, provider, smtp, settings, django_capture_on_commit_callbacks
):
    number, alice = office
    capture = django_capture_on_commit_callbacks
    answer = _incoming(client, number, capture)
    assert "<Conference" in answer.content.decode()
    # Her chain's only step: the caller is moved out of the conference to leave a message.
    update = provider.made("POST", f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{CALL}")[-1]
    assert "<Record" in update.form()["Twiml"][0]

    _message_left(client, number, provider, capture, transcript="Call me about the invoice.")
    interaction = Interaction.objects.get(provider_ref=CALL)
    # Routed for the callback, to her first (she is free: her desk rings with it).
    assert interaction.preferred_agent == alice and interaction.state == State.OFFERED
    assert Offer.objects.get(interaction=interaction, status="pending").agent == alice
    assert Message.objects.filter(
        interaction=interaction, body__contains="Call me about the invoice."
    ).exists()

    desk = Notification.objects.get(recipient=alice)
    assert "Call me about the invoice." in desk.body
    link = desk.url
    assert "/voice/voicemail/" in link
    assert ACCOUNT_SID not in link and TOKEN not in link and "recordings" not in link
    (_from, rcpt_tos, mail), *_others = smtp.received
    assert rcpt_tos == ["alice@acme.example"]
    assert "New voicemail from +14155550123" in mail["Subject"]
    body = mail.get_content()
    assert "Call me about the invoice." in body and link in body
    (sms,) = provider.made("POST", f"/2010-04-01/Accounts/{SMS_SID}/Messages.json")
    assert sms.form()["To"] == [MOBILE] and link in sms.form()["Body"][0]
    notified = Event.objects.get(interaction=interaction, type="voicemail.notified")
    assert notified.data["channels"] == ["desk", "email", "sms"]

    # The link plays the audio, fetched with the number's credentials.
    path = urlsplit(link).path
    audio = client.get(path)
    assert audio.status_code == 200 and audio["Content-Type"] == "audio/x-wav"
    assert b"".join(audio.streaming_content) == WAV
    fetched = provider.made("GET", f"/recordings/{RECORDING}")[-1]
    expected = base64.b64encode(f"{ACCOUNT_SID}:{TOKEN}".encode()).decode()
    assert fetched.headers["Authorization"] == f"Basic {expected}"
    # A tampered link, or an expired one, is refused.
    assert client.get(path[:-4] + "abc/").status_code == 404
    settings.VOICEMAIL_LINK_MAX_AGE = -1
    assert client.get(path).status_code == 404

    # The transcript again (a provider retry): nobody is told twice.
    _message_left(client, number, provider, capture, transcript="Call me about the invoice.")
    assert Notification.objects.filter(recipient=alice).count() == 1
    assert len(smtp.received) == 1


def test_a_queue_voicemail_without_transcript_is_notified_by_the_sweep(
    client, office, provider, smtp, django_capture_on_commit_callbacks
):
    number, alice = office
    capture = django_capture_on_commit_callbacks
    alice.agent_profile.follow_me = []  # the flow's transfer then waits in the queue
    alice.agent_profile.save()
    Presence.objects.filter(agent=alice).update(status="away")
    queue = number.queue
    queue.voicemail_notify = ["desk", "email"]
    queue.save()
    colleague = agent_in_queue(queue, username="colleague", status="away")
    outsider = UserFactory(organization=queue.organization, roles=[Role.AGENT])
    _incoming(client, number, capture)
    with capture(execute=True):
        _post(client, _url(number, "connectors-twilio-voice-wait", call=CALL), {"Digits": "1"})
    interaction = Interaction.objects.get(provider_ref=CALL)
    assert interaction.state == State.VOICEMAIL
    _message_left(client, number, provider, capture)
    assert not Notification.objects.exists()  # waiting a while for a transcript

    with capture(execute=True):
        assert voicemails_notify_due(now=timezone.now() + timedelta(seconds=30)) == 0
        assert voicemails_notify_due(now=timezone.now() + timedelta(seconds=61)) == 1
    assert set(Notification.objects.values_list("recipient__username", flat=True)) == {
        alice.username,
        colleague.username,
    }
    assert not Notification.objects.filter(recipient=outsider).exists()
    (_from, rcpt_tos, mail), *_others = smtp.received
    assert rcpt_tos == ["frontdesk@acme.example"] and "Transcript" not in mail.get_content()
    assert not provider.made("POST", f"/2010-04-01/Accounts/{SMS_SID}/Messages.json")
    with capture(execute=True):
        assert voicemails_notify_due(now=timezone.now() + timedelta(seconds=120)) == 0
