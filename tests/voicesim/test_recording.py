"""Call recordings end to end through the simulated provider: signed webhooks over HTTP to a
live server, our REST calls (the real ``twilio`` client) to the simulator's Recordings API, and
what each recording captured (the simulator keeps what was said, heard and pressed while a
recording was in progress, and nothing while it was paused)."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.connectors.recording import recording_control
from apps.interactions.models import Event, Interaction, Recording, RecordingPolicy, Transcript
from apps.queues import services as queue_services
from apps.queues.models import Offer
from apps.voicesim import engine
from apps.voicesim.models import SimRecording
from tests.connectors.conftest import channel_account
from tests.factories import QueueFactory, agent_in_queue
from tests.flows.factories import build_version

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "voice-auth-token"
ACCOUNT_SID = "AC" + "8" * 32
CALLER = "+14155550123"
CARD = "4111111111111111"
SORRY = "Sorry, we could not take the payment."
AFTER = "I would like to speak to an agent"


class _Payments(BaseHTTPRequestHandler):
    """The payment service: broken (500) or too slow (answers after the flow's timeout)."""

    def do_POST(self):  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/slow"):
            time.sleep(2.5)
        body = b'{"error": "boom"}'
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def payments():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Payments)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _payment_flow(organization, url: str):
    """Pay by card: the card number (sensitive), the payment service, and on any failure an
    apology and a question (say "agent")."""
    from apps.flows.models import Flow

    flow = Flow.objects.create(organization=organization, name="Payments")
    build_version(
        organization,
        {
            "welcome": (
                "menu",
                {
                    "prompt": "Welcome to Acme payments. Say pay to pay by card.",
                    "options": [{"outcome": "pay", "title": "Pay", "keywords": ["pay"]}],
                    "timeout": 5,
                    "retries": 0,
                },
                {"pay": "card", "invalid": "bye", "timeout": "bye"},
            ),
            "card": (
                "collect",
                {
                    "prompt": "Please type your card number, then the hash key.",
                    "variable": "card",
                    "input": "digits",
                    "min_length": 12,
                    "max_length": 19,
                    "timeout": 3,
                    "retries": 0,
                    "sensitive": True,
                },
                {"next": "pay", "invalid": "sorry", "timeout": "sorry"},
            ),
            "pay": (
                "lookup",
                {
                    "source": "http",
                    "method": "POST",
                    "url": url,
                    "body": {"card": "{{ card }}"},
                    "path": "status",
                    "variable": "paid",
                    "timeout": 1,
                },
                {"next": "thanks", "error": "sorry"},
            ),
            "sorry": ("say", {"prompt": SORRY}, {"next": "next"}),
            "next": (
                "menu",
                {
                    "prompt": "Say agent to talk to someone.",
                    "options": [{"outcome": "agent", "title": "Agent", "keywords": ["agent"]}],
                    "timeout": 5,
                    "retries": 0,
                },
                {"agent": "queue", "invalid": "bye", "timeout": "bye"},
            ),
            "queue": ("enqueue", {"queue": "Payments"}, {}),
            "thanks": ("hangup", {"prompt": "Thank you, paid."}, {}),
            "bye": ("hangup", {"prompt": "Goodbye."}, {}),
        },
        flow=flow,
        status="published",
    )
    return flow


@pytest.fixture
def simulator(roles, settings, live_server):
    settings.TWILIO_API_BASE = live_server.url + "/voice/simulator/api"
    settings.FLOWS_LOOKUP_ALLOW_PRIVATE_NETWORKS = True
    return live_server


def _number(queue, **config):
    return channel_account(
        "voice",
        address="+15550100",
        queue=queue,
        secrets={"auth_token": TOKEN},
        config={"account_sid": ACCOUNT_SID, "announce_seconds": 5, **config},
    )


def _dial(account, live_server):
    return engine.sim_call_start(account=account, from_number=CALLER, base=live_server.url)


def _types(interaction, prefix="recording."):
    return list(
        Event.objects.filter(interaction=interaction, type__startswith=prefix)
        .order_by("at", "pk")
        .values_list("type", flat=True)
    )


@pytest.mark.parametrize("failure", ["payment_500", "payment_timeout", "caller_timeout"])
def test_recording_pause_resume_even_when_the_payment_step_fails(simulator, payments, failure):
    """The issue's test: recorded from the answer, the caller types a card number in a
    sensitive step; the payment fails (the service answers 500, or too late, or the caller
    never finishes typing); the recording resumes on the failure path: the card's keys are not
    in the recording, what follows is."""
    queue = QueueFactory(name="Payments")
    url = payments + ("/slow" if failure == "payment_timeout" else "/pay")
    _payment_flow(queue.organization, url)
    account = _number(queue, flow="Payments", record_from_answer=True)

    call = _dial(account, simulator)
    interaction = Interaction.objects.get(provider_ref=call.sid)
    recording = Recording.objects.get(interaction=interaction)
    assert recording.status == Recording.Status.IN_PROGRESS
    assert call.texts[0] == "This call may be recorded for quality and training purposes."
    call = engine.sim_speak(call=call, words="pay")
    recording.refresh_from_db()
    assert recording.status == Recording.Status.PAUSED and recording.pause_reason == "pci"
    sim = SimRecording.objects.get(call=call)
    assert sim.status == "paused"
    call.refresh_from_db()
    assert call.waiting["kind"] == "gather"

    if failure == "caller_timeout":
        call = engine.sim_keys(call=call, keys=CARD[:6])  # then nothing: the gather times out
        from datetime import timedelta

        from django.utils import timezone

        call = engine.sim_tick(call=call, now=timezone.now() + timedelta(seconds=10))
    else:
        call = engine.sim_keys(call=call, keys=CARD + "#")
    call.refresh_from_db()
    assert SORRY in call.texts
    sim.refresh_from_db()
    assert sim.status == "in-progress"
    call = engine.sim_speak(call=call, words=AFTER)
    engine.sim_hangup(call=call)

    sim.refresh_from_db()
    captured = sim.content
    assert not [part for part in captured if part["kind"] == "key"]  # no key at all
    assert not any(CARD[:6] in part["text"] for part in captured)
    texts = [part["text"] for part in captured]
    assert "Welcome to Acme payments. Say pay to pay by card." in texts  # before the step
    assert "pay" in texts
    assert "Please type your card number, then the hash key." not in texts
    assert SORRY in texts and AFTER in texts  # after the failure
    recording.refresh_from_db()
    assert recording.status == Recording.Status.COMPLETED and recording.pause_reason == ""
    assert recording.file and recording.file.read(4) == b"RIFF"  # copied into our storage
    assert _types(interaction) == [
        "recording.started",
        "recording.paused",
        "recording.resumed",
        "recording.completed",
    ]
    paused = Event.objects.get(interaction=interaction, type="recording.paused")
    assert paused.data["reason"] == "pci"
    interaction.refresh_from_db()
    assert interaction.data["voice"]["pci_paused"] == []


def test_a_queue_records_from_the_bridge_after_the_consent_in_french(simulator):
    queue = QueueFactory(name="Payments", record_calls="announce")
    organization = queue.organization
    organization.language = "fr"
    organization.save(update_fields=["language"])
    RecordingPolicy.objects.create(
        organization=organization, consent_message={"fr": "Cet appel est enregistré."}
    )
    account = _number(queue, transcribe_recordings=True)
    agent = agent_in_queue(queue, username="alice")

    call = _dial(account, simulator)
    interaction = Interaction.objects.get(provider_ref=call.sid)
    assert not Recording.objects.exists()  # waiting in line: not recorded
    offer = Offer.objects.get(interaction=interaction, agent=agent, status="pending")
    queue_services.offer_accept(offer=offer, agent=agent)

    call.refresh_from_db()
    texts = call.texts
    consent = texts.index("Cet appel est enregistré.")
    assert consent < texts.index("[joined the conference]")
    recording = Recording.objects.get(interaction=interaction)
    assert recording.source == Recording.Source.AUTO and recording.status == "in-progress"
    sim = SimRecording.objects.get(sid=recording.provider_sid)
    assert sim.channels == 2
    engine.sim_speak(call=call, words="Je voudrais changer mon forfait")
    engine.sim_hangup(call=call)

    recording.refresh_from_db()
    assert recording.status == Recording.Status.COMPLETED and recording.file
    transcript = Transcript.objects.get(recording=recording)
    assert "changer mon forfait" in transcript.text and transcript.language == "fr"
    assert "recording.transcribed" in _types(interaction)
    from apps.connectors.voice import call_log

    assert call_log(interaction=interaction)["recordings"] == [recording.provider_sid]


def test_no_recording_queue_plays_no_consent_and_records_nothing(simulator):
    queue = QueueFactory(name="Payments", record_calls="off")
    RecordingPolicy.objects.create(organization=queue.organization, mode="announce")
    account = _number(queue)
    agent = agent_in_queue(queue, username="bob")
    call = _dial(account, simulator)
    interaction = Interaction.objects.get(provider_ref=call.sid)
    offer = Offer.objects.get(interaction=interaction, agent=agent, status="pending")
    queue_services.offer_accept(offer=offer, agent=agent)
    call.refresh_from_db()
    assert "[joined the conference]" in call.texts
    assert not any("recorded" in text for text in call.texts)
    assert not SimRecording.objects.exists() and not Recording.objects.exists()


def test_the_agent_records_on_demand_and_pauses_for_a_card(simulator):
    queue = QueueFactory(name="Payments")
    account = _number(queue)
    agent = agent_in_queue(queue, username="carol")
    call = _dial(account, simulator)
    interaction = Interaction.objects.get(provider_ref=call.sid)
    offer = Offer.objects.get(interaction=interaction, agent=agent, status="pending")
    queue_services.offer_accept(offer=offer, agent=agent)
    assert not Recording.objects.exists()

    recording = recording_control(interaction=interaction, action="start", actor=agent)
    assert recording.source == Recording.Source.ON_DEMAND and recording.started_by == agent
    engine.sim_speak(call=call, words="My order is late")
    recording_control(interaction=interaction, action="pause", actor=agent)
    engine.sim_speak(call=call, words="my card is 4111 1111 1111 1111")
    recording_control(interaction=interaction, action="resume", actor=agent)
    engine.sim_speak(call=call, words="thank you")
    recording_control(interaction=interaction, action="stop", actor=agent)

    sim = SimRecording.objects.get(sid=recording.provider_sid)
    assert sim.texts == ["My order is late", "thank you"]
    recording.refresh_from_db()
    assert recording.status == Recording.Status.COMPLETED and recording.file
    assert _types(interaction) == [
        "recording.started",
        "recording.paused",
        "recording.resumed",
        "recording.completed",
        "recording.stopped",
    ] or _types(interaction) == [
        "recording.started",
        "recording.paused",
        "recording.resumed",
        "recording.stopped",
        "recording.completed",
    ]
    events = Event.objects.filter(interaction=interaction, type__startswith="recording.")
    assert {e.actor_id for e in events if e.type != "recording.completed"} == {agent.pk}


def _answered_call(simulator, queue, username):
    account = _number(queue)
    agent = agent_in_queue(queue, username=username)
    call = _dial(account, simulator)
    interaction = Interaction.objects.get(provider_ref=call.sid)
    offer = Offer.objects.get(interaction=interaction, agent=agent, status="pending")
    queue_services.offer_accept(offer=offer, agent=agent)
    return call, interaction, agent


def test_the_desk_buttons_record_pause_resume_and_stop(simulator, client):
    from django.urls import reverse

    queue = QueueFactory(name="Payments")
    call, interaction, agent = _answered_call(simulator, queue, "dora")
    client.force_login(agent)

    def press(action):
        url = reverse("desk-recording-control", kwargs={"pk": interaction.pk, "action": action})
        return client.post(url, HTTP_HX_REQUEST="true")

    response = press("start")
    page = response.content.decode()
    assert 'data-testid="recording-pause"' in page, (response.status_code, response.headers)
    recording = Recording.objects.get(interaction=interaction)
    assert recording.started_by == agent and recording.source == Recording.Source.ON_DEMAND
    assert press("start").status_code == 400  # already recording: said, nothing changes
    assert "Recording paused" in press("pause").content.decode()
    engine.sim_speak(call=call, words="4111 1111 1111 1111")
    assert 'data-testid="recording-pause"' in press("resume").content.decode()
    engine.sim_speak(call=call, words="that is all")
    press("stop")
    sim = SimRecording.objects.get(sid=recording.provider_sid)
    assert sim.texts == ["that is all"] and sim.status == "completed"
    recording.refresh_from_db()
    assert recording.status == Recording.Status.COMPLETED and recording.file
    page = client.get(reverse("desk-interaction", kwargs={"pk": interaction.pk})).content.decode()
    assert reverse("desk-recording-audio", kwargs={"pk": recording.pk}) in page

    # Somebody else's call: the buttons are a 404.
    other = agent_in_queue(queue, username="eve")
    client.force_login(other)
    assert press("start").status_code == 404


def test_retention_purges_old_recordings_here_and_at_the_provider_once(simulator):
    import os
    from datetime import timedelta

    from django.utils import timezone

    from apps.connectors.recording import recordings_purge_due

    queue = QueueFactory(name="Payments", record_calls="announce")
    RecordingPolicy.objects.create(organization=queue.organization, retention_days=30)
    call, interaction, _agent = _answered_call(simulator, queue, "fred")
    engine.sim_hangup(call=call)
    recording = Recording.objects.get(interaction=interaction)
    path = recording.file.path
    assert os.path.exists(path)
    assert recordings_purge_due() == 0  # young: kept

    Recording.objects.filter(pk=recording.pk).update(started_at=timezone.now() - timedelta(days=31))
    assert recordings_purge_due() == 1
    recording.refresh_from_db()
    assert recording.status == Recording.Status.PURGED and recording.purged_at
    assert not recording.file and not os.path.exists(path)
    assert SimRecording.objects.get(sid=recording.provider_sid).deleted  # REST DELETE
    assert recordings_purge_due() == 0  # idempotent
    assert _types(interaction).count("recording.purged") == 1


def test_the_recordings_api_wants_the_numbers_credentials_and_hides_other_organizations(
    simulator,
):
    import requests

    queue = QueueFactory(name="Payments", record_calls="announce")
    call, interaction, _agent = _answered_call(simulator, queue, "gail")
    engine.sim_hangup(call=call)
    recording = Recording.objects.get(interaction=interaction)
    api = f"{simulator.url}/voice/simulator/api/2010-04-01/Accounts/{ACCOUNT_SID}"
    media = f"{api}/Recordings/{recording.provider_sid}.wav"
    assert requests.get(media, timeout=5).status_code == 401
    assert requests.get(media, auth=(ACCOUNT_SID, "wrong"), timeout=5).status_code == 401
    answer = requests.get(media, auth=(ACCOUNT_SID, TOKEN), timeout=5)
    assert answer.status_code == 200 and answer.content[:4] == b"RIFF"
    listed = requests.get(
        f"{api}/Recordings.json", params={"CallSid": call.sid}, auth=(ACCOUNT_SID, TOKEN), timeout=5
    ).json()["recordings"]
    assert [r["sid"] for r in listed] == [recording.provider_sid]

    other_sid = "AC" + "9" * 32
    channel_account(
        "voice",
        address="+15550199",
        secrets={"auth_token": "other-token"},
        config={"account_sid": other_sid},
    )  # another organization's number
    other_api = f"{simulator.url}/voice/simulator/api/2010-04-01/Accounts/{other_sid}"
    stolen = requests.get(
        f"{other_api}/Recordings/{recording.provider_sid}.wav",
        auth=(other_sid, "other-token"),
        timeout=5,
    )
    assert stolen.status_code == 404
