"""Interactions: every customer contact on every channel, what was said, and what happened."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.models import TenantModel, TimeStampedModel
from apps.core.validators import validate_texts_by_language


class Channel(models.TextChoices):
    VOICE = "voice", _("Voice")
    SMS = "sms", _("SMS")
    EMAIL = "email", _("E-mail")
    WEBCHAT = "webchat", _("Web chat")
    WHATSAPP = "whatsapp", _("WhatsApp")
    MESSENGER = "messenger", _("Messenger")
    INSTAGRAM = "instagram", _("Instagram")
    X = "x", _("X (Twitter)")
    VIDEO = "video", _("Video")
    FAX = "fax", _("Fax")
    MAIL = "mail", _("Postal mail")


class Direction(models.TextChoices):
    INBOUND = "inbound", _("Inbound")
    OUTBOUND = "outbound", _("Outbound")


class State(models.TextChoices):
    NEW = "new", _("New")
    QUEUED = "queued", _("Queued")
    OFFERED = "offered", _("Offered")
    ACTIVE = "active", _("Active")
    ON_HOLD = "on_hold", _("On hold")
    WRAP_UP = "wrap_up", _("Wrap-up")
    CLOSED = "closed", _("Closed")
    ABANDONED = "abandoned", _("Abandoned")
    VOICEMAIL = "voicemail", _("Voicemail")
    CALLBACK_SCHEDULED = "callback_scheduled", _("Callback scheduled")


OPEN_STATES = (State.NEW, State.QUEUED, State.OFFERED, State.ACTIVE, State.ON_HOLD, State.WRAP_UP)


class Disposition(TenantModel):
    """How an interaction ended, chosen at wrap-up ("Resolved", "Sale", "Call back")."""

    class Outcome(models.TextChoices):
        RESOLVED = "resolved", _("Resolved")
        UNRESOLVED = "unresolved", _("Not resolved")
        SALE = "sale", _("Sale")
        NO_SALE = "no_sale", _("No sale")
        FOLLOW_UP = "follow_up", _("Follow-up needed")
        OTHER = "other", _("Other")

    code = models.SlugField(max_length=50)
    name = models.CharField(max_length=100)
    outcome = models.CharField(max_length=12, choices=Outcome.choices, default=Outcome.OTHER)
    requires_note = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "code"], name="disposition_unique_code")
        ]

    def __str__(self) -> str:
        return self.name


class CannedResponse(TenantModel):
    """A prepared reply agents insert in the composer. ``{{ contact.first_name }}``,
    ``{{ contact.last_name }}``, ``{{ agent.first_name }}`` and ``{{ organization.name }}``
    are filled in for the conversation at hand."""

    title = models.CharField(max_length=100)
    shortcut = models.SlugField(max_length=50, help_text=_("Typed after / in the composer."))
    body = models.TextField()
    language = models.CharField(max_length=10, blank=True, help_text=_("Empty: any language."))
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["title"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "shortcut"], name="cannedresponse_unique_shortcut"
            )
        ]

    def __str__(self) -> str:
        return self.title


class Interaction(TenantModel, TimeStampedModel):
    """One contact with a customer on one channel: a call, a chat, an e-mail or SMS thread.

    A conversation that moves to another channel becomes a new interaction that ``continues``
    the previous one, so the whole story stays linked.
    """

    channel = models.CharField(max_length=12, choices=Channel.choices)
    direction = models.CharField(max_length=8, choices=Direction.choices)
    state = models.CharField(max_length=20, choices=State.choices, default=State.NEW)
    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.PROTECT, related_name="interactions"
    )
    identity = models.ForeignKey(
        "contacts.Identity",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="interactions",
        help_text=_("The address the customer used (number, e-mail, handle)."),
    )
    queue = models.ForeignKey(
        "queues.Queue", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    assigned_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_interactions",
    )
    preferred_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Routing waits a while for this agent (the customer's last) before others."),
    )
    channel_account = models.ForeignKey(
        "connectors.ChannelAccount",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("The number, page, mailbox or widget it came through (replies leave by it)."),
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    flow = models.ForeignKey(
        "flows.Flow", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    continues = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="continuations",
        help_text=_("The interaction on another channel that this one carries on."),
    )
    subject = models.CharField(max_length=255, blank=True)
    reason = models.CharField(max_length=100, blank=True, help_text=_("Why the customer came."))
    priority = models.IntegerField(default=0)
    language = models.CharField(max_length=10, blank=True)
    provider_ref = models.CharField(
        max_length=255, blank=True, help_text=_("The provider's id: call SID, thread id…")
    )
    disposition = models.ForeignKey(
        Disposition, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    wrap_up_notes = models.TextField(blank=True)
    tags = models.ManyToManyField("contacts.Tag", blank=True, related_name="interactions")
    data = models.JSONField(default=dict, blank=True, help_text=_("Channel-specific details."))
    # The waiting line's order: when the customer queued, minus a minute per priority point, so
    # priority and waiting time weigh together, VIPs go first, and a re-queue keeps the place.
    routing_rank = models.DateTimeField(null=True, blank=True)
    # Milestones kept on the row for fast lists; the Event log is the full record.
    queued_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "channel", "provider_ref"],
                condition=~Q(provider_ref=""),
                name="interaction_unique_provider_ref",
            )
        ]
        indexes = [
            models.Index(fields=["organization", "state"]),
            models.Index(fields=["contact", "-created_at"]),
            models.Index(fields=["assigned_agent", "state"]),
            # The queue's waiting line (see routing_rank).
            models.Index(fields=["queue", "state", "routing_rank"]),
            # Today's figures of a queue (the wallboard, queue statistics, alerts): a range on
            # queued_at per queue instead of every row the queue ever had.
            models.Index(fields=["queue", "queued_at"], name="interaction_queue_queued_at"),
        ]
        permissions = [("supervise_interaction", "Can assign and move interactions")]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class Message(TenantModel):
    """One message of a digital interaction (chat line, e-mail, SMS) or a system line in it."""

    class Author(models.TextChoices):
        CONTACT = "contact", _("Customer")
        AGENT = "agent", _("Agent")
        BOT = "bot", _("Bot")
        SYSTEM = "system", _("System")

    class Delivery(models.TextChoices):
        RECEIVED = "received", _("Received")
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        DELIVERED = "delivered", _("Delivered")
        READ = "read", _("Read")
        FAILED = "failed", _("Failed")

    interaction = models.ForeignKey(Interaction, on_delete=models.CASCADE, related_name="messages")
    # Denormalised from the interaction so that provider ids are unique per channel.
    channel = models.CharField(max_length=12, choices=Channel.choices)
    direction = models.CharField(max_length=8, choices=Direction.choices)
    author_kind = models.CharField(max_length=8, choices=Author.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    body = models.TextField(blank=True)
    content = models.JSONField(
        default=dict, blank=True, help_text=_("Rich content: buttons, location, template, HTML.")
    )
    provider_id = models.CharField(max_length=255, blank=True)
    delivery_status = models.CharField(max_length=10, choices=Delivery.choices)
    error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # The same provider message delivered twice is stored once.
            models.UniqueConstraint(
                fields=["organization", "channel", "provider_id"],
                condition=~Q(provider_id=""),
                name="message_unique_provider_id",
            )
        ]

    def __str__(self) -> str:
        return self.body[:50] or f"{self.get_author_kind_display()} #{self.pk}"


def attachment_path(instance, filename: str) -> str:
    return f"attachments/{instance.organization_id}/{uuid.uuid4().hex}/{filename}"


class Attachment(TenantModel):
    """A file sent or received in a message (photo, PDF, voice note, fax page)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100, blank=True)
    size = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return self.filename


class InteractionNote(TenantModel):
    """An internal note on an interaction: other agents see it, the customer never does."""

    interaction = models.ForeignKey(Interaction, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.body[:50]


class Participant(TenantModel):
    """A colleague its agent brings into a live interaction.

    Consulted, they read the conversation and talk with the agent in its internal notes; in
    conference they also write to the customer. A warm transfer is a consult that ends with
    them taking the interaction over. (Voice legs of the same consult or conference join here.)
    """

    class Mode(models.TextChoices):
        CONSULT = "consult", _("Consult")
        CONFERENCE = "conference", _("Conference")

    class Status(models.TextChoices):
        INVITED = "invited", _("Invited")
        JOINED = "joined", _("Joined")
        DECLINED = "declined", _("Declined")
        CANCELLED = "cancelled", _("Cancelled")
        LEFT = "left", _("Left")
        TOOK_OVER = "took_over", _("Took over")

    ACTIVE = (Status.INVITED, Status.JOINED)

    interaction = models.ForeignKey(
        Interaction, on_delete=models.CASCADE, related_name="participants"
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="participations"
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.CONSULT)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.INVITED)
    for_transfer = models.BooleanField(
        default=False, help_text=_("Invited to take the interaction over (warm transfer).")
    )
    note = models.TextField(blank=True)
    invited_at = models.DateTimeField(default=timezone.now)
    joined_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["invited_at", "id"]
        constraints = [
            # One invitation or presence per colleague at a time.
            models.UniqueConstraint(
                fields=["interaction", "agent"],
                condition=Q(status__in=["invited", "joined"]),
                name="participant_one_active",
            )
        ]
        indexes = [models.Index(fields=["agent", "status"])]

    def __str__(self) -> str:
        return f"{self.agent} in {self.interaction} ({self.get_mode_display()})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    def end(self, at) -> None:
        """Leave (or, still invited, have the invitation cancelled) and save."""
        invited = self.status == self.Status.INVITED
        self.status = self.Status.CANCELLED if invited else self.Status.LEFT
        self.ended_at = at
        self.save(update_fields=["status", "ended_at"])


class AppendOnly(Exception):
    """Events are history: they are added, never changed."""


class Event(TenantModel):
    """One thing that happened, for ever: a state change, an offer, a merge, a transfer.

    Reports are computed from events. Rows are only ever inserted.
    """

    class ActorKind(models.TextChoices):
        SYSTEM = "system", _("System")
        USER = "user", _("User")
        CONTACT = "contact", _("Customer")
        API = "api", _("API")

    interaction = models.ForeignKey(
        Interaction, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    type = models.CharField(max_length=60, db_index=True)
    actor_kind = models.CharField(max_length=8, choices=ActorKind.choices, default=ActorKind.SYSTEM)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now, db_index=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["organization", "type", "at"])]

    def __str__(self) -> str:
        return f"{self.type} at {self.at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnly("events cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnly("events cannot be deleted")


# --- Call recordings ----------------------------------------------------------------------------


class RecordingMode(models.TextChoices):
    ANNOUNCE = "announce", _("Announce and record")
    OFF = "off", _("No recording")


class RecordingPolicy(TenantModel):
    """An organization's rules for call recordings: whether queues record by default (after
    the consent announcement, in the caller's language) and how long recordings are kept."""

    mode = models.CharField(
        _("queues record calls"),
        max_length=10,
        choices=RecordingMode.choices,
        default=RecordingMode.OFF,
        help_text=_("Default for queues that do not choose; a queue can choose otherwise."),
    )
    consent_message = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_texts_by_language],
        help_text=_(
            'Played before recording starts, by language: {"en": "This call is recorded.", '
            '"fr": "Cet appel est enregistré."}. Empty: the standard sentence.'
        ),
    )
    retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_("Recordings older than this are purged (file deleted). Empty: kept."),
    )

    class Meta:
        verbose_name_plural = _("recording policies")
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="recordingpolicy_one_per_org")
        ]

    def __str__(self) -> str:
        return str(_("Recording policy"))


def recording_path(instance, filename: str) -> str:
    return f"recordings/{instance.organization_id}/{uuid.uuid4().hex}/{filename}"


class Recording(TenantModel, TimeStampedModel):
    """The audio of (part of) a call, recorded by the telephony provider: automatically for a
    queue or from the answer, or on demand by the agent. The file is copied into our storage
    (played without provider credentials); purging deletes it and keeps the row."""

    class Status(models.TextChoices):
        IN_PROGRESS = "in-progress", _("Recording")
        PAUSED = "paused", _("Paused")
        STOPPED = "stopped", _("Stopped")
        COMPLETED = "completed", _("Completed")
        ABSENT = "absent", _("No audio")
        PURGED = "purged", _("Purged")

    class Source(models.TextChoices):
        AUTO = "auto", _("Automatic")
        ON_DEMAND = "on_demand", _("On demand")
        VOICEMAIL = "voicemail", _("Voicemail")

    LIVE = (Status.IN_PROGRESS, Status.PAUSED)

    interaction = models.ForeignKey(
        Interaction, on_delete=models.CASCADE, related_name="recordings"
    )
    provider_sid = models.CharField(max_length=64)
    call_sid = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.IN_PROGRESS)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.AUTO)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    pause_reason = models.CharField(
        max_length=10, blank=True, help_text=_('Why it is paused: "pci" (card capture), "agent".')
    )
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration = models.PositiveIntegerField(_("duration (s)"), default=0)
    media_url = models.CharField(max_length=500, blank=True)
    file = models.FileField(upload_to=recording_path, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    size = models.PositiveIntegerField(default=0)
    tags = models.ManyToManyField("contacts.Tag", blank=True, related_name="recordings")
    keep = models.BooleanField(
        _("keep (legal hold)"), default=False, help_text=_("Never purged by the retention.")
    )
    purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "provider_sid"], name="recording_unique_sid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider_sid} ({self.get_status_display()})"

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE


class Transcript(TenantModel):
    """What was said in a recording, as the provider's speech recognition wrote it (searched
    by supervisors)."""

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="transcripts")
    provider_sid = models.CharField(max_length=64)
    text = models.TextField()
    language = models.CharField(max_length=10, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "provider_sid"], name="transcript_unique_sid"
            )
        ]

    def __str__(self) -> str:
        return self.text[:60]
