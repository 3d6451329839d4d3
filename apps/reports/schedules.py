"""Scheduled reports: relative periods, when a subscription runs next, and sending the due ones.

Days and weeks are cut in the organization's time zone. A subscription's ``next_run_at`` is its
claim on the coming period: ``subscription_deliver`` moves it forward with a conditional update
(``UPDATE … WHERE next_run_at = <the value read>``) before building the file, so when two beat
workers see the same due row only one of them sends it; a failed delivery gives the claim back
so the next beat tries again.
"""

from __future__ import annotations

import logging
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import EmailMessage
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.reports.models import ReportSubscription

logger = logging.getLogger(__name__)

# Relative periods a report page or a subscription may name (the page adds "custom").
PERIODS = {
    "today": gettext_lazy("Today"),
    "yesterday": gettext_lazy("Yesterday"),
    "last_7_days": gettext_lazy("Last 7 days"),
    "this_week": gettext_lazy("This week"),
    "last_week": gettext_lazy("Last week"),
    "this_month": gettext_lazy("This month"),
    "last_month": gettext_lazy("Last month"),
}


def period_dates(period: str, today: date) -> tuple[date, date]:
    """The first and last day (both included) of a relative period seen on ``today``."""
    if period == "today":
        return today, today
    if period == "yesterday":
        day = today - timedelta(days=1)
        return day, day
    if period == "last_7_days":  # the seven full days before today
        return today - timedelta(days=7), today - timedelta(days=1)
    monday = today - timedelta(days=today.weekday())
    if period == "this_week":
        return monday, today
    if period == "last_week":
        return monday - timedelta(days=7), monday - timedelta(days=1)
    first = today.replace(day=1)
    if period == "this_month":
        return first, today
    if period == "last_month":
        last = first - timedelta(days=1)
        return last.replace(day=1), last
    raise ValueError(f"unknown period {period!r}")


def local_midnight(day: date, tz: zoneinfo.ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def day_range(first: date, last: date, tz: zoneinfo.ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of whole local days, as aware datetimes (a DST day is 23 or 25 hours)."""
    return local_midnight(first, tz), local_midnight(last + timedelta(days=1), tz)


def organization_tz(organization) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(organization.time_zone or "UTC")


def _at_local_hour(day: date, hour: int, tz: zoneinfo.ZoneInfo) -> datetime:
    """``hour`` o'clock on ``day`` in ``tz``, in UTC. A wall time skipped by a DST change
    (02:30 on a spring-forward night) is read with the offset before the change, i.e. it
    happens one hour later on the clock; a repeated one (autumn) is its first occurrence."""
    return datetime.combine(day, time(hour), tzinfo=tz).astimezone(UTC)


def next_run_after(
    *, after: datetime, frequency: str, hour: int, weekday: int, tz: zoneinfo.ZoneInfo
) -> datetime:
    """The first run strictly after ``after``: every day at ``hour`` local time, or every week
    on ``weekday`` (Monday = 0) at ``hour``. Computed on local calendar days, so a run stays at
    the same wall-clock hour across DST changes (23- or 25-hour gaps in UTC)."""
    day = after.astimezone(tz).date()
    for _step in range(15):  # at most a week and a day ahead
        if frequency == ReportSubscription.Frequency.DAILY or day.weekday() == weekday:
            candidate = _at_local_hour(day, hour, tz)
            if candidate > after:
                return candidate
        day += timedelta(days=1)
    raise AssertionError("no run within two weeks")  # pragma: no cover


def subscription_schedule(subscription: ReportSubscription, *, after: datetime) -> datetime:
    return next_run_after(
        after=after,
        frequency=subscription.frequency,
        hour=subscription.hour,
        weekday=subscription.weekday,
        tz=organization_tz(subscription.organization),
    )


def default_period(frequency: str) -> str:
    return "last_week" if frequency == ReportSubscription.Frequency.WEEKLY else "yesterday"


# --- Services ----------------------------------------------------------------------------------


def subscription_save(*, subscription: ReportSubscription) -> ReportSubscription:
    """Create or update a subscription (page or admin): its next run follows its schedule."""
    if not subscription.params.get("period"):
        subscription.params = {
            **subscription.params,
            "period": default_period(subscription.frequency),
        }
    subscription.next_run_at = subscription_schedule(subscription, after=timezone.now())
    subscription.save()
    return subscription


def subscription_delete(*, subscription: ReportSubscription) -> None:
    subscription.delete()


def report_page_url(params: dict) -> str:
    """The report page showing ``params`` (absolute when ``PUBLIC_BASE_URL`` is set)."""
    from apps.reports.forms import params_to_query

    path = reverse("reports") + "?" + urlencode(params_to_query(params), doseq=True)
    return f"{settings.PUBLIC_BASE_URL}{path}"


def _send(subscription: ReportSubscription, claimed_run_at: datetime) -> None:
    from apps.reports.exports import report_file

    filename, content, mimetype = report_file(
        organization=subscription.organization,
        params=subscription.params,
        file_format=subscription.file_format,
        today=claimed_run_at.astimezone(organization_tz(subscription.organization)).date(),
    )
    recipients = subscription.recipient_list()
    if recipients:
        message = EmailMessage(
            subject=_("%(name)s: %(file)s") % {"name": subscription.name, "file": filename},
            body=_("Your scheduled report “%(name)s” is attached.\n\nSee it online: %(url)s\n")
            % {"name": subscription.name, "url": report_page_url(subscription.params)},
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=recipients,
        )
        message.attach(filename, content, mimetype)
        message.send()


def subscription_deliver(
    *, subscription_id: int, claimed_run_at: datetime, now: datetime | None = None
) -> bool:
    """Send one due subscription if this caller wins the claim on ``claimed_run_at`` (the
    ``next_run_at`` it read). Returns whether it sent."""
    now = now or timezone.now()
    subscription = (
        ReportSubscription.objects.select_related("organization", "user")
        .filter(pk=subscription_id, active=True)
        .first()
    )
    if subscription is None:
        return False
    following = subscription_schedule(subscription, after=max(now, claimed_run_at))
    claimed = ReportSubscription.objects.filter(
        pk=subscription_id, active=True, next_run_at=claimed_run_at
    ).update(next_run_at=following)
    if not claimed:  # another worker has sent this period
        return False
    try:
        if not subscription.user.is_active:
            raise ValueError("the subscriber is no longer active")
        # The file and the e-mail in the subscriber's language (headers, "Total"…).
        with translation.override(subscription.user.effective_language):
            _send(subscription, claimed_run_at)
    except Exception:
        # Give the period back: the next beat tries again (unless someone changed the row).
        ReportSubscription.objects.filter(pk=subscription_id, next_run_at=following).update(
            next_run_at=claimed_run_at
        )
        logger.exception("reports.subscription_failed", extra={"subscription": subscription_id})
        raise
    ReportSubscription.objects.filter(pk=subscription_id).update(last_sent_at=now)
    logger.info("reports.subscription_sent", extra={"subscription": subscription_id})
    return True


def subscriptions_send_due(*, now: datetime | None = None) -> int:
    """Send every due subscription once; returns how many this call sent."""
    now = now or timezone.now()
    due = list(
        ReportSubscription.objects.filter(active=True, next_run_at__lte=now)
        .order_by("next_run_at")
        .values_list("pk", "next_run_at")
    )
    sent = 0
    for pk, run_at in due:
        # No surrounding transaction: the claim commits at once (a long transaction would hold
        # SQLite's write lock while the file is built), and a failure gives it back itself.
        try:
            sent += subscription_deliver(subscription_id=pk, claimed_run_at=run_at, now=now)
        except Exception:  # noqa: S112 (logged by subscription_deliver; the others go on)
            continue
    return sent
