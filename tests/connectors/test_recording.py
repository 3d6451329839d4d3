"""The recording-status webhook: signed (403 and nothing stored otherwise), idempotent (the
same callback twice is one recording, one event), the transcript stored once and searchable;
flows mark a collect step sensitive (validated)."""

import pytest
from django.urls import reverse
from twilio.request_validator import RequestValidator

from apps.connectors.models import InboundEvent
from apps.interactions.models import Event, Interaction, Recording, Transcript
from apps.interactions.selectors import recording_search
from tests.connectors.conftest import channel_account

pytestmark = pytest.mark.django_db

TOKEN = "voice-token"
ACCOUNT_SID = "AC" + "5" * 32
CALL = "CA" + "1" * 32
RECORDING = "RE" + "2" * 32


@pytest.fixture
def call(roles):
    account = channel_account(
        "voice",
        address="+15550100",
        secrets={"auth_token": TOKEN},
        config={"account_sid": ACCOUNT_SID},
    )
    from apps.connectors.voice import call_incoming

    call_incoming(
        account=account,
        fields={"CallSid": CALL, "From": "+14155550123", "To": "+15550100"},
        base="http://testserver",
    )
    return account, Interaction.objects.get(provider_ref=CALL)


@pytest.fixture
def post(client, django_capture_on_commit_callbacks):
    """A signed callback, handled as the task after the commit does."""

    def _send(account, params, *, token=TOKEN):
        with django_capture_on_commit_callbacks(execute=True):
            return _post(client, account, params, token=token)

    return _send


def _post(client, account, params, *, token=TOKEN):
    path = reverse("connectors-twilio-voice-recording-status", kwargs={"key": account.key})
    path += f"?call={CALL}"
    signature = RequestValidator(token).compute_signature(f"http://testserver{path}", params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def _status(status, **extra):
    return {
        "AccountSid": ACCOUNT_SID,
        "CallSid": CALL,
        "RecordingSid": RECORDING,
        "RecordingStatus": status,
        "RecordingDuration": "12" if status == "completed" else "0",
        # Nothing listens there: the copy fails and is retried later, the row is kept.
        "RecordingUrl": f"http://127.0.0.1:9/Accounts/{ACCOUNT_SID}/Recordings/{RECORDING}",
        **extra,
    }


def test_an_unsigned_callback_is_refused_and_stores_nothing(post, call):
    account, _interaction = call
    assert post(account, _status("completed"), token="wrong").status_code == 403
    assert not Recording.objects.exists()
    assert not InboundEvent.objects.filter(kind="call_recording").exists()


def test_the_same_callback_twice_is_one_recording(post, call):
    account, interaction = call
    for _i in range(2):
        assert post(account, _status("in-progress")).status_code == 200
        assert post(account, _status("completed")).status_code == 200
    recording = Recording.objects.get()
    assert recording.interaction == interaction and recording.provider_sid == RECORDING
    assert recording.status == Recording.Status.COMPLETED and recording.duration == 12
    assert not recording.file  # the provider's server is down: copied later
    types = list(
        Event.objects.filter(interaction=interaction, type__startswith="recording.").values_list(
            "type", flat=True
        )
    )
    assert types == ["recording.started", "recording.completed"]


def test_a_transcript_is_stored_once_and_found_by_its_words(post, call):
    account, interaction = call
    transcript = _status(
        "completed",
        TranscriptionSid="TR" + "3" * 32,
        TranscriptionText="My invoice shows a double charge.",
        TranscriptionStatus="completed",
    )
    post(account, _status("completed"))
    post(account, transcript)
    post(account, transcript)
    assert Transcript.objects.get().text == "My invoice shows a double charge."
    found = recording_search(organization=interaction.organization, text="double charge")
    assert [r.provider_sid for r in found] == [RECORDING]
    assert Event.objects.filter(type="recording.transcribed").count() == 1


def test_a_collect_step_may_be_sensitive_and_nothing_else(roles, org_a):
    from apps.flows.validation import flow_validate
    from tests.flows.factories import build_version

    def problems(kind, config):
        version = build_version(
            org_a, {"a": (kind, config, {"next": "b"}), "b": ("hangup", {}, {})}
        )
        return [p for p in flow_validate(version) if "sensitive" in p]

    collect = {"prompt": "Card?", "variable": "card", "input": "digits"}
    assert problems("collect", {**collect, "sensitive": True}) == []
    assert problems("collect", {**collect, "sensitive": "yes"})
    assert problems("say", {"prompt": "Hi", "sensitive": True})
