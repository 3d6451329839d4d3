"""Report tables are derived from the Event log and can be rebuilt from it."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.core.models import TenantModel

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
