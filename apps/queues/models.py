"""Queues and routing: where interactions wait, who may take them, and every offer made."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import validate_time_zone
from apps.core.models import TenantModel, TimeStampedModel
from apps.core.validators import validate_texts_by_language


class Strategy(models.TextChoices):
    """How a queue picks among the agents who could take an interaction."""

    LONGEST_IDLE = "longest_idle", _("Longest idle agent")
    ROUND_ROBIN = "round_robin", _("Round robin")
    SKILLS = "skills", _("Best skills match")
    LEAST_OCCUPIED = "least_occupied", _("Least occupied agent")
    SEQUENTIAL = "sequential", _("Sequential (hunt group)")
    RING_ALL = "ring_all", _("Ring all (first to accept)")


class BusinessHours(TenantModel):
    """When a queue is open, in its own time zone, with holidays closed."""

    name = models.CharField(max_length=100)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])

    class Meta:
        verbose_name_plural = _("business hours")
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="hours_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class BusinessHoursPeriod(models.Model):
    """One opening period of one weekday (several per day: a lunch break makes two)."""

    hours = models.ForeignKey(BusinessHours, on_delete=models.CASCADE, related_name="periods")
    weekday = models.PositiveSmallIntegerField(
        choices=[
            (i, d)
            for i, d in enumerate(
                [
                    _("Monday"),
                    _("Tuesday"),
                    _("Wednesday"),
                    _("Thursday"),
                    _("Friday"),
                    _("Saturday"),
                    _("Sunday"),
                ]
            )
        ]
    )
    opens = models.TimeField()
    closes = models.TimeField()

    class Meta:
        ordering = ["weekday", "opens"]
        constraints = [
            models.CheckConstraint(
                condition=Q(opens__lt=models.F("closes")), name="period_opens_first"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}–{self.closes:%H:%M}"


class Holiday(models.Model):
    """A day the center is closed (or open shorter) under these business hours."""

    hours = models.ForeignKey(BusinessHours, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["hours", "date"], name="holiday_unique_date")
        ]

    def __str__(self) -> str:
        return f"{self.date}: {self.name}"


class Skill(TenantModel):
    """Something an agent can do: a language, a product, a level of support."""

    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="skill_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


LEVEL_VALIDATORS = [MinValueValidator(1), MaxValueValidator(10)]


class AgentSkill(TenantModel):
    """How good an agent is at a skill, from 1 to 10."""

    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="skills"
    )
    skill = models.ForeignKey(Skill, on_delete=models.CASCADE, related_name="agents")
    level = models.PositiveSmallIntegerField(default=5, validators=LEVEL_VALIDATORS)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "skill"], name="agentskill_unique"),
            models.CheckConstraint(
                condition=Q(level__gte=1, level__lte=10), name="agentskill_level_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent} · {self.skill} {self.level}"


class WhenClosed(models.TextChoices):
    """What happens to a customer who reaches a queue outside its business hours."""

    WAIT = "wait", _("Wait until it opens (digital channels)")
    VOICEMAIL = "voicemail", _("Voicemail")
    CALLBACK = "callback", _("Call back when it opens")


class Queue(TenantModel, TimeStampedModel):
    """A line customers wait in for one kind of service (billing, sales, VIP desk…)."""

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    strategy = models.CharField(
        max_length=20, choices=Strategy.choices, default=Strategy.LONGEST_IDLE
    )
    base_priority = models.IntegerField(default=0)
    sla_seconds = models.PositiveIntegerField(
        _("service level threshold (s)"),
        default=20,
        help_text=_("Answered within this many seconds."),
    )
    sla_target_percent = models.PositiveSmallIntegerField(
        default=80, validators=[MaxValueValidator(100)]
    )
    offer_timeout_seconds = models.PositiveIntegerField(default=20)
    wrap_up_seconds = models.PositiveIntegerField(default=30)
    max_wait_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("After this wait, overflow (or stay when empty).")
    )
    overflow_queue = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    business_hours = models.ForeignKey(
        BusinessHours, on_delete=models.SET_NULL, null=True, blank=True, related_name="queues"
    )
    when_closed = models.CharField(
        max_length=10, choices=WhenClosed.choices, default=WhenClosed.WAIT
    )
    preferred_agent_seconds = models.PositiveIntegerField(
        default=0,
        help_text=_(
            "How long the customer's last agent, when at work, is waited for before others "
            "(0: not at all)."
        ),
    )
    relax_skills_after_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_("After this wait, skill levels are no longer required (only the skill)."),
    )
    no_reply_requeue_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_("Digital channels: re-queue an active interaction the agent has not answered."),
    )
    record_calls = models.CharField(
        max_length=10,
        blank=True,
        choices=[
            ("announce", _("Announce and record")),
            ("off", _("No recording")),
        ],
        help_text=_(
            "Record calls from when the caller is put through to an agent, after the consent "
            "announcement. Empty: the organization's recording policy."
        ),
    )
    recording_consent = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_texts_by_language],
        help_text=_(
            'This queue\'s consent announcement by language ({"en": …, "fr": …}); '
            "empty: the organization's."
        ),
    )
    voicemail_notify = models.JSONField(
        default=list,
        blank=True,
        help_text=_(
            'Who hears of a voicemail left in this queue: any of ["desk"] (its members), '
            '["email"] (the address below), ["sms"] (the number below).'
        ),
    )
    voicemail_email = models.EmailField(blank=True)
    voicemail_sms = models.CharField(max_length=20, blank=True, help_text=_("E.164 number."))
    caller_id = models.ForeignKey(
        "connectors.ChannelAccount",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        limit_choices_to={"kind": "voice"},
        verbose_name=_("caller ID"),
        help_text=_(
            "The voice number outbound calls for this queue show (click-to-call, callbacks); "
            "empty: the organization's default voice number."
        ),
    )
    callback_attempts = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1)],
        help_text=_("How many times a callback is dialled before it is given up."),
    )
    callback_retry_minutes = models.PositiveIntegerField(
        default=15, help_text=_("After no answer or a busy line, the callback is tried again.")
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="QueueMember", related_name="queues", blank=True
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="queue_unique_name")
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        super().clean()
        account = self.caller_id
        if account is None:
            return
        # A queue being created gets its organization when saved (the admin offers only its
        # numbers): the kind is checked now, the organization once known.
        other = self.organization_id is not None and account.organization_id != self.organization_id
        if other or account.kind != "voice":
            raise ValidationError(
                {"caller_id": _("Choose one of the organization's voice numbers.")}
            )


class QueueMember(TenantModel):
    """An agent who takes interactions of a queue; ``order`` is the hunt-group order."""

    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="memberships")
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="queue_memberships"
    )
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["queue", "agent"], name="queuemember_unique")
        ]

    def __str__(self) -> str:
        return f"{self.agent} in {self.queue}"


class QueueSkill(models.Model):
    """A skill the queue's interactions need, at a minimum level."""

    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="required_skills")
    skill = models.ForeignKey(Skill, on_delete=models.CASCADE, related_name="+")
    min_level = models.PositiveSmallIntegerField(default=1, validators=LEVEL_VALIDATORS)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["queue", "skill"], name="queueskill_unique")]

    def __str__(self) -> str:
        return f"{self.skill} ≥ {self.min_level}"


class PresenceStatus(models.TextChoices):
    OFFLINE = "offline", _("Offline")
    AVAILABLE = "available", _("Available")
    AWAY = "away", _("Away")
    DND = "dnd", _("Do not disturb")
    LUNCH = "lunch", _("Lunch")
    MEETING = "meeting", _("Meeting")
    WRAP_UP = "wrap_up", _("Wrap-up")


class ReasonCode(TenantModel):
    """Why an agent is not available ("Training", "Missed offer"), chosen with a status."""

    status = models.CharField(max_length=10, choices=PresenceStatus.choices)
    name = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["status", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="reasoncode_unique")
        ]

    def __str__(self) -> str:
        return self.name


class Presence(TenantModel):
    """An agent's current status, the row routers lock while deciding an offer for them."""

    agent = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="presence"
    )
    status = models.CharField(
        max_length=10, choices=PresenceStatus.choices, default=PresenceStatus.OFFLINE
    )
    reason = models.ForeignKey(ReasonCode, on_delete=models.SET_NULL, null=True, blank=True)
    since = models.DateTimeField(default=timezone.now)
    # Longest idle: when the agent last finished (or became available with nothing to do).
    idle_since = models.DateTimeField(default=timezone.now)
    # Round robin: when the agent last received an offer.
    last_offer_at = models.DateTimeField(null=True, blank=True)
    # Wrap-up after an interaction: back to Available by itself at this time.
    wrap_up_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "status"])]

    def __str__(self) -> str:
        return f"{self.agent}: {self.get_status_display()}"


class Offer(TenantModel):
    """An interaction proposed to an agent, with why that agent was chosen."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Ringing")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Declined")
        TIMED_OUT = "timed_out", _("Not answered")
        CANCELLED = "cancelled", _("Cancelled")

    interaction = models.ForeignKey(
        "interactions.Interaction", on_delete=models.CASCADE, related_name="offers"
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="offers"
    )
    queue = models.ForeignKey(Queue, on_delete=models.SET_NULL, null=True, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)
    why = models.JSONField(default=dict, blank=True, help_text=_("Strategy, candidates, scores."))

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # An interaction is never offered twice to one agent at once.
            models.UniqueConstraint(
                fields=["interaction", "agent"],
                condition=Q(status="pending"),
                name="offer_one_pending_per_agent",
            )
        ]
        indexes = [models.Index(fields=["status", "expires_at"])]

    def __str__(self) -> str:
        return f"{self.interaction} → {self.agent} ({self.get_status_display()})"


class Callback(TenantModel, TimeStampedModel):
    """A customer to call back at a chosen time; "keep my place" keeps their queue position."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        QUEUED = "queued", _("Queued")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")
        FAILED = "failed", _("Not reached")

    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="+")
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="callbacks")
    number = models.CharField(max_length=32, help_text=_("E.164 number to call."))
    scheduled_for = models.DateTimeField(db_index=True)
    keep_place_since = models.DateTimeField(
        null=True, blank=True, help_text=_("When the customer first queued (keeps their place).")
    )
    origin = models.ForeignKey(
        "interactions.Interaction",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    interaction = models.ForeignKey(
        "interactions.Interaction",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text=_("How many times the customer was dialled.")
    )
    last_outcome = models.CharField(
        max_length=20,
        blank=True,
        help_text=_("answered, no-answer, busy, failed or agent-unreached (not counted)."),
    )

    class Meta:
        ordering = ["scheduled_for"]

    def __str__(self) -> str:
        return f"{self.number} at {self.scheduled_for:%Y-%m-%d %H:%M}"


class RoutingRule(TenantModel, TimeStampedModel):
    """An ordered filter, in the spirit of TaskRouter workflows: the first active rule whose
    conditions all match an interaction names the targets it is offered to, in turn.

    An empty condition matches everything.
    """

    name = models.CharField(max_length=100)
    order = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    channels = models.JSONField(default=list, blank=True, help_text=_('e.g. ["voice", "sms"]'))
    tiers = models.JSONField(default=list, blank=True, help_text=_('e.g. ["gold", "vip"]'))
    languages = models.JSONField(default=list, blank=True, help_text=_('e.g. ["fr"]'))
    reasons = models.JSONField(
        default=list, blank=True, help_text=_("The flow's choice (the interaction's reason).")
    )
    contact_field = models.CharField(
        max_length=50, blank=True, help_text=_("A contact custom field that must equal the value.")
    )
    contact_value = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.name


class RoutingTarget(models.Model):
    """One step of a rule: a queue, and how long to wait there before the next step."""

    rule = models.ForeignKey(RoutingRule, on_delete=models.CASCADE, related_name="targets")
    order = models.PositiveSmallIntegerField(default=0)
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="+")
    priority = models.IntegerField(default=0, help_text=_("Extra priority points in this queue."))
    timeout_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Then the next target; empty: wait here.")
    )

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return f"{self.rule}: {self.queue}"
