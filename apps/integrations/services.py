"""Outbound webhooks: the outbox row written with each change, its delivery, retries, signatures.

Other apps' services call :func:`webhook_emit` inside their own transaction; each subscribed
endpoint gets a pending :class:`WebhookDelivery` row, and a task is queued after commit to post
it. A rolled-back change leaves no row and sends nothing; a lost task is picked up by the sweep.
"""

import hashlib
import hmac
import ipaddress
import json
import logging
import random
import secrets
import socket
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.features import feature_enabled, require_feature
from apps.integrations import selectors
from apps.integrations.models import EVENT_TYPE_RE, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

USER_AGENT = "ContactCenter-Webhooks/1"
TIMEOUT_SECONDS = 10
MAX_ATTEMPTS = 10
RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=6)
# How long a claimed delivery stays out of every other worker's hands: far longer than one
# attempt can take (connect and read timeouts), so two workers never post it at the same time,
# and short enough that a worker killed mid-attempt delays the delivery by minutes only.
CLAIM_LEASE = timedelta(minutes=5)
LAST_ERROR_MAX_LENGTH = 1000


# --- Endpoints ----------------------------------------------------------------------------


def _secret_generate() -> str:
    return secrets.token_urlsafe(32)


@transaction.atomic
def webhook_endpoint_create(
    *,
    organization,
    name: str,
    url: str,
    event_types: Iterable[str] = (),
    created_by=None,
    is_active: bool = True,
) -> WebhookEndpoint:
    """Register an integrator's URL; its signing secret is generated here."""
    require_feature(organization, "api")
    endpoint = WebhookEndpoint(
        organization=organization,
        name=name,
        url=url,
        event_types=list(event_types),
        secret=_secret_generate(),
        created_by=created_by,
        is_active=is_active,
    )
    endpoint.full_clean()
    endpoint.save()
    logger.info(
        "webhooks.endpoint_created",
        extra={"endpoint": endpoint.pk, "organization": organization.pk},
    )
    return endpoint


@transaction.atomic
def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    name: str | None = None,
    url: str | None = None,
    event_types: Iterable[str] | None = None,
    is_active: bool | None = None,
) -> WebhookEndpoint:
    """Change what is given (None: unchanged)."""
    changes = {"name": name, "url": url, "is_active": is_active}
    changes["event_types"] = None if event_types is None else list(event_types)
    changes = {field: value for field, value in changes.items() if value is not None}
    for field, value in changes.items():
        setattr(endpoint, field, value)
    endpoint.full_clean()
    endpoint.save(update_fields=[*changes, "updated_at"])
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Remove the endpoint with its delivery log (pending deliveries are dropped)."""
    logger.info(
        "webhooks.endpoint_deleted",
        extra={"endpoint": endpoint.pk, "organization": endpoint.organization_id},
    )
    endpoint.delete()


# --- Emitting: the outbox -----------------------------------------------------------------


def _enqueue(delivery_id: int) -> None:
    from apps.integrations.tasks import webhook_deliver_task  # tasks import this module

    webhook_deliver_task.delay(delivery_id)


@transaction.atomic
def webhook_emit(*, organization, event_type: str, data: dict) -> list[WebhookDelivery]:
    """Write one pending delivery per active endpoint subscribed to ``event_type``.

    Call it inside the transaction of the change it reports (``contact.created``…): the rows
    commit or roll back with that change. Nothing is written when the plan lacks ``api``.
    """
    if not EVENT_TYPE_RE.match(event_type):
        raise ValueError(f"Not an event type: {event_type!r}")
    if not feature_enabled(organization, "api"):
        return []
    endpoints = selectors.webhook_endpoints_receiving(
        organization=organization, event_type=event_type
    )
    if not endpoints:
        return []
    now = timezone.now()
    event_id = uuid.uuid4()
    body = {
        "id": str(event_id),
        "type": event_type,
        "created_at": now.isoformat(),
        "organization": organization.slug,
        "data": data,
    }
    # Stored as plain JSON so every attempt sends exactly what this produced.
    payload = json.loads(json.dumps(body, cls=DjangoJSONEncoder))
    deliveries = [
        WebhookDelivery.objects.create(
            organization=organization,
            endpoint=endpoint,
            event_id=event_id,
            event_type=event_type,
            payload=payload,
            next_attempt_at=now,
        )
        for endpoint in endpoints
    ]
    for delivery in deliveries:
        # robust: a broker hiccup must not fail the caller's committed change; the sweep
        # delivers what was not enqueued.
        transaction.on_commit(partial(_enqueue, delivery.pk), robust=True)
    logger.info(
        "webhooks.emitted",
        extra={
            "organization": organization.pk,
            "event_type": event_type,
            "event_id": str(event_id),
            "deliveries": len(deliveries),
        },
    )
    return deliveries


# --- Signatures -----------------------------------------------------------------------------


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>.<body>"`` with the endpoint's secret."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def webhook_signature_header(*, secret: str, body: bytes, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={webhook_signature(secret=secret, timestamp=timestamp, body=body)}"


def webhook_signature_verify(
    *,
    secret: str,
    header: str,
    body: bytes,
    tolerance_seconds: int = 300,
    now: datetime | float | None = None,
) -> bool:
    """Whether ``header`` (``X-CC-Signature``) signs ``body`` with ``secret``, recently enough.

    ``body`` is the raw request body as received. A timestamp further than
    ``tolerance_seconds`` from ``now`` fails: a captured request cannot be replayed later.
    """
    timestamp: int | None = None
    signatures: list[str] = []
    for part in (header or "").split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        return False
    if now is None:
        current = time.time()
    elif isinstance(now, datetime):
        current = now.timestamp()
    else:
        current = float(now)
    if abs(current - timestamp) > tolerance_seconds:
        return False
    expected = webhook_signature(secret=secret, timestamp=timestamp, body=body).encode()
    # Several v1 values may come (secret rotation): any valid one is enough.
    return any(hmac.compare_digest(expected, candidate.encode()) for candidate in signatures)


# --- Delivering ----------------------------------------------------------------------------


def webhook_retry_delay(*, attempts: int) -> timedelta:
    """Wait before the next try after ``attempts`` failures: 30 s, 1 min, 2 min… ≤ 6 h, +≤10 %."""
    seconds = min(RETRY_BASE.total_seconds() * 2 ** max(attempts - 1, 0), RETRY_CAP.total_seconds())
    # Jitter spreads the retries of many deliveries failing at once (an integrator outage).
    return timedelta(seconds=seconds + random.uniform(0, seconds / 10))


def webhook_body(*, delivery: WebhookDelivery) -> bytes:
    """The exact bytes posted (and signed) for a delivery."""
    return json.dumps(delivery.payload, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


@transaction.atomic
def webhook_delivery_claim(*, delivery_id: int) -> WebhookDelivery | None:
    """Take a due pending delivery for one attempt, or None when it is not to be sent now.

    The row is locked while it is checked and marked as in progress (``locked_until``), so of
    any number of concurrent workers exactly one gets it.
    """
    now = timezone.now()
    delivery = (
        WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("endpoint", "organization")
        .filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
        .first()
    )
    if delivery is None or (delivery.locked_until and delivery.locked_until > now):
        return None
    if not delivery.endpoint.is_active:
        delivery.status = WebhookDelivery.Status.FAILED
        delivery.next_attempt_at = None
        delivery.last_error = _("The endpoint is disabled.")
        delivery.save(update_fields=["status", "next_attempt_at", "last_error"])
        logger.info("webhooks.endpoint_disabled", extra={"delivery": delivery.pk})
        return None
    delivery.locked_until = now + CLAIM_LEASE
    delivery.save(update_fields=["locked_until"])
    return delivery


def _private_target(url: str) -> str:
    """Why ``url`` may not be called (an internal address), or "" when it may.

    Tenants must not use webhooks to reach the platform's own network (cloud metadata, the
    database…). Embedded installations allow it: their integrations often run on localhost.
    """
    if settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS:
        return ""
    host = urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError as exc:
        return f"cannot resolve {host}: {exc}"
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global or ip.is_multicast:
            return f"{host} resolves to a non-public address ({ip})"
    return ""


def webhook_deliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """POST a claimed delivery once (see :func:`webhook_delivery_claim`), then record the outcome.

    2xx: delivered. Anything else (status, redirect, timeout, refused connection): retried with
    exponential backoff, and given up (``failed``) after ``MAX_ATTEMPTS`` attempts.
    """
    if delivery.status != WebhookDelivery.Status.PENDING:
        return delivery
    endpoint = delivery.endpoint
    body = webhook_body(delivery=delivery)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-CC-Event": delivery.event_type,
        "X-CC-Delivery": str(delivery.pk),
        "X-CC-Signature": webhook_signature_header(secret=endpoint.secret, body=body),
    }
    status_code: int | None = None
    error = _private_target(endpoint.url)
    if error:
        return _attempt_record(delivery=delivery, status_code=None, error=error)
    try:
        # No redirects: a 3xx is the integrator's misconfiguration, and following it would let
        # an endpoint bounce our signed POST to any address.
        with requests.post(
            endpoint.url,
            data=body,
            headers=headers,
            timeout=TIMEOUT_SECONDS,
            allow_redirects=False,
            stream=True,  # only the status matters; never wait for a slow body
        ) as response:
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code} {response.reason or ''}".strip()
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"
    except Exception as exc:
        # A bad URL or a library surprise is a failed attempt too, never a stuck delivery.
        logger.exception("webhooks.attempt_crashed", extra={"delivery": delivery.pk})
        error = f"{type(exc).__name__}: {exc}"
    return _attempt_record(delivery=delivery, status_code=status_code, error=error)


@transaction.atomic
def _attempt_record(
    *, delivery: WebhookDelivery, status_code: int | None, error: str
) -> WebhookDelivery:
    now = timezone.now()
    attempts = delivery.attempts + 1
    fields: dict = {
        "attempts": attempts,
        "last_status_code": status_code,
        "last_error": error[:LAST_ERROR_MAX_LENGTH],
        "locked_until": None,
    }
    if not error:
        fields.update(status=WebhookDelivery.Status.DELIVERED, delivered_at=now)
        fields["next_attempt_at"] = None
    elif attempts >= MAX_ATTEMPTS:
        fields.update(status=WebhookDelivery.Status.FAILED, next_attempt_at=None)
    else:
        fields["next_attempt_at"] = now + webhook_retry_delay(attempts=attempts)
    updated = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=WebhookDelivery.Status.PENDING
    ).update(**fields)
    for field, value in fields.items():
        setattr(delivery, field, value)
    log = {
        "delivery": delivery.pk,
        "endpoint": delivery.endpoint_id,
        "event_type": delivery.event_type,
        "attempts": attempts,
        "status_code": status_code,
    }
    if not updated:  # the endpoint (and its log) was deleted meanwhile
        logger.info("webhooks.delivery_vanished", extra=log)
    elif not error:
        logger.info("webhooks.delivered", extra=log)
    elif delivery.status == WebhookDelivery.Status.FAILED:
        logger.warning("webhooks.gave_up", extra={**log, "error": fields["last_error"]})
    else:
        logger.info(
            "webhooks.attempt_failed",
            extra={
                **log,
                "error": fields["last_error"],
                "next_attempt_at": delivery.next_attempt_at,
            },
        )
    return delivery


@transaction.atomic
def webhook_delivery_retry(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send again now, whatever its status (an admin's or integrator's "retry now").

    Attempts keep counting: a given-up delivery that fails once more is given up again.
    """
    require_feature(delivery.organization, "api")
    now = timezone.now()
    locked = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
    if locked.locked_until and locked.locked_until > now:
        raise ValidationError(
            _("An attempt to deliver it is in progress. Try again in a few minutes."),
            code="in_progress",
        )
    locked.status = WebhookDelivery.Status.PENDING
    locked.next_attempt_at = now
    locked.delivered_at = None
    locked.save(update_fields=["status", "next_attempt_at", "delivered_at"])
    transaction.on_commit(partial(_enqueue, locked.pk), robust=True)
    logger.info("webhooks.retry_requested", extra={"delivery": locked.pk})
    return locked
