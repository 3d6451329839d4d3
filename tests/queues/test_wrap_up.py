"""Wrap-up: after a conversation the agent gets the queue's after-call time, then work again."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.interactions.models import Event, State
from apps.interactions.services import interaction_close
from apps.queues import services
from apps.queues.models import Offer, Presence, PresenceStatus
from tests.factories import InteractionFactory, QueueFactory, agent_in_queue

pytestmark = pytest.mark.django_db


def _answered(queue, agent, channel="voice"):
    interaction = InteractionFactory(contact__organization=queue.organization, channel=channel)
    services.interaction_enqueue(interaction=interaction, queue=queue)
    offer = Offer.objects.get(interaction=interaction, status=Offer.Status.PENDING)
    assert offer.agent_id == agent.pk
    services.offer_accept(offer=offer, agent=agent)
    interaction.refresh_from_db()
    return interaction


def test_closing_a_call_gives_the_queues_wrap_up_then_the_backlog(roles):
    queue = QueueFactory(wrap_up_seconds=45)
    agent = agent_in_queue(queue, capacity={"voice": 1})
    call = _answered(queue, agent)
    waiting = InteractionFactory(contact__organization=queue.organization, channel="voice")
    services.interaction_enqueue(interaction=waiting, queue=queue)  # the agent is busy

    interaction_close(interaction=call, actor=agent)

    presence = Presence.objects.get(agent=agent)
    assert presence.status == PresenceStatus.WRAP_UP
    assert presence.wrap_up_until == pytest.approx(
        timezone.now() + timedelta(seconds=45), abs=timedelta(seconds=5)
    )
    waiting.refresh_from_db()
    assert waiting.state == State.QUEUED  # nothing offered during wrap-up
    assert Event.objects.filter(type="presence.changed", data__to="wrap_up").exists()
    assert services.presences_end_wrap_up(now=timezone.now()) == 0  # not yet

    assert services.presences_end_wrap_up(now=timezone.now() + timedelta(seconds=46)) == 1

    assert Presence.objects.get(agent=agent).status == PresenceStatus.AVAILABLE
    waiting.refresh_from_db()
    assert (waiting.state, waiting.assigned_agent_id) == (State.OFFERED, agent.pk)


def test_an_agent_can_end_wrap_up_early(roles):
    queue = QueueFactory(wrap_up_seconds=300)
    agent = agent_in_queue(queue, capacity={"voice": 1})
    interaction_close(interaction=_answered(queue, agent), actor=agent)
    services.presence_set(agent=agent, status=PresenceStatus.AVAILABLE)
    presence = Presence.objects.get(agent=agent)
    assert (presence.status, presence.wrap_up_until) == (PresenceStatus.AVAILABLE, None)


def test_no_wrap_up_while_other_conversations_are_in_hand(roles):
    queue = QueueFactory(wrap_up_seconds=60)
    agent = agent_in_queue(queue, capacity={"chat": 3})
    first = _answered(queue, agent, channel="webchat")
    _answered(queue, agent, channel="webchat")
    interaction_close(interaction=first, actor=agent)
    assert Presence.objects.get(agent=agent).status == PresenceStatus.AVAILABLE


def test_an_agent_on_a_break_stays_on_it(roles):
    queue = QueueFactory(wrap_up_seconds=60)
    agent = agent_in_queue(queue, capacity={"voice": 1})
    call = _answered(queue, agent)
    services.presence_set(agent=agent, status=PresenceStatus.LUNCH)
    interaction_close(interaction=call, actor=agent)
    assert Presence.objects.get(agent=agent).status == PresenceStatus.LUNCH


def test_the_router_ends_wrap_ups(roles, settings):
    from apps.queues.router import Router

    settings.ROUTING_INLINE = False
    queue = QueueFactory(wrap_up_seconds=1)
    agent = agent_in_queue(queue, capacity={"voice": 1})
    Router().round()
    Presence.objects.filter(agent=agent).update(
        status=PresenceStatus.WRAP_UP, wrap_up_until=timezone.now() - timedelta(seconds=1)
    )
    Router(expire_every=0).round()
    assert Presence.objects.get(agent=agent).status == PresenceStatus.AVAILABLE
