from django.contrib import admin

from apps.core.admin import TenantAdmin
from apps.notifications.models import Notification


@admin.register(Notification)
class NotificationAdmin(TenantAdmin):
    list_display = ["title", "recipient", "level", "created_at", "read_at"]
    list_filter = ["level", ("read_at", admin.EmptyFieldListFilter)]
    search_fields = ["title", "body", "recipient__username"]
    date_hierarchy = "created_at"
    list_select_related = ["recipient"]
    readonly_fields = ["created_at", "read_at"]

    def has_add_permission(self, request):
        return False  # notifications are sent by the system (notification_send), never typed in
