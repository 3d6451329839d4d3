"""The ACD's rules: who gets offered what, in which order, and what happens next."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.interactions.models import Event, Interaction, State
from apps.interactions.services import interaction_close
from apps.queues import services
from apps.queues.models import (
    AgentSkill,
    Offer,
    Presence,
    PresenceStatus,
    QueueSkill,
    Skill,
    Strategy,
)
from tests.factories import ContactFactory, InteractionFactory, QueueFactory, agent_in_queue

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue(roles):
    return QueueFactory(offer_timeout_seconds=20)


def _enqueue(queue, channel="webchat", tier="standard", **kwargs):
    contact = ContactFactory(organization=queue.organization, tier=tier)
    interaction = InteractionFactory(contact=contact, channel=channel, **kwargs)
    services.interaction_enqueue(interaction=interaction, queue=queue)
    interaction.refresh_from_db()
    return interaction


def _offered_to(interaction):
    return list(
        Offer.objects.filter(interaction=interaction, status="pending").values_list(
            "agent_id", flat=True
        )
    )


def test_longest_idle_agent_gets_the_offer_with_the_why(queue):
    agent_in_queue(queue, idle_minutes=2)
    longest = agent_in_queue(queue, idle_minutes=30)
    interaction = _enqueue(queue)
    assert interaction.state == State.OFFERED
    assert _offered_to(interaction) == [longest.pk]
    offer = Offer.objects.get(interaction=interaction)
    assert offer.why["strategy"] == "longest_idle" and offer.why["chosen"] == longest.pk
    assert [c["agent"] for c in offer.why["candidates"]][0] == longest.pk
    event = Event.objects.filter(interaction=interaction, type="interaction.state_changed").last()
    assert (
        event.data["to"] == "offered"
        and event.data["why"]["chosen" if False else "strategy"] == "longest_idle"
    )


def test_unavailable_and_non_member_agents_are_never_offered(queue):
    agent_in_queue(queue, status=PresenceStatus.AWAY)
    agent_in_queue(QueueFactory(organization=queue.organization))  # another queue's agent
    interaction = _enqueue(queue)
    assert interaction.state == State.QUEUED
    assert not Offer.objects.exists()


def test_round_robin_takes_turns(queue):
    queue.strategy = Strategy.ROUND_ROBIN
    queue.save()
    a, b = agent_in_queue(queue), agent_in_queue(queue)
    first = _offered_to(_enqueue(queue))[0]
    second = _offered_to(_enqueue(queue))[0]
    assert {first, second} == {a.pk, b.pk}


def test_least_occupied_prefers_the_emptier_agent(queue):
    queue.strategy = Strategy.LEAST_OCCUPIED
    queue.save()
    busy = agent_in_queue(queue, idle_minutes=60)
    free = agent_in_queue(queue, idle_minutes=1)
    InteractionFactory(
        contact=ContactFactory(organization=queue.organization),
        channel="email",
        state=State.ACTIVE,
        assigned_agent=busy,
    )
    assert _offered_to(_enqueue(queue)) == [free.pk]


def test_sequential_follows_the_hunt_order(queue):
    queue.strategy = Strategy.SEQUENTIAL
    queue.save()
    agent_in_queue(queue, order=2, idle_minutes=90)
    first = agent_in_queue(queue, order=1)
    assert _offered_to(_enqueue(queue)) == [first.pk]


def test_skills_best_match_uses_penalty_tiers(queue):
    queue.strategy = Strategy.SKILLS
    queue.save()
    french = Skill.objects.create(organization=queue.organization, name="French")
    QueueSkill.objects.create(queue=queue, skill=french, min_level=3)
    novice = agent_in_queue(queue, idle_minutes=60)
    expert = agent_in_queue(queue)
    unskilled = agent_in_queue(queue, idle_minutes=90)
    AgentSkill.objects.create(organization=queue.organization, agent=novice, skill=french, level=4)
    AgentSkill.objects.create(organization=queue.organization, agent=expert, skill=french, level=9)
    AgentSkill.objects.create(
        organization=queue.organization, agent=unskilled, skill=french, level=2
    )
    interaction = _enqueue(queue)
    assert _offered_to(interaction) == [expert.pk]
    candidates = [c["agent"] for c in Offer.objects.get(interaction=interaction).why["candidates"]]
    assert unskilled.pk not in candidates and candidates == [expert.pk, novice.pk]


def test_skill_levels_relax_as_the_wait_grows(queue):
    queue.relax_skills_after_seconds = 60
    queue.save()
    french = Skill.objects.create(organization=queue.organization, name="French")
    QueueSkill.objects.create(queue=queue, skill=french, min_level=8)
    weak = agent_in_queue(queue, status=PresenceStatus.AWAY)
    AgentSkill.objects.create(organization=queue.organization, agent=weak, skill=french, level=2)
    interaction = _enqueue(queue)
    Presence.objects.filter(agent=weak).update(status=PresenceStatus.AVAILABLE)
    assert services.route_interaction(interaction_id=interaction.pk) == []
    later = timezone.now() + timedelta(seconds=90)
    assert [
        o.agent_id for o in services.route_interaction(interaction_id=interaction.pk, now=later)
    ] == [weak.pk]


def test_ring_all_offers_every_agent_and_first_accept_wins(queue):
    queue.strategy = Strategy.RING_ALL
    queue.save()
    a, b = agent_in_queue(queue), agent_in_queue(queue)
    call = _enqueue(queue, channel="voice")
    assert sorted(_offered_to(call)) == sorted([a.pk, b.pk])
    services.offer_accept(offer=Offer.objects.get(interaction=call, agent=b), agent=b)
    call.refresh_from_db()
    assert (call.state, call.assigned_agent_id) == (State.ACTIVE, b.pk)
    assert Offer.objects.get(interaction=call, agent=a).status == Offer.Status.CANCELLED
    with pytest.raises(ValidationError):
        services.offer_accept(offer=Offer.objects.get(interaction=call, agent=a), agent=a)


def test_capacity_per_channel_and_blending(queue):
    agent = agent_in_queue(queue, capacity={"voice": 1, "chat": 2})
    first_call = _enqueue(queue, channel="voice")
    second_call = _enqueue(queue, channel="voice")
    chats = [_enqueue(queue, channel="webchat") for _ in range(3)]
    email = _enqueue(queue, channel="email")
    assert _offered_to(first_call) == [agent.pk]
    assert second_call.state == State.QUEUED  # one call at a time
    assert [c.state for c in chats] == [State.OFFERED, State.OFFERED, State.QUEUED]
    assert email.state == State.QUEUED  # no e-mail capacity at all


def test_vip_goes_first_when_an_agent_frees_up(queue):
    agent = agent_in_queue(queue, status=PresenceStatus.AWAY, capacity={"chat": 1})
    standard = _enqueue(queue, tier="standard")
    vip = _enqueue(queue, tier="vip")
    assert vip.routing_rank < standard.routing_rank
    services.presence_set(agent=agent, status=PresenceStatus.AVAILABLE)
    vip.refresh_from_db()
    standard.refresh_from_db()
    assert (vip.state, standard.state) == (State.OFFERED, State.QUEUED)
    assert _offered_to(vip) == [agent.pk]


def test_backlog_is_assigned_when_an_agent_becomes_available(queue):
    agent = agent_in_queue(queue, status=PresenceStatus.LUNCH, capacity={"chat": 3})
    waiting = [_enqueue(queue) for _ in range(4)]
    assert all(w.state == State.QUEUED for w in waiting)
    services.presence_set(agent=agent, status=PresenceStatus.AVAILABLE)
    states = [Interaction.objects.get(pk=w.pk).state for w in waiting]
    assert states == [State.OFFERED] * 3 + [State.QUEUED]  # oldest first, up to capacity


def test_accept_makes_it_active(queue):
    agent = agent_in_queue(queue)
    interaction = _enqueue(queue)
    services.offer_accept(offer=Offer.objects.get(interaction=interaction), agent=agent)
    interaction.refresh_from_db()
    assert (interaction.state, interaction.assigned_agent_id) == (State.ACTIVE, agent.pk)


def test_someone_elses_offer_cannot_be_accepted(queue):
    agent_in_queue(queue)
    intruder = agent_in_queue(QueueFactory(organization=queue.organization))
    interaction = _enqueue(queue)
    with pytest.raises(ValidationError):
        services.offer_accept(offer=Offer.objects.get(interaction=interaction), agent=intruder)


def test_decline_goes_to_the_next_agent_not_back_to_the_same(queue):
    first = agent_in_queue(queue, idle_minutes=10)
    second = agent_in_queue(queue, idle_minutes=1)
    interaction = _enqueue(queue)
    services.offer_reject(
        offer=Offer.objects.get(interaction=interaction, agent=first), agent=first
    )
    interaction.refresh_from_db()
    assert interaction.state == State.OFFERED
    assert _offered_to(interaction) == [second.pk]


def test_unanswered_offer_times_out_rona(queue):
    agent = agent_in_queue(queue)
    interaction = _enqueue(queue)
    rank = interaction.routing_rank
    offer = Offer.objects.get(interaction=interaction)
    assert not services.offer_expire(offer_id=offer.pk)  # not due yet
    later = timezone.now() + timedelta(seconds=21)
    assert services.offers_expire_due(now=later) == 1
    offer.refresh_from_db()
    interaction.refresh_from_db()
    presence = Presence.objects.get(agent=agent)
    assert offer.status == Offer.Status.TIMED_OUT
    assert (interaction.state, interaction.routing_rank) == (State.QUEUED, rank)  # front kept
    assert (presence.status, presence.reason.name) == (PresenceStatus.AWAY, "Missed offer")
    assert Event.objects.filter(type="presence.changed", data__to="away").exists()
    requeued = Event.objects.get(interaction=interaction, data__reason="timed_out")
    assert requeued.data["agent"] == agent.pk  # who missed it, for per-agent reports


def test_expired_offer_cannot_be_accepted(queue):
    agent = agent_in_queue(queue)
    interaction = _enqueue(queue)
    offer = Offer.objects.get(interaction=interaction)
    Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ValidationError, match="expired"):
        services.offer_accept(offer=offer, agent=agent)


def test_preferred_agent_is_waited_for_then_others(queue):
    queue.preferred_agent_seconds = 60
    queue.save()
    usual = agent_in_queue(queue, status=PresenceStatus.WRAP_UP)  # at work, busy
    other = agent_in_queue(queue)
    contact = ContactFactory(organization=queue.organization)
    InteractionFactory(contact=contact, state=State.CLOSED, assigned_agent=usual)
    interaction = InteractionFactory(contact=contact)
    services.interaction_enqueue(interaction=interaction, queue=queue)
    interaction.refresh_from_db()
    assert interaction.preferred_agent_id == usual.pk
    assert interaction.state == State.QUEUED  # waits for the usual agent
    later = timezone.now() + timedelta(seconds=61)
    assert [
        o.agent_id for o in services.route_interaction(interaction_id=interaction.pk, now=later)
    ] == [other.pk]


def test_closing_frees_the_agent_for_the_next_in_line(queue):
    agent = agent_in_queue(queue, capacity={"chat": 1})
    first = _enqueue(queue)
    second = _enqueue(queue)
    services.offer_accept(offer=Offer.objects.get(interaction=first), agent=agent)
    assert Interaction.objects.get(pk=second.pk).state == State.QUEUED
    interaction_close(interaction=Interaction.objects.get(pk=first.pk), actor=agent)
    assert Interaction.objects.get(pk=second.pk).state == State.OFFERED


def test_presence_changes_are_events_and_reasons_must_match(queue):
    from apps.queues.models import ReasonCode

    agent = agent_in_queue(queue)
    training = ReasonCode.objects.create(
        organization=queue.organization, status="away", name="Training"
    )
    services.presence_set(agent=agent, status="away", reason=training)
    with pytest.raises(ValidationError):
        services.presence_set(agent=agent, status="lunch", reason=training)
    assert Event.objects.filter(type="presence.changed", data__reason="Training").count() == 1


def test_enqueue_refuses_another_organizations_queue(queue):
    interaction = InteractionFactory()
    with pytest.raises(ValidationError):
        services.interaction_enqueue(interaction=interaction, queue=queue)
    assert Interaction.objects.get(pk=interaction.pk).state == State.NEW


def test_timed_out_interaction_goes_to_the_next_agent(queue):
    absent = agent_in_queue(queue, idle_minutes=30)
    present = agent_in_queue(queue, idle_minutes=1)
    interaction = _enqueue(queue)
    assert _offered_to(interaction) == [absent.pk]
    services.offers_expire_due(now=timezone.now() + timedelta(seconds=21))
    assert _offered_to(interaction) == [present.pk]


@pytest.mark.django_db(transaction=True)
def test_queue_group_receives_one_live_summary_per_change():
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from apps.accounts.services import roles_sync
    from apps.core.realtime import queue_group

    roles_sync()
    queue = QueueFactory()
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(queue_group(queue.pk), channel)
    _enqueue(queue)  # nobody available: it waits
    message = async_to_sync(layer.receive)(channel)
    assert message["type"] == "queue.updated"
    assert (message["data"]["waiting"], message["data"]["offered"]) == (1, 0)


def test_an_absent_preferred_agent_is_not_waited_for(queue):
    queue.preferred_agent_seconds = 60
    queue.save()
    usual = agent_in_queue(queue, status=PresenceStatus.OFFLINE)
    other = agent_in_queue(queue)
    contact = ContactFactory(organization=queue.organization)
    InteractionFactory(contact=contact, state=State.CLOSED, assigned_agent=usual)
    interaction = InteractionFactory(contact=contact)
    services.interaction_enqueue(interaction=interaction, queue=queue)
    assert _offered_to(interaction) == [other.pk]
