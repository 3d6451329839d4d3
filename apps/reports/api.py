"""Report API (BI-friendly): KPI definitions, KPI tables as JSON/CSV/XLSX, the interactions
behind a figure, and a one-row-per-interaction export. Supervisors, managers, admins and
organization API keys (by their role); agents get 403."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpResponse, StreamingHttpResponse
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, renderers, serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import ORGANIZATION_PERMISSIONS
from apps.interactions.api import InteractionSerializer
from apps.reports import formats, selectors
from apps.reports.kpis import KPIS

VIEW_REPORTS = "reports.view_reports"


class CanSeeReports(permissions.BasePermission):
    message = "Reports are for supervisors, managers and administrators."

    def has_permission(self, request, view):
        return request.user.has_perm(VIEW_REPORTS)


class CSVRenderer(renderers.BaseRenderer):
    """Lets ``?format=csv`` through content negotiation (the view writes the file)."""

    media_type = "text/csv"
    format = "csv"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else str(data).encode()


class XLSXRenderer(CSVRenderer):
    media_type = formats.XLSX_TYPE
    format = "xlsx"


REPORT_PERMISSIONS = [*ORGANIZATION_PERMISSIONS, CanSeeReports]


class JsonErrorsMixin:
    """Errors are ``{"detail"}`` JSON even when a file format was asked for."""

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        self.request.accepted_renderer = renderers.JSONRenderer()
        self.request.accepted_media_type = "application/json"
        return response

    def _json_error(self, detail: str, status: int = 400) -> Response:
        self.request.accepted_renderer = renderers.JSONRenderer()
        self.request.accepted_media_type = "application/json"
        return Response({"detail": detail}, status=status)


def _moment(value: str, tz, *, end: bool) -> datetime:
    try:
        day = parse_date(value)
        moment = None if day else parse_datetime(value)
    except ValueError:
        day = moment = None
    if day is not None:
        # A date is a whole local day: ``to`` includes it.
        moment = datetime.combine(day + timedelta(days=1) if end else day, time())
    if moment is None:
        raise ValidationError({"to" if end else "from": _("Not a date or time: %s") % value})
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _many(request, name: str, *, integers: bool = False) -> list:
    values = [
        part.strip()
        for raw in request.query_params.getlist(name)
        for part in raw.split(",")
        if part.strip()
    ]
    if integers:
        try:
            return [int(v) for v in values]
        except ValueError as exc:
            raise ValidationError({name: _("Give ids (whole numbers).")}) from exc
    return values


def filters_from(request) -> selectors.ReportFilters:
    """The period (``from``, ``to``: ISO dates or times in the organization's zone; a date
    ``to`` includes that day) and the dimension filters of a request."""
    tz = ZoneInfo(request.organization.time_zone)
    start, end = request.query_params.get("from"), request.query_params.get("to")
    if not start or not end:
        raise ValidationError({"from": _("Give the period: from and to.")})
    return selectors.ReportFilters(
        start=_moment(start, tz, end=False),
        end=_moment(end, tz, end=True),
        queues=_many(request, "queue", integers=True),
        agents=_many(request, "agent", integers=True),
        teams=_many(request, "team", integers=True),
        channels=_many(request, "channel"),
        directions=_many(request, "direction"),
        tiers=_many(request, "tier"),
    )


FILTER_PARAMETERS = [
    OpenApiParameter("from", str, required=True, description="ISO date or time (local)"),
    OpenApiParameter("to", str, required=True, description="ISO date (included) or time"),
    *(
        OpenApiParameter(name, str, description="Repeat or separate with commas")
        for name in ("queue", "agent", "team", "channel", "direction", "tier")
    ),
]


class KpiSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()
    unit = serializers.CharField()
    formula = serializers.CharField()
    source = serializers.CharField()


class KpiDefinitionsView(APIView):
    """Every KPI with its unit and the formula shown to users."""

    permission_classes = REPORT_PERMISSIONS

    @extend_schema(responses=KpiSerializer(many=True))
    def get(self, request):
        return Response(
            [
                {
                    "code": kpi.code,
                    "label": str(kpi.label),
                    "unit": kpi.unit,
                    "formula": str(kpi.formula),
                    "source": kpi.source,
                }
                for kpi in KPIS.values()
            ]
        )


class ReportSerializer(serializers.Serializer):
    columns = serializers.ListField(child=serializers.DictField())
    rows = serializers.ListField(child=serializers.DictField())
    totals = serializers.DictField()
    group_by = serializers.CharField()
    interval = serializers.CharField(allow_null=True)
    currency = serializers.CharField()


def _attachment(content: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class ReportView(JsonErrorsMixin, APIView):
    """KPIs over a period, grouped (``group_by``) and/or cut by ``interval``; ``format=csv``
    or ``format=xlsx`` downloads the same table."""

    permission_classes = REPORT_PERMISSIONS
    renderer_classes = [renderers.JSONRenderer, CSVRenderer, XLSXRenderer]

    @extend_schema(
        parameters=[
            *FILTER_PARAMETERS,
            OpenApiParameter("group_by", str, enum=selectors.GROUP_BYS),
            OpenApiParameter("interval", str, enum=selectors.INTERVALS),
            OpenApiParameter("kpis", str, description="KPI codes, comma-separated; empty: all"),
            OpenApiParameter("format", str, enum=formats.FORMATS),
        ],
        responses={
            200: ReportSerializer,
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, formats.XLSX_TYPE): OpenApiTypes.BINARY,
        },
    )
    def get(self, request, *args, **kwargs):
        table = selectors.kpi_report(
            organization=request.organization,
            filters=filters_from(request),
            group_by=request.query_params.get("group_by") or "none",
            interval=request.query_params.get("interval") or None,
            kpis=_many(request, "kpis"),
        )
        fmt = request.query_params.get("format") or "json"
        if fmt == "csv":
            return _attachment(
                formats.csv_bytes(formats.table_rows(table)), formats.CSV_TYPE, "report.csv"
            )
        if fmt == "xlsx":
            content = formats.xlsx_bytes(formats.table_rows(table), title="Report", table=table)
            return _attachment(content, formats.XLSX_TYPE, "report.xlsx")
        return Response(
            {
                "columns": [
                    {"code": code, "label": label, "unit": unit}
                    for code, label, unit in table.columns
                ],
                "rows": table.rows,
                "totals": table.totals,
                "group_by": table.group_by,
                "interval": table.interval,
                "currency": table.currency,
            }
        )


class InteractionExportView(JsonErrorsMixin, APIView):
    """One row per interaction offered in the period: CSV streamed (any size), XLSX up to
    ``REPORTS_XLSX_MAX_ROWS`` rows (larger: CSV, or the background export)."""

    permission_classes = REPORT_PERMISSIONS
    renderer_classes = [CSVRenderer, XLSXRenderer, renderers.JSONRenderer]

    @extend_schema(
        parameters=[
            *FILTER_PARAMETERS,
            OpenApiParameter("format", str, enum=("csv", "xlsx")),
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, formats.XLSX_TYPE): OpenApiTypes.BINARY,
        },
    )
    def get(self, request, *args, **kwargs):
        filters = filters_from(request)
        fmt = request.query_params.get("format") or "csv"
        rows = selectors.interaction_export_rows(organization=request.organization, filters=filters)
        if fmt == "xlsx":
            limit = settings.REPORTS_XLSX_MAX_ROWS
            count = selectors.interaction_export_count(
                organization=request.organization, filters=filters
            )
            if count > limit:
                return self._json_error(
                    _(
                        "%(count)s interactions is more than an XLSX download holds "
                        "(%(limit)s): download CSV (format=csv, streamed), narrow the "
                        "period, or run the export in the background from the reports page."
                    )
                    % {"count": count, "limit": limit}
                )
            return _attachment(
                formats.xlsx_bytes(rows, title="Interactions"),
                formats.XLSX_TYPE,
                "interactions.xlsx",
            )
        if fmt != "csv":
            raise ValidationError({"format": _("Choose csv or xlsx.")})
        response = StreamingHttpResponse(formats.csv_lines(rows), content_type=formats.CSV_TYPE)
        response["Content-Disposition"] = 'attachment; filename="interactions.csv"'
        return response


class DrillDownView(ListAPIView):
    """The interactions behind one figure: the report's filters, ``kpi``, and the row
    (``group_by`` with ``group``: its ``group`` value; an interval row's ISO start)."""

    permission_classes = REPORT_PERMISSIONS
    serializer_class = InteractionSerializer
    filter_backends: list = []

    @extend_schema(
        parameters=[
            *FILTER_PARAMETERS,
            OpenApiParameter("kpi", str, required=True, enum=list(KPIS)),
            OpenApiParameter("group_by", str, enum=selectors.GROUP_BYS),
            OpenApiParameter("interval", str, enum=selectors.INTERVALS),
            OpenApiParameter("group", str, description="The row's group value"),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        request = self.request
        group = request.query_params.get("group")
        group_by = request.query_params.get("group_by") or "none"
        if group not in (None, "") and group_by in ("agent", "team", "queue"):
            try:
                group = int(group)
            except ValueError as exc:
                raise ValidationError({"group": _("Give an id.")}) from exc
        return (
            selectors.kpi_interactions(
                organization=request.organization,
                filters=filters_from(request),
                kpi=request.query_params.get("kpi", ""),
                group_by=group_by,
                group_value=group,
                interval=request.query_params.get("interval") or None,
            )
            .select_related("disposition")
            .prefetch_related("tags")
        )
