"""Large exports of the report pages: an interaction export job (CSV and XLSX) over N rows.

    .venv/bin/python bench/report_exports.py            # 100,000 interactions
    .venv/bin/python bench/report_exports.py --rows 20000

Works in a throwaway SQLite database (or ``DATABASE_URL`` if set: it must be a scratch one).
Setup is bulk and not measured: one organization, one queue, N interactions and their facts.
Measured: ``export_job_run`` for CSV and XLSX (rows/s and peak Python memory from tracemalloc),
against a baseline in the same run: ``csv.writer`` over the same rows read by the same selector
(``raw_csv_ratio`` = job time ÷ baseline time). The last line is the summary.
"""

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="bench-exports-")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{scratch}/bench.sqlite3")
    os.environ["CC_VAR_DIR"] = scratch
    os.environ["DJANGO_SETTINGS_MODULE"] = "contactcenter.settings"
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.MEDIA_ROOT = Path(scratch) / "media"
    call_command("migrate", verbosity=0)
    import csv
    import io
    from datetime import UTC, datetime, timedelta

    from apps.accounts.models import Organization
    from apps.contacts.models import Contact
    from apps.interactions.models import Interaction
    from apps.queues.models import Queue
    from apps.reports import exports
    from apps.reports.models import ExportJob, InteractionFact
    from apps.reports.selectors import ReportFilters, interaction_export_rows

    org = Organization.objects.create(name="Bench", slug="bench", time_zone="Europe/Paris")
    queue = Queue.objects.create(organization=org, name="Bench queue")
    contact = Contact.objects.create(organization=org, first_name="Bench", last_name="Caller")
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create(username="bench-manager", organization=org)
    start = datetime(2026, 3, 2, tzinfo=UTC)
    t0 = time.perf_counter()
    for offset in range(0, args.rows, 5000):
        batch = min(5000, args.rows - offset)
        created = Interaction.objects.bulk_create(
            Interaction(
                organization=org, channel="voice", direction="inbound", contact=contact, queue=queue
            )
            for _ in range(batch)
        )
        InteractionFact.objects.bulk_create(
            InteractionFact(
                organization=org,
                interaction_id=i.pk,
                started_at=start + timedelta(seconds=(offset + n) * 20),
                started_epoch=0,
                bucket=start,
                queue=queue,
                channel="voice",
                direction="inbound",
                offered=1,
                answered=1,
                handled=1,
                wait_seconds=12,
                talk_seconds=180,
            )
            for n, i in enumerate(created)
        )
    print(f"setup: {args.rows} interactions in {time.perf_counter() - t0:.1f} s")
    params = {"period": "custom", "start": "2026-03-01", "end": "2026-04-30"}
    end = datetime(2026, 5, 1, tzinfo=UTC)

    # Baseline: the same rows, csv.writer into memory, nothing else.
    t0 = time.perf_counter()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in interaction_export_rows(
        organization=org, filters=ReportFilters(start=start - timedelta(days=2), end=end)
    ):
        writer.writerow(row)
    baseline = time.perf_counter() - t0
    print(f"baseline csv.writer: {baseline:.2f} s")

    def run(file_format: str) -> ExportJob:
        job = ExportJob.objects.create(
            organization=org,
            requested_by=user,
            kind="interactions",
            file_format=file_format,
            params=params,
        )
        exports.export_job_run(job_id=job.pk)
        job.refresh_from_db()
        assert job.status == "done" and job.rows_done == args.rows, (job.status, job.error)
        return job

    figures = {}
    for file_format in ("csv", "xlsx"):
        t0 = time.perf_counter()
        job = run(file_format)
        elapsed = time.perf_counter() - t0
        # Memory in a second run: tracemalloc slows Python down several times.
        tracemalloc.start()
        run(file_format)
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        size = Path(job.file.path).stat().st_size
        figures[file_format] = (elapsed, peak)
        print(
            f"{file_format}: {args.rows / elapsed:,.0f} rows/s, {elapsed:.2f} s, "
            f"peak {peak / 2**20:.1f} MiB, file {size / 2**20:.1f} MiB"
        )
    csv_s, csv_peak = figures["csv"]
    xlsx_s, xlsx_peak = figures["xlsx"]
    print(
        f"report_exports: rows={args.rows} csv_rows_per_s={args.rows / csv_s:.0f} "
        f"xlsx_rows_per_s={args.rows / xlsx_s:.0f} csv_peak_mib={csv_peak / 2**20:.1f} "
        f"xlsx_peak_mib={xlsx_peak / 2**20:.1f} raw_csv_ratio={csv_s / baseline:.2f}"
    )


if __name__ == "__main__":
    main()
