"""Reads of webhook endpoints and deliveries, scoped to an organization (except the sweep's)."""

from datetime import datetime

from django.db.models import Q, QuerySet

from apps.integrations.models import WebhookDelivery, WebhookEndpoint


def webhook_endpoint_list(*, organization) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.for_organization(organization).select_related("created_by")


def webhook_endpoints_receiving(*, organization, event_type: str) -> list[WebhookEndpoint]:
    """Active endpoints of the organization subscribed to ``event_type`` (or to every event)."""
    # An organization has a handful of endpoints: filtering the JSON list in Python works the
    # same on SQLite and PostgreSQL.
    endpoints = WebhookEndpoint.objects.for_organization(organization).filter(is_active=True)
    return [endpoint for endpoint in endpoints if endpoint.receives(event_type)]


def webhook_delivery_list(*, organization) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.for_organization(organization).select_related("endpoint")


def webhook_delivery_due_ids(*, now: datetime, limit: int = 500) -> list[int]:
    """Pending deliveries whose attempt is due, oldest first, across every organization.

    Platform-wide on purpose: only the sweep task asks, and it hands ids to the delivery task.
    """
    return list(
        WebhookDelivery.objects.filter(
            Q(locked_until__isnull=True) | Q(locked_until__lte=now),
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at__lte=now,
        )
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )
