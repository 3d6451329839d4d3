"""15-minute interval rollups: sums of interaction facts, recomputed bucket by bucket.

A bucket's rows are always recomputed whole from its facts (delete, then INSERT … SELECT …
GROUP BY), never incremented: doing it twice gives the same rows, so the incremental update
is idempotent and a rebuild equals it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import connection

from apps.reports.facts import db_time
from apps.reports.models import (
    AgentStateRollup,
    DailyAgentRollup,
    DailyRollup,
    IntervalRollup,
    MissedOfferRollup,
    ReportSettings,
)
from apps.reports.selectors import report_settings_get

_COLUMNS = (
    "organization_id, bucket, queue_id, agent_id, channel, direction, tier, interactions,"
    " offered, answered, handled, abandoned, short_abandoned, answered_in_sla, wait_seconds,"
    " answer_wait_seconds, talk_seconds, hold_seconds, wrap_seconds, transfers, missed_offers,"
    " voicemails, callbacks, inbound, outbound, fcr_resolved"
)


def _select(where: str) -> str:
    return f"""
        SELECT f.organization_id, f.bucket, f.queue_id, f.agent_id, f.channel, f.direction,
            f.tier, COUNT(*), SUM(f.offered), SUM(f.answered), SUM(f.handled), SUM(f.abandoned),
            SUM(CASE WHEN f.abandoned = 1 AND f.wait_seconds <= %(short)s THEN 1 ELSE 0 END),
            SUM(CASE WHEN f.answered = 1 AND f.wait_seconds <= COALESCE(q.sla_seconds, 20)
                THEN 1 ELSE 0 END),
            SUM(f.wait_seconds),
            SUM(CASE WHEN f.answered = 1 THEN f.wait_seconds ELSE 0 END),
            SUM(f.talk_seconds), SUM(f.hold_seconds), SUM(f.wrap_seconds), SUM(f.transfers),
            SUM(f.missed_offers), SUM(f.voicemail), SUM(f.callback),
            SUM(CASE WHEN f.direction = 'inbound' THEN 1 ELSE 0 END),
            SUM(CASE WHEN f.direction = 'outbound' THEN 1 ELSE 0 END),
            SUM(CASE WHEN f.handled = 1 AND (f.next_gap_seconds IS NULL
                OR f.next_gap_seconds > %(fcr)s) THEN 1 ELSE 0 END)
        FROM reports_interactionfact f
        LEFT JOIN queues_queue q ON q.id = f.queue_id
        WHERE f.organization_id = %(org)s AND {where}
        GROUP BY f.organization_id, f.bucket, f.queue_id, f.agent_id, f.channel, f.direction,
            f.tier"""  # noqa: S608


_MISSED_COLUMNS = (
    "organization_id, bucket, agent_id, queue_id, channel, direction, tier, missed_offers"
)


def _missed_select(where: str) -> str:
    """Missed offers per bucket and agent who missed them (with the interaction's other
    dimensions), from the missed-offer facts of the facts in the buckets."""
    return f"""
        SELECT f.organization_id, f.bucket, m.agent_id, f.queue_id, f.channel, f.direction,
            f.tier, SUM(m.missed_offers)
        FROM reports_interactionfact f
        JOIN reports_missedofferfact m ON m.interaction_id = f.interaction_id
        WHERE f.organization_id = %(org)s AND {where}
        GROUP BY f.organization_id, f.bucket, m.agent_id, f.queue_id, f.channel, f.direction,
            f.tier"""  # noqa: S608


def _params(organization_id: int, settings: ReportSettings) -> dict:
    return {
        "org": organization_id,
        "short": settings.short_abandon_seconds,
        "fcr": settings.fcr_days * 86400,
    }


def rollup_buckets(*, touched: Iterable[tuple[int, datetime]]) -> int:
    """Recompute the rollup rows of these (organization, bucket) pairs from their facts."""
    by_org: dict[int, set] = defaultdict(set)
    for org, bucket in touched:
        by_org[org].add(bucket)
    written = 0
    table, missed = IntervalRollup._meta.db_table, MissedOfferRollup._meta.db_table
    for org, buckets in by_org.items():
        settings = report_settings_get(organization_id=org)
        ordered = sorted(buckets)
        for index in range(0, len(ordered), 300):
            chunk = ordered[index : index + 300]
            names = [f"b{n}" for n in range(len(chunk))]
            values = {n: db_time(b) for n, b in zip(names, chunk, strict=True)}
            marks = ", ".join(f"%({n})s" for n in names)
            with connection.cursor() as cursor:
                for target in (table, missed):
                    cursor.execute(
                        f"DELETE FROM {target} WHERE organization_id = %(org)s "  # noqa: S608
                        f"AND bucket IN ({marks})",
                        {"org": org, **values},
                    )
                cursor.execute(
                    f"INSERT INTO {table} ({_COLUMNS}) {_select(f'f.bucket IN ({marks})')}",  # noqa: S608
                    {**_params(org, settings), **values},
                )
                written += max(cursor.rowcount, 0)
                cursor.execute(
                    f"INSERT INTO {missed} ({_MISSED_COLUMNS}) "  # noqa: S608
                    f"{_missed_select(f'f.bucket IN ({marks})')}",
                    {"org": org, **values},
                )
    return written


def rollup_range(*, organization_id: int, start: datetime | None, end: datetime | None) -> int:
    """Recompute every rollup row of an organization whose bucket is in [start, end)."""
    settings = report_settings_get(organization_id=organization_id)
    where, values = ["1 = 1"], {}
    if start is not None:
        where.append("bucket >= %(start)s")
        values["start"] = db_time(start)
    if end is not None:
        where.append("bucket < %(end)s")
        values["end"] = db_time(end)
    table, missed = IntervalRollup._meta.db_table, MissedOfferRollup._meta.db_table
    condition = " AND ".join(where)
    with connection.cursor() as cursor:
        for target in (table, missed):
            cursor.execute(
                f"DELETE FROM {target} WHERE organization_id = %(org)s AND {condition}",  # noqa: S608
                {"org": organization_id, **values},
            )
        cursor.execute(
            f"INSERT INTO {table} ({_COLUMNS}) "  # noqa: S608
            f"{_select(condition.replace('bucket', 'f.bucket'))}",
            {**_params(organization_id, settings), **values},
        )
        written = max(cursor.rowcount, 0)
        cursor.execute(
            f"INSERT INTO {missed} ({_MISSED_COLUMNS}) "  # noqa: S608
            f"{_missed_select(condition.replace('bucket', 'f.bucket'))}",
            {"org": organization_id, **values},
        )
        return written


# --- Day-grain rollups ------------------------------------------------------------------------

_DAY_INT = (
    "interactions, offered, answered, handled, abandoned, short_abandoned, answered_in_sla,"
    " wait_seconds, answer_wait_seconds, talk_seconds, hold_seconds, wrap_seconds, transfers,"
    " missed_offers, voicemails, callbacks, inbound, outbound, fcr_resolved"
)
_DAY_SUMS = ", ".join(f"SUM({m.strip()})" for m in _DAY_INT.split(","))
_DAY_ZEROS = ", ".join("0" for _m in _DAY_INT.split(","))
# Per agent, missed offers are those the agent missed (MissedOfferRollup), not those of the
# interactions the agent handled.
_AGENT_DAY_SUMS = ", ".join(
    "0" if m.strip() == "missed_offers" else f"SUM({m.strip()})" for m in _DAY_INT.split(",")
)
_AGENT_DAY_MISSED = ", ".join(
    "SUM(missed_offers)" if m.strip() == "missed_offers" else "0" for m in _DAY_INT.split(",")
)


def local_days(*, organization_id: int, buckets: Iterable[datetime]) -> set[date]:
    tz = ZoneInfo(_time_zone(organization_id))
    return {bucket.astimezone(tz).date() for bucket in buckets}


def _time_zone(organization_id: int) -> str:
    from apps.accounts.models import Organization

    return Organization.objects.filter(pk=organization_id).values_list("time_zone", flat=True)[0]


def daily_refresh(*, organization_id: int, days: Iterable[date]) -> int:
    """Recompute the day rollups of these local days from the 15-minute rollups and the
    agents' presence time (a day is the buckets from its local midnight to the next)."""
    tz = ZoneInfo(_time_zone(organization_id))
    daily, per_agent = DailyRollup._meta.db_table, DailyAgentRollup._meta.db_table
    intervals, states = IntervalRollup._meta.db_table, AgentStateRollup._meta.db_table
    missed = MissedOfferRollup._meta.db_table
    written = 0
    with connection.cursor() as cursor:
        for day in sorted(set(days)):
            start = datetime.combine(day, time(), tzinfo=tz)
            end = datetime.combine(day + timedelta(days=1), time(), tzinfo=tz)
            params = {
                "org": organization_id,
                "day": connection.ops.adapt_datefield_value(day),
                "start": db_time(start),
                "end": db_time(end),
            }
            where = "organization_id = %(org)s AND bucket >= %(start)s AND bucket < %(end)s"
            for table in (daily, per_agent):
                cursor.execute(
                    f"DELETE FROM {table} WHERE organization_id = %(org)s AND day = %(day)s",  # noqa: S608
                    params,
                )
            cursor.execute(
                f"""INSERT INTO {daily} (organization_id, day, queue_id, channel, direction, tier,
                    {_DAY_INT})
                SELECT organization_id, %(day)s, queue_id, channel, direction, tier, {_DAY_SUMS}
                FROM {intervals} WHERE {where}
                GROUP BY organization_id, queue_id, channel, direction, tier""",  # noqa: S608
                params,
            )
            written += max(cursor.rowcount, 0)
            # Per agent, three sources add rows for the same day (the reads sum them): what
            # they handled, the offers they missed, and their presence time.
            ready = "SUM(CASE WHEN status IN ('available', 'wrap_up') THEN seconds ELSE 0 END)"
            for measures, presence, source in (
                (_AGENT_DAY_SUMS, "0, 0", intervals),
                (_AGENT_DAY_MISSED, "0, 0", missed),
                (_DAY_ZEROS, f"SUM(seconds), {ready}", states),
            ):
                cursor.execute(
                    f"""INSERT INTO {per_agent} (organization_id, day, agent_id, {_DAY_INT},
                        logged_in_seconds, ready_seconds)
                    SELECT organization_id, %(day)s, agent_id, {measures}, {presence}
                    FROM {source} WHERE {where}
                    GROUP BY organization_id, agent_id""",  # noqa: S608
                    params,
                )
                written += max(cursor.rowcount, 0)
    return written


def daily_refresh_range(*, organization_id: int) -> int:
    """Every day of an organization that has 15-minute rows or presence time."""
    from django.db.models import Max, Min

    bounds = [
        model.objects.filter(organization_id=organization_id).aggregate(
            low=Min("bucket"), high=Max("bucket")
        )
        for model in (IntervalRollup, AgentStateRollup)
    ]
    edges = [b[key] for b in bounds for key in ("low", "high") if b[key] is not None]
    buckets: set = set()
    if edges:
        moment, last = min(edges), max(edges)
        while moment <= last:
            buckets.add(moment)
            moment += timedelta(hours=12)
        buckets.add(last)
    days = local_days(organization_id=organization_id, buckets=buckets)
    DailyRollup.objects.filter(organization_id=organization_id).exclude(day__in=days).delete()
    DailyAgentRollup.objects.filter(organization_id=organization_id).exclude(day__in=days).delete()
    return daily_refresh(organization_id=organization_id, days=days)
