"""Exports of the report pages: small ones at once, large ones as a job with progress, files
read back (CSV and XLSX), downloads only for the organization's staff, retries idempotent."""

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from apps.reports import exports
from apps.reports.models import ExportJob
from apps.reports.page_tasks import export_job_run_task, exports_purge_task
from tests.reports.page_data import center

DAY = {"period": "custom", "start": "2026-03-03", "end": "2026-03-03"}


@pytest.fixture
def alpha(roles):
    return center(slug="alpha")


def _csv(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def _xlsx(content: bytes) -> list[tuple]:
    return list(
        load_workbook(io.BytesIO(content), read_only=True).active.iter_rows(values_only=True)
    )


def _export(client, user, what, **params):
    client.force_login(user)
    return client.post(reverse("reports-export"), {**DAY, "export": what, **params})


def test_small_report_export_downloads_at_once_as_csv(alpha, client):
    response = _export(
        client, alpha.manager, "report:csv", group_by="queue", kpis=["offered", "answered"]
    )
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="report-queue-2026-03-03.csv"'
    rows = _csv(response.content)
    assert rows[0] == ["Group", "Offered (count)", "Answered (count)"]
    assert sorted(rows[1:-1]) == sorted(
        [[alpha.billing.name, "2", "1"], [alpha.support.name, "1", "1"]]
    )
    assert rows[-1] == ["Total", "3", "2"]
    assert not ExportJob.objects.exists()


def test_small_report_export_as_xlsx(alpha, client):
    response = _export(client, alpha.manager, "report:xlsx", group_by="none", kpis=["offered"])
    assert response["Content-Type"] == exports.XLSX_MIME
    assert _xlsx(response.content) == [("Group", "Offered (count)"), ("All", 2 + 1), ("Total", 3)]


def test_large_interaction_export_runs_as_a_job(
    alpha, client, settings, django_capture_on_commit_callbacks
):
    settings.REPORTS_SYNC_EXPORT_MAX_ROWS = 2
    with django_capture_on_commit_callbacks(execute=True):
        response = _export(client, alpha.manager, "interactions:csv")
    assert response.status_code == 302 and response["Location"] == reverse("reports-exports")
    job = ExportJob.objects.get()
    assert (job.organization, job.requested_by, job.kind) == (
        alpha.org,
        alpha.manager,
        "interactions",
    )
    assert job.status == ExportJob.Status.DONE
    assert (job.rows_done, job.rows_total, job.percent) == (3, 3, 100)
    download = client.get(reverse("reports-export-download", args=[job.pk]))
    assert download.status_code == 200
    rows = _csv(b"".join(download.streaming_content))
    assert len(rows) == 4  # header + one row per interaction
    ids = {int(row[0]) for row in rows[1:]}
    assert ids == {x.pk for x in alpha.interactions.values()}
    page = client.get(reverse("reports-exports")).content.decode()
    assert reverse("reports-export-download", args=[job.pk]) in page


def test_large_xlsx_job_reads_back(alpha, settings, django_capture_on_commit_callbacks):
    settings.REPORTS_SYNC_EXPORT_MAX_ROWS = 0
    params = {**DAY, "group_by": "queue", "kpis": ["offered"]}
    with django_capture_on_commit_callbacks(execute=True):
        job = exports.export_request(
            organization=alpha.org,
            user=alpha.manager,
            kind="report",
            params=params,
            file_format="xlsx",
        )
    job.refresh_from_db()
    with job.file.open("rb") as f:
        rows = _xlsx(f.read())
    assert rows[0] == ("Group", "Offered (count)")
    assert set(rows[1:-1]) == {(alpha.billing.name, 2), (alpha.support.name, 1)}
    assert rows[-1] == ("Total", 3)


def test_progress_is_written_while_rows_stream(alpha):
    seen = []
    rows = ([n] for n in range(1201))  # a header and 1,200 rows
    written = exports.write_csv(rows, io.BytesIO(), progress=seen.append)
    assert written == 1200
    assert seen == [500, 1000]


def test_the_exports_page_polls_while_a_job_is_unfinished(alpha, client):
    ExportJob.objects.create(
        organization=alpha.org,
        requested_by=alpha.manager,
        kind="interactions",
        file_format="csv",
        status=ExportJob.Status.RUNNING,
        rows_done=40,
        rows_total=100,
    )
    client.force_login(alpha.manager)
    body = client.get(reverse("reports-exports")).content.decode()
    assert 'hx-trigger="every 2s"' in body
    assert 'value="40"' in body and "40 / 100" in body
    fragment = client.get(reverse("reports-exports"), HTTP_HX_REQUEST="true").content.decode()
    assert fragment.startswith('<div id="export-jobs"')


def _job(alpha, **kwargs):
    return ExportJob.objects.create(
        organization=alpha.org,
        requested_by=alpha.manager,
        kind="interactions",
        file_format="csv",
        params={**DAY},
        **kwargs,
    )


def test_download_is_refused_to_another_organization_and_to_agents(alpha, roles, client):
    job = _job(alpha)
    export_job_run_task.delay(job.pk)
    url = reverse("reports-export-download", args=[job.pk])
    beta = center(slug="beta")
    client.force_login(beta.admin)
    assert client.get(url).status_code == 404
    client.force_login(alpha.agent)
    assert client.get(url).status_code == 403
    client.force_login(alpha.supervisor)  # the organization's staff
    assert client.get(url).status_code == 200


def test_a_retried_task_does_not_write_twice(alpha, settings):
    job = _job(alpha)
    export_job_run_task.delay(job.pk)
    export_job_run_task.delay(job.pk)  # a retry or a redelivery of the same job
    job.refresh_from_db()
    assert job.attempt == 1 and job.status == ExportJob.Status.DONE
    with job.file.open("rb") as f:
        assert len(_csv(f.read())) == 4
    files = list(Path(settings.MEDIA_ROOT).rglob("*.csv"))
    assert len(files) == 1


def test_a_job_lost_with_its_worker_is_taken_over_and_its_partial_file_replaced(alpha, settings):
    from django.core.files.base import ContentFile

    job = _job(alpha)
    job.file.save("partial.csv", ContentFile(b"id\n1\n"), save=False)
    stale = timezone.now() - timedelta(seconds=settings.REPORTS_EXPORT_STALE_SECONDS + 1)
    ExportJob.objects.filter(pk=job.pk).update(
        file=job.file.name, status=ExportJob.Status.RUNNING, attempt=1, heartbeat_at=stale
    )
    export_job_run_task.delay(job.pk)
    job.refresh_from_db()
    assert (job.attempt, job.status, job.rows_done) == (2, ExportJob.Status.DONE, 3)
    assert [p.name for p in Path(settings.MEDIA_ROOT).rglob("*.csv")] == [Path(job.file.name).name]


def test_a_running_job_with_a_live_worker_is_left_alone(alpha):
    job = _job(alpha, status=ExportJob.Status.RUNNING, attempt=1, heartbeat_at=timezone.now())
    export_job_run_task.delay(job.pk)
    job.refresh_from_db()
    assert (job.attempt, job.status, bool(job.file)) == (1, ExportJob.Status.RUNNING, False)


def test_old_files_are_purged(alpha, settings):
    job = _job(alpha)
    export_job_run_task.delay(job.pk)
    job.refresh_from_db()
    path = Path(job.file.path)
    ExportJob.objects.filter(pk=job.pk).update(
        created_at=timezone.now() - timedelta(days=settings.REPORTS_EXPORT_RETENTION_DAYS + 1)
    )
    fresh = _job(alpha)
    export_job_run_task.delay(fresh.pk)
    assert exports_purge_task.delay().get() == 1
    job.refresh_from_db()
    assert job.status == ExportJob.Status.EXPIRED and not job.file and not path.exists()
    fresh.refresh_from_db()
    assert fresh.status == ExportJob.Status.DONE and Path(fresh.file.path).exists()


def test_names_typed_by_people_never_run_as_formulas(alpha, client):
    alpha.billing.name = "=HYPERLINK(1)"
    alpha.billing.save(update_fields=["name"])
    response = _export(client, alpha.manager, "report:csv", group_by="queue", kpis=["offered"])
    assert ["'=HYPERLINK(1)", "2"] in _csv(response.content)


def test_small_interaction_export_as_xlsx_has_one_row_per_interaction(alpha, client):
    response = _export(client, alpha.manager, "interactions:xlsx", queues=[alpha.billing.pk])
    assert response.status_code == 200
    rows = _xlsx(response.content)
    assert rows[0][0] == "interaction"
    assert {row[0] for row in rows[1:]} == {
        alpha.interactions["A1"].pk,
        alpha.interactions["A2"].pk,
    }
