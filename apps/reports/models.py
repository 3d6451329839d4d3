"""Report tables are derived from the Event log and can be rebuilt from it."""

# --- Live wallboard and alerts (apps/reports/live.py, alerts.py) ------------------------------
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.models import TenantModel


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
