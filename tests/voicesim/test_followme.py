"""Follow-me end to end through the simulated provider: a flow puts the caller through to an
agent, whose chain rings their desk, then their mobile (a real REST leg the simulator rings
until it is answered or its timeout passes), then takes a message for them."""

from datetime import timedelta

import pytest
import requests
from django.urls import reverse
from django.utils import timezone

from apps.connectors import voice
from apps.interactions.models import Event, Interaction, Message, State
from apps.notifications.models import Notification
from apps.queues import services as queue_services
from apps.queues.models import Offer
from apps.voicesim import engine
from apps.voicesim.models import SimCall
from tests.connectors.conftest import channel_account
from tests.factories import QueueFactory, agent_in_queue
from tests.flows.factories import build_version

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "voice-auth-token"
ACCOUNT_SID = "AC" + "8" * 32
CALLER = "+14155550123"
MOBILE = "+33612345678"
CHAIN = [
    {"kind": "desk", "timeout": 10},
    {"kind": "mobile", "number": MOBILE, "timeout": 15},
    {"kind": "voicemail"},
]


@pytest.fixture
def direct(roles, settings, live_server):
    """A number whose flow puts every caller through to the agent alice (with a chain)."""
    settings.TWILIO_API_BASE = live_server.url + "/voice/simulator/api"
    queue = QueueFactory(name="Front desk")
    organization = queue.organization
    alice = agent_in_queue(queue, username="alice", first_name="Alice", last_name="Martin")
    alice.agent_profile.follow_me = CHAIN
    alice.agent_profile.save()
    version = build_version(
        organization, {"put": ("transfer", {"agent": "alice"}, {})}, status="published"
    )
    account = channel_account(
        "voice",
        address="+15550100",
        queue=queue,
        secrets={"auth_token": TOKEN},
        config={"account_sid": ACCOUNT_SID, "flow": version.flow.name},
    )
    return account, alice


def _dial(account, live_server):
    call = engine.sim_call_start(account=account, from_number=CALLER, base=live_server.url)
    return call, Interaction.objects.get(provider_ref=call.sid)


def _steps(interaction) -> list[tuple[str, str]]:
    return [
        (e.data["kind"], e.data["result"])
        for e in Event.objects.filter(interaction=interaction, type="call.follow_me").order_by(
            "at", "pk"
        )
    ]


def _desk_times_out(interaction):
    offer = Offer.objects.get(interaction=interaction, status="pending")
    assert 9 <= (offer.expires_at - offer.created_at).total_seconds() <= 11  # the step's timeout
    assert queue_services.offers_expire_due(now=offer.expires_at + timedelta(seconds=1)) == 1


def _mobile() -> SimCall:
    return SimCall.objects.get(to_number=MOBILE)


def test_desk_then_mobile_unanswered_then_a_voicemail_for_the_agent(direct, live_server, settings):
    account, alice = direct
    call, interaction = _dial(account, live_server)

    # Step 1: alice's desk rings, the caller waits in the call's conference.
    assert interaction.state == State.OFFERED and interaction.queue is None
    offer = Offer.objects.get(interaction=interaction)
    assert offer.agent == alice
    call.refresh_from_db()
    assert call.conference == voice.conference_name(interaction)
    assert "Please hold, we are putting you through." in call.texts

    # Nobody takes it on the desk: her mobile rings (a REST leg with the step's timeout).
    _desk_times_out(interaction)
    mobile = _mobile()
    assert mobile.status == "ringing" and "[ringing]" in mobile.texts
    assert _steps(interaction) == [
        ("desk", "ringing"),
        ("desk", "no-answer"),
        ("mobile", "ringing"),
    ]

    # Still ringing before its timeout; past it the provider reports no-answer.
    engine.sim_tick(call=mobile, now=timezone.now() + timedelta(seconds=5))
    mobile.refresh_from_db()
    assert mobile.status == "ringing"
    engine.sim_tick(call=mobile, now=timezone.now() + timedelta(seconds=16))
    mobile.refresh_from_db()
    assert mobile.status == "completed"

    # Last step: the caller leaves a message for alice.
    call.refresh_from_db()
    assert (call.waiting or {}).get("kind") == "record", call.texts
    assert "Alice Martin cannot take your call. Please leave a message after the tone." in (
        call.texts
    )
    engine.sim_record(call=call, text="Please call me back about my invoice.", seconds=7)
    interaction.refresh_from_db()
    assert _steps(interaction)[-2:] == [("mobile", "no-answer"), ("voicemail", "voicemail")]
    assert interaction.preferred_agent == alice  # routed to her first, for the callback
    assert interaction.queue == account.queue and interaction.state == State.QUEUED
    assert Message.objects.filter(
        interaction=interaction, body__contains="Please call me back about my invoice."
    ).exists()

    # Alice hears of it in her desk, with a link to the audio.
    notification = Notification.objects.get(recipient=alice)
    assert CALLER in notification.title
    assert "Please call me back about my invoice." in notification.body
    assert "/voice/voicemail/" in notification.url and ACCOUNT_SID not in notification.url
    recording = interaction.data["voice"]["recording"]
    assert requests.get(recording, timeout=10).status_code == 401  # the provider's: credentials
    audio = requests.get(notification.url, timeout=10)
    assert audio.status_code == 200 and audio.headers["Content-Type"] == "audio/x-wav"
    assert audio.content.startswith(b"RIFF") and len(audio.content) >= 7 * 8000
    assert requests.get(notification.url[:-3] + "xx/", timeout=10).status_code == 404
    settings.VOICEMAIL_LINK_MAX_AGE = -1  # every link has expired
    assert requests.get(notification.url, timeout=10).status_code == 404


def test_answered_on_the_mobile_the_chain_stops_and_they_talk(direct, live_server):
    account, alice = direct
    call, interaction = _dial(account, live_server)
    _desk_times_out(interaction)
    mobile = _mobile()

    engine.sim_answer(call=mobile)
    interaction.refresh_from_db()
    assert interaction.state == State.ACTIVE and interaction.assigned_agent == alice
    assert _steps(interaction)[-1] == ("mobile", "answered")
    mobile.refresh_from_db()
    name = voice.conference_name(interaction)
    assert mobile.conference == name and "A call for you. Connecting." in mobile.texts
    # No second leg for alice: her mobile is her leg.
    assert not SimCall.objects.filter(to_number="client:alice").exists()
    engine.sim_say(call=call, words="Hello Alice")
    mobile.refresh_from_db()
    assert f"{CALLER}: Hello Alice" in mobile.texts

    # Time passing changes nothing: no voicemail follows.
    engine.sim_tick(call=mobile, now=timezone.now() + timedelta(seconds=60))
    call.refresh_from_db()
    assert (call.waiting or {}).get("kind") == "conference"
    assert ("voicemail", "voicemail") not in _steps(interaction)


def test_the_caller_hanging_up_mid_chain_stops_it_and_cancels_the_ringing_mobile(
    direct, live_server
):
    account, _alice = direct
    call, interaction = _dial(account, live_server)
    _desk_times_out(interaction)
    mobile = _mobile()

    engine.sim_hangup(call=call)
    interaction.refresh_from_db()
    assert interaction.state == State.ABANDONED
    mobile.refresh_from_db()
    assert mobile.status == "completed"  # cancelled while ringing
    assert _steps(interaction)[-1] == ("mobile", "caller-hung-up")
    # The provider's late no-answer for that leg moves nothing on.
    engine.sim_tick(call=mobile, now=timezone.now() + timedelta(seconds=60))
    assert ("voicemail", "voicemail") not in _steps(interaction)
    assert not Notification.objects.exists()


def test_answered_on_the_desk_the_agents_leg_joins_and_the_chain_is_done(direct, live_server):
    account, alice = direct
    call, interaction = _dial(account, live_server)
    offer = Offer.objects.get(interaction=interaction, status="pending")
    queue_services.offer_accept(offer=offer, agent=alice)

    interaction.refresh_from_db()
    assert interaction.state == State.ACTIVE
    assert _steps(interaction) == [("desk", "ringing"), ("desk", "answered")]
    leg = SimCall.objects.get(to_number="client:alice")
    assert leg.conference == voice.conference_name(interaction)
    assert not SimCall.objects.filter(to_number=MOBILE).exists()


def test_an_agent_not_available_is_skipped_to_the_next_step(direct, live_server):
    account, alice = direct
    queue_services.presence_set(agent=alice, status="offline")
    _call, interaction = _dial(account, live_server)
    assert _steps(interaction)[:2] == [("desk", "unavailable"), ("mobile", "ringing")]
    assert not Offer.objects.filter(interaction=interaction).exists()


def test_declined_on_the_simulators_phone_page_the_call_goes_to_voicemail(
    client, direct, live_server
):
    account, alice = direct
    call, interaction = _dial(account, live_server)
    _desk_times_out(interaction)
    client.force_login(alice)
    page = client.get(reverse("voicesim-home"))
    assert MOBILE in page.content.decode()  # the ringing phone is listed
    mobile = _mobile()
    panel = client.get(reverse("voicesim-call", kwargs={"pk": mobile.pk}))
    assert b'id="sim-answer"' in panel.content and b'id="sim-decline"' in panel.content

    client.post(
        reverse("voicesim-call-action", kwargs={"pk": mobile.pk, "action": "decline"}),
        HTTP_HX_REQUEST="true",
    )
    assert ("mobile", "busy") in _steps(interaction)
    call.refresh_from_db()
    assert (call.waiting or {}).get("kind") == "record"


def test_a_call_transferred_to_an_agent_on_voice_walks_their_chain(direct, live_server):
    account, alice = direct
    bob = agent_in_queue(account.queue, username="bob")
    queue_services.presence_set(agent=alice, status="away")
    account.config = {k: v for k, v in account.config.items() if k != "flow"}
    account.save()  # no flow: callers wait in the queue, bob takes this one
    call, interaction = _dial(account, live_server)
    offer = Offer.objects.get(interaction=interaction, agent=bob, status="pending")
    queue_services.offer_accept(offer=offer, agent=bob)
    bob_leg = SimCall.objects.get(to_number="client:bob")

    queue_services.presence_set(agent=alice, status="available")
    queue_services.interaction_transfer(interaction=interaction, actor=bob, agent=alice)
    bob_leg.refresh_from_db()
    assert bob_leg.status == "completed"
    interaction.refresh_from_db()
    assert interaction.state == State.OFFERED and interaction.queue is None
    _desk_times_out(interaction)  # her chain's desk timeout, not the queue's
    engine.sim_answer(call=_mobile())
    interaction.refresh_from_db()
    assert interaction.state == State.ACTIVE and interaction.assigned_agent == alice
    assert _steps(interaction) == [
        ("desk", "ringing"),
        ("desk", "no-answer"),
        ("mobile", "ringing"),
        ("mobile", "answered"),
    ]
    call.refresh_from_db()
    assert call.status == "in-progress"
