"""The agent's phone through the simulated provider (real signed webhooks over HTTP to a live
server, our REST calls with the real ``twilio`` client to the simulator's API): click-to-call
(the agent's leg first, then the customer's, in one conference, with the queue's or the
organization's caller ID), its outcomes, its refusals, scheduled callbacks dialled when an
agent accepts them, and the TwiML App webhook of the browser softphone."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from twilio.request_validator import RequestValidator

from apps.accounts.models import Role
from apps.connectors import voice
from apps.connectors.phone import RING_SECONDS, call_place, caller_id_for
from apps.contacts.models import Consent, IdentityKind
from apps.interactions.models import Event, Interaction, State
from apps.interactions.services import interaction_close
from apps.queues import services as queue_services
from apps.queues.models import Offer
from apps.voicesim import engine
from apps.voicesim.models import SimCall
from tests.connectors.conftest import channel_account
from tests.factories import (
    ContactFactory,
    IdentityFactory,
    QueueFactory,
    UserFactory,
    agent_in_queue,
)

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "voice-auth-token"
ACCOUNT_SID = "AC" + "8" * 32
CUSTOMER = "+14155550142"


@pytest.fixture
def office(roles, settings, live_server):
    """Two voice numbers on the live server's simulator; the second is the organization's
    default; an agent of the Sales queue; a customer with a phone number."""
    settings.TWILIO_API_BASE = live_server.url + "/voice/simulator/api"
    sales = QueueFactory(name="Sales")
    organization = sales.organization
    main = channel_account(
        "voice",
        address="+15550100",
        queue=sales,
        secrets={"auth_token": TOKEN},
        config={"account_sid": ACCOUNT_SID},
    )
    other = channel_account(
        "voice",
        address="+15550199",
        queue=sales,
        secrets={"auth_token": TOKEN},
        config={"account_sid": ACCOUNT_SID},
    )
    organization.default_voice_number = other
    organization.save()
    agent = agent_in_queue(sales, username="alice")
    contact = ContactFactory(organization=organization, first_name="Marie", last_name="Curie")
    IdentityFactory(contact=contact, kind=IdentityKind.PHONE, value=CUSTOMER)
    return {"sales": sales, "main": main, "other": other, "agent": agent, "contact": contact}


def _customer_leg() -> SimCall:
    return SimCall.objects.get(to_number=CUSTOMER)


def _agent_leg(agent) -> SimCall:
    return SimCall.objects.get(to_number=f"client:{agent.username}")


def _types(interaction) -> list[str]:
    return list(
        Event.objects.filter(interaction=interaction, type__startswith="call.")
        .order_by("at", "pk")
        .values_list("type", flat=True)
    )


def test_click_to_call_dials_the_agent_then_the_customer_into_one_conference(office, live_server):
    agent, contact = office["agent"], office["contact"]

    interaction = call_place(agent=agent, contact=contact, base=live_server.url)

    interaction.refresh_from_db()
    assert (interaction.channel, interaction.direction) == ("voice", "outbound")
    assert interaction.state == State.ACTIVE and interaction.assigned_agent == agent
    # No queue: the organization's default number is the caller ID.
    assert interaction.channel_account == office["other"]
    name = voice.conference_name(interaction)
    agent_leg = _agent_leg(agent)
    assert agent_leg.conference == name and agent_leg.from_number == "+15550199"
    assert "Calling Marie Curie." in agent_leg.texts  # the whisper, before the customer
    customer = _customer_leg()
    assert customer.status == "ringing" and customer.from_number == "+15550199"
    assert customer.created_at > agent_leg.created_at  # the agent first

    engine.sim_answer(call=customer)
    customer.refresh_from_db()
    assert customer.conference == name
    others = engine.conference_calls(organization_id=interaction.organization_id, name=name)
    assert {c.to_number for c in others} == {CUSTOMER, "client:alice"}

    engine.sim_hangup(call=customer)
    interaction.refresh_from_db()
    assert interaction.state == State.WRAP_UP
    agent_leg.refresh_from_db()
    assert agent_leg.status == "completed"
    types = _types(interaction)
    for kind in ("call.placed", "call.connected", "call.agent_answered", "call.ringing"):
        assert kind in types
    assert types.index("call.agent_answered") < types.index("call.ringing")
    assert "call.ended" in types and "call.answered" in types
    log = voice.call_log(interaction=interaction)
    assert log["direction"] == "outbound" and log["outcome"] == "answered"
    assert (log["caller"], log["callee"]) == ("+15550199", CUSTOMER)
    assert log["talk_seconds"] >= 0 and log["ring_seconds"] >= 0


def test_the_queues_caller_id_comes_before_the_organizations(office, live_server):
    sales = office["sales"]
    sales.caller_id = office["main"]
    sales.save()
    assert caller_id_for(organization=sales.organization, queue=sales) == office["main"]
    assert caller_id_for(organization=sales.organization) == office["other"]

    interaction = call_place(
        agent=office["agent"], contact=office["contact"], queue=sales, base=live_server.url
    )
    assert Interaction.objects.get(pk=interaction.pk).channel_account == office["main"]
    assert _customer_leg().from_number == "+15550100"


@pytest.mark.parametrize(
    ("action", "outcome"),
    [("no-answer", "no-answer"), ("busy", "busy")],
)
def test_an_unanswered_call_ends_with_its_outcome(office, live_server, action, outcome):
    interaction = call_place(agent=office["agent"], contact=office["contact"], base=live_server.url)
    customer = _customer_leg()
    if action == "busy":
        engine.sim_decline(call=customer, status="busy")
    else:
        later = timezone.now() + timedelta(seconds=RING_SECONDS + 1)
        engine.sim_tick(call=customer, now=later)

    interaction.refresh_from_db()
    assert interaction.state == State.WRAP_UP
    ended = Event.objects.get(interaction=interaction, type="call.ended")
    assert ended.data["outcome"] == outcome and ended.data["talk_seconds"] == 0
    assert not Event.objects.filter(interaction=interaction, type="call.answered").exists()
    assert _agent_leg(office["agent"]).status == "completed"  # the agent's leg hangs up


def _refused(code: str, **kwargs):
    before = Interaction.objects.count()
    with pytest.raises(ValidationError) as error:
        call_place(**kwargs)
    assert error.value.code == code, error.value.messages
    assert Interaction.objects.count() == before
    assert not SimCall.objects.exists()
    return error.value


def test_refusals_write_nothing(office):
    from apps.contacts.services import consent_record, identity_block

    agent, contact = office["agent"], office["contact"]
    organization = contact.organization

    supervisor = UserFactory(organization=organization, roles=[Role.SUPERVISOR])
    assert "agents" in " ".join(_refused("agent", agent=supervisor, contact=contact).messages)
    stranger = agent_in_queue(QueueFactory())  # an agent of another organization
    _refused("agent", agent=stranger, contact=contact)

    identity = contact.identities.get()
    identity_block(identity=identity, actor=agent)
    _refused("blocked", agent=agent, contact=contact)
    identity.blocked_at = None
    identity.save()

    consent_record(contact=contact, channel="voice", status=Consent.Status.OPT_OUT, source="agent")
    error = _refused("opt_out", agent=agent, contact=contact)
    assert "asked not to be called" in " ".join(error.messages)
    Consent.objects.all().delete()
    contact.do_not_contact = True
    contact.save()
    _refused("opt_out", agent=agent, contact=contact)
    contact.do_not_contact = False
    contact.save()

    _refused("number", agent=agent, contact=contact, number="not a number")
    organization.default_voice_number = None
    organization.save()
    office["main"].is_active = False
    office["main"].save()
    office["other"].is_active = False
    office["other"].save()
    organization.refresh_from_db()
    _refused("no_number", agent=agent, contact=contact)


def _callback_accepted(office, live_server, *, attempts: int = 3):
    """A callback for the customer, due now, in Sales (caller ID: the main number), offered
    to and accepted by the agent on the desk."""
    sales, agent = office["sales"], office["agent"]
    sales.caller_id = office["main"]
    sales.callback_attempts = attempts
    sales.save()
    callback = queue_services.callback_schedule(
        queue=sales, contact=office["contact"], number=CUSTOMER, scheduled_for=timezone.now()
    )
    queue_services.callbacks_start_due()
    callback.refresh_from_db()
    offer = Offer.objects.get(interaction=callback.interaction, agent=agent, status="pending")
    queue_services.offer_accept(offer=offer, agent=agent)
    return callback


def test_an_accepted_callback_dials_the_agent_then_the_customer(office, live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url  # accepted on the desk: no request to learn it
    callback = _callback_accepted(office, live_server)
    interaction = callback.interaction
    assert "Callback to Marie Curie." in _agent_leg(office["agent"]).texts
    customer = _customer_leg()
    assert customer.from_number == "+15550100"  # the queue's caller ID

    engine.sim_answer(call=customer)
    engine.sim_hangup(call=customer)

    callback.refresh_from_db()
    assert (callback.status, callback.attempts, callback.last_outcome) == ("done", 1, "answered")
    interaction.refresh_from_db()
    assert interaction.state == State.WRAP_UP
    assert interaction.data["voice"]["outcome"] == "answered"
    assert Event.objects.filter(type="callback.attempted", data__outcome="answered").exists()


def test_a_callback_not_answered_is_tried_again_then_given_up(office, live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    callback = _callback_accepted(office, live_server, attempts=2)
    engine.sim_decline(call=_customer_leg(), status="no-answer")

    callback.refresh_from_db()
    assert (callback.status, callback.attempts, callback.last_outcome) == (
        "scheduled",
        1,
        "no-answer",
    )
    assert callback.scheduled_for > timezone.now() + timedelta(minutes=14)
    assert Interaction.objects.get(pk=callback.interaction_id).state == State.WRAP_UP

    # The second attempt (due later), busy: no attempt left.
    first = callback.interaction
    interaction_close(interaction=first, actor=office["agent"])
    queue_services.presence_set(agent=office["agent"], status="available")
    queue_services.callbacks_start_due(now=callback.scheduled_for)
    callback.refresh_from_db()
    assert callback.interaction_id != first.pk
    offer = Offer.objects.get(interaction=callback.interaction, status="pending")
    queue_services.offer_accept(offer=offer, agent=office["agent"])
    second = SimCall.objects.filter(to_number=CUSTOMER).exclude(status="completed").get()
    engine.sim_decline(call=second, status="busy")

    callback.refresh_from_db()
    assert (callback.status, callback.attempts, callback.last_outcome) == ("failed", 2, "busy")


def _signed(client, path: str, params: dict, token: str = TOKEN):
    from django.conf import settings

    url = (settings.PUBLIC_BASE_URL or "http://testserver") + path
    signature = RequestValidator(token).compute_signature(url, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def test_the_twiml_app_webhook_turns_a_softphone_call_into_an_outbound_call(
    office, live_server, client, settings
):
    settings.PUBLIC_BASE_URL = live_server.url
    path = reverse("connectors-twilio-voice-client", kwargs={"key": office["main"].key})
    params = {
        "CallSid": "CA" + "3" * 32,
        "AccountSid": ACCOUNT_SID,
        "From": "client:alice",
        "To": CUSTOMER,
        "Direction": "inbound",
        "CallStatus": "ringing",
    }
    assert client.post(path, params).status_code == 403  # unsigned
    assert _signed(client, path, params, token="wrong").status_code == 403
    assert not Interaction.objects.exists()

    response = _signed(client, path, params)
    assert response.status_code == 200
    interaction = Interaction.objects.get()
    assert interaction.provider_ref == params["CallSid"]
    assert interaction.direction == "outbound" and interaction.assigned_agent == office["agent"]
    assert f">{voice.conference_name(interaction)}</Conference>" in response.content.decode()
    assert _customer_leg().status == "ringing"  # the agent is on the line: only the customer
    assert not SimCall.objects.filter(to_number="client:alice").exists()
    # The provider asking twice is still one call.
    assert _signed(client, path, params).status_code == 200
    assert Interaction.objects.count() == 1 and SimCall.objects.count() == 1

    refused = _signed(client, path, {**params, "CallSid": "CA" + "4" * 32, "From": "client:x"})
    assert "<Hangup" in refused.content.decode()
    assert Interaction.objects.count() == 1


def test_the_simulator_page_shows_the_call_ringing_and_answers_as_the_customer(
    office, live_server, client
):
    interaction = call_place(agent=office["agent"], contact=office["contact"], base=live_server.url)
    client.force_login(office["agent"])
    page = client.get(reverse("voicesim-outbound")).content.decode()
    assert CUSTOMER in page and "sim-outbound-answer" in page

    customer = _customer_leg()
    client.post(reverse("voicesim-call-action", kwargs={"pk": customer.pk, "action": "answer"}))

    customer.refresh_from_db()
    assert customer.conference == voice.conference_name(interaction)
    assert "sim-outbound-answer" not in client.get(reverse("voicesim-outbound")).content.decode()


def test_simulate_answer_is_the_customer_from_a_terminal(office, live_server, capsys):
    from django.core.management import call_command

    interaction = call_place(agent=office["agent"], contact=office["contact"], base=live_server.url)
    call_command("simulate_answer", "--number", CUSTOMER, "--busy")
    assert "busy" in capsys.readouterr().out
    assert Interaction.objects.get(pk=interaction.pk).data["voice"]["outcome"] == "busy"


def test_a_callback_whose_agent_never_answers_spends_no_attempt(office, live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    agent = office["agent"]
    engine.sim_phone_register(organization=agent.organization, identity=agent.username)
    callback = _callback_accepted(office, live_server, attempts=2)  # the agent's phone rings
    engine.sim_decline(call=_agent_leg(agent), status="no-answer")

    callback.refresh_from_db()
    assert (callback.status, callback.attempts, callback.last_outcome) == (
        "scheduled",
        0,
        "agent-unreached",
    )
    assert callback.scheduled_for <= timezone.now()  # due again at once, for another agent
    assert not SimCall.objects.filter(to_number=CUSTOMER).exists()  # never dialled
