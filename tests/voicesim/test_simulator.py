"""Calls end to end through the simulated provider: real signed webhooks over HTTP to a live
server, our REST calls (the real ``twilio`` client) to the simulator's API on the same server,
the demo IVR, the queue, the desk's services for the agent side."""

from datetime import time, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.accounts.models import Role
from apps.connectors import voice
from apps.connectors.models import InboundEvent
from apps.connectors.recording import recordings_purge_due
from apps.flows.demo import DEMO_HOURS, demo_ivr_load
from apps.interactions.models import (
    Event,
    Interaction,
    Message,
    Recording,
    RecordingPolicy,
    State,
)
from apps.interactions.services import interaction_close
from apps.queues import services as queue_services
from apps.queues.models import BusinessHours, BusinessHoursPeriod, Callback, Offer
from apps.voicesim import engine
from apps.voicesim.models import SimCall
from tests.connectors.conftest import channel_account
from tests.factories import DispositionFactory, QueueFactory, UserFactory, agent_in_queue

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "voice-auth-token"
ACCOUNT_SID = "AC" + "7" * 32
CALLER = "+14155550123"


def _ivr(organization) -> None:
    """The demo IVR "Main line" (with the contact field and skill it names)."""
    from apps.contacts.models import ContactField
    from apps.queues.models import Skill

    ContactField.objects.get_or_create(
        organization=organization, key="balance", defaults={"label": "Balance"}
    )
    Skill.objects.get_or_create(organization=organization, name="Billing")
    demo_ivr_load(organization=organization)


def _hours(organization, *, open_: bool) -> None:
    hours = BusinessHours.objects.get(organization=organization, name=DEMO_HOURS)
    hours.periods.all().delete()
    if open_:
        BusinessHoursPeriod.objects.bulk_create(
            BusinessHoursPeriod(hours=hours, weekday=day, opens=time(0), closes=time(23, 59, 59))
            for day in range(7)
        )


@pytest.fixture
def line(roles, settings, live_server):
    """Acme's demo IVR on a number whose provider is the simulator of the live server."""
    settings.TWILIO_API_BASE = live_server.url + "/voice/simulator/api"
    support = QueueFactory(name="Technical support")
    organization = support.organization
    billing = QueueFactory(organization=organization, name="Billing")
    QueueFactory(organization=organization, name="Sales")
    _ivr(organization)
    _hours(organization, open_=True)
    account = channel_account(
        "voice",
        address="+15550100",
        queue=support,
        secrets={"auth_token": TOKEN},
        config={"account_sid": ACCOUNT_SID, "flow": "Main line", "announce_seconds": 5},
    )
    return account, billing, support


def _dial(account, live_server):
    return engine.sim_call_start(account=account, from_number=CALLER, base=live_server.url)


def _texts(call) -> str:
    call.refresh_from_db()
    return "\n".join(call.texts)


def _leg_of(agent) -> SimCall:
    return SimCall.objects.get(to_number=f"client:{agent.username}")


def test_a_call_through_ivr_queue_agent_transfer_and_close(line, live_server):
    account, billing, _support = line
    first = agent_in_queue(billing, status="away", username="alice")
    second = agent_in_queue(billing, status="away", username="bob")

    call = _dial(account, live_server)
    assert "For billing, press 1" in _texts(call)
    call = engine.sim_keys(call=call, keys="1", submit=True)

    interaction = Interaction.objects.get(provider_ref=call.sid)
    assert (interaction.channel, interaction.direction) == ("voice", "inbound")
    assert interaction.state == State.QUEUED and interaction.queue == billing, _texts(call)
    heard = _texts(call)
    assert "You are number 1 in line." in heard
    assert "Press 1 to leave a message, or 2 to be called back" in heard
    assert (call.waiting or {}).get("kind") == "gather"  # the waiting loop asks again

    # Alice becomes available: the call is offered to her desk; she accepts, as the desk does.
    queue_services.presence_set(agent=first, status="available")
    offer = Offer.objects.get(interaction=interaction, agent=first, status="pending")
    queue_services.offer_accept(offer=offer, agent=first)

    call.refresh_from_db()
    name = voice.conference_name(interaction)
    assert call.conference == name
    alice_leg = _leg_of(first)
    assert alice_leg.conference == name
    assert "Billing call, Standard customer." in alice_leg.texts  # the whisper, to her only
    assert "Billing call" not in _texts(call)
    assert Event.objects.filter(interaction=interaction, type="call.agent_answered").exists()

    # Blind transfer to Bob: Alice's leg hangs up, Bob's joins when he accepts.
    queue_services.presence_set(agent=second, status="available")
    queue_services.interaction_transfer(interaction=interaction, actor=first, agent=second)
    alice_leg.refresh_from_db()
    assert alice_leg.status == "completed"
    offer = Offer.objects.get(interaction=interaction, agent=second, status="pending")
    queue_services.offer_accept(offer=offer, agent=second)
    bob_leg = _leg_of(second)
    assert bob_leg.conference == name
    others = engine.conference_calls(organization_id=call.organization_id, name=name)
    assert {c.label for c in others} == {CALLER, "bob"} or {c.sid for c in others} == {
        call.sid,
        bob_leg.sid,
    }

    # The caller hangs up while talking: wrap-up; Bob closes with a disposition.
    engine.sim_hangup(call=call)
    interaction.refresh_from_db()
    assert interaction.state == State.WRAP_UP
    bob_leg.refresh_from_db()
    assert bob_leg.status == "completed"
    disposition = DispositionFactory(organization=interaction.organization)
    interaction_close(
        interaction=interaction,
        actor=second,
        disposition=disposition,
        notes="Refund promised by Friday.",
    )
    interaction.refresh_from_db()
    assert interaction.state == State.CLOSED
    closed = Event.objects.get(
        interaction=interaction, type="interaction.state_changed", data__to="closed"
    )
    assert closed.data["notes"] == "Refund promised by Friday."

    types = set(Event.objects.filter(interaction=interaction).values_list("type", flat=True))
    assert {"call.ringing", "call.answered", "call.connected", "call.ended"} <= types
    ended = Event.objects.get(interaction=interaction, type="call.ended")
    assert ended.data["outcome"] == "answered"
    assert ended.data["wait_seconds"] >= 0 and ended.data["talk_seconds"] >= 0
    log = voice.call_log(interaction=interaction)
    assert log["caller"] == CALLER and log["outcome"] == "answered"
    assert log["ringing_at"] <= log["answered_at"] <= log["connected_at"] <= log["ended_at"]
    assert {"wait_seconds", "talk_seconds", "hold_seconds", "wrap_up_seconds"} <= set(log)
    assert (log["disposition"], log["comments"]) == (disposition.code, "Refund promised by Friday.")


def test_hold_from_the_desk_holds_the_callers_conference_leg(line, live_server):
    from apps.interactions.services import interaction_transition

    account, billing, _support = line
    agent = agent_in_queue(billing, username="carol")
    call = engine.sim_keys(call=_dial(account, live_server), keys="1", submit=True)
    interaction = Interaction.objects.get(provider_ref=call.sid)
    offer = Offer.objects.get(interaction=interaction, agent=agent, status="pending")
    queue_services.offer_accept(offer=offer, agent=agent)

    interaction_transition(interaction=interaction, to=State.ON_HOLD, actor=agent)
    call.refresh_from_db()
    assert call.hold and "[on hold]" in call.texts
    interaction_transition(interaction=interaction, to=State.ACTIVE, actor=agent)
    call.refresh_from_db()
    assert not call.hold and "[back from hold]" in call.texts
    types = list(
        Event.objects.filter(interaction=interaction, type__in=["call.hold", "call.resumed"])
        .order_by("at")
        .values_list("type", flat=True)
    )
    assert types == ["call.hold", "call.resumed"]


def test_an_agent_mutes_and_unmutes_their_own_leg_from_the_desk(line, live_server, client):
    from django.urls import reverse

    account, billing, _support = line
    agent = agent_in_queue(billing, username="dora")
    call = engine.sim_keys(call=_dial(account, live_server), keys="1", submit=True)
    interaction = Interaction.objects.get(provider_ref=call.sid)
    offer = Offer.objects.get(interaction=interaction, agent=agent, status="pending")
    queue_services.offer_accept(offer=offer, agent=agent)
    url = reverse("desk-mute", args=[interaction.pk])

    client.force_login(agent)
    page = client.get(reverse("desk-interaction", args=[interaction.pk])).content.decode()
    assert 'data-testid="call-mute"' in page and "Mute my line" in page
    page = client.post(url, {"muted": "1"}, HTTP_HX_REQUEST="true").content.decode()
    leg = _leg_of(agent)
    assert leg.muted and not SimCall.objects.get(sid=call.sid).muted  # the caller is not muted
    assert "Unmute my line" in page
    client.post(url, {"muted": "0"})
    leg.refresh_from_db()
    assert not leg.muted
    types = Event.objects.filter(interaction=interaction, type__startswith="call.").values_list(
        "type", flat=True
    )
    assert [t for t in types if t.endswith("muted")] == ["call.muted", "call.unmuted"]

    # A colleague with no leg on the call: refused, nothing recorded.
    colleague = UserFactory(organization=billing.organization, roles=[Role.AGENT, Role.SUPERVISOR])
    client.force_login(colleague)
    page = client.post(url, {"muted": "1"}, HTTP_HX_REQUEST="true").content.decode()
    assert "You are not on this call." in page
    assert Event.objects.filter(interaction=interaction, type="call.muted").count() == 1


def test_consult_holds_the_caller_conference_lets_all_hear_and_ending_hangs_up(line, live_server):
    from apps.interactions.models import Participant

    account, billing, _support = line
    agent = agent_in_queue(billing, username="dave")
    expert = agent_in_queue(billing, status="away", username="erin")
    call = engine.sim_keys(call=_dial(account, live_server), keys="1", submit=True)
    interaction = Interaction.objects.get(provider_ref=call.sid)
    offer = Offer.objects.get(interaction=interaction, agent=agent, status="pending")
    queue_services.offer_accept(offer=offer, agent=agent)

    participant = queue_services.participant_invite(
        interaction=interaction, actor=agent, agent=expert, mode=Participant.Mode.CONSULT
    )
    assert not SimCall.objects.filter(to_number="client:erin").exists()  # still ringing
    queue_services.participant_answer(participant=participant, agent=expert, accept=True)
    erin = _leg_of(expert)
    assert erin.conference == voice.conference_name(interaction)
    assert "A colleague asks you to join a call." in erin.texts
    call.refresh_from_db()
    assert call.hold  # consulting: the caller does not hear

    queue_services.participant_conference(participant=participant, actor=agent)
    call.refresh_from_db()
    assert not call.hold  # conference: all hear

    queue_services.participant_end(participant=participant, actor=agent)
    erin.refresh_from_db()
    assert erin.status == "completed"

    # The agent closes the conversation on the desk: the call ends for everybody.
    interaction_close(interaction=interaction, actor=agent)
    call.refresh_from_db()
    assert call.status == "completed" and _leg_of(agent).status == "completed"
    ended = Event.objects.get(interaction=interaction, type="call.ended")
    assert ended.data["outcome"] == "answered" and ended.data["talk_seconds"] >= 0


def test_after_hours_the_caller_leaves_a_voicemail_routed_for_callback(line, live_server):
    account, _billing, support = line
    _hours(account.organization, open_=False)
    call = _dial(account, live_server)
    assert "We are closed. Press 1 and we call you back" in _texts(call)
    call = engine.sim_keys(call=call, keys="2", submit=True)
    assert "Please leave your message after the tone." in _texts(call)
    assert call.waiting["kind"] == "record"

    call = engine.sim_record(call=call, text="My router blinks red since this morning.")
    call.refresh_from_db()
    assert call.status == "completed"
    assert "Thank you for your message. We will call you back. Goodbye." in call.texts

    interaction = Interaction.objects.get(provider_ref=call.sid)
    assert interaction.queue == support
    assert interaction.state in (State.QUEUED, State.VOICEMAIL, State.CALLBACK_SCHEDULED)
    bodies = list(Message.objects.filter(interaction=interaction).values_list("body", flat=True))
    assert any(b.startswith("Voicemail (5 s): http") for b in bodies)
    assert "Voicemail transcript: My router blinks red since this morning." in bodies
    assert interaction.data["voice"]["transcript"].startswith("My router")
    ended = Event.objects.get(interaction=interaction, type="call.ended")
    assert ended.data["outcome"] == "voicemail"

    # The audio is a recording of the interaction: copied here, transcribed, and purged by
    # the organization's retention like any other.
    recording = Recording.objects.get(interaction=interaction)
    assert (recording.source, recording.status, recording.duration) == ("voicemail", "completed", 5)
    assert recording.file and recording.size > 0
    assert recording.transcripts.get().text == "My router blinks red since this morning."
    RecordingPolicy.objects.create(organization=interaction.organization, retention_days=30)
    assert recordings_purge_due(now=timezone.now() + timedelta(days=31)) == 1
    recording.refresh_from_db()
    assert recording.status == "purged" and not recording.file


def test_callback_keeping_the_place_from_the_waiting_loop(line, live_server):
    account, billing, _support = line
    agent_in_queue(billing, status="away")
    call = engine.sim_keys(call=_dial(account, live_server), keys="1", submit=True)
    interaction = Interaction.objects.get(provider_ref=call.sid)
    assert interaction.state == State.QUEUED

    call = engine.sim_keys(call=call, keys="2", submit=True)
    call.refresh_from_db()
    assert call.status == "completed"
    assert "We will call you back and you keep your place in line. Goodbye." in _texts(call)
    interaction.refresh_from_db()
    callback = Callback.objects.get(origin=interaction)
    assert callback.keep_place_since == interaction.queued_at
    assert callback.number == CALLER and callback.queue == billing
    assert interaction.state == State.CALLBACK_SCHEDULED
    ended = Event.objects.get(interaction=interaction, type="call.ended")
    assert ended.data["outcome"] == "callback"


def test_a_caller_hanging_up_in_the_queue_abandons(line, live_server):
    account, billing, _support = line
    agent_in_queue(billing, status="away")
    call = engine.sim_keys(call=_dial(account, live_server), keys="1", submit=True)
    engine.sim_hangup(call=call)
    interaction = Interaction.objects.get(provider_ref=call.sid)
    assert interaction.state == State.ABANDONED
    assert Event.objects.get(interaction=interaction, type="call.ended").data["outcome"] == (
        "abandoned"
    )


def test_vip_callers_go_first(line, live_server):
    from apps.contacts.models import Identity
    from apps.queues.selectors import queue_position

    account, billing, _support = line
    agent_in_queue(billing, status="away")
    standard = engine.sim_keys(call=_dial(account, live_server), keys="1", submit=True)
    vip_call = engine.sim_call_start(
        account=account, from_number="+14155550199", base=live_server.url
    )
    vip_contact = Identity.objects.get(value="+14155550199").contact
    vip_contact.tier = "vip"
    vip_contact.save()
    # (The first name of the contact is unknown: the VIP greeting still plays.)
    engine.sim_keys(call=vip_call, keys="1", submit=True)
    vip = Interaction.objects.get(provider_ref=vip_call.sid)
    assert queue_position(interaction=vip) == 1
    assert queue_position(interaction=Interaction.objects.get(provider_ref=standard.sid)) == 2


def test_the_simulator_page_dials_and_shows_what_is_heard(line, live_server, client):
    account, _billing, _support = line
    user = UserFactory(organization=account.organization, roles=[Role.AGENT])
    client.force_login(user)
    page = client.get("/voice/simulator/")
    assert account.address in page.content.decode()
    response = client.post(
        "/voice/simulator/dial/",
        {"number": account.pk, "caller": CALLER},
        SERVER_NAME=live_server.url.split("//")[1].split(":")[0],
        SERVER_PORT=live_server.url.rsplit(":", 1)[1],
    )
    assert response.status_code == 302
    call = SimCall.objects.get(started_by=user)
    panel = client.get(f"/voice/simulator/calls/{call.pk}/panel/").content.decode()
    assert "For billing, press 1" in panel
    client.post(f"/voice/simulator/calls/{call.pk}/keys/", {"keys": "4#"})
    assert Interaction.objects.get(provider_ref=call.sid).queue.name == "Sales"


def test_the_simulators_api_wants_the_numbers_credentials(line, live_server):
    import requests

    account, _billing, _support = line
    url = f"{live_server.url}/voice/simulator/api/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
    data = {"To": "client:x", "From": account.address, "Twiml": "<Response><Hangup/></Response>"}
    assert requests.post(url, data=data, auth=(ACCOUNT_SID, "wrong"), timeout=10).status_code == 401
    assert requests.post(url, data=data, timeout=10).status_code == 401
    created = requests.post(url, data=data, auth=(ACCOUNT_SID, TOKEN), timeout=10)
    assert created.status_code == 201
    assert SimCall.objects.get(sid=created.json()["sid"]).status == "completed"


def test_simulate_call_prints_what_the_caller_hears(roles, settings, capsys):
    support = QueueFactory(name="Technical support")
    QueueFactory(organization=support.organization, name="Sales")
    QueueFactory(organization=support.organization, name="Billing")
    _ivr(support.organization)
    _hours(support.organization, open_=True)
    channel_account(
        "voice",
        address="+15550100",
        queue=support,
        secrets={"auth_token": TOKEN},
        config={"account_sid": ACCOUNT_SID, "flow": "Main line"},
    )
    call_command("simulate_call", "--to", "+15550100", "--from", CALLER, "--keys", "4")
    out = capsys.readouterr().out
    assert "For billing, press 1" in out
    assert "Please hold, an agent will be with you shortly." in out
    assert InboundEvent.objects.count() == 0  # nothing hung up yet: no status callback
