"""Position and wait, closed hours, overflow, no-reply re-queues, callbacks, supervisors."""

import datetime as dt
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.interactions.models import Interaction, State
from apps.interactions.services import message_add
from apps.queues import selectors, services
from apps.queues.models import BusinessHours, BusinessHoursPeriod, Callback, Offer, PresenceStatus
from tests.factories import (
    ContactFactory,
    IdentityFactory,
    InteractionFactory,
    QueueFactory,
    agent_in_queue,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue(roles):
    return QueueFactory()


def _enqueue(queue, channel="webchat", contact=None, **kwargs):
    contact = contact or ContactFactory(organization=queue.organization)
    interaction = InteractionFactory(contact=contact, channel=channel, **kwargs)
    services.interaction_enqueue(interaction=interaction, queue=queue)
    interaction.refresh_from_db()
    return interaction


def _closed_hours(org):
    """Hours that are never open now: one period yesterday-of-week an hour long, far from now."""
    hours = BusinessHours.objects.create(organization=org, name="Closed now", time_zone="UTC")
    now = timezone.now()
    weekday = (now.weekday() + 3) % 7
    BusinessHoursPeriod.objects.create(
        hours=hours, weekday=weekday, opens=dt.time(9), closes=dt.time(10)
    )
    return hours


def test_position_and_estimated_wait(queue):
    agent_in_queue(queue, status=PresenceStatus.WRAP_UP)  # staffed, not taking offers
    agent_in_queue(queue, status=PresenceStatus.WRAP_UP)
    first, second, third = (_enqueue(queue) for _ in range(3))
    assert [selectors.queue_position(interaction=i) for i in (first, second, third)] == [1, 2, 3]
    # No history yet: 180 s a contact, 2 staffed agents.
    assert selectors.estimated_wait_seconds(interaction=third) == 270


def test_estimated_wait_uses_recent_handle_times(queue):
    agent_in_queue(queue, status=PresenceStatus.WRAP_UP)
    now = timezone.now()
    for minutes in (2, 4):
        InteractionFactory(
            contact=ContactFactory(organization=queue.organization),
            queue=queue,
            state=State.CLOSED,
            answered_at=now - timedelta(minutes=10),
            ended_at=now - timedelta(minutes=10 - minutes),
        )
    waiting = _enqueue(queue)
    assert selectors.estimated_wait_seconds(interaction=waiting) == 180  # mean of 2 and 4 min


def test_no_estimate_when_nobody_is_staffed(queue):
    assert selectors.estimated_wait_seconds(interaction=_enqueue(queue)) is None


def test_queue_stats(queue):
    agent = agent_in_queue(queue, capacity={"chat": 1})
    _enqueue(queue)
    _enqueue(queue)
    stats = selectors.queue_stats(queue=queue)
    assert (stats["waiting"], stats["offered"]) == (1, 1)
    assert stats["agents"] == {PresenceStatus.AVAILABLE: 1}
    services.offer_accept(offer=Offer.objects.get(agent=agent), agent=agent)
    assert selectors.queue_stats(queue=queue)["service_level_percent"] == 100


def test_closed_queue_waits_for_digital_and_offers_nothing(queue):
    queue.business_hours = _closed_hours(queue.organization)
    queue.save()
    agent_in_queue(queue)
    chat = _enqueue(queue)
    assert chat.state == State.QUEUED
    assert not Offer.objects.exists()


def test_closed_queue_sends_calls_to_voicemail(queue):
    queue.business_hours = _closed_hours(queue.organization)
    queue.when_closed = "voicemail"
    queue.save()
    assert _enqueue(queue, channel="voice").state == State.VOICEMAIL


def test_closed_queue_schedules_a_callback_at_the_opening(queue):
    queue.business_hours = _closed_hours(queue.organization)
    queue.when_closed = "callback"
    queue.save()
    contact = ContactFactory(organization=queue.organization)
    IdentityFactory(contact=contact, kind="phone", value="+14155552671")
    call = _enqueue(queue, channel="voice", contact=contact)
    callback = Callback.objects.get(origin=call)
    assert call.state == State.CALLBACK_SCHEDULED
    assert callback.scheduled_for > timezone.now()
    assert timezone.localtime(callback.scheduled_for, dt.UTC).hour == 9


def test_overflow_after_the_wait_limit_keeps_the_place(queue):
    spill = QueueFactory(organization=queue.organization)
    queue.max_wait_seconds = 60
    queue.overflow_queue = spill
    queue.save()
    waiting = _enqueue(queue)
    helper = agent_in_queue(spill)
    assert services.queues_overflow(now=timezone.now() + timedelta(seconds=30)) == 0
    assert services.queues_overflow(now=timezone.now() + timedelta(seconds=61)) == 1
    waiting.refresh_from_db()
    assert waiting.queue == spill
    assert list(Offer.objects.filter(interaction=waiting).values_list("agent", flat=True)) == [
        helper.pk
    ]


def test_unanswered_digital_conversation_is_requeued_to_someone_else(queue):
    queue.no_reply_requeue_minutes = 5
    queue.save()
    slow = agent_in_queue(queue, idle_minutes=30)
    chat = _enqueue(queue)
    services.offer_accept(offer=Offer.objects.get(interaction=chat), agent=slow)
    message_add(interaction=chat, direction="inbound", author_kind="contact", body="Hello?")
    quick = agent_in_queue(queue)
    assert services.interactions_requeue_unanswered(now=timezone.now() + timedelta(minutes=2)) == 0
    assert services.interactions_requeue_unanswered(now=timezone.now() + timedelta(minutes=6)) == 1
    chat.refresh_from_db()
    assert chat.state == State.OFFERED
    assert list(
        Offer.objects.filter(interaction=chat, status="pending").values_list("agent", flat=True)
    ) == [quick.pk]


def test_answered_conversation_is_not_requeued(queue):
    queue.no_reply_requeue_minutes = 5
    queue.save()
    agent = agent_in_queue(queue)
    chat = _enqueue(queue)
    services.offer_accept(offer=Offer.objects.get(interaction=chat), agent=agent)
    message_add(interaction=chat, direction="inbound", author_kind="contact", body="Hello?")
    message_add(
        interaction=chat, direction="outbound", author_kind="agent", author=agent, body="Hi!"
    )
    assert services.interactions_requeue_unanswered(now=timezone.now() + timedelta(minutes=6)) == 0


def test_keep_my_place_callback_comes_back_at_its_old_position(queue):
    contact = ContactFactory(organization=queue.organization)
    caller = _enqueue(queue, channel="voice", contact=contact)
    later_callers = [_enqueue(queue, channel="voice") for _ in range(2)]
    services.callback_schedule(
        queue=queue,
        contact=contact,
        number="+1 415 555 2671",
        scheduled_for=timezone.now(),
        origin=caller,
        keep_place=True,
    )
    assert Interaction.objects.get(pk=caller.pk).state == State.CALLBACK_SCHEDULED
    assert services.callbacks_start_due() == 1
    callback = Callback.objects.get()
    call = callback.interaction
    assert (callback.status, call.direction, call.continues_id) == ("queued", "outbound", caller.pk)
    assert selectors.queue_position(interaction=call) == 1
    assert all(selectors.queue_position(interaction=c) > 1 for c in later_callers)
    assert services.callbacks_start_due() == 0  # once


def test_callback_needs_a_valid_number(queue):
    with pytest.raises(ValidationError, match="number"):
        services.callback_schedule(
            queue=queue,
            contact=ContactFactory(organization=queue.organization),
            number="call me",
            scheduled_for=timezone.now(),
        )


def test_supervisor_force_assigns_and_moves(queue, supervisor_a):
    chosen = agent_in_queue(queue, status=PresenceStatus.AWAY)
    waiting = _enqueue(queue)
    offer = services.interaction_force_assign(interaction=waiting, agent=chosen, actor=supervisor_a)
    assert offer.why == {"forced_by": supervisor_a.pk}
    other = QueueFactory(organization=queue.organization)
    services.interaction_move(interaction=waiting, queue=other, actor=supervisor_a)
    waiting.refresh_from_db()
    offer.refresh_from_db()
    assert (waiting.queue, waiting.state, offer.status) == (other, State.QUEUED, "cancelled")
    with pytest.raises(ValidationError):
        services.interaction_move(interaction=waiting, queue=QueueFactory())
