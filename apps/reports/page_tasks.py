"""Celery tasks of the report pages: export jobs, their purge, scheduled reports (thin: each
calls one service; every one is safe to run twice)."""

from celery import shared_task
from django.db import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

from apps.reports import exports, schedules

TRANSIENT = (ConnectionError, RedisConnectionError, OperationalError)


@shared_task(bind=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def export_job_run_task(self, job_id: int) -> None:
    try:
        exports.export_job_run(job_id=job_id)
    except TRANSIENT:
        if self.request.retries >= self.max_retries:
            exports.export_job_fail(job_id=job_id, error="gave up after retries")
        raise
    except Exception as exc:
        exports.export_job_fail(job_id=job_id, error=f"{type(exc).__name__}: {exc}")
        raise


@shared_task
def exports_purge_task() -> int:
    return exports.exports_purge()


@shared_task
def report_subscriptions_send_task() -> int:
    return schedules.subscriptions_send_due()
