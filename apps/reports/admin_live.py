"""Admin of the live wallboard's thresholds and of alert rules (incidents are read-only)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from apps.core.admin import TenantAdmin
from apps.reports.models import AlertIncident, AlertRule, WallboardThreshold

__all__ = ["WallboardThresholdAdmin", "AlertRuleAdmin", "AlertIncidentAdmin"]


@admin.register(WallboardThreshold)
class WallboardThresholdAdmin(TenantAdmin):
    list_display = ("metric", "queue", "warning", "critical", "direction")
    list_filter = ("metric", "direction")
    list_select_related = ("queue",)


@admin.register(AlertRule)
class AlertRuleAdmin(TenantAdmin):
    list_display = (
        "name",
        "metric",
        "threshold",
        "queue",
        "cooldown_minutes",
        "notify_managers",
        "is_active",
    )
    list_filter = ("metric", "is_active")
    list_select_related = ("queue",)
    search_fields = ("name",)


@admin.register(AlertIncident)
class AlertIncidentAdmin(TenantAdmin):
    list_display = ("rule", "queue", "opened_at", "value", "notified_at", "resolved_at")
    list_filter = (("resolved_at", admin.EmptyFieldListFilter),)
    list_select_related = ("rule", "queue")
    readonly_fields = (
        "rule",
        "queue",
        "opened_at",
        "value",
        "notified_at",
        "resolved_at",
        "resolved_value",
        "recipients",
    )
    date_hierarchy = "opened_at"

    @admin.display(description=_("open"), boolean=True)
    def is_open(self, obj) -> bool:
        return obj.resolved_at is None

    def has_add_permission(self, request):
        return False
