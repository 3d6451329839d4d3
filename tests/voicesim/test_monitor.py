"""Supervisor monitoring end to end through the simulated provider: listen (muted), whisper
(coaching the agent: only they hear), barge (everyone hears), switching mode on the live leg
and stopping, from the supervisor page, with who may."""

import pytest
from django.urls import reverse

from apps.accounts.models import Role
from apps.connectors import monitor, voice
from apps.interactions.models import Event, Interaction
from apps.queues import services as queue_services
from apps.queues.models import Offer
from apps.voicesim import engine
from apps.voicesim.models import SimCall
from tests.connectors.conftest import channel_account
from tests.factories import QueueFactory, TeamFactory, UserFactory, agent_in_queue

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "voice-auth-token"
ACCOUNT_SID = "AC" + "9" * 32
CALLER = "+14155550123"


@pytest.fixture
def live_call(roles, settings, live_server):
    """A caller talking to the agent bob; sue supervises bob's team."""
    settings.TWILIO_API_BASE = live_server.url + "/voice/simulator/api"
    queue = QueueFactory(name="Support")
    organization = queue.organization
    account = channel_account(
        "voice",
        address="+15550100",
        queue=queue,
        secrets={"auth_token": TOKEN},
        config={"account_sid": ACCOUNT_SID, "announce_seconds": 5},
    )
    bob = agent_in_queue(queue, username="bob")
    sue = UserFactory(organization=organization, username="sue", roles=[Role.SUPERVISOR])
    team = TeamFactory(organization=organization, name="Support team")
    team.members.add(bob)
    team.supervisors.add(sue)
    call = engine.sim_call_start(account=account, from_number=CALLER, base=live_server.url)
    interaction = Interaction.objects.get(provider_ref=call.sid)
    offer = Offer.objects.get(interaction=interaction, agent=bob, status="pending")
    queue_services.offer_accept(offer=offer, agent=bob)
    return call, interaction, bob, sue


def _heard(leg) -> list[str]:
    leg.refresh_from_db()
    return [h["text"] for h in leg.heard if h["kind"] == "voice"]


def _post(client, interaction, mode):
    return client.post(
        reverse("desk-supervisor-monitor", kwargs={"pk": interaction.pk}),
        {"mode": mode},
        HTTP_HX_REQUEST="true",
    )


def test_listen_whisper_barge_and_stop_from_the_supervisor_page(client, live_call):
    call, interaction, bob, sue = live_call
    bob_leg = SimCall.objects.get(to_number="client:bob")
    client.force_login(sue)

    page = client.get(reverse("desk-supervisor"))
    assert page.status_code == 200
    assert b'data-testid="live-calls"' in page.content and b'value="whisper"' in page.content

    # Listen: sue's leg joins muted; she hears both, nobody hears her, bob is not told.
    assert _post(client, interaction, "listen").status_code == 200
    sue_leg = SimCall.objects.get(to_number="client:sue")
    assert sue_leg.conference == voice.conference_name(interaction) and sue_leg.muted
    engine.sim_say(call=call, words="My router is broken")
    engine.sim_say(call=bob_leg, words="Let me check")
    assert _heard(sue_leg) == [f"{CALLER}: My router is broken", "bob: Let me check"]
    assert engine.sim_say(call=sue_leg, words="(coughs)") == []
    assert not any("sue" in text for text in bob_leg.texts + call.texts)

    # Whisper: only bob hears sue.
    assert _post(client, interaction, "whisper").status_code == 200
    sue_leg.refresh_from_db()
    assert not sue_leg.muted and sue_leg.coaching == bob_leg.sid
    hearers = engine.sim_say(call=sue_leg, words="Offer a replacement")
    assert [h.sid for h in hearers] == [bob_leg.sid]
    assert "sue: Offer a replacement" in _heard(bob_leg)
    assert "sue: Offer a replacement" not in _heard(call)

    # Barge: everyone hears sue.
    assert _post(client, interaction, "barge").status_code == 200
    hearers = engine.sim_say(call=sue_leg, words="I am the supervisor")
    assert {h.sid for h in hearers} == {call.sid, bob_leg.sid}

    # Stop: her leg hangs up; the call goes on.
    assert _post(client, interaction, "stop").status_code == 200
    sue_leg.refresh_from_db()
    assert sue_leg.status == "completed"
    bob_leg.refresh_from_db()
    assert bob_leg.status == "in-progress"

    events = Event.objects.filter(interaction=interaction, type__startswith="call.monitor_")
    assert [
        (e.type, e.data.get("mode") or e.data.get("to")) for e in events.order_by("at", "pk")
    ] == [
        ("call.monitor_started", "listen"),
        ("call.monitor_changed", "whisper"),
        ("call.monitor_changed", "barge"),
        ("call.monitor_ended", "barge"),
    ]
    assert all(e.actor == sue for e in events)


def test_the_call_ending_hangs_up_the_supervisor(live_call):
    call, interaction, _bob, sue = live_call
    monitor.call_monitor_start(interaction=interaction, supervisor=sue, mode="listen")
    sue_leg = SimCall.objects.get(to_number="client:sue")
    engine.sim_hangup(call=call)
    sue_leg.refresh_from_db()
    assert sue_leg.status == "completed"
    ended = Event.objects.get(interaction=interaction, type="call.monitor_ended")
    assert ended.data["reason"] in ("call-ended", "hung-up")


def test_only_the_agents_supervisors_and_admins_may_monitor(client, live_call):
    from tests.factories import OrganizationFactory

    _call, interaction, bob, _sue = live_call
    organization = interaction.organization
    other_supervisor = UserFactory(organization=organization, roles=[Role.SUPERVISOR])
    agent = UserFactory(organization=organization, roles=[Role.AGENT])
    admin = UserFactory(organization=organization, roles=[Role.ADMIN])
    stranger = UserFactory(organization=OrganizationFactory(), roles=[Role.ADMIN])

    client.force_login(agent)
    assert _post(client, interaction, "listen").status_code == 403
    client.force_login(other_supervisor)  # supervises no team of bob's
    assert _post(client, interaction, "listen").status_code == 404
    client.force_login(stranger)  # another organization
    assert _post(client, interaction, "listen").status_code == 404
    assert not SimCall.objects.filter(direction="outbound-api").exclude(to_number="client:bob")
    assert not Event.objects.filter(type="call.monitor_started").exists()

    client.force_login(admin)
    assert _post(client, interaction, "barge").status_code == 200
    assert Event.objects.get(type="call.monitor_started").data["mode"] == "barge"
    response = _post(client, interaction, "shout")
    assert response.status_code == 400 and b"Choose listen, whisper or barge." in response.content
