"""Admin for business hours: the weekly periods and the holidays are edited on one page."""

from datetime import timedelta

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.admin import TenantAdmin
from apps.queues.hours import hours_is_open
from apps.queues.models import BusinessHours, BusinessHoursPeriod, Holiday


class BusinessHoursPeriodInline(admin.TabularInline):
    model = BusinessHoursPeriod
    fields = ["weekday", "opens", "closes"]
    extra = 0


class HolidayInline(admin.TabularInline):
    model = Holiday
    fields = ["date", "name"]
    extra = 0


class BusinessHoursChangeList(ChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        # "Open now" reads each row's periods and holidays: prefetched, two queries per page.
        # A local date is at most a day from the UTC date; two days of margin also cover a page
        # rendered across midnight.
        today = timezone.now().date()
        around_today = Holiday.objects.filter(
            date__range=(today - timedelta(days=2), today + timedelta(days=2))
        )
        return (
            super()
            .get_queryset(request, exclude_parameters)
            .prefetch_related("periods", Prefetch("holidays", queryset=around_today))
        )


@admin.register(BusinessHours)
class BusinessHoursAdmin(TenantAdmin):
    list_display = ["name", "time_zone", "open_now"]
    search_fields = ["name"]
    inlines = [BusinessHoursPeriodInline, HolidayInline]

    def get_changelist(self, request, **kwargs):
        return BusinessHoursChangeList

    @admin.display(boolean=True, description=_("Open now"))
    def open_now(self, obj: BusinessHours) -> bool:
        return hours_is_open(hours=obj, at=timezone.now())
