"""Admin: the organization's report settings (facts and rollups are derived, not edited)."""

from django.contrib import admin

from apps.core.admin import TenantAdmin
from apps.reports.models import ReportSettings


@admin.register(ReportSettings)
class ReportSettingsAdmin(TenantAdmin):
    """How figures are counted: short abandons, the first-contact resolution window, the
    cost of an agent-hour. Changes apply to figures computed after them (a rebuild recounts
    the past: ``manage.py reports_rollup --rebuild``)."""

    list_display = [
        "__str__",
        "short_abandon_seconds",
        "fcr_days",
        "cost_per_agent_hour",
        "currency",
    ]


# The wallboard's (thresholds, alert rules, incidents) and the report pages' (scheduled reports,
# export jobs) admins live beside this module; importing them registers them.
from apps.reports import admin_live, admin_pages  # noqa: E402, F401
