"""15-minute interval rollups: sums of interaction facts, recomputed bucket by bucket.

A bucket's rows are always recomputed whole from its facts (delete, then INSERT … SELECT …
GROUP BY), never incremented: doing it twice gives the same rows, so the incremental update
is idempotent and a rebuild equals it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.db import connection

from apps.reports.facts import db_time
from apps.reports.models import IntervalRollup, ReportSettings
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
    table = IntervalRollup._meta.db_table
    for org, buckets in by_org.items():
        settings = report_settings_get(organization_id=org)
        ordered = sorted(buckets)
        for index in range(0, len(ordered), 300):
            chunk = ordered[index : index + 300]
            names = [f"b{n}" for n in range(len(chunk))]
            values = {n: db_time(b) for n, b in zip(names, chunk, strict=True)}
            marks = ", ".join(f"%({n})s" for n in names)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {table} WHERE organization_id = %(org)s AND bucket IN ({marks})",  # noqa: S608
                    {"org": org, **values},
                )
                cursor.execute(
                    f"INSERT INTO {table} ({_COLUMNS}) {_select(f'f.bucket IN ({marks})')}",  # noqa: S608
                    {**_params(org, settings), **values},
                )
                written += max(cursor.rowcount, 0)
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
    table = IntervalRollup._meta.db_table
    condition = " AND ".join(where)
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE organization_id = %(org)s AND {condition}",  # noqa: S608
            {"org": organization_id, **values},
        )
        cursor.execute(
            f"INSERT INTO {table} ({_COLUMNS}) "  # noqa: S608
            f"{_select(condition.replace('bucket', 'f.bucket'))}",
            {**_params(organization_id, settings), **values},
        )
        return max(cursor.rowcount, 0)
