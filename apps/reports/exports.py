"""Exports of the report pages: the report shown (CSV/XLSX) and one row per interaction.

Small exports are written in the request; larger ones (more rows than
``REPORTS_SYNC_EXPORT_MAX_ROWS``) become an ``ExportJob`` that a Celery task writes, batch by
batch, with its progress, into a file downloaded through an access-checked view.

A job is idempotent: each run takes the next ``attempt`` under a row lock and writes to a
temporary file that replaces the job's file only when complete, and only if that attempt is
still the latest; a task that finds the job done does nothing. So a retried or redelivered task
never writes a row twice.
"""

from __future__ import annotations

import csv
import io
import logging
import tempfile
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.reports.formats import csv_cell, xlsx_cell
from apps.reports.models import ExportFormat, ExportJob

logger = logging.getLogger(__name__)

CSV_MIME = "text/csv; charset=utf-8"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BATCH_ROWS = 500


def mimetype(file_format: str) -> str:
    return XLSX_MIME if file_format == ExportFormat.XLSX else CSV_MIME


# --- What a report is ---------------------------------------------------------------------------


def report_read(*, organization, params: dict, today: date | None = None):
    """The valid form and its ``Report`` for stored ``params``; invalid ids (a queue since
    deleted, another organization's) are dropped rather than failing a scheduled report."""
    from apps.reports.forms import ReportForm

    form = ReportForm.from_params(params, organization=organization, today=today)
    if not form.is_valid():
        cleaned = {k: v for k, v in params.items() if k not in form.errors}
        form = ReportForm.from_params(cleaned, organization=organization, today=today)
        if not form.is_valid():
            raise ValueError(form.errors.as_text())
    return form, form.report()


def report_table(*, organization, report):
    from apps.reports.selectors import kpi_report

    return kpi_report(
        organization=organization,
        filters=report.filters,
        group_by=report.group_by,
        interval=report.interval,
        kpis=list(report.kpis),
    )


def _cell(value):
    if isinstance(value, float):
        return round(value, 4)
    return value


def period_label(iso: str, interval: str | None) -> str:
    """An interval's start as the table shows it (local time, as precise as the interval)."""
    start = datetime.fromisoformat(iso)
    if interval in ("15m", "30m", "60m"):
        return start.strftime("%Y-%m-%d %H:%M")
    if interval == "month":
        return start.strftime("%Y-%m")
    return start.strftime("%Y-%m-%d")


def row_label(row: dict, interval: str | None) -> str:
    """A row's name: its group, after its period when it has both."""
    label = str(row.get("label", row.get("group", "")))
    if row.get("interval"):
        return f"{period_label(row['interval'], interval)} · {label}"
    return label


def report_rows(table) -> Iterator[list]:
    """The table as rows of cells: a header (label and unit), its rows, then the totals."""
    per_period = any(row.get("interval") for row in table.rows)
    codes = [code for code, _label, _unit in table.columns]
    head = [_("Period")] if per_period else []
    units = {"money": getattr(table, "currency", "") or "money"}
    yield [
        *head,
        _("Group"),
        *[f"{label} ({units.get(unit, unit)})" for _code, label, unit in table.columns],
    ]
    for row in table.rows:
        when = [period_label(row["interval"], table.interval)] if per_period else []
        label = str(row.get("label", row.get("group", "")))
        yield [*when, label, *[_cell(row.get(c)) for c in codes]]
    totals = table.totals or {}
    yield [*([""] if per_period else []), _("Total"), *[_cell(totals.get(c)) for c in codes]]


def report_filename(report, file_format: str, prefix: str = "report") -> str:
    first, last = report.first_day.isoformat(), report.last_day.isoformat()
    span = first if first == last else f"{first}_{last}"
    return f"{prefix}-{report.group_by}-{span}.{file_format}"


# --- One row per interaction: the KPI core's export (apps.reports.selectors) -------------------


# --- Writers ------------------------------------------------------------------------------------


def _csv_value(value):
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return csv_cell(value)  # names typed by people never run as spreadsheet formulas


def write_csv(rows: Iterable[list], fileobj, progress=None) -> int:
    """Write rows to a binary file as UTF-8 CSV (BOM for spreadsheet programs); returns the
    number of data rows (the header excluded)."""
    text = io.TextIOWrapper(fileobj, encoding="utf-8-sig", newline="", write_through=True)
    writer = csv.writer(text)
    count = -1
    for count, row in enumerate(rows):  # noqa: B007
        writer.writerow([_csv_value(v) for v in row])
        if progress and count and count % BATCH_ROWS == 0:
            progress(count)
    text.detach()
    return max(count, 0)


def write_xlsx(rows: Iterable[list], fileobj, progress=None, title: str = "") -> int:
    """Write rows to a binary file as XLSX, in openpyxl's write-only (streaming) mode."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=(title or _("Report"))[:31])
    count = -1
    for count, row in enumerate(rows):  # noqa: B007
        sheet.append([xlsx_cell(v) for v in row])
        if progress and count and count % BATCH_ROWS == 0:
            progress(count)
    workbook.save(fileobj)
    return max(count, 0)


def write_rows(rows: Iterable[list], fileobj, file_format: str, progress=None) -> int:
    if file_format == ExportFormat.XLSX:
        return write_xlsx(rows, fileobj, progress)
    return write_csv(rows, fileobj, progress)


def _render(rows: Iterable[list], file_format: str) -> bytes:
    buffer = io.BytesIO()
    write_rows(rows, buffer, file_format)
    return buffer.getvalue()


# --- What an export is: rows, count, file name ----------------------------------------------------


def _export_source(*, organization, kind: str, params: dict, file_format: str, today=None):
    """(row count, rows iterator factory, file name) of an export."""
    from apps.reports.selectors import interaction_export_count, interaction_export_rows

    _form, report = report_read(organization=organization, params=params, today=today)
    if kind == ExportJob.Kind.INTERACTIONS:
        filters = report.filters
        name = report_filename(report, file_format, prefix="interactions")
        return (
            lambda: interaction_export_count(organization=organization, filters=filters),
            lambda: interaction_export_rows(organization=organization, filters=filters),
            name,
        )
    table = report_table(organization=organization, report=report)
    return (
        (lambda: len(table.rows) + 1),
        (lambda: report_rows(table)),
        report_filename(report, file_format),
    )


def report_file(
    *, organization, params: dict, file_format: str, today: date | None = None
) -> tuple[str, bytes, str]:
    """The report ``params`` describe as a file: (file name, content, MIME type)."""
    _count, rows, name = _export_source(
        organization=organization,
        kind=ExportJob.Kind.REPORT,
        params=params,
        file_format=file_format,
        today=today,
    )
    return name, _render(rows(), file_format), mimetype(file_format)


def export_request(*, organization, user, kind: str, params: dict, file_format: str):
    """Either the file at once (``(name, content, MIME type)``) when it is small, or a new
    queued ``ExportJob`` (its task sent after commit) when it has more rows than
    ``REPORTS_SYNC_EXPORT_MAX_ROWS``."""
    count, rows, name = _export_source(
        organization=organization, kind=kind, params=params, file_format=file_format
    )
    if count() <= settings.REPORTS_SYNC_EXPORT_MAX_ROWS:
        return name, _render(rows(), file_format), mimetype(file_format)
    return export_job_create(
        organization=organization, user=user, kind=kind, params=params, file_format=file_format
    )


def export_job_create(*, organization, user, kind: str, params: dict, file_format: str):
    from apps.reports.page_tasks import export_job_run_task

    job = ExportJob.objects.create(
        organization=organization,
        requested_by=user,
        kind=kind,
        params=params,
        file_format=file_format,
    )
    transaction.on_commit(lambda: export_job_run_task.delay(job.pk))
    logger.info("reports.export_queued", extra={"job": job.pk, "kind": kind})
    return job


def _claim(job_id: int) -> ExportJob | None:
    """Take the job for one run (the next attempt), or None when it is finished or another
    worker is alive on it."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.REPORTS_EXPORT_STALE_SECONDS)
    with transaction.atomic():
        job = (
            ExportJob.objects.select_for_update()
            .select_related("organization")
            .filter(pk=job_id)
            .first()
        )
        if job is None or job.status not in (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING):
            return None
        if job.status == ExportJob.Status.RUNNING and (job.heartbeat_at or now) > stale:
            return None
        job.attempt += 1
        job.status = ExportJob.Status.RUNNING
        job.rows_done = 0
        job.started_at = job.heartbeat_at = now
        job.error = ""
        job.save(
            update_fields=["attempt", "status", "rows_done", "started_at", "heartbeat_at", "error"]
        )
    return job


class _Superseded(Exception):
    """A later attempt took the job over: this one stops without touching it."""


def export_job_run(*, job_id: int) -> ExportJob | None:
    """Write the job's file (one run of the task); returns the job, or None when there was
    nothing to do."""
    job = _claim(job_id)
    if job is None:
        return None
    mine = ExportJob.objects.filter(pk=job.pk, attempt=job.attempt)
    try:
        total, rows, name = _export_source(
            organization=job.organization,
            kind=job.kind,
            params=job.params,
            file_format=job.file_format,
            today=timezone.localdate(job.created_at, _tz(job.organization)),
        )
        job.rows_total = total()
        if not mine.update(rows_total=job.rows_total, heartbeat_at=timezone.now()):
            raise _Superseded

        def progress(done: int) -> None:
            if not mine.update(rows_done=done, heartbeat_at=timezone.now()):
                raise _Superseded

        with tempfile.TemporaryFile() as scratch:
            written = write_rows(rows(), scratch, job.file_format, progress)
            scratch.seek(0)
            with transaction.atomic():
                current = ExportJob.objects.select_for_update().filter(pk=job.pk).first()
                if current is None or current.attempt != job.attempt:
                    raise _Superseded
                if current.file:
                    current.file.delete(save=False)
                current.file.save(name, File(scratch), save=False)
                current.filename = name
                current.rows_done = written
                current.rows_total = written
                current.status = ExportJob.Status.DONE
                current.finished_at = timezone.now()
                current.save(
                    update_fields=[
                        "file",
                        "filename",
                        "rows_done",
                        "rows_total",
                        "status",
                        "finished_at",
                    ]
                )
    except _Superseded:
        logger.info("reports.export_superseded", extra={"job": job.pk, "attempt": job.attempt})
        return None
    except ValueError as exc:  # the filters no longer make a report: not worth retrying
        mine.update(status=ExportJob.Status.FAILED, error=str(exc), finished_at=timezone.now())
        return ExportJob.objects.get(pk=job.pk)
    except Exception:
        # Back in line, so the task's retry (or a redelivery) may claim it again at once.
        mine.update(status=ExportJob.Status.QUEUED, heartbeat_at=None)
        raise
    logger.info("reports.export_done", extra={"job": job.pk, "rows": written})
    return current


def export_job_fail(*, job_id: int, error: str) -> None:
    """The task gave up: say so on the job (unless it finished meanwhile)."""
    ExportJob.objects.filter(
        pk=job_id, status__in=[ExportJob.Status.QUEUED, ExportJob.Status.RUNNING]
    ).update(status=ExportJob.Status.FAILED, error=error[:2000], finished_at=timezone.now())


def _tz(organization):
    from apps.reports.schedules import organization_tz

    return organization_tz(organization)


def exports_purge(*, now: datetime | None = None) -> int:
    """Delete export files older than ``REPORTS_EXPORT_RETENTION_DAYS``; the jobs stay, marked
    expired, so the list still says what was asked. Returns how many files went."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.REPORTS_EXPORT_RETENTION_DAYS)
    purged = 0
    old = ExportJob.objects.filter(created_at__lt=cutoff).exclude(status=ExportJob.Status.EXPIRED)
    for job in old.iterator():
        if job.file:
            job.file.delete(save=False)
            purged += 1
        ExportJob.objects.filter(pk=job.pk).update(
            file="", status=ExportJob.Status.EXPIRED, attempt=F("attempt") + 1
        )
    return purged
