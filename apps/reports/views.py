"""Report pages for supervisors, managers and admins: the KPI report with its filters and chart,
the drill-down from a figure to its interactions, exports and scheduled reports.

Views only translate: the filters are read by ``forms.ReportForm``, figures come from
``selectors.kpi_report`` / ``kpi_interactions``, files and jobs from ``exports``,
subscriptions from ``schedules``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apps.reports import exports, schedules
from apps.reports.forms import (
    GROUP_BY,
    ReportForm,
    SubscriptionForm,
    kpi_catalogue,
    params_to_query,
)
from apps.reports.models import ExportFormat, ExportJob, ReportSubscription

REPORTS_PERMISSION = "reports.view_reports"
DEFAULT_FILTERS = {"period": "last_7_days", "group_by": "interval", "interval": "day"}


def _reports_user(request):
    """Supervisors, managers and admins of an organization; agents get 403."""
    user = request.user
    if user.organization_id is None:  # the platform operator has no center to report on
        raise Http404
    if not user.has_perm(REPORTS_PERMISSION):
        raise PermissionDenied
    return user


def _query(params: dict, **extra) -> str:
    return urlencode({**params_to_query(params), **extra}, doseq=True)


def _definitions(codes) -> list[dict]:
    catalogue = kpi_catalogue()
    return [
        {
            "code": c,
            "label": catalogue[c].label,
            "unit": catalogue[c].unit,
            "formula": catalogue[c].formula,
        }
        for c in codes
        if c in catalogue
    ]


def _unit_names() -> dict:
    return {
        "count": _("Count"),
        "seconds": _("Seconds"),
        "percent": _("Percent"),
        "ratio": _("Ratio"),
        "money": _("Cost"),
    }


def _chart(table) -> dict:
    """What static/js/reports.js draws: one dataset per KPI, on an axis per unit."""
    return {
        "units": _unit_names(),
        "labels": [exports.row_label(row, table.interval) for row in table.rows],
        "datasets": [
            {
                "code": code,
                "label": str(label),
                "unit": unit,
                "data": [row.get(code) for row in table.rows],
            }
            for code, label, unit in table.columns
        ],
    }


def format_value(value, unit: str) -> str:
    """A figure as people read it: 12, 85.3 %, 2:05 (minutes:seconds), 1.25, 3.40."""
    if value is None:
        return "–"
    if unit == "count":
        return f"{value:,.0f}" if isinstance(value, int | float) else str(value)
    if unit == "percent":
        return f"{value:.1f} %"
    if unit == "seconds":
        total = round(value)
        hours, rest = divmod(total, 3600)
        minutes, seconds = divmod(rest, 60)
        return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
    return f"{value:,.2f}"


def _hidden(params: dict) -> list[tuple[str, str]]:
    """``params`` as (name, value) pairs of hidden inputs (a list gives one input per item)."""
    pairs = []
    for key, value in params_to_query(params).items():
        for item in value if isinstance(value, list | tuple) else [value]:
            pairs.append((key, str(item)))
    return pairs


def _drill_keys(row: dict, group_by: str) -> dict:
    """What names a row for the drill-down: ``at`` (its period's ISO start) and ``group``
    (its group value, possibly empty for "no queue"); the totals row has neither."""
    if group_by == "interval":
        return {"at": row["group"]}
    keys = {"group": "" if row.get("group") is None else str(row["group"])}
    if row.get("interval"):
        keys["at"] = row["interval"]
    return keys


def _table_rows(table, params: dict, group_by: str) -> list[dict]:
    """Rows with, for each figure, its value as read, its unit and its drill-down link."""
    drill = reverse("reports-drilldown")
    codes = [(code, unit) for code, _label, unit in table.columns]

    def cells(row, keys):
        return [
            {
                "value": row.get(code),
                "display": format_value(row.get(code), unit),
                "unit": unit,
                "url": f"{drill}?{_query(params, kpi=code, **keys)}",
            }
            for code, unit in codes
        ]

    rows = [
        {
            "label": exports.row_label(row, table.interval),
            "cells": cells(row, _drill_keys(row, group_by)),
        }
        for row in table.rows
    ]
    rows.append({"label": _("Total"), "cells": cells(table.totals or {}, {}), "total": True})
    return rows


@login_required
def reports_view(request):
    user = _reports_user(request)
    organization = user.organization
    # A first visit shows the default report, with the filters showing what it is.
    form = ReportForm(request.GET or DEFAULT_FILTERS, organization=organization)
    context = {
        "form": form,
        "period_choices": schedules.PERIODS,
        "definitions": _definitions(kpi_catalogue()),
        "org_time_zone": organization.time_zone,
    }
    table = None
    if form.is_valid():
        report = form.report()
        try:
            table = exports.report_table(organization=organization, report=report)
        except ValidationError as exc:  # a combination the KPI core refuses, said plainly
            form.add_error(None, exc)
    if table is not None:
        shown = form.params(relative=False)
        context.update(
            report=report,
            table=table,
            columns=[
                {
                    "code": code,
                    "label": label,
                    "unit": unit,
                    "formula": kpi_catalogue()[code].formula if code in kpi_catalogue() else "",
                }
                for code, label, unit in table.columns
            ],
            rows=_table_rows(table, shown, report.group_by),
            chart=_chart(table),
            export_hidden=_hidden(shown),
            subscribe_hidden=_hidden(form.params(relative=True)),
            subscription_form=SubscriptionForm(
                prefix="sub",
                initial={
                    "name": _("Report by %(group)s") % {"group": dict(GROUP_BY)[report.group_by]},
                    "recipients": user.email,
                    "period": ""
                    if form.cleaned_data["period"] == "custom"
                    else form.cleaned_data["period"],
                },
            ),
        )
    return render(request, "reports/report.html", context, status=200 if table else 400)


@login_required
def drilldown_view(request):
    """The interactions behind one figure: the report's filters, a KPI and a group value."""
    from apps.reports.selectors import kpi_interactions, period_end

    user = _reports_user(request)
    organization = user.organization
    form = ReportForm(request.GET, organization=organization)
    kpi = request.GET.get("kpi", "")
    if not form.is_valid() or kpi not in kpi_catalogue():
        return render(
            request, "reports/drilldown.html", {"form": form, "invalid": True}, status=400
        )
    report = form.report()
    filters = report.filters
    at = _period_start(request.GET.get("at", ""), organization)
    if at is not None:  # one period's row: its bounds within the report's
        end = period_end(at, report.interval or "day")
        filters = replace(filters, start=max(filters.start, at), end=min(filters.end, end))
    has_group = "group" in request.GET and report.group_by not in ("none", "interval")
    group = request.GET.get("group", "")
    try:
        interactions = kpi_interactions(
            organization=organization,
            filters=filters,
            kpi=kpi,
            group_by=report.group_by if has_group else "none",
            group_value=group,
        ).select_related("queue", "assigned_agent", "contact")
    except (ValidationError, ValueError):
        return render(
            request, "reports/drilldown.html", {"form": form, "invalid": True}, status=400
        )
    page = Paginator(interactions, settings.REPORTS_DRILLDOWN_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    params = form.params(relative=False)
    keys = {k: request.GET[k] for k in ("at", "group") if k in request.GET}
    base = _query(params, kpi=kpi, **keys)
    return render(
        request,
        "reports/drilldown.html",
        {
            "form": form,
            "report": report,
            "kpi": _definitions([kpi])[0],
            "group": _group_label(report.group_by, group, organization) if has_group else "",
            "at": exports.period_label(at.isoformat(), report.interval) if at else "",
            "page": page,
            "page_query": base,
            "back_url": f"{reverse('reports')}?{_query(params)}",
            "org_time_zone": organization.time_zone,
        },
    )


def _period_start(raw: str, organization):
    """``at`` of a drill-down link: an ISO datetime, read in the organization's zone."""
    if not raw:
        return None
    try:
        start = datetime.fromisoformat(raw)
    except ValueError:
        return None
    tz = schedules.organization_tz(organization)
    return start.replace(tzinfo=tz) if start.tzinfo is None else start.astimezone(tz)


def _group_label(group_by: str, value: str, organization) -> str:
    """The drill-down's title for a group: a queue's, agent's or team's name, a channel…"""
    from django.contrib.auth import get_user_model

    from apps.accounts.models import Team
    from apps.contacts.models import Tier
    from apps.interactions.models import Channel, Direction
    from apps.queues.models import Queue

    if value == "":
        return _("None")
    models = {"queue": Queue, "team": Team, "agent": get_user_model()}
    if group_by in models and value.isdigit():
        row = models[group_by].objects.filter(organization=organization, pk=value).first()
        if row is None:
            return value
        return (row.get_full_name() or row.username) if group_by == "agent" else str(row)
    choices = {"channel": Channel, "direction": Direction, "tier": Tier}.get(group_by)
    return str(dict(choices.choices).get(value, value)) if choices else value


def _params_from_post(request, organization):
    form = ReportForm(request.POST, organization=organization)
    if not form.is_valid():
        return None
    return form


@login_required
@require_POST
def export_view(request):
    """ "Export CSV/XLSX" (the report shown) and "Export interactions": the file at once when
    small, otherwise a job and the exports page."""
    user = _reports_user(request)
    form = _params_from_post(request, user.organization)
    what, _sep, file_format = request.POST.get("export", "").partition(":")
    if form is None or what not in ExportJob.Kind.values or file_format not in ExportFormat.values:
        return HttpResponse(_("Nothing to export: check the filters."), status=400)
    result = exports.export_request(
        organization=user.organization,
        user=user,
        kind=what,
        params=form.params(relative=False),
        file_format=file_format,
    )
    if isinstance(result, ExportJob):
        messages.success(
            request, _("The export is being prepared: it will be listed here when ready.")
        )
        return redirect("reports-exports")
    name, content, mimetype = result
    response = HttpResponse(content, content_type=mimetype)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
def exports_view(request):
    """My exports, with their progress (the list polls itself while one is unfinished)."""
    user = _reports_user(request)
    jobs = list(
        ExportJob.objects.filter(organization_id=user.organization_id, requested_by=user)[:50]
    )
    context = {
        "org_time_zone": user.organization.time_zone,
        "jobs": jobs,
        "pending": any(
            j.status in (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING) for j in jobs
        ),
    }
    if request.htmx:
        return render(request, "reports/_export_rows.html", context)
    return render(request, "reports/exports.html", context)


@login_required
def export_download_view(request, pk: int):
    """An export's file: only staff of its organization who see reports."""
    user = _reports_user(request)
    job = ExportJob.objects.filter(organization_id=user.organization_id, pk=pk).first()
    if job is None:
        raise Http404
    if job.status != ExportJob.Status.DONE or not job.file:
        raise Http404(_("This export has no file (not ready, failed or expired)."))
    return FileResponse(
        job.file.open("rb"),
        as_attachment=True,
        filename=job.filename,
        content_type=exports.mimetype(job.file_format),
    )


@login_required
def subscriptions_view(request):
    user = _reports_user(request)
    subscriptions = ReportSubscription.objects.filter(
        organization_id=user.organization_id, user=user
    )
    return render(
        request,
        "reports/subscriptions.html",
        {"subscriptions": subscriptions, "org_time_zone": user.organization.time_zone},
    )


@login_required
@require_POST
def subscribe_view(request):
    """ "Subscribe": the report shown (its period kept relative) by e-mail, daily or weekly."""
    user = _reports_user(request)
    report_form = _params_from_post(request, user.organization)
    form = SubscriptionForm(request.POST, prefix="sub")
    if report_form is None or not form.is_valid():
        errors = form.errors.as_text() if report_form is not None else _("Check the filters.")
        messages.error(request, _("Not subscribed: %(errors)s") % {"errors": errors})
        return redirect(f"{reverse('reports')}?{urlencode(request.POST, doseq=True)}")
    params = report_form.params(relative=True)
    period = form.cleaned_data.get("period")
    if period:
        params.update(period=period)
        params.pop("start", None)
        params.pop("end", None)
    elif params.get("period") == "custom":
        # Fixed dates would send the same figures every time: use the matching relative one.
        params = {k: v for k, v in params.items() if k not in ("start", "end", "period")}
    subscription = form.save(commit=False)
    subscription.organization = user.organization
    subscription.user = user
    subscription.params = params
    schedules.subscription_save(subscription=subscription)
    messages.success(request, _("Subscribed: “%(name)s”.") % {"name": subscription.name})
    return redirect("reports-subscriptions")


@login_required
@require_POST
def unsubscribe_view(request, pk: int):
    user = _reports_user(request)
    subscription = ReportSubscription.objects.filter(
        organization_id=user.organization_id, user=user, pk=pk
    ).first()
    if subscription is None:
        raise Http404
    schedules.subscription_delete(subscription=subscription)
    messages.success(request, _("Unsubscribed."))
    return redirect("reports-subscriptions")
