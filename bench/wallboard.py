"""The live wallboard and alert evaluation on PostgreSQL: how long one board takes to read.

    .venv/bin/python bench/wallboard.py --quick     # 20 queues, 20,000 today + 200,000 before
    .venv/bin/python bench/wallboard.py             # 50 queues, 100,000 today + 2,000,000 before

Like ``bench/routing.py`` it needs nothing set: without a postgres ``DATABASE_URL`` it starts
``scripts/test-services.sh`` and works in its own database (``contactcenter_bench_live``, dropped
at the end unless ``--keep``). Setup (not measured) inserts the rows with one SQL statement each:
one organization in Europe/Paris, Q queues, N interactions queued today (answered within or past
the SLA, abandoned, a few hundred still waiting) and H in the 60 days before, on five channels.

Measured: ``apps.reports.live.wallboard`` (everything a wallboard socket reads on each update)
and ``apps.reports.alerts.alerts_evaluate`` with one rule per queue, p50/p95 of R runs; the
baseline is a hand-written SQL aggregate of the same figures over the same rows in the same run
(``raw_sql_ratio`` = board p50 ÷ baseline p50). Then the same again without the index on
(queue, queued_at) (``interactions`` migration 0009) to show what it buys. Last line:

    wallboard: rows=… board_p50_ms=… board_p95_ms=… alerts_p50_ms=… raw_sql_ratio=…
        unindexed_board_p50_ms=…   (on the same line)
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from routing import (  # noqa: E402
    code_version,
    django_setup,
    ensure_postgres,
    recreate_database,
    stop_services,
    with_database,
)

CHANNELS = ["voice", "webchat", "email", "whatsapp", "sms"]


def setup(queues: int, today: int, before: int):
    from django.db import connection

    from apps.accounts.models import Organization, Plan, Subscription
    from apps.contacts.models import Contact
    from apps.queues.models import Queue
    from apps.queues.selectors import organization_day_start
    from apps.reports.models import AlertRule

    plan = Plan.objects.create(name="Bench", code="bench")
    org = Organization.objects.create(name="Bench", slug="bench", time_zone="Europe/Paris")
    Subscription.objects.create(organization=org, plan=plan)
    contact = Contact.objects.create(organization=org, first_name="Bench")
    queue_ids = [
        Queue.objects.create(organization=org, name=f"Q{n:03d}", sla_seconds=20 + n % 3 * 10).pk
        for n in range(queues)
    ]
    for pk in queue_ids:
        AlertRule.objects.create(
            organization=org, name=f"SLA {pk}", metric="service_level", threshold=80, queue_id=pk
        )
    start = organization_day_start(organization=org)
    insert = """
        INSERT INTO interactions_interaction (organization_id, created_at, updated_at, channel,
            direction, state, contact_id, queue_id, subject, reason, priority, language,
            provider_ref, wrap_up_notes, data, queued_at, answered_at)
        SELECT %(org)s, t, t, (%(channels)s::text[])[1 + g %% 5], 'inbound',
            CASE WHEN g %% 10 = 0 THEN 'abandoned' ELSE 'closed' END,
            %(contact)s, (%(queues)s::bigint[])[1 + g %% %(nqueues)s], '', '', 0, '', '', '',
            '{}', t,
            CASE WHEN g %% 10 = 0 THEN NULL ELSE t + make_interval(secs => g %% 45) END
        FROM (SELECT g, %(lo)s::timestamptz + (g * %(step)s) * interval '1 second' AS t
              FROM generate_series(1, %(n)s) AS g) AS s
    """
    now = time.time()
    day_seconds = max(60, now - start.timestamp() - 60)
    with connection.cursor() as cursor:
        base = {
            "org": org.pk,
            "contact": contact.pk,
            "queues": queue_ids,
            "nqueues": queues,
            "channels": CHANNELS,
        }
        cursor.execute(
            insert,
            {**base, "lo": start, "step": day_seconds / today, "n": today},
        )
        cursor.execute(
            insert,
            {
                **base,
                "lo": start,  # and backwards from there
                "step": -60 * 86400 / before,
                "n": before,
            },
        )
        # A few hundred waiting now.
        cursor.execute(
            """UPDATE interactions_interaction SET state = 'queued', answered_at = NULL,
               queued_at = now() - (id %% 300) * interval '1 second'
               WHERE id IN (SELECT id FROM interactions_interaction
                            WHERE organization_id = %s ORDER BY id DESC LIMIT 300)""",
            [org.pk],
        )
        cursor.execute("ANALYZE interactions_interaction")
    return org, start


RAW_SQL = """
    SELECT i.queue_id, i.channel, count(*),
           count(*) FILTER (WHERE i.answered_at IS NOT NULL),
           count(*) FILTER (WHERE i.state = 'abandoned' AND i.answered_at IS NULL),
           count(*) FILTER (
               WHERE i.answered_at <= i.queued_at + make_interval(secs => q.sla_seconds))
    FROM interactions_interaction i JOIN queues_queue q ON q.id = i.queue_id
    WHERE i.organization_id = %s AND i.queued_at >= %s
    GROUP BY 1, 2
"""


def timed(fn, runs: int) -> tuple[float, float]:
    fn()  # warm
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, round(0.95 * len(samples)) - 1)]


def measure(org, start, runs: int) -> dict:
    from django.db import connection

    from apps.reports.alerts import alerts_evaluate
    from apps.reports.live import wallboard

    def raw():
        with connection.cursor() as cursor:
            cursor.execute(RAW_SQL, [org.pk, start])
            cursor.fetchall()
            cursor.execute(
                "SELECT queue_id, channel, count(*), min(queued_at) FROM interactions_interaction"
                " WHERE organization_id = %s AND state = 'queued' GROUP BY 1, 2",
                [org.pk],
            )
            cursor.fetchall()

    board = timed(lambda: wallboard(organization=org), runs)
    evaluate = timed(lambda: alerts_evaluate(organization=org), runs)
    baseline = timed(raw, runs)
    return {"board": board, "alerts": evaluate, "raw": baseline}


def drop_database(url: str, name: str) -> None:
    """Autovacuum may still be analysing the rows just loaded (a backend we may not end)."""
    import psycopg

    for _ in range(30):
        try:
            recreate_database(url, name, drop_only=True)
            return
        except psycopg.errors.InsufficientPrivilege:
            time.sleep(2)
    print(f"could not drop {name}: drop it by hand")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--queues", type=int)
    parser.add_argument("--today", type=int)
    parser.add_argument("--before", type=int)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--db-name", default="contactcenter_bench_live")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    queues = args.queues or (20 if args.quick else 50)
    today = args.today or (20_000 if args.quick else 100_000)
    before = args.before or (200_000 if args.quick else 2_000_000)

    url, started = ensure_postgres()
    bench_url = with_database(url, args.db_name)
    recreate_database(url, args.db_name)
    try:
        django_setup(bench_url, "WARNING")
        t = time.perf_counter()
        org, start = setup(queues, today, before)
        print(
            f"code {code_version()}; {queues} queues, {today} today, {before} before; "
            f"setup {time.perf_counter() - t:.1f} s"
        )
        indexed = measure(org, start, args.runs)
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("DROP INDEX interaction_queue_queued_at")
            cursor.execute("ANALYZE interactions_interaction")
        plain = measure(org, start, args.runs)
        for label, figures in (("as migrated", indexed), ("without (queue, queued_at)", plain)):
            print(
                f"{label}: board p50 {figures['board'][0]:.1f} ms p95 {figures['board'][1]:.1f} ms;"
                f" alerts ({queues} rules) p50 {figures['alerts'][0]:.1f} ms;"
                f" hand-written SQL p50 {figures['raw'][0]:.1f} ms"
            )
        print(
            f"wallboard: rows={today + before} board_p50_ms={indexed['board'][0]:.1f}"
            f" board_p95_ms={indexed['board'][1]:.1f} alerts_p50_ms={indexed['alerts'][0]:.1f}"
            f" raw_sql_ratio={indexed['board'][0] / indexed['raw'][0]:.2f}"
            f" unindexed_board_p50_ms={plain['board'][0]:.1f}"
        )
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(url, args.db_name)
        if started:
            stop_services()
    return 0


if __name__ == "__main__":
    sys.exit(main())
