"""Routing tasks: thin, idempotent, by id."""

from celery import shared_task
from django.contrib.auth import get_user_model
from django.db import OperationalError

from apps.queues import services


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def route_interaction_task(interaction_id: int) -> int:
    return len(services.route_interaction(interaction_id=interaction_id))


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def route_agent_task(agent_id: int) -> int:
    agent = get_user_model().objects.filter(pk=agent_id, is_active=True).first()
    return services.route_agent_backlog(agent=agent) if agent else 0


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def offer_expire_task(offer_id: int) -> bool:
    # Eager mode runs this at once, before the deadline: then it does nothing and the sweep
    # below times the offer out.
    return services.offer_expire(offer_id=offer_id)


@shared_task
def offers_expire_task() -> int:
    return services.offers_expire_due()


@shared_task
def queues_maintain_task() -> dict:
    """Overflow, no-reply re-queues, due callbacks, and placing whatever waits."""
    return services.queues_maintain()
