"""Reads of the reports: KPI tables from the rollups, the interactions behind a figure, exports.

Everything takes the organization explicitly. Periods (days, weeks, months and hours) are cut in
the organization's time zone; rollup buckets are 15 minutes of UTC, which every real time zone
offset divides, so a local period is always a whole number of buckets.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet, Subquery, Sum
from django.db.models.functions import ExtractMinute, TruncDay, TruncHour, TruncMonth, TruncWeek
from django.utils.translation import gettext as _

from apps.accounts.models import Role, Team, User
from apps.interactions.models import Channel, Direction, Event, Interaction
from apps.reports.kpis import AGENT_MEASURES, INTERACTION_MEASURES, KPIS
from apps.reports.models import (
    AgentStateRollup,
    DailyAgentRollup,
    DailyRollup,
    InteractionFact,
    IntervalRollup,
    MissedOfferFact,
    MissedOfferRollup,
    ReportSettings,
)

GROUP_BYS = ("none", "interval", "agent", "team", "queue", "channel", "direction", "tier")
INTERVALS = ("15m", "30m", "60m", "day", "week", "month")
READY_STATUSES = ("available", "wrap_up")
# Groupings and filters that agent presence time cannot be split by.
_NOT_AGENT_TIME = ("queue", "channel", "direction", "tier")


@dataclass
class ReportFilters:
    """Which interactions a report counts: offered in [start, end), and the dimensions."""

    start: datetime
    end: datetime
    queues: Sequence[int] = ()
    agents: Sequence[int] = ()
    teams: Sequence[int] = ()
    channels: Sequence[str] = ()
    directions: Sequence[str] = ()
    tiers: Sequence[str] = ()


@dataclass
class ReportTable:
    """``columns``: (code, label, unit) per KPI; ``rows``: dicts with ``group``, ``label`` and
    one value per KPI code (plus ``interval`` when both an interval and another grouping);
    ``totals``: the same over every row."""

    columns: list[tuple[str, str, str]]
    rows: list[dict]
    totals: dict
    group_by: str = "none"
    interval: str | None = None
    currency: str = ""
    extra: dict = field(default_factory=dict)


def report_settings_get(*, organization_id: int) -> ReportSettings:
    """The organization's report settings (unsaved defaults when none were saved)."""
    found = ReportSettings.objects.filter(organization_id=organization_id).first()
    return found or ReportSettings(organization_id=organization_id)


# --- Filters and periods ------------------------------------------------------------------------


def _team_agents(organization, teams: Sequence[int]) -> list[int]:
    return list(
        User.objects.filter(
            organization=organization,
            teams__in=Team.objects.filter(organization=organization, pk__in=list(teams)),
        )
        .values_list("pk", flat=True)
        .distinct()
    )


def _filtered(qs: QuerySet, organization, filters: ReportFilters, *, dimensions=True) -> QuerySet:
    if filters.end <= filters.start:
        raise ValidationError(_("The end of the period must come after its start."))
    qs = qs.filter(organization=organization, bucket__gte=filters.start, bucket__lt=filters.end)
    return _dimensions_filtered(qs, organization, filters, dimensions=dimensions)


def _dimensions_filtered(
    qs: QuerySet, organization, filters: ReportFilters, *, dimensions: bool
) -> QuerySet:
    """Rollup rows of the filters' agents and teams and, with ``dimensions`` (tables that have
    them), of their queues, channels, directions and tiers."""
    if filters.agents:
        qs = qs.filter(agent_id__in=list(filters.agents))
    if filters.teams:
        qs = qs.filter(agent_id__in=_team_agents(organization, filters.teams))
    if dimensions:
        if filters.queues:
            qs = qs.filter(queue_id__in=list(filters.queues))
        if filters.channels:
            qs = qs.filter(channel__in=list(filters.channels))
        if filters.directions:
            qs = qs.filter(direction__in=list(filters.directions))
        if filters.tiers:
            qs = qs.filter(tier__in=list(filters.tiers))
    return qs


def _period_keys(interval: str | None, tz) -> dict:
    if interval is None:
        return {}
    if interval == "15m":
        return {}
    if interval in ("30m", "60m"):
        keys = {"p_hour": TruncHour("bucket", tzinfo=tz)}
        if interval == "30m":
            keys["p_minute"] = ExtractMinute("bucket", tzinfo=tz)
        return keys
    trunc = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}[interval]
    return {"p_start": trunc("bucket", tzinfo=tz)}


def _period_of(row: dict, interval: str, tz) -> datetime:
    if interval == "15m":
        return row["bucket"].astimezone(tz)
    if interval in ("30m", "60m"):
        start = row["p_hour"].astimezone(tz)
        if interval == "30m" and row["p_minute"] >= 30:
            start += timedelta(minutes=30)
        return start
    return row["p_start"].astimezone(tz)


def period_end(start: datetime, interval: str) -> datetime:
    """The end of the local period starting at ``start`` (aware, in the organization's zone):
    wall-clock arithmetic, so a day across a DST change is 23 or 25 hours long."""
    tz = start.tzinfo
    if interval in ("15m", "30m", "60m"):
        minutes = {"15m": 15, "30m": 30, "60m": 60}[interval]
        utc = start.astimezone(ZoneInfo("UTC")) + timedelta(minutes=minutes)
        return utc.astimezone(tz)
    naive = start.replace(tzinfo=None)
    if interval == "day":
        naive += timedelta(days=1)
    elif interval == "week":
        naive += timedelta(days=7)
    else:
        naive = (naive.replace(day=1) + timedelta(days=32)).replace(day=1)
    return naive.replace(tzinfo=tz)


# --- Labels -------------------------------------------------------------------------------------


def _labels(organization, group_by: str, values) -> dict:
    values = [v for v in values if v is not None]
    if group_by in ("agent",):
        return {
            u.pk: u.get_full_name() or u.username
            for u in User.objects.filter(organization=organization, pk__in=values)
        }
    if group_by == "team":
        return dict(Team.objects.filter(organization=organization).values_list("pk", "name"))
    if group_by == "queue":
        from apps.queues.models import Queue

        return dict(
            Queue.objects.filter(organization=organization, pk__in=values).values_list("pk", "name")
        )
    if group_by == "channel":
        return {c.value: str(c.label) for c in Channel}
    if group_by == "direction":
        return {d.value: str(d.label) for d in Direction}
    if group_by == "tier":
        from apps.contacts.models import Tier

        return {t.value: str(t.label) for t in Tier}
    return {}


# --- Agent turnover ---------------------------------------------------------------------------


def _turnover_data(organization) -> tuple[dict, dict]:
    """Agents (users with the Agent role) and their (de)activations, read once per report."""
    people = {
        u.pk: u
        for u in User.objects.filter(organization=organization, groups__name=Role.AGENT).only(
            "pk", "date_joined", "is_active"
        )
    }
    history: dict[int, list] = defaultdict(list)
    for data, kind, at in (
        Event.objects.filter(
            organization=organization, type__in=("user.activated", "user.deactivated")
        )
        .order_by("at", "id")
        .values_list("data", "type", "at")
    ):
        user = (data or {}).get("user")
        if user in people:
            history[user].append((at, kind == "user.activated"))
    return people, history


def agent_turnover(
    *,
    organization,
    start: datetime,
    end: datetime,
    agent_ids: Sequence[int] | None = None,
    data: tuple[dict, dict] | None = None,
) -> tuple[int, float]:
    """(agents deactivated in [start, end), average of the agents active at start and at
    end), from the users' join dates and their ``user.activated``/``user.deactivated``
    events (an agent is a user with the Agent role)."""
    people, history = data or _turnover_data(organization)
    if agent_ids is not None:
        wanted = set(agent_ids)
        people = {pk: u for pk, u in people.items() if pk in wanted}

    def active_at(user: User, moment: datetime) -> bool:
        if user.date_joined > moment:
            return False
        changes = history.get(user.pk, [])
        before = [active for at, active in changes if at <= moment]
        if before:
            return before[-1]
        after = [active for at, active in changes if at > moment]
        if after:
            return not after[0]
        return user.is_active

    leavers = sum(
        1 for pk in people for at, active in history.get(pk, []) if not active and start <= at < end
    )
    average = (
        sum(active_at(u, start) for u in people.values())
        + sum(active_at(u, end) for u in people.values())
    ) / 2
    return leavers, average


# --- The KPI table ------------------------------------------------------------------------------


def _validate(group_by: str, interval: str | None, kpis: Sequence[str]) -> list[str]:
    if group_by not in GROUP_BYS:
        raise ValidationError(
            {"group_by": _("Choose one of: %(v)s.") % {"v": ", ".join(GROUP_BYS)}}
        )
    if interval is not None and interval not in INTERVALS:
        raise ValidationError(
            {"interval": _("Choose one of: %(v)s.") % {"v": ", ".join(INTERVALS)}}
        )
    if group_by == "interval" and interval is None:
        raise ValidationError({"interval": _("Grouping by interval needs an interval.")})
    codes = list(kpis) or list(KPIS)
    unknown = [code for code in codes if code not in KPIS]
    if unknown:
        raise ValidationError({"kpis": _("Unknown KPI: %(kpi)s.") % {"kpi": ", ".join(unknown)}})
    return codes


_DIMENSION_FIELD = {
    "agent": "agent_id",
    "team": "agent_id",
    "queue": "queue_id",
    "channel": "channel",
    "direction": "direction",
    "tier": "tier",
}


def _grouped(qs: QuerySet, keys: list[str], annotations: dict, measures: dict) -> list[dict]:
    # Aggregates are named s_<measure>: a name of a field would shadow it in filters.
    named = {f"s_{name}": aggregate for name, aggregate in measures.items()}
    if keys or annotations:
        rows = list(qs.annotate(**annotations).values(*keys).annotate(**named).order_by())
    else:
        rows = [qs.aggregate(**named)]
    for row in rows:
        for name in measures:
            row[name] = row.pop(f"s_{name}")
    return rows


_AGENTS = Count("agent_id", distinct=True, filter=Q(handled__gt=0))


def _interaction_sums(*, agents: bool, missed: bool = True) -> dict:
    """``missed=False``: without missed offers (read per agent who missed them instead)."""
    measures = {m: Sum(m) for m in INTERACTION_MEASURES if missed or m != "missed_offers"}
    if agents:
        measures["agents"] = _AGENTS
    return measures


def _agentish(group_by: str, filters: ReportFilters) -> bool:
    """Whether the agent dimension matters: then a missed offer counts for the agent who
    missed it, not for the one who handled the interaction."""
    return group_by in ("agent", "team") or bool(filters.agents or filters.teams)


_STATE_SUMS = {
    "logged_in_seconds": Sum("seconds"),
    "ready_seconds": Sum("seconds", filter=Q(status__in=READY_STATUSES)),
}
_DAILY_STATE_SUMS = {
    "logged_in_seconds": Sum("logged_in_seconds"),
    "ready_seconds": Sum("ready_seconds"),
}


def _is_midnight(moment: datetime, tz) -> bool:
    local = moment.astimezone(tz)
    return (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0)


@dataclass
class _Part:
    """One query of a report: rows of a rollup table and the measures summed from them."""

    qs: QuerySet
    measures: dict
    keys: list[str]
    annotations: dict


def _plan(organization, filters, group_by, interval, codes, tz) -> tuple[list[_Part], bool]:
    """Which rollup tables answer a report, and whether agent presence time is in it.

    Periods of whole local days read the day rollups (a month is ~30 rows per queue, channel
    and tier, or per agent); other periods, and 15-minute to hourly intervals, the 15-minute
    rollups."""
    dims = group_by in _NOT_AGENT_TIME or any(getattr(filters, f + "s") for f in _NOT_AGENT_TIME)
    agentish = _agentish(group_by, filters)
    agent_time = any(KPIS[c].source == "mixed" for c in codes) and not dims
    per_agent_needed = "interactions_per_agent" in codes
    dim = _DIMENSION_FIELD.get(group_by)
    daily = (
        interval in (None, "day", "week", "month")
        and _is_midnight(filters.start, tz)
        and _is_midnight(filters.end, tz)
        and not (agentish and dims)
        and not (dims and group_by in _NOT_AGENT_TIME and per_agent_needed)
    )
    if not daily:
        periods = _period_keys(interval, tz)
        keys = list(periods) + (["bucket"] if interval == "15m" else [])
        parts = [
            _Part(
                _filtered(IntervalRollup.objects.all(), organization, filters),
                _interaction_sums(agents=True, missed=not agentish),
                keys + ([dim] if dim else []),
                periods,
            )
        ]
        if agentish:
            parts.append(
                _Part(
                    _filtered(MissedOfferRollup.objects.all(), organization, filters),
                    {"missed_offers": Sum("missed_offers")},
                    keys + ([dim] if dim else []),
                    periods,
                )
            )
        if agent_time:
            parts.append(
                _Part(
                    _filtered(
                        AgentStateRollup.objects.all(), organization, filters, dimensions=False
                    ),
                    _STATE_SUMS,
                    keys + (["agent_id"] if dim == "agent_id" else []),
                    periods,
                )
            )
        return parts, agent_time
    periods = _day_period_keys(interval)
    keys = list(periods) + (["day"] if interval == "day" else [])
    per_agent = _daily(DailyAgentRollup.objects.all(), organization, filters, tz, dims=False)
    if agentish:
        # The day rows per agent count the offers the agent missed.
        measures = {**_interaction_sums(agents=True), **_DAILY_STATE_SUMS}
        return [_Part(per_agent, measures, keys + ["agent_id"], periods)], agent_time
    parts = [
        _Part(
            _daily(DailyRollup.objects.all(), organization, filters, tz, dims=True),
            _interaction_sums(agents=False),
            keys + ([dim] if dim else []),
            periods,
        )
    ]
    extra = {**(_DAILY_STATE_SUMS if agent_time else {})}
    if not dims:
        extra["agents"] = _AGENTS
    if extra:
        parts.append(_Part(per_agent, extra, keys, periods))
    return parts, agent_time


def _daily(qs: QuerySet, organization, filters: ReportFilters, tz, *, dims: bool) -> QuerySet:
    qs = qs.filter(
        organization=organization,
        day__gte=filters.start.astimezone(tz).date(),
        day__lt=filters.end.astimezone(tz).date(),
    )
    return _dimensions_filtered(qs, organization, filters, dimensions=dims)


def _day_period_keys(interval: str | None) -> dict:
    if interval == "week":
        return {"p_day": TruncWeek("day")}
    if interval == "month":
        return {"p_day": TruncMonth("day")}
    return {}


def _period_from(row: dict, interval: str, tz) -> datetime:
    if "day" in row or "p_day" in row:
        value = row.get("p_day") or row["day"]
        if isinstance(value, datetime):
            value = value.date()
        return datetime(value.year, value.month, value.day, tzinfo=tz)
    return _period_of(row, interval, tz)


def kpi_report(
    *,
    organization,
    filters: ReportFilters,
    group_by: str = "none",
    interval: str | None = None,
    kpis: list[str] | None = None,
) -> ReportTable:
    """The KPIs of ``kpis`` (every KPI when empty) over the interactions offered in the
    filters' period, one row per group (and per interval when one is given)."""
    codes = _validate(group_by, interval, kpis or [])
    if filters.end <= filters.start:
        raise ValidationError(_("The end of the period must come after its start."))
    tz = ZoneInfo(organization.time_zone)
    settings = report_settings_get(organization_id=organization.pk)
    dim = _DIMENSION_FIELD.get(group_by)
    parts, agent_time = _plan(organization, filters, group_by, interval, codes, tz)

    # Accumulate measures per (period, group).
    groups: dict[tuple, dict] = defaultdict(lambda: defaultdict(float))
    team_of: dict[int, list[int]] = {}
    if group_by == "team":
        memberships = Team.members.through.objects.filter(team__organization=organization)
        if filters.teams:
            memberships = memberships.filter(team_id__in=list(filters.teams))
        for team_id, user_id in memberships.values_list("team_id", "user_id"):
            team_of.setdefault(user_id, []).append(team_id)

    def targets(row: dict) -> list[tuple]:
        period = _period_from(row, interval, tz) if interval else None
        if group_by == "team":
            return [(period, team) for team in team_of.get(row["agent_id"], [])]
        if group_by in ("none", "interval"):
            return [(period, None)]
        return [(period, row[dim])]

    totals: dict = defaultdict(float)
    for part in parts:
        for row in _grouped(part.qs, part.keys, part.annotations, part.measures):
            for target in targets(row):
                for measure in part.measures:
                    groups[target][measure] += row[measure] or 0
        total = _grouped(part.qs, [], {}, part.measures)[0]
        for measure in part.measures:
            totals[measure] += total[measure] or 0
    cost = float(settings.cost_per_agent_hour)
    turnover_data = _turnover_data(organization) if "agent_turnover" in codes else None
    scope = (
        (list(filters.agents) or _team_agents(organization, filters.teams))
        if (filters.agents or filters.teams)
        else None
    )

    def turnover(period, group) -> tuple | None:
        if group_by not in ("none", "interval", "team"):
            return None
        start = period if period is not None else filters.start
        end = period_end(period, interval) if period is not None else filters.end
        agent_ids = scope
        if group_by == "team":
            agent_ids = [user for user, teams in team_of.items() if group in teams]
        return agent_turnover(
            organization=organization,
            start=start,
            end=end,
            agent_ids=agent_ids,
            data=turnover_data,
        )

    def values(measures: dict, period, group, *, total=False) -> dict:
        measures = dict(measures)
        for measure in INTERACTION_MEASURES:
            # A row of one table only (missed offers or presence time of an agent who handled
            # nothing): none of the other's, as the day rows (one table) say.
            measures.setdefault(measure, 0)
        if not agent_time:
            for measure in AGENT_MEASURES:
                measures.pop(measure, None)
        else:
            measures["cost_per_hour"] = cost
        if turnover_data is not None:
            figures = (
                agent_turnover(
                    organization=organization,
                    start=filters.start,
                    end=filters.end,
                    agent_ids=scope,
                    data=turnover_data,
                )
                if total
                else turnover(period, group)
            )
            if figures is not None:
                measures["turnover_leavers"], measures["turnover_average_agents"] = figures
        return {code: _rounded(KPIS[code].value(measures)) for code in codes}

    labels = _labels(organization, group_by, {g for _p, g in groups})
    rows = []
    for (period, group), measures in sorted(groups.items(), key=_sort_key):
        if not any(measures.get(m) for m in ("interactions", "logged_in_seconds", "missed_offers")):
            continue  # presence time alone, in a period or of someone outside the filters
        row = values(measures, period, group)
        if group_by == "interval":
            row = {"group": period.isoformat(), "label": _period_label(period, interval), **row}
        else:
            label = (
                _("All")
                if group_by == "none"
                else labels.get(group, group if group not in (None, "") else _("None"))
            )
            row = {"group": group, "label": str(label), **row}
            if period is not None:
                row["interval"] = period.isoformat()
        rows.append(row)
    totals_row = {"group": None, "label": _("Total"), **values(totals, None, None, total=True)}
    return ReportTable(
        columns=[(c, str(KPIS[c].label), KPIS[c].unit) for c in codes],
        rows=rows,
        totals=totals_row,
        group_by=group_by,
        interval=interval,
        currency=settings.currency,
    )


def _sort_key(item):
    (period, group), _m = item
    return (period.timestamp() if period else 0, str(group) if group is not None else "")


def _rounded(value):
    if isinstance(value, float):
        return round(value, 2)
    return value


def _period_label(period: datetime, interval: str) -> str:
    if interval in ("15m", "30m", "60m"):
        return period.strftime("%Y-%m-%d %H:%M")
    if interval == "month":
        return period.strftime("%Y-%m")
    return period.strftime("%Y-%m-%d")


# --- Drill-down and exports --------------------------------------------------------------------


def _kpi_condition(kpi: str, settings: ReportSettings) -> Q | None:
    short = settings.short_abandon_seconds
    conditions = {
        "offered": Q(offered=1),
        "answered": Q(answered=1),
        "abandoned": Q(abandoned=1),
        "short_abandoned": Q(abandoned=1, wait_seconds__lte=short),
        "abandonment_rate": Q(abandoned=1, wait_seconds__gt=short),
        "service_level": Q(answered=1) | Q(abandoned=1, wait_seconds__gt=short),
        "asa": Q(answered=1),
        "average_wait": Q(offered=1),
        "transfers": Q(transfers__gt=0),
        "missed_offers": Q(missed_offers__gt=0),
        "voicemails": Q(voicemail=1),
        "callbacks": Q(callback=1),
        "inbound": Q(direction="inbound"),
        "outbound": Q(direction="outbound"),
        "outbound_inbound_ratio": Q(),
    }
    if kpi in conditions:
        return conditions[kpi]
    if kpi in ("agent_turnover", "csat", "nps"):
        return None
    return Q(handled=1)  # handle times, FCR, occupancy, cost: the interactions handled


def facts_filtered(*, organization, filters: ReportFilters) -> QuerySet[InteractionFact]:
    return _filtered(InteractionFact.objects.all(), organization, filters)


def kpi_interactions(
    *,
    organization,
    filters: ReportFilters,
    kpi: str,
    group_by: str = "none",
    group_value=None,
    interval: str | None = None,
) -> QuerySet[Interaction]:
    """The interactions behind one figure of ``kpi_report``: the same filters, the row's group
    (an interval row's value is its ISO start, as the table gives it) and the KPI's basis."""
    _validate(group_by, interval, [kpi])
    settings = report_settings_get(organization_id=organization.pk)
    condition = _kpi_condition(kpi, settings)
    if condition is None:
        return Interaction.objects.none()
    by_misser = kpi == "missed_offers" and _agentish(group_by, filters)
    if by_misser:
        # The interactions whose offers the agents (of the row and the filters) missed.
        facts = facts_filtered(
            organization=organization, filters=replace(filters, agents=(), teams=())
        )
        missed = _dimensions_filtered(
            MissedOfferFact.objects.filter(organization=organization, missed_offers__gt=0),
            organization,
            filters,
            dimensions=False,
        )
        if group_by == "team":
            missed = missed.filter(agent_id__in=_team_agents(organization, [group_value]))
        elif group_by == "agent":
            missed = missed.filter(
                **(
                    {"agent_id__isnull": True}
                    if group_value in (None, "")
                    else {"agent_id": group_value}
                )
            )
        facts = facts.filter(interaction_id__in=Subquery(missed.values("interaction_id")))
    else:
        facts = facts_filtered(organization=organization, filters=filters)
    facts = facts.filter(condition)
    if by_misser and group_by in ("agent", "team"):
        pass  # the row's agents were chosen above
    elif group_by == "interval":
        start = datetime.fromisoformat(str(group_value))
        if start.tzinfo is None:
            start = start.replace(tzinfo=ZoneInfo(organization.time_zone))
        start = start.astimezone(ZoneInfo(organization.time_zone))
        facts = facts.filter(bucket__gte=start, bucket__lt=period_end(start, interval or "day"))
    elif group_by == "team":
        facts = facts.filter(agent_id__in=_team_agents(organization, [group_value]))
    elif group_by != "none":
        field_name = _DIMENSION_FIELD[group_by]
        facts = facts.filter(
            **(
                {f"{field_name}__isnull": True}
                if group_value in (None, "") and field_name.endswith("_id")
                else {field_name: group_value}
            )
        )
    return Interaction.objects.filter(
        organization=organization, pk__in=Subquery(facts.values("interaction_id"))
    ).order_by("-created_at", "-id")


EXPORT_FIELDS = (
    ("interaction", "interaction_id"),
    ("started_at", "started_at"),
    ("channel", "channel"),
    ("direction", "direction"),
    ("queue", "queue__name"),
    ("agent", "agent__username"),
    ("tier", "tier"),
    ("state", "interaction__state"),
    ("disposition", "interaction__disposition__code"),
    ("offered", "offered"),
    ("answered", "answered"),
    ("abandoned", "abandoned"),
    ("voicemail", "voicemail"),
    ("callback", "callback"),
    ("wait_seconds", "wait_seconds"),
    ("talk_seconds", "talk_seconds"),
    ("hold_seconds", "hold_seconds"),
    ("wrap_seconds", "wrap_seconds"),
    ("transfers", "transfers"),
    ("missed_offers", "missed_offers"),
)


def interaction_export_rows(*, organization, filters: ReportFilters) -> Iterator[list]:
    """One row per interaction offered in the period (header first), times in the
    organization's zone, read in chunks (for a streamed download)."""
    tz = ZoneInfo(organization.time_zone)
    yield [name for name, _f in EXPORT_FIELDS]
    qs = facts_filtered(organization=organization, filters=filters).order_by(
        "started_at", "interaction_id"
    )
    for values in qs.values_list(*(f for _n, f in EXPORT_FIELDS)).iterator(chunk_size=2000):
        row = list(values)
        row[1] = row[1].astimezone(tz).isoformat()
        for index in (14, 15, 16, 17):
            row[index] = round(row[index] or 0, 1)
        yield ["" if v is None else v for v in row]


def interaction_export_count(*, organization, filters: ReportFilters) -> int:
    return facts_filtered(organization=organization, filters=filters).count()
