"""The report page's filters and the subscription form.

A report is described by ``params``: a plain dict (the page's query string, kept as JSON by
export jobs and subscriptions), turned into the KPI selectors' arguments by ``ReportForm``.
Queues, agents and teams are offered from the caller's organization only; another
organization's id in the query string is simply not valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import Role, Team
from apps.contacts.models import Tier
from apps.interactions.models import Channel, Direction
from apps.queues.models import Queue
from apps.reports.models import ExportFormat, ReportSubscription
from apps.reports.schedules import PERIODS, day_range, organization_tz, period_dates

INTERVALS = [
    ("", _("Whole period")),
    ("15m", _("15 minutes")),
    ("30m", _("30 minutes")),
    ("60m", _("Hour")),
    ("day", _("Day")),
    ("week", _("Week")),
    ("month", _("Month")),
]
GROUP_BY = [
    ("interval", _("Interval")),
    ("none", _("Total only")),
    ("agent", _("Agent")),
    ("team", _("Team")),
    ("queue", _("Queue")),
    ("channel", _("Channel")),
    ("direction", _("Direction")),
    ("tier", _("Customer tier")),
]
# What the page shows when the user picks no KPI.
DEFAULT_KPIS = (
    "offered",
    "answered",
    "abandonment_rate",
    "service_level",
    "asa",
    "aht",
)
DIMENSIONS = ("queues", "agents", "teams", "channels", "directions", "tiers")
MAX_DAYS = 400


def kpi_catalogue() -> dict:
    from apps.reports.kpis import KPIS

    return KPIS


def params_to_query(params: dict) -> dict:
    """``params`` as query-string values (lists stay lists), empty values left out."""
    return {k: v for k, v in params.items() if v not in (None, "", [], ())}


@dataclass(frozen=True)
class Report:
    """What the KPI selectors need, read from a valid form."""

    filters: object  # apps.reports.selectors.ReportFilters
    group_by: str
    interval: str | None
    kpis: tuple[str, ...]
    first_day: date
    last_day: date


class ReportForm(forms.Form):
    period = forms.ChoiceField(
        label=_("Period"),
        choices=[*PERIODS.items(), ("custom", _("Dates below"))],
        initial="last_7_days",
        required=False,
    )
    start = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput({"type": "date"})
    )
    end = forms.DateField(label=_("To"), required=False, widget=forms.DateInput({"type": "date"}))
    interval = forms.ChoiceField(label=_("Interval"), choices=INTERVALS, required=False)
    group_by = forms.ChoiceField(label=_("Group by"), choices=GROUP_BY, required=False)
    queues = forms.ModelMultipleChoiceField(
        label=_("Queues"), queryset=Queue.objects.none(), required=False
    )
    agents = forms.ModelMultipleChoiceField(
        label=_("Agents"), queryset=get_user_model().objects.none(), required=False
    )
    teams = forms.ModelMultipleChoiceField(
        label=_("Teams"), queryset=Team.objects.none(), required=False
    )
    channels = forms.MultipleChoiceField(
        label=_("Channels"), choices=Channel.choices, required=False
    )
    directions = forms.MultipleChoiceField(
        label=_("Directions"), choices=Direction.choices, required=False
    )
    tiers = forms.MultipleChoiceField(
        label=_("Customer tiers"), choices=Tier.choices, required=False
    )
    kpis = forms.MultipleChoiceField(label=_("KPIs"), choices=(), required=False)

    def __init__(self, data=None, *, organization, today: date | None = None, **kwargs):
        super().__init__(data, **kwargs)
        self.organization = organization
        self.tz = organization_tz(organization)
        self.today = today or timezone.now().astimezone(self.tz).date()
        self.fields["queues"].queryset = Queue.objects.filter(organization=organization).order_by(
            "name"
        )
        self.fields["agents"].queryset = (
            get_user_model()
            .objects.filter(organization=organization, groups__name=Role.AGENT)
            .distinct()
            .order_by("first_name", "last_name", "username")
        )
        self.fields["agents"].label_from_instance = lambda u: u.get_full_name() or u.username
        self.fields["teams"].queryset = Team.objects.filter(organization=organization)
        self.fields["kpis"].choices = [(code, k.label) for code, k in kpi_catalogue().items()]

    @property
    def dimension_fields(self):
        """The filters on who and what (shown as a row of multiple choices)."""
        return [
            self[name] for name in ("queues", "agents", "teams", "channels", "directions", "tiers")
        ]

    @classmethod
    def from_params(cls, params: dict, *, organization, today: date | None = None) -> ReportForm:
        """A bound form from a plain dict (query string or stored JSON)."""
        from django.http import QueryDict

        data = QueryDict(mutable=True)
        for key, value in params.items():
            if isinstance(value, list | tuple):
                data.setlist(key, [str(v) for v in value])
            elif value is not None:
                data[key] = str(value)
        return cls(data, organization=organization, today=today)

    def clean(self):
        cleaned = super().clean()
        period = cleaned.get("period") or (
            "custom" if cleaned.get("start") or cleaned.get("end") else "last_7_days"
        )
        cleaned["period"] = period
        if period == "custom":
            first = cleaned.get("start") or self.today
            last = cleaned.get("end") or first
        else:
            first, last = period_dates(period, self.today)
        if last < first:
            raise forms.ValidationError(_("The end date is before the start date."))
        if (last - first).days > MAX_DAYS:
            raise forms.ValidationError(_("At most %(days)s days at once.") % {"days": MAX_DAYS})
        cleaned["start"], cleaned["end"] = first, last
        cleaned["group_by"] = cleaned.get("group_by") or "interval"
        # Rows per interval need one; other groupings may have one (rows per period and group).
        if cleaned["group_by"] == "interval":
            cleaned["interval"] = cleaned.get("interval") or "day"
        else:
            cleaned["interval"] = cleaned.get("interval") or None
        known = kpi_catalogue()
        cleaned["kpis"] = [c for c in cleaned.get("kpis") or DEFAULT_KPIS if c in known] or list(
            known
        )[:6]
        return cleaned

    def report(self) -> Report:
        from apps.reports.selectors import ReportFilters

        data = self.cleaned_data
        start, end = day_range(data["start"], data["end"], self.tz)
        filters = ReportFilters(
            start=start,
            end=end,
            queues=tuple(q.pk for q in data["queues"]),
            agents=tuple(u.pk for u in data["agents"]),
            teams=tuple(t.pk for t in data["teams"]),
            channels=tuple(data["channels"]),
            directions=tuple(data["directions"]),
            tiers=tuple(data["tiers"]),
        )
        return Report(
            filters=filters,
            group_by=data["group_by"],
            interval=data["interval"],
            kpis=tuple(data["kpis"]),
            first_day=data["start"],
            last_day=data["end"],
        )

    def params(self, *, relative: bool = True) -> dict:
        """The valid filters as a plain dict: a relative period stays relative unless
        ``relative`` is false (an export of what is shown now)."""
        data = self.cleaned_data
        params = {
            "period": data["period"],
            "interval": data["interval"],
            "group_by": data["group_by"],
            "queues": [q.pk for q in data["queues"]],
            "agents": [u.pk for u in data["agents"]],
            "teams": [t.pk for t in data["teams"]],
            "channels": list(data["channels"]),
            "directions": list(data["directions"]),
            "tiers": list(data["tiers"]),
            "kpis": list(data["kpis"]),
        }
        if data["period"] == "custom" or not relative:
            params.update(
                period="custom", start=data["start"].isoformat(), end=data["end"].isoformat()
            )
        return params_to_query(params)


class SubscriptionForm(forms.ModelForm):
    """ "Subscribe" on the report page: the report shown, sent daily or weekly."""

    period = forms.ChoiceField(
        label=_("Period of each report"),
        choices=[("", _("Automatic (yesterday / last week)")), *PERIODS.items()],
        required=False,
    )

    class Meta:
        model = ReportSubscription
        fields = ["name", "frequency", "weekday", "hour", "file_format", "recipients"]
        widgets = {"recipients": forms.TextInput()}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["hour"].widget = forms.NumberInput({"min": 0, "max": 23})
        self.fields["file_format"].choices = ExportFormat.choices

    def clean_hour(self):
        hour = self.cleaned_data["hour"]
        if not 0 <= hour <= 23:
            raise forms.ValidationError(_("An hour from 0 to 23."))
        return hour

    def clean_recipients(self):
        from django.core.validators import validate_email

        raw = self.cleaned_data.get("recipients", "")
        addresses = [a.strip() for a in raw.replace(";", ",").split(",") if a.strip()]
        for address in addresses:
            validate_email(address)
        return ", ".join(addresses)
