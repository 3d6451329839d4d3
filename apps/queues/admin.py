from django.contrib import admin

from apps.core.admin import TenantAdmin
from apps.queues.models import Queue


@admin.register(Queue)
class QueueAdmin(TenantAdmin):
    list_display = ["name", "is_active"]
    search_fields = ["name"]
