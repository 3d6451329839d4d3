"""Reads of the live wallboard: each queue, each channel and the whole organization, now and
since midnight in the organization's time zone, coloured by the thresholds set in the admin.

The figures come from ``apps.queues.selectors.queue_live_figures`` (the same grouped queries as
the supervisor page and the queue statistics API): a fixed number of queries per board, whatever
the number of queues, channels and agents.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.interactions.models import Channel
from apps.queues.models import PresenceStatus, Queue
from apps.queues.selectors import (
    LiveFigures,
    organization_day_start,
    queue_agents_by_status,
    queue_live_figures,
)
from apps.reports.models import AlertIncident, Direction, LiveMetric, WallboardThreshold

OK, WARNING, CRITICAL = "ok", "warning", "critical"

# Agents' states in the order a wall shows them (the busiest first is not what a room reads).
STATUS_ORDER = [
    PresenceStatus.AVAILABLE,
    PresenceStatus.WRAP_UP,
    PresenceStatus.AWAY,
    PresenceStatus.DND,
    PresenceStatus.LUNCH,
    PresenceStatus.MEETING,
    PresenceStatus.OFFLINE,
]


@dataclass(frozen=True)
class Threshold:
    warning: float
    critical: float
    direction: str = Direction.HIGHER_IS_WORSE

    def level(self, value) -> str:
        """``ok``, ``warning`` or ``critical``; empty when there is no figure yet. Higher is
        worse: from the value on; lower is worse: below it."""
        if value is None:
            return ""
        if self.direction == Direction.HIGHER_IS_WORSE:
            return CRITICAL if value >= self.critical else WARNING if value >= self.warning else OK
        return CRITICAL if value < self.critical else WARNING if value < self.warning else OK


def default_threshold(metric: str, queue: Queue | None = None) -> Threshold:
    """Colours when the admin set none: a queue's own SLA settings where it has them."""
    if metric == LiveMetric.SERVICE_LEVEL:
        target = queue.sla_target_percent if queue else 80
        return Threshold(target, max(0, target - 20), Direction.LOWER_IS_WORSE)
    if metric == LiveMetric.LONGEST_WAIT:
        seconds = queue.sla_seconds if queue else 60
        return Threshold(seconds, 3 * seconds)
    if metric == LiveMetric.ABANDON_RATE:
        return Threshold(5, 10)
    return Threshold(5, 10)  # waiting


@dataclass
class BoardRow:
    """One line of the board: a queue, a channel, or the organization's totals."""

    key: str
    label: str
    figures: LiveFigures
    now: datetime
    queue: Queue | None = None
    channel: str = ""
    agents: dict = field(default_factory=dict)
    levels: dict = field(default_factory=dict)

    @property
    def waiting(self) -> int:
        return self.figures.waiting

    @property
    def longest_wait_seconds(self) -> int:
        return self.figures.longest_wait_seconds(self.now)

    @property
    def oldest_queued_at(self):
        return self.figures.oldest_queued_at

    @property
    def offered_today(self) -> int:
        return self.figures.offered_today

    @property
    def answered_today(self) -> int:
        return self.figures.answered_today

    @property
    def abandoned_today(self) -> int:
        return self.figures.abandoned_today

    @property
    def service_level_percent(self) -> int | None:
        return self.figures.service_level_percent

    @property
    def abandon_rate_percent(self) -> int | None:
        return self.figures.abandon_rate_percent

    def value(self, metric: str):
        return {
            LiveMetric.WAITING: self.waiting,
            LiveMetric.LONGEST_WAIT: self.longest_wait_seconds,
            LiveMetric.SERVICE_LEVEL: self.service_level_percent,
            LiveMetric.ABANDON_RATE: self.abandon_rate_percent,
        }[metric]

    @property
    def agents_list(self) -> list[tuple[str, str, int]]:
        """(status, label, agents) in the wall's order, states nobody is in left out."""
        labels = dict(PresenceStatus.choices)
        return [(s, labels[s], self.agents[s]) for s in STATUS_ORDER if self.agents.get(s)]


@dataclass
class LiveBoard:
    queues: list[BoardRow]
    channels: list[BoardRow]
    total: BoardRow
    now: datetime
    day_start: datetime

    def row_for(self, queue_id: int | None) -> BoardRow | None:
        if queue_id is None:
            return self.total
        return next((r for r in self.queues if r.queue and r.queue.pk == queue_id), None)


@dataclass
class Wallboard(LiveBoard):
    incidents: list = field(default_factory=list)
    statuses: list = field(default_factory=list)


def _agents_by_channel(organization, channels) -> tuple[dict[str, dict], dict[str, int]]:
    """Agents able to take each channel (capacity > 0), and all agents, by presence status."""
    from apps.queues.services import CAPACITY_KIND

    per_channel: dict[str, dict] = {c: {} for c in channels}
    overall: dict[str, int] = {}
    people = (
        get_user_model()
        .objects.filter(organization=organization, is_active=True, groups__name="Agent")
        .values_list("pk", "presence__status", "agent_profile__capacity")
    )
    for _pk, status, capacity in people:
        status = status or PresenceStatus.OFFLINE
        overall[status] = overall.get(status, 0) + 1
        for channel in channels:
            if (capacity or {}).get(CAPACITY_KIND.get(channel, ""), 0) > 0:
                per_channel[channel][status] = per_channel[channel].get(status, 0) + 1
    return per_channel, overall


def live_board(*, organization, now=None) -> LiveBoard:
    """Every active queue of the organization, each channel with traffic today or now, and the
    totals (figures only: no thresholds, no incidents)."""
    now = now or timezone.now()
    queues = list(Queue.objects.filter(organization=organization, is_active=True).order_by("name"))
    cells = queue_live_figures(organization=organization, queues=queues, now=now)
    per_queue = {q.pk: LiveFigures() for q in queues}
    per_channel: dict[str, LiveFigures] = {}
    total = LiveFigures()
    for (queue_id, channel), cell in cells.items():
        per_queue[queue_id].add(cell)
        per_channel.setdefault(channel, LiveFigures()).add(cell)
        total.add(cell)
    channel_order = [c for c in Channel.values if c in per_channel]
    agents_of_queue = queue_agents_by_status(queues=queues)
    agents_of_channel, agents_overall = _agents_by_channel(organization, channel_order)
    labels = dict(Channel.choices)
    return LiveBoard(
        queues=[
            BoardRow(
                key=f"queue-{q.pk}",
                label=q.name,
                figures=per_queue[q.pk],
                now=now,
                queue=q,
                agents=agents_of_queue[q.pk],
            )
            for q in queues
        ],
        channels=[
            BoardRow(
                key=f"channel-{c}",
                label=str(labels[c]),
                figures=per_channel[c],
                now=now,
                channel=c,
                agents=agents_of_channel[c],
            )
            for c in channel_order
        ],
        total=BoardRow(
            key="total", label=str(_("All queues")), figures=total, now=now, agents=agents_overall
        ),
        now=now,
        day_start=organization_day_start(organization=organization, now=now),
    )


def wallboard_thresholds(*, organization) -> dict[tuple[str, int | None], Threshold]:
    return {
        (t.metric, t.queue_id): Threshold(t.warning, t.critical, t.direction)
        for t in WallboardThreshold.objects.for_organization(organization)
    }


def threshold_for(thresholds: dict, metric: str, queue: Queue | None) -> Threshold:
    """The queue's own threshold, else the organization's, else the built-in default."""
    if queue is not None and (metric, queue.pk) in thresholds:
        return thresholds[(metric, queue.pk)]
    if (metric, None) in thresholds:
        return thresholds[(metric, None)]
    return default_threshold(metric, queue)


def incidents_open(*, organization):
    return (
        AlertIncident.objects.for_organization(organization)
        .filter(resolved_at__isnull=True)
        .select_related("rule", "queue")
        .order_by("opened_at", "id")
    )


def wallboard(*, organization, now=None) -> Wallboard:
    """The board with each figure's colour and the open alert incidents."""
    board = live_board(organization=organization, now=now)
    thresholds = wallboard_thresholds(organization=organization)
    for row in [*board.queues, *board.channels, board.total]:
        row.levels = {
            metric: threshold_for(thresholds, metric, row.queue).level(row.value(metric))
            for metric in LiveMetric.values
        }
    return Wallboard(
        **board.__dict__,
        incidents=list(incidents_open(organization=organization)),
        statuses=[(s, label) for s, label in PresenceStatus.choices],
    )


def organization_zone(organization):
    from zoneinfo import ZoneInfo

    return ZoneInfo(organization.time_zone or "UTC")


def wallboard_allowed(user) -> bool:
    """Who sees the wallboard: people of an organization whose role grants it (not agents)."""
    return (
        user.is_authenticated
        and user.is_active
        and user.organization_id is not None
        and user.has_perm("reports.view_wallboard")
    )


def wallboards_tick() -> int:
    """Tell every active organization's open wallboards to re-read (a beat tick). A group with
    no socket costs nothing; returns how many organizations were told."""
    from apps.accounts.models import Organization
    from apps.core.realtime import organization_group, publish_many

    ids = list(
        Organization.objects.filter(is_active=True)
        .filter(pk__in=Queue.objects.filter(is_active=True).values("organization_id"))
        .values_list("pk", flat=True)
    )
    publish_many([(organization_group(pk), "wallboard.changed", {"tick": True}) for pk in ids])
    return len(ids)
