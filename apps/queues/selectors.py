"""Reads of queues: the waiting line, position and estimated wait, live statistics."""

from datetime import timedelta
from statistics import mean

from django.db.models import Count, Q
from django.utils import timezone

from apps.interactions.models import Interaction, State
from apps.queues.models import Presence, PresenceStatus, Queue

DEFAULT_HANDLE_SECONDS = 180


def queue_list(*, organization):
    return Queue.objects.for_organization(organization)


def queue_waiting(*, queue: Queue):
    """The waiting line, first in line first."""
    return Interaction.objects.filter(queue=queue, state=State.QUEUED).order_by(
        "routing_rank", "id"
    )


def queue_position(*, interaction: Interaction) -> int | None:
    """1 for the next to be served; None when not waiting in a queue."""
    if interaction.state != State.QUEUED or interaction.queue_id is None:
        return None
    ahead = Interaction.objects.filter(
        Q(routing_rank__lt=interaction.routing_rank)
        | Q(routing_rank=interaction.routing_rank, pk__lt=interaction.pk),
        queue_id=interaction.queue_id,
        state=State.QUEUED,
    ).count()
    return ahead + 1


def queue_average_handle_seconds(*, queue: Queue, sample: int = 50) -> float:
    """Mean answered → ended time of the queue's recent interactions (a default when none)."""
    rows = (
        Interaction.objects.filter(queue=queue, answered_at__isnull=False, ended_at__isnull=False)
        .order_by("-ended_at")
        .values_list("answered_at", "ended_at")[:sample]
    )
    durations = [(end - start).total_seconds() for start, end in rows if end > start]
    return mean(durations) if durations else DEFAULT_HANDLE_SECONDS


def queue_staffed_agents(*, queue: Queue) -> int:
    """Members signed in and working (available or in wrap-up)."""
    return Presence.objects.filter(
        agent__queue_memberships__queue=queue,
        status__in=[PresenceStatus.AVAILABLE, PresenceStatus.WRAP_UP],
    ).count()


def estimated_wait_seconds(*, interaction: Interaction) -> int | None:
    """Position × recent handle time ÷ staffed agents; None when nobody is staffed."""
    position = queue_position(interaction=interaction)
    if position is None:
        return None
    staffed = queue_staffed_agents(queue=interaction.queue)
    if staffed == 0:
        return None
    aht = queue_average_handle_seconds(queue=interaction.queue)
    return round(position * aht / staffed)


def queue_stats(*, queue: Queue, now=None) -> dict:
    """What the queue looks like now: waiting, longest wait, agents by status, today's SLA."""
    now = now or timezone.now()
    waiting = queue_waiting(queue=queue)
    oldest = (
        waiting.exclude(queued_at__isnull=True)
        .order_by("queued_at")
        .values_list("queued_at", flat=True)
        .first()
    )
    start_of_day = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    today = Interaction.objects.filter(queue=queue, queued_at__gte=start_of_day)
    answered = today.filter(answered_at__isnull=False)
    within = sum(
        1
        for q_at, a_at in answered.values_list("queued_at", "answered_at")
        if (a_at - q_at) <= timedelta(seconds=queue.sla_seconds)
    )
    handled = answered.count() + today.filter(state=State.ABANDONED).count()
    agents = dict(
        Presence.objects.filter(agent__queue_memberships__queue=queue)
        .values_list("status")
        .annotate(n=Count("id"))
    )
    return {
        "queue": queue.pk,
        "waiting": waiting.count(),
        "longest_wait_seconds": round((now - oldest).total_seconds()) if oldest else 0,
        "offered": Interaction.objects.filter(queue=queue, state=State.OFFERED).count(),
        "agents": agents,
        "service_level_percent": round(100 * within / handled) if handled else None,
        "answered_today": answered.count(),
    }
