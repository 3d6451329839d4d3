from celery import shared_task
from django.utils import timezone

from apps.integrations import selectors, services


@shared_task
def webhook_deliver_task(delivery_id: int) -> str:
    """One attempt at one delivery. Idempotent: only a pending, due, unclaimed delivery is sent,
    so a duplicate message (the sweep, a redelivered task) sends nothing more.
    """
    delivery = services.webhook_delivery_claim(delivery_id=delivery_id)
    if delivery is None:
        return "skipped"
    return services.webhook_deliver(delivery=delivery).status


@shared_task
def webhook_sweep_task() -> int:
    """Queue every due pending delivery: retries whose time has come, and deliveries whose
    enqueue after commit was lost (broker or worker down)."""
    due = selectors.webhook_delivery_due_ids(now=timezone.now())
    for delivery_id in due:
        webhook_deliver_task.delay(delivery_id)
    return len(due)
