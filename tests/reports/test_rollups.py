"""Rollups equal the raw computation, and the incremental update is idempotent."""

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from apps.accounts.models import Role
from apps.interactions.models import State
from apps.reports.models import (
    AgentStateRollup,
    DailyAgentRollup,
    DailyRollup,
    InteractionFact,
    IntervalRollup,
    ReportSettings,
)
from apps.reports.selectors import ReportFilters, kpi_report
from apps.reports.services import rollups_rebuild, rollups_update, rollups_update_all
from tests.factories import ContactFactory, OrganizationFactory, QueueFactory, UserFactory
from tests.reports.stories import presence, story

D = datetime(2026, 5, 4, tzinfo=UTC)
SHORT = 5


@pytest.fixture
def traffic(roles):
    """Sixty interactions over three days, with what each one was recorded (the raw truth)."""
    rng = random.Random(8)
    org = OrganizationFactory(time_zone="Europe/Paris")
    ReportSettings.objects.create(organization=org, short_abandon_seconds=SHORT, fcr_days=1)
    queues = [QueueFactory(organization=org, sla_seconds=20) for _ in range(2)]
    agents = [UserFactory(organization=org, roles=[Role.AGENT]) for _ in range(2)]
    contacts = [ContactFactory(organization=org) for _ in range(25)]
    truth = []
    for _ in range(60):
        queue, agent = rng.choice(queues), rng.choice(agents)
        start = D + timedelta(minutes=rng.randrange(3 * 24 * 60))
        wait = rng.randrange(1, 60)
        kind = rng.choice(["answered", "answered", "answered", "abandoned", "voicemail"])
        steps = [(0, State.QUEUED)]
        fact = {"queue": queue.pk, "start": start, "wait": wait, "talk": 0, "hold": 0, "wrap": 0}
        if kind == "answered":
            talk1, hold, talk2, wrap = (rng.randrange(10, 300) for _ in range(4))
            hold = hold if rng.random() < 0.5 else 0
            t = wait
            steps += [(t - 1, State.OFFERED), (t, State.ACTIVE)]
            if hold:
                steps += [(t + talk1, State.ON_HOLD), (t + talk1 + hold, State.ACTIVE)]
            end = t + talk1 + hold + talk2
            steps += [(end, State.WRAP_UP), (end + wrap, State.CLOSED)]
            fact.update(talk=talk1 + talk2, hold=hold, wrap=wrap)
        else:
            steps.append((wait, State.ABANDONED if kind == "abandoned" else State.VOICEMAIL))
        story(
            organization=org,
            queue=queue,
            contact=rng.choice(contacts),
            agent=agent if kind == "answered" else None,
            channel=rng.choice(["voice", "webchat", "email"]),
            start=start,
            steps=steps,
        )
        truth.append({**fact, "kind": kind})
    for agent in agents:
        presence(
            organization=org,
            agent=agent,
            changes=[(D + timedelta(hours=8), "available"), (D + timedelta(hours=30), "offline")],
        )
    return org, queues, truth


def _snapshot():
    def rows(model):
        return sorted(
            (
                tuple(sorted((k, v) for k, v in row.items() if k != "id"))
                for row in model.objects.values()
            ),
            key=repr,
        )

    return (
        rows(InteractionFact),
        rows(IntervalRollup),
        rows(AgentStateRollup),
        rows(DailyRollup),
        rows(DailyAgentRollup),
    )


def test_rollups_equal_raw_computation(traffic):
    org, queues, truth = traffic
    rollups_update_all(now=D + timedelta(days=4))
    filters = ReportFilters(start=D - timedelta(days=1), end=D + timedelta(days=4))
    table = kpi_report(
        organization=org,
        filters=filters,
        group_by="queue",
        interval="day",
        kpis=["offered", "answered", "abandoned", "short_abandoned", "service_level", "aht"],
    )
    from zoneinfo import ZoneInfo

    paris = ZoneInfo("Europe/Paris")
    expected = defaultdict(lambda: defaultdict(float))
    for fact in truth:
        day = fact["start"].astimezone(paris).date().isoformat()
        e = expected[day, fact["queue"]]
        e["offered"] += 1
        answered = fact["kind"] == "answered"
        e["answered"] += answered
        e["abandoned"] += fact["kind"] == "abandoned"
        e["short"] += fact["kind"] == "abandoned" and fact["wait"] <= SHORT
        e["sla"] += answered and fact["wait"] <= 20
        e["handle"] += fact["talk"] + fact["hold"] + fact["wrap"]
    got = {(row["interval"][:10], row["group"]): row for row in table.rows}
    assert set(got) == set(expected)
    for key, e in expected.items():
        row = got[key]
        assert row["offered"] == e["offered"]
        assert row["answered"] == e["answered"]
        assert row["abandoned"] == e["abandoned"]
        assert row["short_abandoned"] == e["short"]
        basis = e["answered"] + e["abandoned"] - e["short"]
        assert row["service_level"] == (round(100 * e["sla"] / basis, 2) if basis else None)
        assert row["aht"] == (round(e["handle"] / e["answered"], 2) if e["answered"] else None)
    assert table.totals["offered"] == len(truth)


def test_incremental_update_is_idempotent_and_equals_a_rebuild(traffic):
    now = D + timedelta(days=4)
    steps = 0
    while rollups_update(now=now, batch=37)["more"]:  # small steps: buckets revisited
        steps += 1
    assert steps > 5
    once = _snapshot()
    assert all(once)
    rollups_update(now=now)
    assert _snapshot() == once  # nothing new: nothing changes
    rollups_rebuild(now=now)
    assert _snapshot() == once
    call_command("reports_rollup", "--rebuild", "--from", "2026-05-05", "--to", "2026-05-06")
    assert _snapshot()[:2] == once[:2]


def test_new_events_update_the_rows_they_touch(traffic):
    org, _queues, _truth = traffic
    rollups_update_all(now=D + timedelta(days=4))
    before = kpi_report(
        organization=org,
        filters=ReportFilters(start=D - timedelta(days=1), end=D + timedelta(days=4)),
        kpis=["offered"],
    ).totals["offered"]
    story(
        organization=org,
        queue=_queues[0],
        contact=ContactFactory(organization=org),
        start=D + timedelta(hours=5),
        steps=[(0, State.QUEUED), (2, State.ABANDONED)],
    )
    rollups_update_all(now=D + timedelta(days=4))
    after = kpi_report(
        organization=org,
        filters=ReportFilters(start=D - timedelta(days=1), end=D + timedelta(days=4)),
        kpis=["offered", "short_abandoned"],
    ).totals
    assert after["offered"] == before + 1


def test_other_organization_sees_nothing(traffic):
    rollups_update_all(now=D + timedelta(days=4))
    other = OrganizationFactory()
    table = kpi_report(
        organization=other,
        filters=ReportFilters(start=D - timedelta(days=1), end=D + timedelta(days=4)),
        group_by="queue",
    )
    assert table.rows == [] and table.totals["offered"] == 0


@pytest.mark.parametrize("group_by", ["none", "agent", "team", "queue", "channel"])
def test_day_rollups_equal_the_15_minute_rollups(group_by, traffic):
    """Whole local days read the day tables; an hourly cut of the same days reads the
    15-minute ones: every figure of the totals and of each group agrees."""
    from zoneinfo import ZoneInfo

    from tests.factories import TeamFactory

    org, _queues, _truth = traffic
    team = TeamFactory(organization=org)
    team.members.set(org_users(org))
    paris = ZoneInfo("Europe/Paris")
    filters = ReportFilters(
        start=datetime(2026, 5, 4, tzinfo=paris), end=datetime(2026, 5, 8, tzinfo=paris)
    )
    rollups_update_all(now=D + timedelta(days=4))
    by_day = kpi_report(organization=org, filters=filters, group_by=group_by, interval="day")
    by_hour = kpi_report(organization=org, filters=filters, group_by=group_by, interval="60m")
    whole = kpi_report(organization=org, filters=filters, group_by=group_by)
    assert whole.totals == by_day.totals == by_hour.totals
    assert whole.totals["offered"] == 60
    # Ending a microsecond before midnight makes it read the 15-minute rollups.
    not_whole_days = ReportFilters(start=filters.start, end=filters.end - timedelta(microseconds=1))
    from_buckets = kpi_report(organization=org, filters=not_whole_days, group_by=group_by)
    assert whole.rows == from_buckets.rows
    assert whole.totals == from_buckets.totals


def org_users(org):
    from apps.accounts.models import User

    return list(User.objects.filter(organization=org))
