"""Blind transfer of a live interaction to a colleague or to a queue."""

import pytest
from django.core.exceptions import ValidationError

from apps.interactions.models import Event, State
from apps.queues import services
from apps.queues.models import Offer, QueueMember
from tests.factories import ContactFactory, InteractionFactory, QueueFactory, agent_in_queue

pytestmark = pytest.mark.django_db


@pytest.fixture
def live(roles):
    """A chat answered by ``first`` in a queue where ``second`` is also available."""
    queue = QueueFactory()
    first = agent_in_queue(queue, idle_minutes=30)
    second = agent_in_queue(queue, idle_minutes=1)
    contact = ContactFactory(organization=queue.organization, tier="vip")
    interaction = InteractionFactory(contact=contact, channel="webchat")
    services.interaction_enqueue(interaction=interaction, queue=queue)
    offer = Offer.objects.get(interaction=interaction)
    assert offer.agent_id == first.pk
    services.offer_accept(offer=offer, agent=first)
    interaction.refresh_from_db()
    return queue, first, second, interaction


def test_to_a_colleague_offers_it_to_them_with_the_note(live):
    queue, first, second, interaction = live
    services.interaction_transfer(
        interaction=interaction, actor=first, agent=second, note="Wants a refund, VIP"
    )
    interaction.refresh_from_db()
    assert interaction.state == State.OFFERED
    assert interaction.assigned_agent_id == second.pk
    offer = Offer.objects.get(interaction=interaction, status=Offer.Status.PENDING)
    assert offer.agent_id == second.pk and offer.why["from_agent"] == first.pk
    assert interaction.notes.get().body == "Wants a refund, VIP"
    event = Event.objects.get(type="interaction.transferred")
    assert event.data["from_agent"] == first.pk and event.data["to_agent"] == second.pk
    services.offer_accept(offer=offer, agent=second)
    interaction.refresh_from_db()
    assert (interaction.state, interaction.assigned_agent_id) == (State.ACTIVE, second.pk)


def test_a_declined_transfer_goes_back_to_the_queue_not_lost(live):
    queue, first, second, interaction = live
    services.interaction_transfer(interaction=interaction, actor=first, agent=second)
    offer = Offer.objects.get(interaction=interaction, status=Offer.Status.PENDING)
    services.offer_reject(offer=offer, agent=second)
    interaction.refresh_from_db()
    # Back in line and offered again: the first agent is free once more.
    assert interaction.state == State.OFFERED
    assert interaction.assigned_agent_id == first.pk


def test_to_a_queue_it_waits_there_for_someone_else_keeping_its_priority(live):
    queue, first, second, interaction = live
    other_queue = QueueFactory(organization=queue.organization)
    QueueMember.objects.create(organization=queue.organization, queue=other_queue, agent=first)
    QueueMember.objects.create(organization=queue.organization, queue=other_queue, agent=second)
    priority = interaction.priority
    services.interaction_transfer(interaction=interaction, actor=first, queue=other_queue)
    interaction.refresh_from_db()
    assert interaction.queue_id == other_queue.pk
    assert interaction.priority == priority
    # Offered at once to the other member, never back to the one who transferred it.
    assert (interaction.state, interaction.assigned_agent_id) == (State.OFFERED, second.pk)


def test_only_its_agent_or_a_supervisor_may_transfer(live, supervisor_a):
    queue, first, second, interaction = live
    with pytest.raises(ValidationError):
        services.interaction_transfer(interaction=interaction, actor=second, agent=second)
    interaction.refresh_from_db()
    assert interaction.state == State.ACTIVE


def test_a_target_of_another_organization_is_refused(live):
    queue, first, second, interaction = live
    stranger_queue = QueueFactory()
    with pytest.raises(ValidationError):
        services.interaction_transfer(interaction=interaction, actor=first, queue=stranger_queue)
    interaction.refresh_from_db()
    assert (interaction.state, interaction.queue_id) == (State.ACTIVE, queue.pk)


def test_only_a_live_interaction_is_transferred(roles):
    queue = QueueFactory()
    agent = agent_in_queue(queue, status="offline")
    interaction = InteractionFactory(contact__organization=queue.organization, channel="webchat")
    services.interaction_enqueue(interaction=interaction, queue=queue)
    interaction.refresh_from_db()
    interaction.assigned_agent = agent
    interaction.save()
    with pytest.raises(ValidationError):
        services.interaction_transfer(interaction=interaction, actor=agent, queue=queue)
