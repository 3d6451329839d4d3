"""Reads of queues: the waiting line, position and estimated wait, live statistics."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
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


def organization_day_start(*, organization, now=None):
    """Midnight of ``now``'s day in the organization's time zone ("today" of live figures)."""
    from datetime import datetime, time
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(organization.time_zone or "UTC")
    local = (now or timezone.now()).astimezone(zone)
    return datetime.combine(local.date(), time.min, tzinfo=zone)


@dataclass
class LiveFigures:
    """A queue's (or a channel's, or everything's) live figures: now, and since midnight."""

    waiting: int = 0
    ringing: int = 0
    oldest_queued_at: datetime | None = None
    offered_today: int = 0
    answered_today: int = 0
    abandoned_today: int = 0
    answered_within_sla_today: int = 0
    agents: dict = field(default_factory=dict)  # presence status -> agents

    def longest_wait_seconds(self, now) -> int:
        if self.oldest_queued_at is None:
            return 0
        return max(0, round((now - self.oldest_queued_at).total_seconds()))

    @property
    def service_level_percent(self) -> int | None:
        """Answered within the SLA ÷ (answered + abandoned); None before anything ended."""
        handled = self.answered_today + self.abandoned_today
        return round(100 * self.answered_within_sla_today / handled) if handled else None

    @property
    def abandon_rate_percent(self) -> int | None:
        handled = self.answered_today + self.abandoned_today
        return round(100 * self.abandoned_today / handled) if handled else None

    def add(self, other: "LiveFigures") -> None:
        self.waiting += other.waiting
        self.ringing += other.ringing
        if other.oldest_queued_at is not None and (
            self.oldest_queued_at is None or other.oldest_queued_at < self.oldest_queued_at
        ):
            self.oldest_queued_at = other.oldest_queued_at
        self.offered_today += other.offered_today
        self.answered_today += other.answered_today
        self.abandoned_today += other.abandoned_today
        self.answered_within_sla_today += other.answered_within_sla_today


def queue_live_figures(*, organization, queues, now=None) -> dict[tuple[int, str], LiveFigures]:
    """Live figures of each (queue, channel) with traffic, in two grouped queries whatever the
    number of queues: waiting and ringing now, and today's offered, answered, abandoned and
    answered within the queue's SLA (an interaction counts on the day it was queued)."""
    from django.db.models import F, Min

    now = now or timezone.now()
    queues = list(queues)
    ids = [q.pk for q in queues]
    cells: dict[tuple[int, str], LiveFigures] = {}
    if not ids:
        return cells
    scope = Interaction.objects.filter(organization=organization, queue_id__in=ids).order_by()
    for row in (
        scope.filter(state__in=[State.QUEUED, State.OFFERED])
        .values("queue_id", "channel")
        .annotate(
            waiting=Count("id", filter=Q(state=State.QUEUED)),
            ringing=Count("id", filter=Q(state=State.OFFERED)),
            oldest=Min("queued_at", filter=Q(state=State.QUEUED)),
        )
    ):
        cell = cells.setdefault((row["queue_id"], row["channel"]), LiveFigures())
        cell.waiting, cell.ringing, cell.oldest_queued_at = (
            row["waiting"],
            row["ringing"],
            row["oldest"],
        )
    # Answered within the SLA: one condition per distinct SLA (queues share a few values).
    by_sla: dict[int, list[int]] = {}
    for q in queues:
        by_sla.setdefault(q.sla_seconds, []).append(q.pk)
    within = Q(pk__in=[])
    for seconds, queue_ids in by_sla.items():
        within |= Q(
            queue_id__in=queue_ids, answered_at__lte=F("queued_at") + timedelta(seconds=seconds)
        )
    for row in (
        scope.filter(queued_at__gte=organization_day_start(organization=organization, now=now))
        .values("queue_id", "channel")
        .annotate(
            offered=Count("id"),
            answered=Count("id", filter=Q(answered_at__isnull=False)),
            abandoned=Count("id", filter=Q(state=State.ABANDONED, answered_at__isnull=True)),
            within=Count("id", filter=Q(answered_at__isnull=False) & within),
        )
    ):
        cell = cells.setdefault((row["queue_id"], row["channel"]), LiveFigures())
        cell.offered_today = row["offered"]
        cell.answered_today = row["answered"]
        cell.abandoned_today = row["abandoned"]
        cell.answered_within_sla_today = row["within"]
    return cells


def queue_agents_by_status(*, queues) -> dict[int, dict[str, int]]:
    """Members of each queue by presence status (one grouped query)."""
    out: dict[int, dict[str, int]] = {q.pk: {} for q in queues}
    for row in (
        Presence.objects.filter(agent__queue_memberships__queue__in=list(out))
        .order_by()
        .values("agent__queue_memberships__queue", "status")
        .annotate(n=Count("id"))
    ):
        out[row["agent__queue_memberships__queue"]][row["status"]] = row["n"]
    return out


def queue_stats(*, queue: Queue, now=None) -> dict:
    """What the queue looks like now: waiting, longest wait, agents by status, today's SLA
    ("today" in the organization's time zone)."""
    now = now or timezone.now()
    figures = LiveFigures()
    for cell in queue_live_figures(
        organization=queue.organization, queues=[queue], now=now
    ).values():
        figures.add(cell)
    return {
        "queue": queue.pk,
        "waiting": figures.waiting,
        "longest_wait_seconds": figures.longest_wait_seconds(now),
        "offered": figures.ringing,
        "agents": queue_agents_by_status(queues=[queue])[queue.pk],
        "service_level_percent": figures.service_level_percent,
        "answered_today": figures.answered_today,
        "offered_today": figures.offered_today,
        "abandoned_today": figures.abandoned_today,
    }
