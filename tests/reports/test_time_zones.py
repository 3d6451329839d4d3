"""Days and hours are cut in the organization's time zone, DST changes included."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from apps.interactions.models import State
from apps.reports.selectors import ReportFilters, kpi_interactions, kpi_report
from apps.reports.services import rollups_update_all
from tests.factories import ContactFactory, OrganizationFactory, QueueFactory
from tests.reports.stories import story

NY = ZoneInfo("America/New_York")


def _offered_at(org, queue, moment: datetime):
    return story(
        organization=org,
        queue=queue,
        contact=ContactFactory(organization=org),
        start=moment,
        steps=[(0, State.QUEUED), (10, State.ACTIVE), (70, State.WRAP_UP), (70, State.CLOSED)],
    )


@pytest.fixture
def new_york(db):
    org = OrganizationFactory(time_zone="America/New_York")
    return org, QueueFactory(organization=org)


def test_days_cut_at_local_midnight(new_york):
    org, queue = new_york
    late = _offered_at(org, queue, datetime(2026, 3, 3, 4, 30, tzinfo=UTC))  # 2 March 23:30
    _offered_at(org, queue, datetime(2026, 3, 3, 5, 30, tzinfo=UTC))  # 3 March 00:30
    rollups_update_all(now=datetime(2026, 3, 5, tzinfo=UTC))
    filters = ReportFilters(
        start=datetime(2026, 3, 2, tzinfo=NY), end=datetime(2026, 3, 4, tzinfo=NY)
    )
    table = kpi_report(
        organization=org, filters=filters, group_by="interval", interval="day", kpis=["offered"]
    )
    assert [(r["label"], r["offered"]) for r in table.rows] == [
        ("2026-03-02", 1),
        ("2026-03-03", 1),
    ]
    assert table.rows[0]["group"] == "2026-03-02T00:00:00-05:00"
    first_day = kpi_interactions(
        organization=org,
        filters=filters,
        kpi="offered",
        group_by="interval",
        interval="day",
        group_value=table.rows[0]["group"],
    )
    assert list(first_day) == [late]
    hours = kpi_report(
        organization=org, filters=filters, group_by="interval", interval="60m", kpis=["offered"]
    )
    assert [r["label"] for r in hours.rows] == ["2026-03-02 23:00", "2026-03-03 00:00"]


def test_day_of_the_dst_change_has_23_hours(new_york):
    org, queue = new_york
    # 8 March 2026: clocks go from 02:00 EST to 03:00 EDT; the local day is 05:00–04:00 UTC.
    first = _offered_at(org, queue, datetime(2026, 3, 8, 5, 10, tzinfo=UTC))  # 00:10 EST
    last = _offered_at(org, queue, datetime(2026, 3, 9, 3, 30, tzinfo=UTC))  # 23:30 EDT
    _offered_at(org, queue, datetime(2026, 3, 9, 4, 30, tzinfo=UTC))  # 9 March 00:30 EDT
    rollups_update_all(now=datetime(2026, 3, 12, tzinfo=UTC))
    filters = ReportFilters(
        start=datetime(2026, 3, 8, tzinfo=NY), end=datetime(2026, 3, 10, tzinfo=NY)
    )
    table = kpi_report(
        organization=org, filters=filters, group_by="interval", interval="day", kpis=["offered"]
    )
    assert [(r["label"], r["offered"]) for r in table.rows] == [
        ("2026-03-08", 2),
        ("2026-03-09", 1),
    ]
    eighth = kpi_interactions(
        organization=org,
        filters=filters,
        kpi="offered",
        group_by="interval",
        interval="day",
        group_value=table.rows[0]["group"],
    )
    assert set(eighth) == {first, last}
    weeks = kpi_report(
        organization=org, filters=filters, group_by="interval", interval="week", kpis=["offered"]
    )
    # Sunday 8 March belongs to the week of Monday 2 March; Monday 9 starts the next.
    assert [(r["label"], r["offered"]) for r in weeks.rows] == [
        ("2026-03-02", 2),
        ("2026-03-09", 1),
    ]


def test_month_in_local_time(new_york):
    org, queue = new_york
    _offered_at(org, queue, datetime(2026, 4, 1, 2, 0, tzinfo=UTC))  # 31 March 22:00 EDT
    _offered_at(org, queue, datetime(2026, 4, 1, 5, 0, tzinfo=UTC))  # 1 April 01:00 EDT
    rollups_update_all(now=datetime(2026, 4, 3, tzinfo=UTC))
    filters = ReportFilters(
        start=datetime(2026, 3, 1, tzinfo=NY), end=datetime(2026, 5, 1, tzinfo=NY)
    )
    table = kpi_report(
        organization=org, filters=filters, group_by="interval", interval="month", kpis=["offered"]
    )
    assert [(r["label"], r["offered"]) for r in table.rows] == [("2026-03", 1), ("2026-04", 1)]
    assert kpi_report(organization=org, filters=filters, kpis=["offered"]).totals["offered"] == 2
