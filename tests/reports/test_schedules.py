"""Scheduled reports: when they run (local hours across DST), the period each covers, sending
each period exactly once, and the e-mail with its file."""

import threading
import zoneinfo
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core import mail
from django.db import connection
from django.urls import reverse
from openpyxl import load_workbook

from apps.accounts.models import Role
from apps.interactions.models import State
from apps.reports.models import ReportSubscription
from apps.reports.schedules import (
    next_run_after,
    period_dates,
    subscription_deliver,
    subscription_save,
    subscriptions_send_due,
)
from tests.factories import ContactFactory, OrganizationFactory, QueueFactory, UserFactory

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- When: local hours, across DST changes -------------------------------------------------------


def test_daily_runs_at_the_local_hour_in_a_non_utc_zone():
    # 06:00 UTC on 10 Jan is 07:00 in Paris (UTC+1): the 07:00 run of today has not passed.
    run = next_run_after(
        after=utc(2026, 1, 10, 5, 0), frequency="daily", hour=7, weekday=0, tz=PARIS
    )
    assert run == utc(2026, 1, 10, 6, 0)
    # Once it has, the next is tomorrow's.
    again = next_run_after(after=run, frequency="daily", hour=7, weekday=0, tz=PARIS)
    assert again == utc(2026, 1, 11, 6, 0)


def test_daily_keeps_its_wall_clock_hour_across_spring_forward():
    # Paris springs forward on Sunday 29 March 2026 (02:00 → 03:00): 07:00 is 06:00 UTC on
    # Saturday and 05:00 UTC on Sunday — 23 hours apart.
    saturday = next_run_after(
        after=utc(2026, 3, 28, 0, 0), frequency="daily", hour=7, weekday=0, tz=PARIS
    )
    sunday = next_run_after(after=saturday, frequency="daily", hour=7, weekday=0, tz=PARIS)
    assert saturday == utc(2026, 3, 28, 6, 0)
    assert sunday == utc(2026, 3, 29, 5, 0)
    assert sunday.astimezone(PARIS).hour == 7


def test_daily_keeps_its_wall_clock_hour_across_fall_back():
    # New York falls back on Sunday 1 November 2026: 08:00 EDT is 12:00 UTC, 08:00 EST 13:00.
    saturday = next_run_after(
        after=utc(2026, 10, 31, 0, 0), frequency="daily", hour=8, weekday=0, tz=NEW_YORK
    )
    sunday = next_run_after(after=saturday, frequency="daily", hour=8, weekday=0, tz=NEW_YORK)
    assert (saturday, sunday) == (utc(2026, 10, 31, 12, 0), utc(2026, 11, 1, 13, 0))
    assert sunday - saturday == timedelta(hours=25)


def test_an_hour_skipped_by_spring_forward_runs_an_hour_later_once():
    # 02:00 does not exist in Paris on 29 March 2026: the run happens at 03:00 local, once.
    run = next_run_after(
        after=utc(2026, 3, 28, 12, 0), frequency="daily", hour=2, weekday=0, tz=PARIS
    )
    assert run == utc(2026, 3, 29, 1, 0)
    assert run.astimezone(PARIS).hour == 3
    following = next_run_after(after=run, frequency="daily", hour=2, weekday=0, tz=PARIS)
    assert following == utc(2026, 3, 30, 0, 0)


def test_weekly_runs_on_its_weekday_across_dst():
    # Mondays at 07:00 Paris: 23 March (UTC+1) then 30 March (UTC+2).
    first = next_run_after(
        after=utc(2026, 3, 20, 0, 0), frequency="weekly", hour=7, weekday=0, tz=PARIS
    )
    second = next_run_after(after=first, frequency="weekly", hour=7, weekday=0, tz=PARIS)
    assert first == utc(2026, 3, 23, 6, 0)
    assert second == utc(2026, 3, 30, 5, 0)


def test_relative_periods():
    wednesday = date(2026, 3, 4)
    assert period_dates("yesterday", wednesday) == (date(2026, 3, 3), date(2026, 3, 3))
    assert period_dates("last_week", wednesday) == (date(2026, 2, 23), date(2026, 3, 1))
    assert period_dates("last_7_days", wednesday) == (date(2026, 2, 25), date(2026, 3, 3))
    assert period_dates("this_month", wednesday) == (date(2026, 3, 1), date(2026, 3, 4))
    assert period_dates("last_month", wednesday) == (date(2026, 2, 1), date(2026, 2, 28))


# --- Sending -------------------------------------------------------------------------------------


@pytest.fixture
def paris_org(db):
    return OrganizationFactory(time_zone="Europe/Paris")


@pytest.fixture
def manager(roles, paris_org):
    return UserFactory(organization=paris_org, roles=[Role.MANAGER], email="boss@example.com")


def _yesterday_call(org, day: date):
    """One answered call on ``day`` (Paris), counted by the KPI core's rollups."""
    from apps.reports.services import rollups_update_all
    from tests.reports.stories import story

    start = datetime(day.year, day.month, day.day, 10, tzinfo=PARIS)
    story(
        organization=org,
        contact=ContactFactory(organization=org),
        queue=QueueFactory(organization=org),
        start=start,
        steps=[(0, State.QUEUED), (5, State.OFFERED), (10, State.ACTIVE), (70, State.CLOSED)],
    )
    rollups_update_all()


def _subscription(org, user, **kwargs) -> ReportSubscription:
    subscription = ReportSubscription(
        organization=org,
        user=user,
        name="Daily queues",
        params={"period": "yesterday", "group_by": "none", "kpis": ["offered", "answered"]},
        frequency="daily",
        hour=7,
        file_format="xlsx",
        **kwargs,
    )
    return subscription_save(subscription=subscription)


def test_due_subscription_sends_the_report_of_yesterday_attached(paris_org, manager, settings):
    settings.PUBLIC_BASE_URL = "https://cc.example.com"
    _yesterday_call(paris_org, date(2026, 3, 3))
    subscription = _subscription(paris_org, manager, recipients="a@example.com, b@example.com")
    ReportSubscription.objects.filter(pk=subscription.pk).update(next_run_at=utc(2026, 3, 4, 6))

    sent = subscriptions_send_due(now=utc(2026, 3, 4, 6, 3))

    assert sent == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["a@example.com", "b@example.com"]
    assert "https://cc.example.com/reports/?" in message.body
    assert "period=yesterday" in message.body
    [(filename, content, mimetype)] = message.attachments
    assert filename.endswith("2026-03-03.xlsx")
    assert mimetype.startswith("application/vnd.openxmlformats")
    import io

    sheet = load_workbook(io.BytesIO(content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[-1][0] == "Total"
    assert rows[-1][1:] == (1, 1)  # one offered, one answered: yesterday's call
    subscription.refresh_from_db()
    assert subscription.last_sent_at == utc(2026, 3, 4, 6, 3)
    assert subscription.next_run_at == utc(2026, 3, 5, 6)  # tomorrow 07:00 Paris


def test_a_period_is_sent_once_when_a_second_run_comes(paris_org, manager):
    subscription = _subscription(paris_org, manager)
    ReportSubscription.objects.filter(pk=subscription.pk).update(next_run_at=utc(2026, 3, 4, 6))

    assert subscriptions_send_due(now=utc(2026, 3, 4, 6, 1)) == 1
    assert subscriptions_send_due(now=utc(2026, 3, 4, 6, 6)) == 0
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["boss@example.com"]


def test_a_worker_that_read_the_row_before_another_sent_it_sends_nothing(paris_org, manager):
    """Two workers read the same due row; the one that claims second finds next_run_at moved."""
    subscription = _subscription(paris_org, manager)
    due = utc(2026, 3, 4, 6)
    ReportSubscription.objects.filter(pk=subscription.pk).update(next_run_at=due)
    now = utc(2026, 3, 4, 6, 1)

    first = subscription_deliver(subscription_id=subscription.pk, claimed_run_at=due, now=now)
    second = subscription_deliver(subscription_id=subscription.pk, claimed_run_at=due, now=now)

    assert (first, second) == (True, False)
    assert len(mail.outbox) == 1


def test_a_failed_delivery_gives_the_period_back(paris_org, manager):
    subscription = _subscription(paris_org, manager)
    due = utc(2026, 3, 4, 6)
    ReportSubscription.objects.filter(pk=subscription.pk).update(next_run_at=due)
    manager.is_active = False  # nothing may be sent in their name
    manager.save(update_fields=["is_active"])
    assert subscriptions_send_due(now=utc(2026, 3, 4, 6, 1)) == 0
    subscription.refresh_from_db()
    assert subscription.next_run_at == due
    assert subscription.last_sent_at is None
    assert mail.outbox == []


def test_a_stored_filter_that_no_longer_exists_is_dropped_not_fatal(paris_org, manager):
    subscription = _subscription(paris_org, manager)
    ReportSubscription.objects.filter(pk=subscription.pk).update(
        next_run_at=utc(2026, 3, 4, 6), params={"period": "yesterday", "queues": [999999]}
    )
    assert subscriptions_send_due(now=utc(2026, 3, 4, 6, 1)) == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_send_once(roles):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL (SQLite serialises writers)")
    org = OrganizationFactory(time_zone="Europe/Paris")
    manager = UserFactory(organization=org, roles=[Role.MANAGER], email="boss@example.com")
    subscription = _subscription(org, manager)
    ReportSubscription.objects.filter(pk=subscription.pk).update(next_run_at=utc(2026, 3, 4, 6))
    barrier = threading.Barrier(4)
    results = []

    def run():
        from django.db import connection as thread_connection

        try:
            barrier.wait()
            results.append(subscriptions_send_due(now=utc(2026, 3, 4, 6, 1)))
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 0, 0, 1]
    assert len(mail.outbox) == 1


# --- Subscribing from the page -------------------------------------------------------------------


def test_subscribe_keeps_the_period_relative_and_schedules_it(paris_org, manager, client):
    queue = QueueFactory(organization=paris_org)
    client.force_login(manager)
    response = client.post(
        reverse("reports-subscribe"),
        {
            "period": "yesterday",
            "group_by": "queue",
            "queues": [queue.pk],
            "kpis": ["offered"],
            "sub-name": "Queues every morning",
            "sub-frequency": "weekly",
            "sub-weekday": "0",
            "sub-hour": "7",
            "sub-file_format": "csv",
            "sub-recipients": "",
            "sub-period": "last_week",
        },
    )
    assert response.status_code == 302
    subscription = ReportSubscription.objects.get()
    assert subscription.user == manager
    assert subscription.organization == paris_org
    assert subscription.params["period"] == "last_week"
    assert subscription.params["queues"] == [queue.pk]
    assert "start" not in subscription.params
    local = subscription.next_run_at.astimezone(PARIS)
    assert (local.weekday(), local.hour, local.minute) == (0, 7, 0)


def test_agents_cannot_subscribe(paris_org, roles, client):
    agent = UserFactory(organization=paris_org, roles=[Role.AGENT])
    client.force_login(agent)
    response = client.post(reverse("reports-subscribe"), {"sub-name": "x"})
    assert response.status_code == 403
    assert not ReportSubscription.objects.exists()


# --- The admin ----------------------------------------------------------------------------------


def test_managers_edit_their_own_subscriptions_in_the_admin(paris_org, manager, roles, client):
    other = UserFactory(organization=paris_org, roles=[Role.MANAGER])
    theirs = _subscription(paris_org, other)
    mine = _subscription(paris_org, manager)
    client.force_login(manager)
    changelist = client.get(reverse("admin:reports_reportsubscription_changelist"))
    assert changelist.status_code == 200
    assert list(changelist.context["cl"].queryset) == [mine]
    url = reverse("admin:reports_reportsubscription_change", args=[mine.pk])
    response = client.post(
        url,
        {
            "name": "Weekly",
            "user": manager.pk,
            "active": "on",
            "params": '{"period": "last_week"}',
            "frequency": "weekly",
            "weekday": "4",
            "hour": "18",
            "file_format": "csv",
            "recipients": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    mine.refresh_from_db()
    local = mine.next_run_at.astimezone(PARIS)
    assert (mine.frequency, local.weekday(), local.hour) == ("weekly", 4, 18)
    assert (
        client.get(reverse("admin:reports_reportsubscription_change", args=[theirs.pk])).status_code
        == 302
    )  # "does not exist" for them
