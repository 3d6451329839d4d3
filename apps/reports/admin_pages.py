"""Admin of the report pages: scheduled reports (each manager their own; admins every one of
the organization) and export jobs (read-only)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from apps.core.admin import TenantAdmin
from apps.reports import schedules
from apps.reports.models import ExportJob, ReportSubscription

# Admins see and edit every subscription of their organization; others only their own.
SEE_ALL_SUBSCRIPTIONS = "accounts.change_organization"


@admin.register(ReportSubscription)
class ReportSubscriptionAdmin(TenantAdmin):
    list_display = ["name", "user", "frequency", "hour", "file_format", "active", "next_run_at"]
    list_filter = ["frequency", "active", "file_format"]
    search_fields = ["name", "recipients"]
    readonly_fields = ["last_sent_at", "next_run_at", "created_at"]
    fieldsets = [
        (None, {"fields": ["name", "user", "active", "params"]}),
        (
            _("When and how"),
            {"fields": ["frequency", "weekday", "hour", "file_format", "recipients"]},
        ),
        (_("Deliveries"), {"fields": ["last_sent_at", "next_run_at", "created_at"]}),
    ]

    def _sees_all(self, request) -> bool:
        return request.user.is_superuser or request.user.has_perm(SEE_ALL_SUBSCRIPTIONS)

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("user")
        return qs if self._sees_all(request) else qs.filter(user=request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "user" and not self._sees_all(request):
            field.queryset = field.queryset.filter(pk=request.user.pk)
        return field

    def get_changeform_initial_data(self, request):
        return {"user": request.user.pk, **super().get_changeform_initial_data(request)}

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser:
            obj.organization = request.user.organization
        # The schedule (next run) follows whatever was changed.
        schedules.subscription_save(subscription=obj)


@admin.register(ExportJob)
class ExportJobAdmin(TenantAdmin):
    list_display = ["__str__", "kind", "file_format", "requested_by", "status", "created_at"]
    list_filter = ["status", "kind", "file_format"]
    readonly_fields = [
        "requested_by",
        "kind",
        "file_format",
        "params",
        "status",
        "attempt",
        "rows_done",
        "rows_total",
        "filename",
        "error",
        "created_at",
        "started_at",
        "heartbeat_at",
        "finished_at",
    ]
    exclude = ["file"]  # downloaded through the report pages' access-checked view

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
