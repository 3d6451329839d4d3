"""The demo's month of history: real figures in the reports, the events the facts read, once."""

from collections import Counter
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from apps.accounts.demo import demo_load
from apps.accounts.models import Organization
from apps.interactions.models import Event, Interaction, State
from apps.queues.models import Callback, Presence
from apps.reports.demo import MARK, demo_history_load
from apps.reports.models import InteractionFact
from apps.reports.selectors import ReportFilters, kpi_report
from apps.reports.services import rollups_rebuild

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(roles):
    demo_load()
    return Organization.objects.get(slug="acme")


def _last_week(organization) -> ReportFilters:
    zone = ZoneInfo(organization.time_zone)
    today = timezone.now().astimezone(zone).date()
    midnight = datetime.combine(today, time(0), tzinfo=zone)
    return ReportFilters(start=midnight - timedelta(days=7), end=midnight)


def _history(organization):
    return Interaction.objects.filter(organization=organization, provider_ref__startswith=MARK)


def test_last_week_has_real_figures_equal_to_a_full_rebuild(acme):
    filters = _last_week(acme)
    report = kpi_report(organization=acme, filters=filters, group_by="queue")
    totals = report.totals
    for kpi in ("offered", "answered", "abandoned", "aht", "asa", "service_level", "handled"):
        assert totals[kpi] and totals[kpi] > 0, kpi
    # About 40–80 a day on opening days, mostly answered, a few abandoned (some short).
    assert 200 <= totals["offered"] <= 600
    assert totals["answered"] > 0.85 * totals["offered"]
    assert 0 < totals["abandoned"] < 0.1 * totals["offered"]
    assert totals["transfers"] > 0 and totals["fcr"] < 100
    overall = kpi_report(organization=acme, filters=filters, kpis=["occupancy", "offered"])
    assert overall.totals["occupancy"] > 0  # the agents' presence was recorded
    assert {row["label"] for row in report.rows} >= {"Billing", "Technical support", "Sales"}
    by_channel = kpi_report(
        organization=acme, filters=filters, group_by="channel", kpis=["offered"]
    )
    offered = {row["group"]: row["offered"] for row in by_channel.rows}
    assert {"voice", "webchat", "email", "sms"} <= set(offered)
    assert offered["voice"] == max(offered.values())
    month = ReportFilters(start=filters.end - timedelta(days=30), end=filters.end)
    whole = kpi_report(organization=acme, filters=month)
    assert whole.totals["voicemails"] > 0 and whole.totals["callbacks"] > 0
    assert whole.totals["short_abandoned"] > 0 and whole.totals["missed_offers"] > 0
    # Each missed offer names the agent who missed it: none is left without an agent.
    by_agent = kpi_report(
        organization=acme, filters=month, group_by="agent", kpis=["missed_offers"]
    )
    missed = {row["group"]: row["missed_offers"] for row in by_agent.rows}
    assert not missed.get(None) and sum(missed.values()) == whole.totals["missed_offers"]

    rollups_rebuild()
    assert kpi_report(organization=acme, filters=filters, group_by="queue").totals == totals
    assert kpi_report(organization=acme, filters=month).totals == whole.totals


def test_the_history_is_loaded_once(acme):
    counts = (_history(acme).count(), Event.objects.count(), InteractionFact.objects.count())
    assert counts[0] > 1000
    assert demo_history_load(organization=acme) == 0
    demo_load()
    assert (_history(acme).count(), Event.objects.count(), InteractionFact.objects.count()) == (
        counts
    )


def test_history_is_in_opening_hours_with_the_events_of_the_services(acme):
    zone = ZoneInfo(acme.time_zone)
    now = timezone.now()
    history = _history(acme)
    queued = history.exclude(queued_at=None).values_list("queued_at", flat=True)
    local = [moment.astimezone(zone) for moment in queued]
    assert all(8 <= m.hour < 18 and m.weekday() != 6 for m in local)
    assert len({m.date() for m in local}) >= 25  # 30 days, Sundays closed
    assert Counter(history.values_list("state", flat=True)).keys() <= {
        State.CLOSED,
        State.ABANDONED,
    }
    events = Event.objects.filter(interaction__in=history)
    assert not events.filter(at__gte=now).exists()
    types = set(events.values_list("type", flat=True))
    assert types == {
        "interaction.created",
        "interaction.state_changed",
        "interaction.transferred",
        "voicemail.recorded",
        "callback.scheduled",
    }
    # Each interaction's state and milestones are those its state changes lead to.
    sample = history.order_by("pk")[::50]
    for interaction in sample:
        changes = list(
            interaction.events.filter(type="interaction.state_changed").order_by("at", "pk")
        )
        assert changes[-1].data["to"] == interaction.state
        assert [c.data["from"] for c in changes[1:]] == [c.data["to"] for c in changes[:-1]]
        first = {c.data["to"]: c.at for c in reversed(changes)}
        assert interaction.queued_at == first.get(State.QUEUED)
        assert interaction.answered_at == first.get(State.ACTIVE)
    # Callbacks point at the event's callback; agents end every day signed out, as they are.
    callback = Callback.objects.filter(origin__in=history).first()
    event = Event.objects.get(type="callback.scheduled", interaction=callback.origin)
    assert event.data["callback"] == callback.pk
    for presence in Presence.objects.filter(agent__organization=acme):
        last = (
            Event.objects.filter(type="presence.changed", data__agent=presence.agent_id)
            .order_by("at", "pk")
            .last()
        )
        assert last.data["to"] == presence.status == "offline"
