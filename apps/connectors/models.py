"""Channels an organization is reached on, and what their providers send us.

A ``ChannelAccount`` is one number, page, mailbox or chat widget, with its provider's
credentials (encrypted). Inbound provider payloads are first stored as ``InboundEvent`` rows
(one per message or status, unique per provider id) and answered at once; a task turns them
into contacts, interactions and messages, and retries until it succeeds. Agent replies leave
through ``Outbound`` rows the same way: nothing is lost when a provider or a worker fails.
"""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.connectors import secrets
from apps.core.models import TenantModel, TimeStampedModel


class Kind(models.TextChoices):
    WEBCHAT = "webchat", _("Web chat")
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")
    WHATSAPP = "whatsapp", _("WhatsApp")
    MESSENGER = "messenger", _("Messenger")
    INSTAGRAM = "instagram", _("Instagram")
    X = "x", _("X (Twitter)")
    FAX = "fax", _("Fax and postal mail")
    VOICE = "voice", _("Voice (phone number)")


class ChannelAccount(TenantModel, TimeStampedModel):
    """One way customers reach the organization: an SMS number, a WhatsApp number, a
    Facebook page, an Instagram account, an X account, a mailbox, a chat widget, a fax line."""

    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)
    address = models.CharField(
        max_length=255,
        blank=True,
        help_text=_(
            "How the provider names it: the E.164 number (SMS, fax, voice), the phone number id "
            "(WhatsApp), the page id (Messenger), the account id (Instagram, X), the address "
            "(e-mail). Inbound traffic is matched on it."
        ),
    )
    key = models.UUIDField(
        default=uuid.uuid4,
        unique=True,
        editable=False,
        help_text=_("Public: in the webhook URLs and the chat widget's script tag."),
    )
    queue = models.ForeignKey(
        "queues.Queue",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Where new conversations wait for an agent."),
    )
    config = models.JSONField(
        default=dict,
        blank=True,
        help_text=_("Settings that are not secret (greeting, help text, signature, hosts…)."),
    )
    sealed_secrets = models.TextField(blank=True, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "address"],
                condition=~Q(address=""),
                name="channelaccount_unique_address",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def secret(self, name: str, default: str = "") -> str:
        """A credential: decrypted, or read from the environment variable it names."""
        value = secrets.unseal(self.sealed_secrets).get(name, default)
        return secrets.resolve(value) if value else default

    def secret_names(self) -> list[str]:
        return sorted(secrets.unseal(self.sealed_secrets))

    def set_secrets(self, values: dict[str, str]) -> None:
        """Replace the given credentials (an empty value keeps the stored one)."""
        current = secrets.unseal(self.sealed_secrets)
        current.update({k: v for k, v in values.items() if v})
        self.sealed_secrets = secrets.seal(current)


class InboundEvent(TenantModel):
    """One message or status a provider sent, stored before anything else happens."""

    class Status(models.TextChoices):
        PENDING = "pending", _("To process")
        DONE = "done", _("Processed")
        IGNORED = "ignored", _("Ignored")
        FAILED = "failed", _("Failed, will retry")
        DEAD = "dead", _("Failed, gave up")

    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="inbound")
    kind = models.CharField(max_length=20, help_text=_("message, status, …"))
    external_id = models.CharField(max_length=255, help_text=_("The provider's id for it."))
    payload = models.JSONField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            # The same delivery sent twice (or twenty times at once) is stored once.
            models.UniqueConstraint(
                fields=["account", "kind", "external_id"], name="inboundevent_unique"
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.account} {self.kind} {self.external_id}"


class Outbound(TenantModel):
    """A message on its way to the customer through the provider (the outbox)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("To send")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed, will retry")
        DEAD = "dead", _("Failed, gave up")

    message = models.OneToOneField(
        "interactions.Message", on_delete=models.CASCADE, related_name="outbound"
    )
    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="outbound")
    to = models.CharField(max_length=255)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.message_id} → {self.to} ({self.get_status_display()})"


class MailboxState(TenantModel):
    """Where IMAP polling of one mailbox stands: the folder's UIDVALIDITY and the last UID
    taken. A new UIDVALIDITY voids the UIDs: the next poll takes the unseen messages again
    (what was already stored is recognised by its Message-ID)."""

    account = models.OneToOneField(
        ChannelAccount, on_delete=models.CASCADE, related_name="mailbox_state"
    )
    uidvalidity = models.BigIntegerField(null=True, blank=True)
    last_uid = models.BigIntegerField(default=0)
    polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"{self.account} UIDVALIDITY {self.uidvalidity} UID {self.last_uid}"
