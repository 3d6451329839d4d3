"""KPI formulas against small scenarios computed by hand (see each figure's comment)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from apps.accounts.models import Role
from apps.interactions.models import Direction, State
from apps.interactions.services import event_record
from apps.reports.kpis import KPIS
from apps.reports.models import ReportSettings
from apps.reports.selectors import ReportFilters, kpi_interactions, kpi_report
from apps.reports.services import rollups_update_all
from tests.factories import ContactFactory, OrganizationFactory, QueueFactory, UserFactory
from tests.reports.stories import presence, story

Q, OF, A, H, W, C = (
    State.QUEUED,
    State.OFFERED,
    State.ACTIVE,
    State.ON_HOLD,
    State.WRAP_UP,
    State.CLOSED,
)
D = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday


def at(hours: float) -> datetime:
    return D + timedelta(hours=hours)


@pytest.fixture
def day(roles):
    """One UTC day of a queue (service level 20 s; short abandon 5 s; FCR 7 days):

    I1 voice, agent A: queued 10:00, answered after 10 s, 60 s talk, 30 s hold, 90 s talk,
       30 s wrap-up. Its contact comes back (I5) the same day: not resolved first time.
    I2 chat: queued 10:05, declined once, answered after 40 s (outside the level), 60 s
       talk, transferred to B, 60 s more talk, 10 s wrap-up (agent B).
    I3 voice: hangs up after 3 s in queue (short abandon).  I4: after 60 s (abandon).
    I5 e-mail, contact of I1, agent A: queued 14:00, answered after 10 s, 600 s, closed.
    I6 outbound voice, agent A, no queue: 300 s talk, 30 s wrap-up.
    I7 voice, agent B: queued 23:59:50, answered 00:00:05 the next day (15 s), 600 s talk.
    I8 voice: queued 11:00, voicemail after 30 s.
    Agent A: available 09:00–17:00 with lunch 12:00–13:00; agent C deactivated at 12:00.
    """
    org = OrganizationFactory(time_zone="UTC")
    ReportSettings.objects.create(
        organization=org, short_abandon_seconds=5, fcr_days=7, cost_per_agent_hour=Decimal("30")
    )
    queue = QueueFactory(organization=org, sla_seconds=20)
    a = UserFactory(organization=org, roles=[Role.AGENT])
    b = UserFactory(organization=org, roles=[Role.AGENT])
    c = UserFactory(organization=org, roles=[Role.AGENT])
    for user in (a, b, c):
        user.date_joined = D - timedelta(days=30)
        user.save(update_fields=["date_joined"])
    c1, c2, c3, c4, c5, c6, c7 = (ContactFactory(organization=org) for _ in range(7))
    common = {"organization": org, "queue": queue}
    i1 = story(
        **common,
        contact=c1,
        agent=a,
        start=at(10),
        steps=[(0, Q), (5, OF), (10, A), (70, H), (100, A), (190, W), (220, C)],
    )
    i2 = story(
        **common,
        contact=c2,
        agent=b,
        channel="webchat",
        start=at(10 + 5 / 60),
        steps=[
            (0, Q),
            (20, OF),
            (30, "declined"),
            (35, OF),
            (40, A),
            (100, "transferred"),
            (100, OF),
            (110, A),
            (170, W),
            (180, C),
        ],
    )
    story(**common, contact=c3, start=at(10 + 10 / 60), steps=[(0, Q), (3, State.ABANDONED)])
    story(**common, contact=c4, start=at(10 + 20 / 60), steps=[(0, Q), (60, State.ABANDONED)])
    i5 = story(
        **common,
        contact=c1,
        agent=a,
        channel="email",
        start=at(14),
        steps=[(0, Q), (10, A), (610, W), (610, C)],
    )
    i6 = story(
        organization=org,
        contact=c5,
        agent=a,
        direction=Direction.OUTBOUND,
        start=at(15),
        steps=[(0, A), (300, W), (330, C)],
    )
    i7 = story(
        **common,
        contact=c6,
        agent=b,
        start=at(24) - timedelta(seconds=10),
        steps=[(0, Q), (15, A), (615, W), (615, C)],
    )
    i8 = story(**common, contact=c7, start=at(11), steps=[(0, Q), (30, State.VOICEMAIL)])
    presence(
        organization=org,
        agent=a,
        changes=[
            (at(9), "available"),
            (at(12), "lunch"),
            (at(13), "available"),
            (at(17), "offline"),
        ],
    )
    event_record(organization=org, type="user.deactivated", data={"user": c.pk}, at=at(12))
    rollups_update_all(now=D + timedelta(days=3))
    return {
        "org": org,
        "queue": queue,
        "a": a,
        "b": b,
        "c": c,
        "i1": i1,
        "i2": i2,
        "i5": i5,
        "i6": i6,
        "i7": i7,
        "i8": i8,
    }


def _day(org, **kwargs):
    return ReportFilters(start=D, end=D + timedelta(days=1), **kwargs)


def test_day_totals_match_hand_computation(day):
    table = kpi_report(organization=day["org"], filters=_day(day["org"]), group_by="none")
    t = table.totals
    assert t["offered"] == 7  # I1 I2 I3 I4 I5 I7 I8 (I7 counts on the day it was offered)
    assert t["answered"] == 4  # I1 I2 I5 I7
    assert t["abandoned"] == 2 and t["short_abandoned"] == 1
    assert t["abandonment_rate"] == 16.67  # (2 − 1) ÷ (7 − 1)
    assert t["service_level"] == 60.0  # I1 I5 I7 within 20 s ÷ (4 answered + 2 − 1 short)
    assert t["asa"] == 18.75  # (10 + 40 + 10 + 15) ÷ 4
    assert t["average_wait"] == 24.0  # (10 + 40 + 3 + 60 + 10 + 15 + 30) ÷ 7
    assert t["handled"] == 5  # + I6 outbound
    assert t["aht"] == 374.0  # talk 150+120+600+300+600, hold 30, wrap 30+10+0+30+0 ÷ 5
    assert t["average_hold"] == 6.0
    assert t["average_talk"] == 354.0
    assert t["average_wrap"] == 14.0
    assert t["transfers"] == 1 and t["missed_offers"] == 1
    assert t["voicemails"] == 1 and t["callbacks"] == 0
    assert t["inbound"] == 7 and t["outbound"] == 1
    assert t["outbound_inbound_ratio"] == 0.14
    assert t["fcr"] == 80.0  # I1's contact came back (I5): 4 of 5 handled resolved
    assert t["interactions_per_agent"] == 2.5  # 5 handled by A and B
    assert t["agent_turnover"] == 40.0  # C left: 1 ÷ ((3 at start + 2 at end) ÷ 2)
    assert t["csat"] is None and t["nps"] is None
    assert [row["label"] for row in table.rows] == ["All"]
    assert table.rows[0]["offered"] == 7


def test_spanning_midnight_counts_where_offered(day):
    next_day = ReportFilters(start=D + timedelta(days=1), end=D + timedelta(days=2))
    table = kpi_report(organization=day["org"], filters=next_day, group_by="none")
    assert table.totals["offered"] == 0
    assert "offered" in str(KPIS["offered"].formula).lower()


def test_agent_rows_occupancy_utilisation_and_cost(day):
    table = kpi_report(
        organization=day["org"],
        filters=_day(day["org"]),
        group_by="agent",
        kpis=["handled", "occupancy", "utilisation", "cost_per_contact", "aht"],
    )
    rows = {row["group"]: row for row in table.rows}
    a = rows[day["a"].pk]
    assert a["handled"] == 3  # I1, I5, I6
    # Handling 210 + 600 + 330 = 1140 s; ready 7 h (lunch is logged in, not ready); 8 h in.
    assert a["occupancy"] == round(100 * 1140 / 25200, 2)
    assert a["utilisation"] == round(100 * 1140 / 28800, 2)
    assert a["cost_per_contact"] == 80.0  # 30 an hour × 8 h ÷ 3
    assert rows[day["b"].pk]["handled"] == 2  # I2 (after the transfer), I7
    assert rows[day["b"].pk]["occupancy"] is None  # no presence time: no figure
    assert [c[0] for c in table.columns] == [
        "handled",
        "occupancy",
        "utilisation",
        "cost_per_contact",
        "aht",
    ]


def test_hourly_intervals(day):
    table = kpi_report(
        organization=day["org"],
        filters=_day(day["org"]),
        group_by="interval",
        interval="60m",
        kpis=["offered", "abandoned"],
    )
    by_hour = {row["label"][-5:]: row for row in table.rows}
    assert by_hour["10:00"]["offered"] == 4 and by_hour["10:00"]["abandoned"] == 2
    assert by_hour["11:00"]["offered"] == 1
    assert by_hour["23:00"]["offered"] == 1
    assert sum(row["offered"] for row in table.rows) == table.totals["offered"]


def test_queue_channel_grouping(day):
    table = kpi_report(
        organization=day["org"],
        filters=_day(day["org"]),
        group_by="channel",
        kpis=["offered", "handled", "occupancy"],
    )
    rows = {row["group"]: row for row in table.rows}
    assert rows["voice"]["offered"] == 5 and rows["webchat"]["offered"] == 1
    assert rows["email"]["handled"] == 1
    assert rows["voice"]["occupancy"] is None  # presence time is not split by channel


def test_drill_down_gives_the_interactions_behind_a_figure(day):
    org = day["org"]
    abandoned = kpi_interactions(organization=org, filters=_day(org), kpi="abandoned")
    assert abandoned.count() == 2
    short = kpi_interactions(organization=org, filters=_day(org), kpi="short_abandoned")
    assert short.count() == 1
    by_agent = kpi_interactions(
        organization=org,
        filters=_day(org),
        kpi="handled",
        group_by="agent",
        group_value=day["a"].pk,
    )
    assert set(by_agent) == {day["i1"], day["i5"], day["i6"]}
    hour = kpi_interactions(
        organization=org,
        filters=_day(org),
        kpi="offered",
        group_by="interval",
        interval="60m",
        group_value=at(23).isoformat(),
    )
    assert list(hour) == [day["i7"]]
    other = OrganizationFactory()
    assert kpi_interactions(organization=other, filters=_day(other), kpi="offered").count() == 0


def test_fcr_repeat_on_another_channel_within_window(day):
    """A chat handled on the 2nd whose contact e-mails 8 days later: resolved with a 7-day
    window, a repeat with a 10-day one (after a rebuild, settings apply to what is rebuilt)."""
    from apps.reports.services import rollups_rebuild

    org = day["org"]
    contact = ContactFactory(organization=org)
    story(
        organization=org,
        queue=day["queue"],
        contact=contact,
        agent=day["a"],
        channel="webchat",
        start=at(16),
        steps=[(0, Q), (5, A), (65, W), (65, C)],
    )
    story(
        organization=org,
        queue=day["queue"],
        contact=contact,
        agent=day["a"],
        channel="email",
        start=at(16 + 8 * 24),
        steps=[(0, Q), (5, A), (65, W), (65, C)],
    )
    rollups_update_all(now=D + timedelta(days=12))
    assert kpi_report(organization=org, filters=_day(org), kpis=["fcr"]).totals["fcr"] == round(
        100 * 5 / 6, 2
    )  # the 5 of the day's story + this chat resolved, of 6 handled
    ReportSettings.objects.filter(organization=org).update(fcr_days=10)
    rollups_rebuild(organization_id=org.pk)
    assert kpi_report(organization=org, filters=_day(org), kpis=["fcr"]).totals["fcr"] == round(
        100 * 4 / 6, 2
    )
    repeated = kpi_interactions(organization=org, filters=_day(org), kpi="fcr")
    assert day["i1"] in repeated  # handled: in the basis of the figure


def test_bad_arguments_are_refused(day):
    from django.core.exceptions import ValidationError

    org = day["org"]
    with pytest.raises(ValidationError):
        kpi_report(organization=org, filters=_day(org), group_by="colour")
    with pytest.raises(ValidationError):
        kpi_report(organization=org, filters=_day(org), group_by="interval")
    with pytest.raises(ValidationError):
        kpi_report(organization=org, filters=_day(org), kpis=["happiness"])
