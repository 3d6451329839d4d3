from django.contrib import admin

from apps.core.admin import TenantAdmin
from apps.flows.models import Flow


@admin.register(Flow)
class FlowAdmin(TenantAdmin):
    required_feature = "ivr"
    list_display = ["name", "is_active"]
    search_fields = ["name"]
