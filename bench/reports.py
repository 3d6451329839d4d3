"""Historical reports benchmark on PostgreSQL: rollup build and dashboard query times.

Generates N interactions of one organization over ``--days`` with their events (created, the
state changes of queueing, offers — some missed —, answer, holds, transfers, wrap-up, close;
abandons and voicemails; outbound calls) and agents' presence changes, all set-based
(``INSERT … SELECT … generate_series`` in chunks, never the ORM row by row). Then it builds the
report facts and rollups from the events (``rollups_rebuild``, what
``manage.py reports_rollup --rebuild`` runs) and times, through ``kpi_report``:

* ``day_ms``: one day, every KPI, by hour (the supervisor's "today" dashboard), median of runs;
* ``month_ms``: one month, every KPI, by day, median of runs;
* ``rollup_p95_ms``: p95 of small rollup reads (one queue or one agent over a few hours, by
  15 minutes, a few KPIs), the reads a page makes per widget or drill-down.

Baseline in the same run: the month's figures by a hand-written SQL aggregate straight over
the interactions table (``queued_at``/``answered_at``/``ended_at``), what a report without
rollups would run; ``raw_sql_ratio`` is ``month_ms`` ÷ that query's time (below 1: the
dashboard through the rollups is faster than raw SQL over the same rows).

Without a postgres ``DATABASE_URL`` it starts ``scripts/test-services.sh`` (and stops it at the
end only if it started it); it works in its own database (``contactcenter_bench_reports``,
dropped at the end unless ``--keep``; ``--reuse`` measures a kept one again).

    .venv/bin/python bench/reports.py --interactions 1000000
    .venv/bin/python bench/reports.py                     # 10,000,000 over a year

The last line is the summary::

    reports: rows=… day_ms=… month_ms=… rollup_p95_ms=… raw_sql_ratio=…
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from routing import (  # noqa: E402
    code_version,
    ensure_postgres,
    recreate_database,
    stop_services,
    with_database,
)

START = datetime(2025, 1, 1, tzinfo=UTC)
TIME_ZONE = "Europe/Paris"


def django_setup(bench_url: str, *, migrate: bool) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "contactcenter.settings"
    os.environ["DATABASE_URL"] = bench_url
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- Data -----------------------------------------------------------------------------------


def build_center(args) -> int:
    """The organization, its queues, agents (in teams, with the Agent role) and contacts."""
    from django.contrib.auth.models import Group
    from django.db import connection

    from apps.accounts.models import Organization, Role, Team, User
    from apps.queues.models import Queue
    from apps.reports.models import ReportSettings

    org = Organization.objects.create(
        name="Bench Reports", slug="bench-reports", time_zone=TIME_ZONE
    )
    ReportSettings.objects.create(organization=org, cost_per_agent_hour=32)
    Queue.objects.bulk_create(
        [Queue(organization=org, name=f"Queue {n}", sla_seconds=20) for n in range(args.queues)]
    )
    joined = START - timedelta(days=400)
    User.objects.bulk_create(
        [
            User(
                organization=org,
                username=f"agent{n}",
                first_name="Agent",
                last_name=str(n),
                password="!",  # noqa: S106 (unusable)
                date_joined=joined,
            )
            for n in range(args.agents)
        ],
        batch_size=2000,
    )
    agents = list(User.objects.filter(organization=org).values_list("pk", flat=True))
    group, _ = Group.objects.get_or_create(name=Role.AGENT)
    User.groups.through.objects.bulk_create(
        [User.groups.through(user_id=pk, group_id=group.pk) for pk in agents]
    )
    teams = Team.objects.bulk_create(
        [Team(organization=org, name=f"Team {n}") for n in range(max(1, args.agents // 25))]
    )
    Team.members.through.objects.bulk_create(
        [
            Team.members.through(team_id=teams[i % len(teams)].pk, user_id=pk)
            for i, pk in enumerate(agents)
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO contacts_contact (created_at, updated_at, first_name, last_name, tier,
                language, time_zone, custom_fields, external_id, do_not_contact, organization_id)
            SELECT now(), now(), 'Client', g::text,
                (ARRAY['standard','standard','standard','standard','standard','standard',
                       'standard','silver','gold','vip'])[1 + abs(hashint8(g)) %% 10],
                'en', '', '{}'::jsonb, '', false, %s
            FROM generate_series(1, %s) AS g""",
            [org.pk, args.contacts],
        )
    return org.pk


# Every random choice is a hash of the interaction's number and a salt: the same N gives the
# same data on every run, without a random() per row the planner cannot see through.
PLAN = """
CREATE UNLOGGED TABLE bench_plan AS
SELECT g, p.*,
    p.t_queued + make_interval(secs => p.wait) AS t_answered
FROM generate_series(%(lo)s, %(hi)s) AS g,
LATERAL (SELECT
    %(org)s::bigint AS org,
    %(contact0)s + abs(hashint8(g * 11 + 1)) %% %(contacts)s AS contact,
    (%(queue_ids)s::bigint[])[1 + abs(hashint8(g * 11 + 2)) %% %(queues)s] AS queue,
    %(agent0)s + abs(hashint8(g * 11 + 3)) %% %(agents)s AS agent,
    (ARRAY['voice','voice','voice','voice','webchat','webchat','email','email','whatsapp','sms'])
        [1 + abs(hashint8(g * 11 + 4)) %% 10] AS channel,
    CASE WHEN abs(hashint8(g * 11 + 5)) %% 10 = 0 THEN 'outbound' ELSE 'inbound' END AS direction,
    CASE WHEN abs(hashint8(g * 11 + 6)) %% 100 < 8 THEN 'abandoned'
         WHEN abs(hashint8(g * 11 + 6)) %% 100 < 10 THEN 'voicemail'
         ELSE 'answered' END AS outcome,
    -- Calls arrive through the day: spread over the span, 07:00–21:00 in the center's zone.
    %(start)s::timestamptz + make_interval(days => ((g - 1) * %(days)s / %(n)s)::int,
        secs => 25200 + (abs(hashint8(g * 11 + 7)) %% 50400)) AS t_queued,
    1 + abs(hashint8(g * 11 + 8)) %% 90 AS wait,
    30 + abs(hashint8(g * 11 + 9)) %% 300 AS talk1,
    CASE WHEN abs(hashint8(g * 11 + 10)) %% 5 = 0 THEN 10 + abs(hashint8(g * 11 + 12)) %% 110
         ELSE 0 END AS hold,
    abs(hashint8(g * 11 + 13)) %% 300 AS talk2,
    abs(hashint8(g * 11 + 14)) %% 60 AS wrap,
    abs(hashint8(g * 11 + 15)) %% 100 < 4 AS missed,
    abs(hashint8(g * 11 + 16)) %% 100 < 3 AS transferred
) AS p
"""

INTERACTIONS = """
INSERT INTO interactions_interaction (id, created_at, updated_at, channel, direction, state,
    subject, reason, priority, language, provider_ref, wrap_up_notes, data, contact_id,
    organization_id, queue_id, assigned_agent_id, queued_at, answered_at, ended_at, closed_at)
SELECT g, t_queued - INTERVAL '5 seconds', t_queued, channel, direction,
    CASE WHEN direction = 'outbound' OR outcome = 'answered' THEN 'closed' ELSE outcome END,
    '', '', 0, 'en', '', '', '{}'::jsonb, contact, org,
    CASE WHEN direction = 'inbound' THEN queue END,
    CASE WHEN direction = 'outbound' OR outcome = 'answered' THEN agent END,
    CASE WHEN direction = 'inbound' THEN t_queued END,
    CASE WHEN direction = 'outbound' THEN t_queued
         WHEN outcome = 'answered' THEN t_answered END,
    CASE WHEN direction = 'outbound' OR outcome = 'answered'
         THEN t_answered + make_interval(secs => talk1 + hold + talk2)
         ELSE t_answered END,
    CASE WHEN direction = 'outbound' OR outcome = 'answered'
         THEN t_answered + make_interval(secs => talk1 + hold + talk2 + wrap) END
FROM bench_plan
"""


def _state(at: str, source: str, target: str, where: str, extra: str = "") -> str:
    data = f"jsonb_build_object('from', '{source}', 'to', '{target}'{extra})"
    return (
        f"SELECT org, g, contact, 'interaction.state_changed', 'system', {at}, {data} "
        f"FROM bench_plan WHERE {where}"  # noqa: S608 (fixed text)
    )


_TALK = "t_answered + make_interval(secs => talk1"
_QUEUED = "direction = 'inbound'"
_ANSWERED = "direction = 'inbound' AND outcome = 'answered'"
# Outbound calls start answered at t_queued (no queue): t_answered is shifted for them below.
EVENTS = [
    "SELECT org, g, contact, 'interaction.created', 'system', t_queued - INTERVAL '5 seconds', "
    "jsonb_build_object('channel', channel, 'direction', direction) FROM bench_plan",
    _state("t_queued", "new", "queued", _QUEUED),
    _state("t_queued + INTERVAL '1 second'", "queued", "offered", f"{_ANSWERED} AND missed"),
    _state(
        "t_queued + INTERVAL '1 second' + make_interval(secs => wait / 2)",
        "offered",
        "queued",
        f"{_ANSWERED} AND missed",
        ", 'reason', 'timed_out'",
    ),
    _state("t_answered - INTERVAL '1 second'", "queued", "offered", _ANSWERED),
    _state("t_answered", "offered", "active", _ANSWERED),
    _state("t_queued", "new", "active", "direction = 'outbound'"),
    _state(f"{_TALK})", "active", "on_hold", f"{_ANSWERED} AND hold > 0"),
    _state(f"{_TALK} + hold)", "on_hold", "active", f"{_ANSWERED} AND hold > 0"),
    "SELECT org, g, contact, 'interaction.transferred', 'user', "
    f"{_TALK} / 2), jsonb_build_object('from_agent', agent) "
    f"FROM bench_plan WHERE {_ANSWERED} AND transferred",  # noqa: S608
    _state(f"{_TALK} + hold + talk2)", "active", "wrap_up", _ANSWERED),
    _state(f"{_TALK} + hold + talk2 + wrap)", "wrap_up", "closed", _ANSWERED),
    _state("t_answered", "queued", "abandoned", f"{_QUEUED} AND outcome = 'abandoned'"),
    _state("t_answered", "queued", "voicemail", f"{_QUEUED} AND outcome = 'voicemail'"),
    # Outbound: t_answered - wait is the start (t_queued); talk from there.
    _state(
        "t_queued + make_interval(secs => talk1 + talk2)",
        "active",
        "wrap_up",
        "direction = 'outbound'",
    ),
    _state(
        "t_queued + make_interval(secs => talk1 + talk2 + wrap)",
        "wrap_up",
        "closed",
        "direction = 'outbound'",
    ),
]

PRESENCE = """
INSERT INTO interactions_event (organization_id, interaction_id, contact_id, type, actor_kind,
    at, data, actor_id)
SELECT %(org)s, NULL, NULL, 'presence.changed', 'user', at,
    jsonb_build_object('agent', agent, 'from', source, 'to', target, 'reason', NULL), agent
FROM (
    SELECT u.id AS agent, d AS day, s.*,
        -- Shifts start between 06:30 and 11:00 local (UTC+1), last 9 hours with an hour's lunch.
        d + make_interval(mins => 330 + (abs(hashint8(u.id * 1000 + EXTRACT(DOY FROM d)::int))
            %% 270) + s.offset_min) AS at
    FROM accounts_user u
    CROSS JOIN generate_series(%(start)s::timestamptz, %(end)s::timestamptz - INTERVAL '1 day',
        INTERVAL '1 day') AS d
    CROSS JOIN (VALUES ('offline', 'available', 0), ('available', 'lunch', 240),
        ('lunch', 'available', 300), ('available', 'offline', 540))
        AS s(source, target, offset_min)
    WHERE u.organization_id = %(org)s
) AS t
ORDER BY at
"""


def generate(args, org_id: int) -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id) FROM contacts_contact WHERE organization_id = %s", [org_id])
        contact0 = cursor.fetchone()[0]
        cursor.execute("SELECT min(id) FROM accounts_user WHERE organization_id = %s", [org_id])
        agent0 = cursor.fetchone()[0]
        cursor.execute(
            "SELECT id FROM queues_queue WHERE organization_id = %s ORDER BY id", [org_id]
        )
        queue_ids = [row[0] for row in cursor.fetchall()]
        cursor.execute("SET work_mem = '256MB'")
        # Bulk load: secondary indexes of the event log are built once at the end.
        cursor.execute(
            """SELECT indexname, indexdef FROM pg_indexes
            WHERE tablename = 'interactions_event' AND indexname <> 'interactions_event_pkey'"""
        )
        event_indexes = cursor.fetchall()
        for name, _definition in event_indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        events = 0
        chunk = args.chunk
        for lo in range(1, args.interactions + 1, chunk):
            hi = min(args.interactions, lo + chunk - 1)
            t = time.perf_counter()
            cursor.execute("DROP TABLE IF EXISTS bench_plan")
            cursor.execute(
                PLAN,
                {
                    "lo": lo,
                    "hi": hi,
                    "org": org_id,
                    "contact0": contact0,
                    "contacts": args.contacts,
                    "queues": args.queues,
                    "queue_ids": queue_ids,
                    "agent0": agent0,
                    "agents": args.agents,
                    "start": START,
                    "days": args.days,
                    "n": args.interactions,
                },
            )
            # Outbound calls: answered when dialled (t_answered is t_queued for them).
            cursor.execute(
                "UPDATE bench_plan SET t_answered = t_queued, hold = 0 WHERE direction = 'outbound'"
            )
            cursor.execute(INTERACTIONS)
            cursor.execute(
                "INSERT INTO interactions_event (organization_id, interaction_id, contact_id, "
                "type, actor_kind, at, data) SELECT * FROM ("
                + " UNION ALL ".join(EVENTS)
                + ") AS e ORDER BY 6"  # noqa: S608
            )
            events += cursor.rowcount
            log(
                f"interactions {hi:,}/{args.interactions:,}, events {events:,} "
                f"({time.perf_counter() - t:.1f} s)"
            )
        cursor.execute("DROP TABLE IF EXISTS bench_plan")
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('interactions_interaction', 'id'), %s)",
            [args.interactions],
        )
        end = START + timedelta(days=args.days)
        cursor.execute(PRESENCE, {"org": org_id, "start": START, "end": end})
        presence = cursor.rowcount
        log(f"presence events {presence:,}; building the event log's indexes")
        t = time.perf_counter()
        for _name, definition in event_indexes:
            cursor.execute(definition)
        cursor.execute("ANALYZE")
        log(f"indexes {time.perf_counter() - t:.1f} s")
    return {"events": events + presence, "presence": presence}


# --- Measures -------------------------------------------------------------------------------


RAW_SQL = """
SELECT count(*) FILTER (WHERE queued_at IS NOT NULL) AS offered,
    count(*) FILTER (WHERE queued_at IS NOT NULL AND answered_at IS NOT NULL) AS answered,
    count(*) FILTER (WHERE state = 'abandoned') AS abandoned,
    count(*) FILTER (WHERE answered_at - queued_at <= q.sla_seconds * INTERVAL '1 second')
        AS in_sla,
    avg(EXTRACT(EPOCH FROM answered_at - queued_at)) AS asa,
    avg(EXTRACT(EPOCH FROM closed_at - answered_at)) AS aht,
    count(*) FILTER (WHERE direction = 'outbound') AS outbound,
    date_trunc('day', COALESCE(i.queued_at, i.created_at) AT TIME ZONE %(tz)s) AS day
FROM interactions_interaction i LEFT JOIN queues_queue q ON q.id = i.queue_id
WHERE i.organization_id = %(org)s AND COALESCE(i.queued_at, i.created_at) >= %(start)s
    AND COALESCE(i.queued_at, i.created_at) < %(end)s
GROUP BY day
"""


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def measure(args, org_id: int) -> dict:
    from zoneinfo import ZoneInfo

    from django.db import connection

    from apps.accounts.models import Organization
    from apps.queues.models import Queue
    from apps.reports.selectors import ReportFilters, kpi_report

    org = Organization.objects.get(pk=org_id)
    tz = ZoneInfo(TIME_ZONE)
    middle = START + timedelta(days=args.days // 2)
    day = datetime(middle.year, middle.month, middle.day, tzinfo=tz)
    month = datetime(middle.year, middle.month, 1, tzinfo=tz)
    month_end = (month.replace(tzinfo=None) + timedelta(days=32)).replace(day=1, tzinfo=tz)

    def day_report():
        return kpi_report(
            organization=org,
            filters=ReportFilters(start=day, end=day + timedelta(days=1)),
            group_by="interval",
            interval="60m",
        )

    def month_report():
        return kpi_report(
            organization=org,
            filters=ReportFilters(start=month, end=month_end),
            group_by="interval",
            interval="day",
        )

    def raw_month():
        with connection.cursor() as cursor:
            cursor.execute(
                RAW_SQL, {"tz": TIME_ZONE, "org": org_id, "start": month, "end": month_end}
            )
            return cursor.fetchall()

    day_report(), month_report(), raw_month()  # warm the caches
    day_ms = timed(day_report, args.runs)
    month_ms = timed(month_report, args.runs)
    raw_ms = timed(raw_month, args.runs)
    month_table = month_report()
    raw_rows = raw_month()
    offered = sum(r["offered"] or 0 for r in month_table.rows)
    raw_offered = sum(r[0] for r in raw_rows)

    rng = random.Random(args.seed)
    queues = list(Queue.objects.filter(organization=org).values_list("pk", flat=True))
    from apps.accounts.models import User

    agents = list(User.objects.filter(organization=org).values_list("pk", flat=True))
    small = []
    for _ in range(args.reads):
        start = day + timedelta(days=rng.randrange(-60, 60), hours=rng.randrange(7, 18))
        filters = (
            ReportFilters(start=start, end=start + timedelta(hours=3), queues=[rng.choice(queues)])
            if rng.random() < 0.5
            else ReportFilters(
                start=start, end=start + timedelta(hours=3), agents=[rng.choice(agents)]
            )
        )
        t = time.perf_counter()
        kpi_report(
            organization=org,
            filters=filters,
            group_by="interval",
            interval="15m",
            kpis=["offered", "answered", "service_level", "aht", "asa"],
        )
        small.append((time.perf_counter() - t) * 1000)
    small.sort()
    p95 = small[max(0, int(round(0.95 * len(small))) - 1)]
    return {
        "day_ms": statistics.median(day_ms),
        "month_ms": statistics.median(month_ms),
        "raw_ms": statistics.median(raw_ms),
        "rollup_p95_ms": p95,
        "month_offered": offered,
        "raw_offered": raw_offered,
        "day_rows": len(day_report().rows),
        "month_rows": len(month_table.rows),
    }


def counts() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        out = {}
        for table in (
            "interactions_interaction",
            "interactions_event",
            "reports_interactionfact",
            "reports_intervalrollup",
            "reports_agentstaterollup",
        ):
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
            out[table] = cursor.fetchone()[0]
        return out


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interactions", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--agents", type=int, default=400)
    parser.add_argument("--queues", type=int, default=20)
    parser.add_argument("--contacts", type=int, default=0, help="default: interactions ÷ 4")
    parser.add_argument("--chunk", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each dashboard")
    parser.add_argument("--reads", type=int, default=100, help="small rollup reads (p95)")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--db-name", default="contactcenter_bench_reports")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="measure a kept database again")
    args = parser.parse_args(argv)
    args.contacts = args.contacts or max(1000, args.interactions // 4)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    server_url, started = ensure_postgres()
    bench_url = with_database(server_url, args.db_name)
    if not args.reuse:
        recreate_database(server_url, args.db_name)
    try:
        django_setup(bench_url, migrate=not args.reuse)
        from apps.accounts.models import Organization
        from apps.reports.services import rollups_rebuild

        if args.reuse:
            org_id = Organization.objects.get(slug="bench-reports").pk
            build_s = generate_s = 0.0
        else:
            t = time.perf_counter()
            org_id = build_center(args)
            generated = generate(args, org_id)
            generate_s = time.perf_counter() - t
            log(
                f"generated {args.interactions:,} interactions, {generated['events']:,} events "
                f"in {generate_s:.0f} s"
            )
            t = time.perf_counter()
            result = rollups_rebuild(now=START + timedelta(days=args.days + 1))
            build_s = time.perf_counter() - t
            log(f"rollup build {build_s:.0f} s: {result}")
        sizes = counts()
        log(", ".join(f"{k} {v:,}" for k, v in sizes.items()))
        out = measure(args, org_id)
        ratio = out["month_ms"] / out["raw_ms"] if out["raw_ms"] else 0
        print(f"code {code_version()}; load {os.getloadavg()[0]:.2f}")
        print(
            f"generate {generate_s:.0f} s; rollup build {build_s:.0f} s "
            f"({sizes['interactions_interaction'] / max(build_s, 0.001):,.0f} interactions/s)"
        )
        print(
            f"day: {out['day_rows']} hourly rows, median {out['day_ms']:.1f} ms; month: "
            f"{out['month_rows']} daily rows, median {out['month_ms']:.1f} ms; raw SQL month "
            f"over interactions {out['raw_ms']:.1f} ms; offered in the month: rollups "
            f"{out['month_offered']:,}, raw {out['raw_offered']:,}"
        )
        print(
            f"reports: rows={sizes['interactions_interaction']} day_ms={out['day_ms']:.1f} "
            f"month_ms={out['month_ms']:.1f} rollup_p95_ms={out['rollup_p95_ms']:.1f} "
            f"raw_sql_ratio={ratio:.3f}"
        )
        return 0 if out["month_offered"] == out["raw_offered"] else 1
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            recreate_database(server_url, args.db_name, drop_only=True)
        if started:
            stop_services()


if __name__ == "__main__":
    sys.exit(main())
