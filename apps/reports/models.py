"""Report tables are derived from the Event log and can be rebuilt from it."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.models import TenantModel


class ReportSettings(TenantModel):
    """How an organization's figures are counted (one row per organization; defaults apply
    until a supervisor saves one). Changes apply to figures computed after them: run
    ``manage.py reports_rollup --rebuild`` to recount the past."""

    short_abandon_seconds = models.PositiveIntegerField(
        _("short abandon (s)"),
        default=5,
        help_text=_(
            "Customers who hang up within this many seconds of queuing are short abandons: "
            "left out of the abandonment rate and the service level."
        ),
    )
    fcr_days = models.PositiveIntegerField(
        _("first-contact resolution window (days)"),
        default=7,
        validators=[MinValueValidator(1)],
        help_text=_("A contact coming back on any channel within this many days is a repeat."),
    )
    cost_per_agent_hour = models.DecimalField(
        _("cost per agent-hour"),
        max_digits=10,
        decimal_places=2,
        default=Decimal("0"),
        help_text=_("Loaded cost of one logged-in agent hour (cost per contact)."),
    )
    currency = models.CharField(_("currency"), max_length=3, default="USD")

    class Meta:
        verbose_name = _("report settings")
        verbose_name_plural = _("report settings")
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="reportsettings_one_per_org")
        ]
        permissions = [("view_reports", "Can see reports, KPIs and exports")]

    def __str__(self) -> str:
        return str(_("Report settings"))


def _dimension_fk(model: str, **kwargs):
    # Facts and rollups outlive the rows they describe (a queue or agent deleted keeps its
    # history) and are written in bulk: no database constraint.
    return models.ForeignKey(
        model,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # the composite indexes below serve the reads
        null=True,
        blank=True,
        related_name="+",
        **kwargs,
    )


class InteractionFact(TenantModel):
    """One interaction as reports count it, derived from its events (rebuilt whenever a new
    event of it arrives). Dimensions are the interaction's queue, agent and contact tier
    when the fact is built; it counts in the 15-minute bucket in which it was offered."""

    interaction = models.OneToOneField(
        "interactions.Interaction",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        primary_key=True,
        related_name="+",
    )
    started_at = models.DateTimeField(help_text=_("When it entered a queue, else created."))
    started_epoch = models.FloatField()
    bucket = models.DateTimeField()
    queue = _dimension_fk("queues.Queue")
    agent = _dimension_fk(settings.AUTH_USER_MODEL)
    contact = _dimension_fk("contacts.Contact")
    channel = models.CharField(max_length=12)
    direction = models.CharField(max_length=8)
    tier = models.CharField(max_length=10, blank=True)
    is_open = models.BooleanField(default=True)
    offered = models.PositiveSmallIntegerField(default=0)
    answered = models.PositiveSmallIntegerField(default=0)
    handled = models.PositiveSmallIntegerField(default=0)
    abandoned = models.PositiveSmallIntegerField(default=0)
    voicemail = models.PositiveSmallIntegerField(default=0)
    callback = models.PositiveSmallIntegerField(default=0)
    wait_seconds = models.FloatField(default=0)
    talk_seconds = models.FloatField(default=0)
    hold_seconds = models.FloatField(default=0)
    wrap_seconds = models.FloatField(default=0)
    transfers = models.PositiveIntegerField(default=0)
    missed_offers = models.PositiveIntegerField(default=0)
    next_gap_seconds = models.FloatField(
        null=True, blank=True, help_text=_("Until the contact's next interaction (FCR).")
    )

    class Meta:
        indexes = [
            models.Index(fields=["organization", "bucket"]),
            models.Index(fields=["contact", "started_epoch"]),
        ]

    def __str__(self) -> str:
        return f"fact {self.interaction_id}"


_DIMENSIONS = ("queue", "agent", "channel", "direction", "tier")


class IntervalRollup(TenantModel):
    """Sums of the facts of one 15-minute bucket (UTC start) and one combination of queue,
    agent, channel, direction and tier: what every historical report reads."""

    bucket = models.DateTimeField()
    queue = _dimension_fk("queues.Queue")
    agent = _dimension_fk(settings.AUTH_USER_MODEL)
    channel = models.CharField(max_length=12)
    direction = models.CharField(max_length=8)
    tier = models.CharField(max_length=10, blank=True)
    interactions = models.IntegerField(default=0)
    offered = models.IntegerField(default=0)
    answered = models.IntegerField(default=0)
    handled = models.IntegerField(default=0)
    abandoned = models.IntegerField(default=0)
    short_abandoned = models.IntegerField(default=0)
    answered_in_sla = models.IntegerField(default=0)
    wait_seconds = models.FloatField(default=0)
    answer_wait_seconds = models.FloatField(default=0)
    talk_seconds = models.FloatField(default=0)
    hold_seconds = models.FloatField(default=0)
    wrap_seconds = models.FloatField(default=0)
    transfers = models.IntegerField(default=0)
    missed_offers = models.IntegerField(default=0)
    voicemails = models.IntegerField(default=0)
    callbacks = models.IntegerField(default=0)
    inbound = models.IntegerField(default=0)
    outbound = models.IntegerField(default=0)
    fcr_resolved = models.IntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "bucket"]),
            models.Index(fields=["organization", "agent", "bucket"]),
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} {self.channel}"


class AgentStateRollup(TenantModel):
    """Seconds one agent spent in one presence status within one 15-minute bucket (UTC),
    from ``presence.changed`` events."""

    bucket = models.DateTimeField()
    agent = _dimension_fk(settings.AUTH_USER_MODEL)
    status = models.CharField(max_length=10)
    seconds = models.FloatField(default=0)

    class Meta:
        indexes = [models.Index(fields=["organization", "bucket"])]

    def __str__(self) -> str:
        return f"{self.agent_id} {self.status} {self.bucket:%Y-%m-%d %H:%M}"


class MissedOfferFact(TenantModel):
    """The offers of one interaction that one agent missed (declined or let time out: the
    interaction went back to the queue), derived from its events with its fact. The agent is
    the requeue event's ``data.agent`` or, for older events, its offer's agent (empty when
    neither names one)."""

    interaction = models.ForeignKey(
        "interactions.Interaction",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    agent = _dimension_fk(settings.AUTH_USER_MODEL)
    missed_offers = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.interaction_id} missed by {self.agent_id}"


class MissedOfferRollup(TenantModel):
    """Missed offers per 15-minute bucket (the bucket of the interaction's fact, as every
    interaction measure) and agent who missed them, with the interaction's queue, channel,
    direction and tier: what agent and team reports count as missed offers."""

    bucket = models.DateTimeField()
    agent = _dimension_fk(settings.AUTH_USER_MODEL)
    queue = _dimension_fk("queues.Queue")
    channel = models.CharField(max_length=12)
    direction = models.CharField(max_length=8)
    tier = models.CharField(max_length=10, blank=True)
    missed_offers = models.IntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["organization", "bucket"])]

    def __str__(self) -> str:
        return f"{self.agent_id} {self.bucket:%Y-%m-%d %H:%M}: {self.missed_offers}"


def _measures(cls):
    # The interaction measures of IntervalRollup, on the day-grain rollups too.
    for name in (
        "interactions",
        "offered",
        "answered",
        "handled",
        "abandoned",
        "short_abandoned",
        "answered_in_sla",
        "transfers",
        "missed_offers",
        "voicemails",
        "callbacks",
        "inbound",
        "outbound",
        "fcr_resolved",
    ):
        cls.add_to_class(name, models.IntegerField(default=0))
    for name in (
        "wait_seconds",
        "answer_wait_seconds",
        "talk_seconds",
        "hold_seconds",
        "wrap_seconds",
    ):
        cls.add_to_class(name, models.FloatField(default=0))
    return cls


@_measures
class DailyRollup(TenantModel):
    """Sums of a local day (the organization's time zone) of the 15-minute rollups, without
    the agent: what day, week and month dashboards read. Rebuilt from the 15-minute rows."""

    day = models.DateField()
    queue = _dimension_fk("queues.Queue")
    channel = models.CharField(max_length=12)
    direction = models.CharField(max_length=8)
    tier = models.CharField(max_length=10, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "day"])]

    def __str__(self) -> str:
        return f"{self.day} {self.channel}"


@_measures
class DailyAgentRollup(TenantModel):
    """Sums of a local day per agent (every queue and channel), with the agent's presence time:
    what agent and team reports over days read. Its ``missed_offers`` are the offers the agent
    missed (``MissedOfferRollup``), not those of the interactions the agent handled."""

    day = models.DateField()
    agent = _dimension_fk(settings.AUTH_USER_MODEL)
    logged_in_seconds = models.FloatField(default=0)
    ready_seconds = models.FloatField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "day"]),
            models.Index(fields=["organization", "agent", "day"]),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.agent_id}"


class RollupCursor(models.Model):
    """Where the incremental rollup stands in the event log (platform mechanics, not a
    tenant's row): events up to ``last_event_id`` are in the facts, presence time up to
    ``upto`` in the agent rollups."""

    name = models.CharField(max_length=30, unique=True)
    last_event_id = models.BigIntegerField(default=0)
    upto = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name}: {self.last_event_id}"


class LiveMetric(models.TextChoices):
    """A figure of the live wallboard that thresholds colour and alert rules watch."""

    WAITING = "waiting", _("Waiting")
    LONGEST_WAIT = "longest_wait", _("Longest wait (seconds)")
    SERVICE_LEVEL = "service_level", _("Service level today (%)")
    ABANDON_RATE = "abandon_rate", _("Abandonment rate today (%)")


class Direction(models.TextChoices):
    HIGHER_IS_WORSE = "higher", _("Higher is worse")
    LOWER_IS_WORSE = "lower", _("Lower is worse")


class WallboardThreshold(TenantModel):
    """When a wallboard figure turns amber (warning) or red (critical), for one queue or, with
    no queue, for every queue, channel and the organization's totals."""

    metric = models.CharField(max_length=20, choices=LiveMetric.choices)
    queue = models.ForeignKey(
        "queues.Queue",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty: every queue without a threshold of its own, channels and totals."),
    )
    warning = models.FloatField(_("warning at"))
    critical = models.FloatField(_("critical at"))
    direction = models.CharField(
        max_length=6,
        choices=Direction.choices,
        default=Direction.HIGHER_IS_WORSE,
        help_text=_(
            "Higher is worse: the colour changes when the figure reaches the value. "
            "Lower is worse: when it falls below it."
        ),
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "metric", "queue"],
                condition=Q(queue__isnull=False),
                name="wallboard_threshold_one_per_queue",
            ),
            models.UniqueConstraint(
                fields=["organization", "metric"],
                condition=Q(queue__isnull=True),
                name="wallboard_threshold_one_default",
            ),
            models.CheckConstraint(
                condition=(Q(direction="higher") & Q(critical__gte=models.F("warning")))
                | (Q(direction="lower") & Q(critical__lte=models.F("warning"))),
                name="wallboard_threshold_critical_beyond_warning",
                violation_error_message=_(
                    "The critical value must be at least as bad as the warning value."
                ),
            ),
        ]
        permissions = [("view_wallboard", "Can see the live wallboard")]

    def __str__(self) -> str:
        return f"{self.get_metric_display()} — {self.queue or _('all queues')}"


class AlertRule(TenantModel):
    """A condition on a live figure that notifies supervisors (in the app and by e-mail) when it
    is breached, once per breach."""

    name = models.CharField(max_length=100)
    metric = models.CharField(
        max_length=20,
        choices=LiveMetric.choices,
        help_text=_(
            "Service level alerts when it falls below the threshold; the others when they "
            "rise above it."
        ),
    )
    threshold = models.FloatField(
        help_text=_("A percentage, a number of interactions, or seconds, after the metric.")
    )
    queue = models.ForeignKey(
        "queues.Queue",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty: the whole organization."),
    )
    cooldown_minutes = models.PositiveIntegerField(
        default=15,
        help_text=_("A new breach this soon after the last notice is shown but not notified."),
    )
    notify_managers = models.BooleanField(
        default=False, help_text=_("Managers are told as well as supervisors.")
    )
    notify_recovery = models.BooleanField(
        default=True, help_text=_("Say so when the figure is back to normal.")
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(threshold__gte=0)
                & (
                    Q(metric__in=[LiveMetric.WAITING, LiveMetric.LONGEST_WAIT])
                    | Q(threshold__lte=100)
                ),
                name="alert_rule_threshold_in_range",
                violation_error_message=_(
                    "The threshold cannot be negative, and a percentage is at most 100."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def breached(self, value) -> bool:
        if value is None:
            return False
        if self.metric == LiveMetric.SERVICE_LEVEL:
            return value < self.threshold
        return value > self.threshold


class AlertIncident(TenantModel):
    """One breach of an alert rule: opened when the figure crosses the threshold, resolved when
    it comes back. At most one is open per rule (a database constraint), so concurrent
    evaluations notify once."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="incidents")
    queue = models.ForeignKey(
        "queues.Queue", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    opened_at = models.DateTimeField(default=timezone.now)
    value = models.FloatField(help_text=_("The figure when the breach was seen."))
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_value = models.FloatField(null=True, blank=True)
    notified_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("Empty: opened inside the rule's cooldown, not notified."),
    )
    recipients = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule"],
                condition=Q(resolved_at__isnull=True),
                name="alert_incident_one_open_per_rule",
            ),
        ]
        indexes = [models.Index(fields=["organization", "resolved_at"])]

    def __str__(self) -> str:
        return f"{self.rule} @ {self.opened_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


# --- Report pages: export jobs and scheduled reports (apps/reports/exports.py, schedules.py) ---


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "XLSX"


class ExportJob(TenantModel):
    """One file a manager asked for that was too large to hand over in the request: written by
    a Celery task (``page_tasks.export_job_run_task``) with its progress, then downloaded
    through an access-checked view. Files are purged after ``REPORTS_EXPORT_RETENTION_DAYS``."""

    class Kind(models.TextChoices):
        REPORT = "report", _("Report")
        INTERACTIONS = "interactions", _("Interactions")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        EXPIRED = "expired", _("Expired")

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    file_format = models.CharField(_("format"), max_length=4, choices=ExportFormat.choices)
    params = models.JSONField(_("filters"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    # Each run of the task takes the next attempt number; only the latest may write progress
    # or finish the job, so a retried or duplicated task never writes the file twice.
    attempt = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(_("rows written"), default=0)
    rows_total = models.PositiveIntegerField(_("rows"), null=True, blank=True)
    file = models.FileField(_("file"), upload_to="reports/exports/%Y/%m/", blank=True)
    filename = models.CharField(_("file name"), max_length=200, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("requested"), auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Written with each batch of rows: a running job whose heartbeat stops was lost with its
    # worker, and a redelivered task may take it over.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["organization", "requested_by", "-created_at"])]

    def __str__(self) -> str:
        return self.filename or f"{self.get_kind_display()} #{self.pk}"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(99, int(100 * self.rows_done / self.rows_total))


class ReportSubscription(TenantModel):
    """A report a manager receives by e-mail, daily or weekly: the filters of the report page in
    relative form (``period`` "yesterday", "last_week"…), cut in the organization's time zone
    when it is sent. ``next_run_at`` is the claim: a delivery moves it forward with a
    conditional update, so two beat workers never send the same period twice."""

    class Frequency(models.TextChoices):
        DAILY = "daily", _("Daily")
        WEEKLY = "weekly", _("Weekly")

    class Weekday(models.IntegerChoices):
        MONDAY = 0, _("Monday")
        TUESDAY = 1, _("Tuesday")
        WEDNESDAY = 2, _("Wednesday")
        THURSDAY = 3, _("Thursday")
        FRIDAY = 4, _("Friday")
        SATURDAY = 5, _("Saturday")
        SUNDAY = 6, _("Sunday")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("subscriber"),
    )
    name = models.CharField(_("name"), max_length=120)
    params = models.JSONField(
        _("report"),
        default=dict,
        blank=True,
        help_text=_(
            'The report\'s filters; "period" is relative: today, yesterday, last_7_days, '
            "this_week, last_week, this_month, last_month."
        ),
    )
    frequency = models.CharField(
        _("frequency"), max_length=8, choices=Frequency.choices, default=Frequency.DAILY
    )
    weekday = models.PositiveSmallIntegerField(
        _("weekday"),
        choices=Weekday.choices,
        default=Weekday.MONDAY,
        help_text=_("Weekly reports only."),
    )
    hour = models.PositiveSmallIntegerField(
        _("hour"), default=7, help_text=_("0–23, in the organization's time zone.")
    )
    file_format = models.CharField(
        _("format"), max_length=4, choices=ExportFormat.choices, default=ExportFormat.XLSX
    )
    recipients = models.TextField(
        _("recipients"),
        blank=True,
        help_text=_("E-mail addresses, comma-separated. Empty: the subscriber."),
    )
    active = models.BooleanField(_("active"), default=True)
    last_sent_at = models.DateTimeField(_("last sent"), null=True, blank=True)
    next_run_at = models.DateTimeField(_("next run"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("scheduled report")
        verbose_name_plural = _("scheduled reports")
        ordering = ["name", "pk"]
        indexes = [models.Index(fields=["active", "next_run_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(hour__gte=0, hour__lte=23), name="reportsubscription_hour"
            ),
            models.CheckConstraint(
                condition=models.Q(weekday__gte=0, weekday__lte=6),
                name="reportsubscription_weekday",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def recipient_list(self) -> list[str]:
        listed = [a.strip() for a in self.recipients.replace(";", ",").split(",") if a.strip()]
        return listed or ([self.user.email] if self.user.email else [])
