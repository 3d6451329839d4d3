"""Beat tasks of the live wallboard and alerts: thin and idempotent."""

from smtplib import SMTPException

from celery import shared_task
from django.db import OperationalError

from apps.reports import alerts, live
from apps.reports.models import AlertIncident


@shared_task
def wallboard_tick_task() -> int:
    """Open wallboards re-read their figures (longest waits count up, today rolls over)."""
    return live.wallboards_tick()


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def alerts_evaluate_task() -> dict:
    return alerts.alerts_evaluate()


@shared_task(autoretry_for=(SMTPException, ConnectionError), retry_backoff=True, max_retries=5)
def alert_email_task(incident_id: int, kind: str) -> int:
    incident = (
        AlertIncident.objects.select_related("rule__queue", "organization")
        .filter(pk=incident_id)
        .first()
    )
    return alerts.alert_email_send(incident=incident, kind=kind) if incident else 0
