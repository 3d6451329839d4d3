"""Keeping the report tables in step with the Event log: incremental update and rebuild."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from apps.accounts.models import Organization
from apps.interactions.models import Event
from apps.reports import facts
from apps.reports.models import (
    AgentStateRollup,
    IntervalRollup,
    MissedOfferRollup,
    ReportSettings,
    RollupCursor,
)
from apps.reports.rollups import (
    daily_refresh,
    daily_refresh_range,
    local_days,
    rollup_buckets,
    rollup_range,
)

logger = logging.getLogger(__name__)

CURSOR = "events"
BATCH = 20_000  # events per step of the incremental update


def _cursor() -> RollupCursor:
    RollupCursor.objects.get_or_create(name=CURSOR)
    return RollupCursor.objects.select_for_update().get(name=CURSOR)


def _max_fcr_days() -> int:
    return max(
        [7, *ReportSettings.objects.values_list("fcr_days", flat=True)],
    )


@transaction.atomic
def rollups_update(*, now: datetime | None = None, batch: int = BATCH) -> dict:
    """Bring facts and rollups up to the newest events (one step of at most ``batch``
    events; the beat task calls it until nothing is left). Idempotent: with no new event,
    nothing changes but the presence time of the current bucket."""
    now = now or timezone.now()
    cursor = _cursor()
    ids = list(
        Event.objects.filter(pk__gt=cursor.last_event_id)
        .order_by("pk")
        .values_list("pk", flat=True)[:batch]
    )
    upto = facts.floor_time(now)
    touched: set = set()
    interactions: list[int] = []
    presence_from = cursor.upto or upto
    if ids:
        last = ids[-1]
        new = Event.objects.filter(pk__gt=cursor.last_event_id, pk__lte=last)
        interactions = sorted(
            set(new.exclude(interaction_id=None).values_list("interaction_id", flat=True))
        )
        earliest = (
            new.filter(type="presence.changed").order_by("at").values_list("at", flat=True).first()
        )
        if earliest is not None:
            presence_from = min(presence_from, earliest)
        contacts: set = set()
        for index in range(0, len(interactions), 500):
            where, params = facts.interaction_ids_where(interactions[index : index + 500])
            changed, seen = facts.facts_write(where=where, params=params)
            touched |= changed
            contacts |= seen
        if contacts:
            touched |= facts.repeat_gaps_update(contacts=contacts)
        cursor.last_event_id = last
    rows = rollup_buckets(touched=touched)
    states = facts.agent_states_write(start=presence_from, end=upto) if presence_from < upto else 0
    _days_refresh(touched=touched, presence=(presence_from, upto))
    cursor.upto = max(cursor.upto or upto, upto)
    cursor.save()
    result = {
        "events": len(ids),
        "interactions": len(interactions),
        "buckets": len(touched),
        "rollup_rows": rows,
        "agent_state_rows": states,
        "more": len(ids) == batch,
    }
    logger.info("reports.rollups_updated", extra=result)
    return result


def rollups_update_all(*, now: datetime | None = None) -> int:
    """Run update steps until the event log is consumed; the number of events read."""
    total = 0
    while True:
        result = rollups_update(now=now)
        total += result["events"]
        if not result["more"]:
            return total


@transaction.atomic
def rollups_rebuild(
    *,
    organization_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
) -> dict:
    """Recompute facts and rollups from the events, for one organization or all, for the
    interactions that have events in [start, end) (everything when open). Set-based: one
    statement per table, so millions of interactions take minutes."""
    now = now or timezone.now()
    cursor = _cursor()
    high = Event.objects.aggregate(m=Max("pk"))["m"] or 0
    conditions, params = ["1 = 1"], []
    if organization_id is not None:
        conditions.append("i.organization_id = %s")
        params.append(organization_id)
    if start is not None or end is not None:
        window = ["e2.interaction_id = i.id"]
        if start is not None:
            window.append("e2.at >= %s")
            params.append(facts.db_time(start))
        if end is not None:
            window.append("e2.at < %s")
            params.append(facts.db_time(end))
        conditions.append(
            f"EXISTS (SELECT 1 FROM interactions_event e2 WHERE {' AND '.join(window)})"  # noqa: S608
        )
    where = " AND ".join(conditions)
    full = start is None and end is None
    if connection.vendor == "postgresql":
        # A rebuild sorts and hashes millions of events: room for it, this transaction only.
        with connection.cursor() as c:
            c.execute("SET LOCAL work_mem = '256MB'")
    clock = _Clock()
    touched, contacts = facts.facts_write(where=where, params=params, collect=not full)
    clock.lap("facts")
    if full:
        facts.repeat_gaps_update(contacts=None, collect=False)
        organizations = (
            {organization_id}
            if organization_id is not None
            else set(Organization.objects.values_list("pk", flat=True))
        )
    else:
        touched |= facts.repeat_gaps_update(contacts=contacts)
    clock.lap("repeats")
    rows = 0
    if full:
        for model in (IntervalRollup, MissedOfferRollup):
            stale = model.objects.all()
            if organization_id is not None:
                stale = stale.filter(organization_id=organization_id)
            stale.delete()
        for org in organizations:
            rows += rollup_range(organization_id=org, start=None, end=None)
    else:
        rows = rollup_buckets(touched=touched)
    clock.lap("rollups")
    upto = facts.floor_time(now)
    states_from = start or _first_presence(organization_id) or upto
    if full:
        stale = AgentStateRollup.objects.all()
        if organization_id is not None:
            stale = stale.filter(organization_id=organization_id)
        stale.delete()
    states_to = min(end, upto) if end else upto
    states = facts.agent_states_write(
        start=states_from, end=states_to, organization_id=organization_id
    )
    clock.lap("presence")
    if full:
        for org in organizations:
            daily_refresh_range(organization_id=org)
    else:
        _days_refresh(touched=touched, presence=(states_from, states_to))
    clock.lap("days")
    if full and organization_id is None:
        cursor.last_event_id = max(cursor.last_event_id, high)
        cursor.upto = upto
        cursor.save()
    if connection.vendor == "postgresql":
        with connection.cursor() as c:
            c.execute("ANALYZE reports_interactionfact")
            c.execute("ANALYZE reports_missedofferfact")
            for table in (
                "intervalrollup",
                "missedofferrollup",
                "agentstaterollup",
                "dailyrollup",
                "dailyagentrollup",
            ):
                c.execute(f"ANALYZE reports_{table}")
    result = {
        "buckets": len(touched),
        "rollup_rows": rows,
        "agent_state_rows": states,
        "seconds": clock.laps,
    }
    logger.info("reports.rollups_rebuilt", extra=result)
    return result


class _Clock:
    """Seconds per phase of a rebuild (logged: where the time goes on large logs)."""

    def __init__(self):
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 1)
        self._last = now


def _days_refresh(*, touched: set, presence: tuple[datetime, datetime]) -> None:
    """Recompute the day rollups of the local days holding the touched 15-minute buckets and
    of the presence window just rewritten."""
    buckets: dict[int, set] = defaultdict(set)
    for org, bucket in touched:
        buckets[org].add(bucket)
    start, end = facts.floor_time(presence[0]), presence[1]
    if start < end:
        window = {start}
        moment = start
        while moment < end:
            window.add(moment)
            moment += timedelta(hours=12)
        window.add(end - timedelta(seconds=1))
        orgs = set(
            Event.objects.filter(type="presence.changed", at__gte=start, at__lt=end)
            .values_list("organization_id", flat=True)
            .distinct()
        ) | set(
            AgentStateRollup.objects.filter(bucket__gte=start, bucket__lt=end)
            .values_list("organization_id", flat=True)
            .distinct()
        )
        for org in orgs:
            buckets[org] |= window
    for org, moments in buckets.items():
        daily_refresh(organization_id=org, days=local_days(organization_id=org, buckets=moments))


def _first_presence(organization_id: int | None):
    qs = Event.objects.filter(type="presence.changed")
    if organization_id is not None:
        qs = qs.filter(organization_id=organization_id)
    return qs.order_by("at").values_list("at", flat=True).first()
