"""Alerts: rules on live figures open an incident per breach, notify once, and resolve on recovery.

Each rule is evaluated under a row lock on the rule, and the database allows one open incident
per rule: two evaluations at once (two beat ticks, a worker retry) notify once.
"""

import logging
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from apps.accounts.models import Organization, Role
from apps.core.realtime import organization_group, publish
from apps.notifications.models import Notification
from apps.notifications.services import notification_send
from apps.reports.live import LiveBoard, live_board, organization_zone
from apps.reports.models import AlertIncident, AlertRule, LiveMetric

logger = logging.getLogger(__name__)

OPENED, SILENT, RESOLVED, ONGOING, NORMAL = "opened", "silent", "resolved", "ongoing", "normal"


def alert_recipients(*, rule: AlertRule):
    """The organization's active supervisors, and its managers when the rule says so."""
    roles = [Role.SUPERVISOR, *([Role.MANAGER] if rule.notify_managers else [])]
    return (
        get_user_model()
        .objects.filter(
            organization_id=rule.organization_id, is_active=True, groups__name__in=roles
        )
        .select_related("organization")
        .distinct()
        .order_by("pk")
    )


def _describe(rule: AlertRule, value) -> str:
    """The breach in words, in the active language."""
    where = rule.queue.name if rule.queue_id else _("all queues")
    figures = {"value": _number(value), "threshold": _number(rule.threshold), "where": where}
    if rule.metric == LiveMetric.SERVICE_LEVEL:
        text = _("Service level today is %(value)s %% (alert below %(threshold)s %%), %(where)s.")
    elif rule.metric == LiveMetric.WAITING:
        text = _("%(value)s waiting (alert above %(threshold)s), %(where)s.")
    elif rule.metric == LiveMetric.LONGEST_WAIT:
        text = _("Longest wait %(value)s s (alert above %(threshold)s s), %(where)s.")
    else:
        text = _("Abandonment today is %(value)s %% (alert above %(threshold)s %%), %(where)s.")
    return text % figures


def _number(value) -> str:
    if value is None:
        return "—"
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _notify(*, incident: AlertIncident, recovered: bool) -> None:
    """In-app notification to each recipient now (live on their pages), e-mail after commit."""
    rule = incident.rule
    url = reverse("reports-wallboard")
    recipients = list(incident.recipients.all()) if recovered else list(alert_recipients(rule=rule))
    if not recovered:
        incident.recipients.set(recipients)
    for user in recipients:
        with translation.override(user.effective_language):
            if recovered:
                title = _("Back to normal: %(rule)s") % {"rule": rule.name}
                body = _describe(rule, incident.resolved_value)
            else:
                title = _("Alert: %(rule)s") % {"rule": rule.name}
                body = _describe(rule, incident.value)
        notification_send(
            recipient=user,
            title=title,
            body=body,
            url=url,
            level=Notification.Level.SUCCESS if recovered else Notification.Level.ALERT,
        )
    from apps.reports.live_tasks import alert_email_task

    kind = RESOLVED if recovered else OPENED
    transaction.on_commit(lambda: alert_email_task.delay(incident.pk, kind))


def alert_email_send(*, incident: AlertIncident, kind: str) -> int:
    """One e-mail per recipient with an address, in their language; returns how many."""
    from django.conf import settings
    from django.core.mail import EmailMessage, get_connection

    rule = incident.rule
    messages = []
    for user in incident.recipients.filter(is_active=True).exclude(email=""):
        with translation.override(user.effective_language):
            if kind == RESOLVED:
                subject = _("Back to normal: %(rule)s") % {"rule": rule.name}
                body = _describe(rule, incident.resolved_value)
            else:
                subject = _("Alert: %(rule)s") % {"rule": rule.name}
                body = _describe(rule, incident.value)
            when = timezone.localtime(
                incident.resolved_at if kind == RESOLVED else incident.opened_at,
                timezone=organization_zone(incident.organization),
            )
            body += "\n\n" + _("At %(time)s. The wallboard: %(url)s") % {
                "time": when.strftime("%Y-%m-%d %H:%M"),
                "url": reverse("reports-wallboard"),
            }
        messages.append(
            EmailMessage(
                subject=subject,
                body=body,
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=[user.email],
            )
        )
    if not messages:
        return 0
    return get_connection().send_messages(messages) or 0


def _board_changed(organization_id: int) -> None:
    publish(
        group=organization_group(organization_id), event="wallboard.changed", data={"alerts": True}
    )


@transaction.atomic
def alert_rule_evaluate(*, rule: AlertRule, board: LiveBoard, now=None) -> str:
    """Open, keep, or resolve the rule's incident from the board's figure. Returns what happened:
    ``opened`` (notified), ``silent`` (opened inside the cooldown), ``ongoing``, ``resolved`` or
    ``normal``."""
    now = now or timezone.now()
    # Evaluations of one rule take turns (PostgreSQL row lock; SQLite serialises writers).
    rule = (
        AlertRule.objects.select_for_update(of=("self",))
        .select_related("queue", "organization")
        .filter(pk=rule.pk, is_active=True)
        .first()
    )
    if rule is None:
        return NORMAL
    row = board.row_for(rule.queue_id)
    value = row.value(rule.metric) if row is not None else None
    incident = AlertIncident.objects.filter(rule=rule, resolved_at__isnull=True).first()
    if rule.breached(value):
        if incident is not None:  # told already: once per breach
            return ONGOING
        return _incident_open(rule=rule, value=value, now=now)
    if incident is None:
        return NORMAL
    incident.resolved_at = now
    incident.resolved_value = value
    incident.save(update_fields=["resolved_at", "resolved_value"])
    if incident.notified_at is not None and rule.notify_recovery:
        _notify(incident=incident, recovered=True)
    _board_changed(rule.organization_id)
    logger.info("alerts.resolved", extra={"incident": incident.pk, "rule": rule.pk})
    return RESOLVED


def _incident_open(*, rule: AlertRule, value, now) -> str:
    last_notice = (
        AlertIncident.objects.filter(rule=rule, notified_at__isnull=False)
        .order_by("-notified_at")
        .values_list("notified_at", flat=True)
        .first()
    )
    quiet = last_notice is not None and now - last_notice < timedelta(minutes=rule.cooldown_minutes)
    try:
        with transaction.atomic():
            incident = AlertIncident.objects.create(
                organization_id=rule.organization_id,
                rule=rule,
                queue=rule.queue,
                opened_at=now,
                value=value,
                notified_at=None if quiet else now,
            )
    except IntegrityError:  # another evaluation opened it first (and told everyone)
        return ONGOING
    if not quiet:
        _notify(incident=incident, recovered=False)
    _board_changed(rule.organization_id)
    logger.info("alerts.opened", extra={"incident": incident.pk, "rule": rule.pk, "quiet": quiet})
    return SILENT if quiet else OPENED


def alerts_evaluate(*, organization=None, now=None) -> dict[str, int]:
    """Every active rule of every active organization (or of one), against one board per
    organization. Returns how many rules ended in each outcome."""
    now = now or timezone.now()
    rules = AlertRule.objects.filter(is_active=True, organization__is_active=True)
    if organization is not None:
        rules = rules.filter(organization=organization)
    outcomes: dict[str, int] = {}
    by_org: dict[int, list[AlertRule]] = {}
    for rule in rules.order_by("organization_id", "pk"):
        by_org.setdefault(rule.organization_id, []).append(rule)
    # A rule switched off meanwhile: its open incident ends (silently).
    AlertIncident.objects.filter(resolved_at__isnull=True, rule__is_active=False).update(
        resolved_at=now
    )
    for org in Organization.objects.filter(pk__in=list(by_org)):
        board = live_board(organization=org, now=now)
        for rule in by_org[org.pk]:
            outcome = alert_rule_evaluate(rule=rule, board=board, now=now)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes
