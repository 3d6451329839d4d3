"""Interaction facts and agent presence time, derived from the Event log in SQL.

One statement turns the events of a set of interactions into their facts (PostgreSQL and
SQLite share it; only a few expressions differ by vendor). Durations are sums over state
changes: the time in a state is Σ(epoch of leaving it) − Σ(epoch of entering it), which holds
however often it was entered (holds, transfers, re-queues), as long as it was left as often
as entered; a state still occupied counts 0 until its interaction moves on.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from django.db import connection

from apps.interactions.models import Event
from apps.reports.models import AgentStateRollup, InteractionFact, MissedOfferFact

BUCKET = 900  # seconds: 15 minutes

ENDING = ("wrap_up", "closed", "abandoned", "voicemail", "callback_scheduled")


def _vendor() -> str:
    return "postgresql" if connection.vendor == "postgresql" else "sqlite"


def epoch(expr: str) -> str:
    if _vendor() == "postgresql":
        return f"EXTRACT(EPOCH FROM {expr})"
    # julianday() is a double: rounded to the millisecond, it is exact again.
    return f"ROUND((julianday({expr}) - 2440587.5) * 86400.0, 3)"


def from_epoch(expr: str, *, whole: bool = False) -> str:
    if _vendor() == "postgresql":
        return f"to_timestamp({expr})"
    # Django stores SQLite datetimes as naive UTC text (no fraction when whole seconds).
    return f"strftime('%Y-%m-%d %H:%M:{'%S' if whole else '%f'}', {expr}, 'unixepoch')"


def json_text(column: str, key: str) -> str:
    if _vendor() == "postgresql":
        return f"({column} ->> '{key}')"
    return f"json_extract({column}, '$.{key}')"


def db_time(value: datetime):
    """A datetime as a raw SQL parameter (SQLite keeps naive UTC text)."""
    return connection.ops.adapt_datetimefield_value(value)


def floor_bucket(expr: str) -> str:
    if _vendor() == "postgresql":
        return f"(FLOOR(({expr}) / {BUCKET}) * {BUCKET})"
    return f"(CAST(({expr}) / {BUCKET} AS INTEGER) * {BUCKET})"


# The event types that facts read (others, such as call legs or messages, are skipped).
FACT_EVENTS = (
    "interaction.created",
    "interaction.state_changed",
    "interaction.transferred",
    "voicemail.recorded",
    "callback.scheduled",
)


def _fence() -> str:
    # Keeps the planner from inlining the subquery: each JSON key is read once per event.
    return "OFFSET 0" if _vendor() == "postgresql" else "LIMIT -1 OFFSET 0"


def _facts_select(where: str) -> str:
    """SELECT of fact rows for the interactions matching ``where`` (on ``i``)."""
    sc = "x.kind = 'interaction.state_changed'"
    to, frm, at = "x.st_to", "x.st_from", "x.ts"
    ending = ", ".join(f"'{s}'" for s in ENDING)
    kinds = ", ".join(f"'{k}'" for k in FACT_EVENTS)
    join = "" if where == "1 = 1" else "JOIN interactions_interaction i ON i.id = e.interaction_id"

    def time_in(state: str) -> str:
        enter = f"SUM(CASE WHEN {sc} AND {to} = '{state}' THEN 1 ELSE 0 END)"
        leave = f"SUM(CASE WHEN {sc} AND {frm} = '{state}' THEN 1 ELSE 0 END)"
        spent = (
            f"SUM(CASE WHEN {sc} AND {frm} = '{state}' THEN {at} ELSE 0 END)"
            f" - SUM(CASE WHEN {sc} AND {to} = '{state}' THEN {at} ELSE 0 END)"
        )
        return f"CASE WHEN {enter} = {leave} THEN {spent} ELSE 0 END"

    rows = f"""
        SELECT e.interaction_id AS iid, e.type AS kind, {epoch("e.at")} AS ts,
            {json_text("e.data", "to")} AS st_to, {json_text("e.data", "from")} AS st_from,
            {json_text("e.data", "reason")} AS reason
        FROM interactions_event e {join}
        WHERE e.interaction_id IS NOT NULL AND e.type IN ({kinds}) AND {where}
        {_fence()}"""  # noqa: S608 (fixed SQL; values are parameters)
    events = f"""
        SELECT x.iid,
            MIN({at}) AS first_ts,
            MIN(CASE WHEN {sc} THEN {at} END) AS moved_ts,
            MIN(CASE WHEN {sc} AND {to} = 'queued' THEN {at} END) AS queued_ts,
            MIN(CASE WHEN {sc} AND {to} = 'active' THEN {at} END) AS answered_ts,
            MIN(CASE WHEN {sc} AND {to} IN ({ending}) THEN {at} END) AS ended_ts,
            MAX(CASE WHEN {sc} AND {to} = 'closed' THEN 1 ELSE 0 END) AS closed,
            MAX(CASE WHEN {sc} AND {to} = 'abandoned' THEN 1 ELSE 0 END) AS abandoned,
            MAX(CASE WHEN ({sc} AND {to} = 'voicemail') OR x.kind = 'voicemail.recorded'
                THEN 1 ELSE 0 END) AS voicemail,
            MAX(CASE WHEN x.kind = 'callback.scheduled' OR ({sc} AND {to} = 'callback_scheduled')
                THEN 1 ELSE 0 END) AS callback,
            SUM(CASE WHEN x.kind = 'interaction.transferred' THEN 1 ELSE 0 END) AS transfers,
            SUM(CASE WHEN {sc} AND {frm} = 'offered' AND {to} = 'queued'
                AND x.reason IN ('rejected', 'timed_out') THEN 1 ELSE 0 END) AS missed_offers,
            {time_in("active")} AS talk,
            {time_in("on_hold")} AS hold,
            {time_in("wrap_up")} AS wrap
        FROM ({rows}) AS x
        GROUP BY x.iid"""  # noqa: S608 (fixed SQL; values are parameters)
    start = "COALESCE(a.queued_ts, a.moved_ts, a.first_ts)"
    wait = "COALESCE(a.answered_ts, a.ended_ts) - a.queued_ts"
    return f"""
        SELECT i.id, i.organization_id, {from_epoch(start)}, {start},
            {from_epoch(floor_bucket(start), whole=True)},
            i.queue_id, i.assigned_agent_id, i.contact_id, i.channel, i.direction,
            COALESCE(c.tier, ''),
            CASE WHEN a.closed = 1 THEN {_false()} ELSE {_true()} END,
            CASE WHEN a.queued_ts IS NOT NULL THEN 1 ELSE 0 END,
            CASE WHEN a.queued_ts IS NOT NULL AND a.answered_ts IS NOT NULL THEN 1 ELSE 0 END,
            CASE WHEN a.answered_ts IS NOT NULL THEN 1 ELSE 0 END,
            CASE WHEN a.queued_ts IS NOT NULL AND a.answered_ts IS NULL AND a.abandoned = 1
                THEN 1 ELSE 0 END,
            a.voicemail, a.callback,
            CASE WHEN a.queued_ts IS NOT NULL AND {wait} > 0 THEN {wait} ELSE 0 END,
            a.talk, a.hold, a.wrap, a.transfers, a.missed_offers
        FROM ({events}) a
        JOIN interactions_interaction i ON i.id = a.iid
        LEFT JOIN contacts_contact c ON c.id = i.contact_id"""  # noqa: S608


def _true() -> str:
    return "TRUE" if _vendor() == "postgresql" else "1"


def _false() -> str:
    return "FALSE" if _vendor() == "postgresql" else "0"


FACT_COLUMNS = (
    "interaction_id, organization_id, started_at, started_epoch, bucket, queue_id, agent_id,"
    " contact_id, channel, direction, tier, is_open, offered, answered, handled, abandoned,"
    " voicemail, callback, wait_seconds, talk_seconds, hold_seconds, wrap_seconds, transfers,"
    " missed_offers"
)


MISSED_REASONS = ("rejected", "timed_out")


def missed_agent(data: str = "e.data", offer_agent: str = "o.agent_id") -> str:
    """Who missed an offer: the requeue event's ``data.agent`` (since it is written), else the
    agent of its ``data.offer`` (older events)."""
    return f"COALESCE(CAST({json_text(data, 'agent')} AS BIGINT), {offer_agent})"


def _missed_select(where: str) -> str:
    """SELECT of missed-offer rows (per interaction and agent who missed) of the interactions
    matching ``where`` (on ``i``): state changes offered → queued, declined or timed out."""
    from apps.queues.models import Offer

    reasons = ", ".join(f"'{r}'" for r in MISSED_REASONS)
    agent = missed_agent()
    return f"""
        SELECT i.organization_id, i.id, {agent}, COUNT(*)
        FROM interactions_event e
        JOIN interactions_interaction i ON i.id = e.interaction_id
        LEFT JOIN {Offer._meta.db_table} o
            ON o.id = CAST({json_text("e.data", "offer")} AS BIGINT)
        WHERE e.type = 'interaction.state_changed' AND {where}
            AND {json_text("e.data", "from")} = 'offered' AND {json_text("e.data", "to")} = 'queued'
            AND {json_text("e.data", "reason")} IN ({reasons})
        GROUP BY i.organization_id, i.id, {agent}"""  # noqa: S608


def facts_write(*, where: str, params: list, collect: bool = True) -> tuple[set, set]:
    """(Re)build the facts of the interactions matching ``where`` (SQL on ``i``, the
    interaction table). Returns the (organization, bucket) pairs touched and the contacts
    (``collect=False``, for whole rebuilds: nothing is read back)."""
    table = InteractionFact._meta.db_table
    chosen = f"(SELECT i.id FROM interactions_interaction i WHERE {where})"  # noqa: S608
    old: list = []
    new: list = []
    with connection.cursor() as cursor:
        if collect:
            cursor.execute(
                f"SELECT organization_id, bucket, contact_id FROM {table} "  # noqa: S608
                f"WHERE interaction_id IN {chosen}",
                params,
            )
            old = cursor.fetchall()
        cursor.execute(f"DELETE FROM {table} WHERE interaction_id IN {chosen}", params)  # noqa: S608
        returning = " RETURNING organization_id, bucket, contact_id" if collect else ""
        cursor.execute(
            f"INSERT INTO {table} ({FACT_COLUMNS}) {_facts_select(where)}{returning}",  # noqa: S608
            params,
        )
        if collect:
            new = cursor.fetchall()
        missed = MissedOfferFact._meta.db_table
        cursor.execute(f"DELETE FROM {missed} WHERE interaction_id IN {chosen}", params)  # noqa: S608
        cursor.execute(
            f"INSERT INTO {missed} (organization_id, interaction_id, agent_id, missed_offers) "  # noqa: S608
            f"{_missed_select(where)}",
            params,
        )
    touched = {(org, _aware(bucket)) for org, bucket, _c in (*old, *new)}
    contacts = {contact for _o, _b, contact in (*old, *new) if contact is not None}
    return touched, contacts


def _aware(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def repeat_gaps_update(
    *, contacts: set | None, since_epoch: float | None = None, collect: bool = True
) -> set:
    """Set each fact's time until the same contact's next interaction (on any channel), for
    the facts of ``contacts`` (``None``: every contact) starting at or after ``since_epoch``.
    Returns the (organization, bucket) pairs whose facts changed."""
    table = InteractionFact._meta.db_table
    touched: set = set()
    contact_list = sorted(contacts) if contacts is not None else [None]
    step = 500
    for index in range(0, len(contact_list), step):
        chunk = contact_list[index : index + step]
        where, params = "", []
        if contacts is not None:
            where = f"WHERE contact_id IN ({', '.join(['%s'] * len(chunk))})"
            params = list(chunk)
        since = ""
        if since_epoch is not None:
            since = "AND f.started_epoch >= %s"
            params.append(since_epoch)
        with connection.cursor() as cursor:
            cursor.execute(
                f"""UPDATE {table} AS f SET next_gap_seconds = w.gap
                FROM (SELECT interaction_id,
                        LEAD(started_epoch) OVER (PARTITION BY contact_id
                            ORDER BY started_epoch, interaction_id) - started_epoch AS gap
                      FROM {table} {where}) AS w
                WHERE f.interaction_id = w.interaction_id {since}
                  AND ((f.next_gap_seconds IS NULL) <> (w.gap IS NULL)
                       OR f.next_gap_seconds <> w.gap)
                {"RETURNING organization_id, bucket" if collect else ""}""",  # noqa: S608
                params,
            )
            if collect:
                touched |= {(org, _aware(bucket)) for org, bucket in cursor.fetchall()}
    return touched


# --- Agent presence time ------------------------------------------------------------------------


def floor_time(value: datetime) -> datetime:
    stamp = int(value.timestamp())
    return datetime.fromtimestamp(stamp - stamp % BUCKET, tz=UTC)


def agent_states_write(*, start: datetime, end: datetime, organization_id=None) -> int:
    """Rebuild agents' seconds per presence status and 15-minute bucket from ``start``
    (floored to a bucket) to ``end`` from ``presence.changed`` events: the status each agent
    had at ``start`` (their last change before it) runs until their next change, the last
    one until ``end``."""
    start = floor_time(start)
    if end <= start:
        return 0
    if _vendor() == "postgresql":
        return _agent_states_postgresql(start=start, end=end, organization_id=organization_id)
    agent = json_text("data", "agent")
    org_filter, org_params = "", []
    if organization_id is not None:
        org_filter, org_params = "AND organization_id = %s", [organization_id]
    table = Event._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT organization_id, {agent}, {json_text("data", "to")}, at FROM {table}
            WHERE id IN (SELECT MAX(id) FROM {table} WHERE type = 'presence.changed'
                AND at < %s {org_filter} GROUP BY organization_id, {agent})""",  # noqa: S608
            [db_time(start), *org_params],
        )
        before = cursor.fetchall()
    changes = (
        Event.objects.filter(type="presence.changed", at__gte=start, at__lt=end)
        .order_by("at", "id")
        .values_list("organization_id", "data", "at")
    )
    if organization_id is not None:
        changes = changes.filter(organization_id=organization_id)
    timeline: dict[tuple, list] = defaultdict(list)
    for org, agent_id, status, _at in before:
        if agent_id is not None:
            timeline[org, int(agent_id)].append((start, status))
    for org, data, at in changes:
        if data.get("agent") is not None:
            timeline[org, int(data["agent"])].append((at, data.get("to")))
    seconds: dict[tuple, float] = defaultdict(float)
    for (org, agent_id), points in timeline.items():
        for (begin, status), nxt in zip(points, [*points[1:], (end, None)], strict=True):
            finish = nxt[0]
            if status in (None, "offline") or finish <= begin:
                continue
            cursor_at = begin
            while cursor_at < finish:
                bucket = floor_time(cursor_at)
                stop = min(finish, bucket + timedelta(seconds=BUCKET))
                seconds[org, bucket, agent_id, status] += (stop - cursor_at).total_seconds()
                cursor_at = stop
    rows = AgentStateRollup.objects.filter(bucket__gte=start, bucket__lt=end)
    if organization_id is not None:
        rows = rows.filter(organization_id=organization_id)
    rows.delete()
    AgentStateRollup.objects.bulk_create(
        [
            AgentStateRollup(
                organization_id=org, bucket=bucket, agent_id=agent_id, status=status, seconds=s
            )
            for (org, bucket, agent_id, status), s in seconds.items()
        ],
        batch_size=2000,
    )
    return len(seconds)


def _agent_states_postgresql(*, start: datetime, end: datetime, organization_id) -> int:
    """The same, set-based (a year of a large center's presence is millions of buckets)."""
    org = "AND organization_id = %(org)s" if organization_id is not None else ""
    rows = AgentStateRollup.objects.filter(bucket__gte=start, bucket__lt=end)
    if organization_id is not None:
        rows = rows.filter(organization_id=organization_id)
    rows.delete()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {AgentStateRollup._meta.db_table}
                (organization_id, bucket, agent_id, status, seconds)
            SELECT org, b, agent, status, SUM(EXTRACT(EPOCH FROM
                LEAST(until, b + INTERVAL '15 minutes') - GREATEST(since, b)))
            FROM (
                SELECT org, agent, status, since, LEAD(since, 1, %(end)s::timestamptz)
                    OVER (PARTITION BY org, agent ORDER BY since, id) AS until
                FROM (
                    SELECT organization_id AS org, (data ->> 'agent')::bigint AS agent,
                        data ->> 'to' AS status, at AS since, id
                    FROM interactions_event
                    WHERE type = 'presence.changed' AND at >= %(start)s AND at < %(end)s {org}
                    UNION ALL
                    SELECT * FROM (
                        SELECT DISTINCT ON (organization_id, data ->> 'agent')
                            organization_id, (data ->> 'agent')::bigint,
                            data ->> 'to', %(start)s::timestamptz, id
                        FROM interactions_event
                        WHERE type = 'presence.changed' AND at < %(start)s {org}
                        ORDER BY organization_id, data ->> 'agent', at DESC, id DESC
                    ) AS before
                ) AS points
            ) AS spans
            CROSS JOIN LATERAL generate_series(
                to_timestamp(FLOOR(EXTRACT(EPOCH FROM since) / 900) * 900),
                until - INTERVAL '1 microsecond', INTERVAL '15 minutes') AS b
            WHERE agent IS NOT NULL AND status IS NOT NULL AND status <> 'offline'
                AND until > since
            GROUP BY org, b, agent, status""",  # noqa: S608
            {"start": start, "end": end, "org": organization_id},
        )
        return max(cursor.rowcount, 0)


def interaction_ids_where(ids: list[int]) -> tuple[str, list]:
    return f"i.id IN ({', '.join(['%s'] * len(ids))})", list(ids)
