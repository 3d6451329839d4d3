"""Report tasks: thin and idempotent."""

from celery import shared_task
from django.db import OperationalError

from apps.reports import services


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def reports_rollup_task() -> int:
    """Fold the events written since the last run into facts and rollups (beat, every minute)."""
    return services.rollups_update_all()
