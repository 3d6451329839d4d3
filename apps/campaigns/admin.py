from django.contrib import admin

from apps.campaigns.models import Campaign
from apps.core.admin import TenantAdmin


@admin.register(Campaign)
class CampaignAdmin(TenantAdmin):
    required_feature = "preview_dialer"
    list_display = ["name", "mode", "status"]
    list_filter = ["mode", "status"]
    search_fields = ["name"]
