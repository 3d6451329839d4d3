"""Missed offers count for the agent who missed them when the agent dimension matters.

Agent A lets an offer time out, agent B declines it, agent C then handles the interaction:
grouped by agent (or team, or filtered by agents) A and B have missed one offer each and C
none; grouped by queue (or not at all) the interaction's two missed offers count.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from apps.accounts.models import Role
from apps.interactions.models import State
from apps.interactions.services import interaction_transition
from apps.reports.kpis import KPIS
from apps.reports.models import (
    DailyAgentRollup,
    DailyRollup,
    InteractionFact,
    IntervalRollup,
    MissedOfferFact,
    MissedOfferRollup,
)
from apps.reports.selectors import ReportFilters, kpi_interactions, kpi_report
from apps.reports.services import rollups_rebuild, rollups_update, rollups_update_all
from tests.factories import (
    ContactFactory,
    OrganizationFactory,
    QueueFactory,
    TeamFactory,
    UserFactory,
)
from tests.reports.stories import offer_missed, presence, story

PARIS = ZoneInfo("Europe/Paris")
D = datetime(2026, 3, 2, tzinfo=PARIS)  # a Monday, local midnight


def at(hours: float) -> datetime:
    return D + timedelta(hours=hours)


@pytest.fixture
def missed(roles):
    """I1 queued 10:00; offered to A 10:00:05, timed out 10:00:15 (an event of before the
    agent was named: only the offer says who); offered to B 10:00:20, declined 10:00:30;
    offered to C 10:00:35, answered 10:00:40, wrap-up 10:05, closed 10:05:30.
    I2 queued 14:00, offered to A and answered at once, closed 14:10 (A handles one).
    Team T: A and B. Team U: C. The three agents are available 09:00–17:00."""
    org = OrganizationFactory(time_zone="Europe/Paris")
    queue = QueueFactory(organization=org, sla_seconds=20)
    a, b, c = (UserFactory(organization=org, roles=[Role.AGENT]) for _ in range(3))
    team, other_team = TeamFactory(organization=org), TeamFactory(organization=org)
    team.members.set([a, b])
    other_team.members.set([c])
    i1 = story(
        organization=org,
        queue=queue,
        contact=ContactFactory(organization=org),
        agent=c,
        start=at(10),
        steps=[(0, State.QUEUED)],
    )
    offer_missed(
        interaction=i1,
        agent=a,
        reason="timed_out",
        at=at(10) + timedelta(seconds=5),
        names_agent=False,
    )
    offer_missed(interaction=i1, agent=b, reason="rejected", at=at(10) + timedelta(seconds=20))
    for seconds, state in (
        (35, State.OFFERED),
        (40, State.ACTIVE),
        (300, State.WRAP_UP),
        (330, State.CLOSED),
    ):
        interaction_transition(interaction=i1, to=state, at=at(10) + timedelta(seconds=seconds))
    i2 = story(
        organization=org,
        queue=queue,
        contact=ContactFactory(organization=org),
        agent=a,
        start=at(14),
        steps=[(0, State.QUEUED), (2, State.OFFERED), (5, State.ACTIVE), (600, State.CLOSED)],
    )
    for agent in (a, b, c):
        presence(organization=org, agent=agent, changes=[(at(9), "available"), (at(17), "offline")])
    return {
        "org": org,
        "queue": queue,
        "a": a,
        "b": b,
        "c": c,
        "team": team,
        "other_team": other_team,
        "i1": i1,
        "i2": i2,
    }


NOW = D + timedelta(days=2)
WHOLE_DAY = ReportFilters(start=D, end=D + timedelta(days=1))  # reads the day rollups
# Ending a microsecond before midnight makes a report read the 15-minute rollups.
BUCKETS = ReportFilters(start=D, end=D + timedelta(days=1) - timedelta(microseconds=1))


def _missed(org, filters, group_by, **kwargs) -> dict:
    table = kpi_report(
        organization=org,
        filters=filters,
        group_by=group_by,
        kpis=["missed_offers", "handled"],
        **kwargs,
    )
    return {row["group"]: row["missed_offers"] for row in table.rows} | {
        "total": table.totals["missed_offers"]
    }


@pytest.mark.parametrize("filters", [WHOLE_DAY, BUCKETS], ids=["days", "15m"])
def test_missed_offers_count_for_the_agent_who_missed_them(missed, filters):
    rollups_update_all(now=NOW)
    org, a, b, c = missed["org"], missed["a"], missed["b"], missed["c"]
    assert _missed(org, filters, "agent") == {a.pk: 1, b.pk: 1, c.pk: 0, "total": 2}
    assert _missed(org, filters, "team") == {
        missed["team"].pk: 2,
        missed["other_team"].pk: 0,
        "total": 2,
    }
    # Per interaction where the agent does not matter: the queue's interaction missed twice.
    assert _missed(org, filters, "queue") == {missed["queue"].pk: 2, "total": 2}
    assert _missed(org, filters, "none") == {None: 2, "total": 2}
    # Filtered by agents or teams: the offers those agents missed.
    only_c = ReportFilters(start=filters.start, end=filters.end, agents=[c.pk])
    assert _missed(org, only_c, "none") == {None: 0, "total": 0}
    only_a = ReportFilters(start=filters.start, end=filters.end, agents=[a.pk])
    assert _missed(org, only_a, "queue") == {missed["queue"].pk: 1, "total": 1}
    team_t = ReportFilters(start=filters.start, end=filters.end, teams=[missed["team"].pk])
    assert _missed(org, team_t, "agent") == {a.pk: 1, b.pk: 1, "total": 2}
    # By agent and interval: in the interval the interaction was offered.
    by_hour = kpi_report(
        organization=org,
        filters=filters,
        group_by="agent",
        interval="60m",
        kpis=["missed_offers"],
    )
    ten = at(10).isoformat()
    assert {(r["group"], r["interval"]): r["missed_offers"] for r in by_hour.rows} == {
        (a.pk, ten): 1,
        (b.pk, ten): 1,
        (c.pk, ten): 0,
        (a.pk, at(14).isoformat()): 0,
    }


@pytest.mark.parametrize("group_by", ["none", "agent", "team", "queue", "channel"])
def test_day_and_15_minute_reports_agree(missed, group_by):
    rollups_update_all(now=NOW)
    org = missed["org"]
    by_day = kpi_report(organization=org, filters=WHOLE_DAY, group_by=group_by)
    by_bucket = kpi_report(organization=org, filters=BUCKETS, group_by=group_by)
    assert by_day.rows == by_bucket.rows
    assert by_day.totals == by_bucket.totals
    assert by_day.totals["missed_offers"] == 2


def _snapshot():
    def rows(model):
        return sorted(
            (
                tuple(sorted((k, v) for k, v in row.items() if k != "id"))
                for row in model.objects.values()
            ),
            key=repr,
        )

    return [
        rows(model)
        for model in (
            InteractionFact,
            MissedOfferFact,
            IntervalRollup,
            MissedOfferRollup,
            DailyRollup,
            DailyAgentRollup,
        )
    ]


def test_incremental_updates_equal_a_rebuild(missed):
    a, b = missed["a"], missed["b"]
    while rollups_update(now=NOW, batch=2)["more"]:  # a few events at a time: rows revisited
        pass
    once = _snapshot()
    assert sorted(
        MissedOfferRollup.objects.values_list("agent_id", "missed_offers", "bucket")
    ) == sorted([(a.pk, 1, at(10)), (b.pk, 1, at(10))])
    assert dict(
        DailyAgentRollup.objects.filter(missed_offers__gt=0).values_list(
            "agent_id", "missed_offers"
        )
    ) == {a.pk: 1, b.pk: 1}
    rollups_update(now=NOW)
    assert _snapshot() == once  # nothing new: nothing changes
    rollups_rebuild(now=NOW)
    assert _snapshot() == once
    rollups_rebuild(now=NOW, start=at(9), end=at(11))
    assert _snapshot() == once


def test_drill_down_lists_the_interactions_the_agent_missed(missed):
    rollups_update_all(now=NOW)
    org, i1 = missed["org"], missed["i1"]

    def listed(group_by="agent", group_value=None, filters=WHOLE_DAY):
        return list(
            kpi_interactions(
                organization=org,
                filters=filters,
                kpi="missed_offers",
                group_by=group_by,
                group_value=group_value,
            )
        )

    assert listed(group_value=missed["a"].pk) == [i1]
    assert listed(group_value=missed["b"].pk) == [i1]
    assert listed(group_value=missed["c"].pk) == []
    assert listed("team", missed["team"].pk) == [i1]
    assert listed("team", missed["other_team"].pk) == []
    assert listed("queue", missed["queue"].pk) == [i1]
    only_b = ReportFilters(start=D, end=D + timedelta(days=1), agents=[missed["b"].pk])
    assert listed("none", filters=only_b) == [i1]
    only_c = ReportFilters(start=D, end=D + timedelta(days=1), agents=[missed["c"].pk])
    assert listed("none", filters=only_c) == []


def test_formula_says_how_missed_offers_are_attributed():
    assert "agent who missed" in str(KPIS["missed_offers"].formula)
