"""Outbound webhooks: where integrators want to hear about the contact center, and what was sent."""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.core.models import TenantModel, TimeStampedModel

EVENT_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")


def validate_event_types(value) -> None:
    """A list of event type strings such as ``contact.created`` (empty: every event)."""
    if not isinstance(value, list):
        raise ValidationError(_('Give a list of event types, e.g. ["contact.created"].'))
    for item in value:
        if not isinstance(item, str) or not EVENT_TYPE_RE.match(item):
            raise ValidationError(
                _("“%(value)s” is not an event type (e.g. “contact.created”)."),
                params={"value": item},
            )


class WebhookEndpoint(TenantModel, TimeStampedModel):
    """A URL of an integrator's system (CRM, ticketing, data warehouse) that receives the
    organization's events — a contact created, an interaction closed — as signed HTTP POSTs.
    """

    name = models.CharField(_("name"), max_length=100)
    url = models.URLField(
        _("URL"), max_length=500, validators=[URLValidator(schemes=["http", "https"])]
    )
    secret = models.CharField(
        _("signing secret"),
        max_length=100,
        help_text=_("The integrator verifies the X-CC-Signature header of each call with it."),
    )
    event_types = models.JSONField(
        _("event types"),
        default=list,
        blank=True,
        validators=[validate_event_types],
        help_text=_('e.g. ["contact.created", "interaction.closed"]; empty: every event.'),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("webhook endpoint")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def receives(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class WebhookDelivery(TenantModel):
    """One event on its way to one endpoint: the outbox row, written in the same transaction as
    the change it reports, and the log of every attempt to deliver it.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed (gave up)")

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.UUIDField(
        _("event id"), help_text=_("The same for every endpoint that receives this event.")
    )
    event_type = models.CharField(_("event type"), max_length=100)
    payload = models.JSONField(_("payload"), help_text=_("The full JSON body sent."))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    # Set while a worker is posting this delivery: no other worker (nor a manual retry) may
    # touch it before then. The HTTP call happens outside any transaction, so a row lock
    # cannot cover it (on SQLite it would hold the whole database's write lock).
    locked_until = models.DateTimeField(_("attempt in progress until"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(
        _("last HTTP status"), null=True, blank=True
    )
    last_error = models.TextField(_("last error"), blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at", "-id"]
        indexes = [
            # The sweep's question: which pending deliveries are due?
            models.Index(fields=["status", "next_attempt_at"], name="webhookdelivery_due_idx")
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event_id"], name="webhookdelivery_unique_event"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "delivered", "failed"]),
                name="webhookdelivery_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status="delivered") | Q(delivered_at__isnull=False),
                name="webhookdelivery_delivered_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint_id} ({self.status})"
