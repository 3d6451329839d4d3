"""Routing benchmark on PostgreSQL: decisions per second and enqueue→offer latency.

N agents in Q queues (skills, a mix of strategies, capacity per channel kind) receive M
interactions from P concurrent producers (threads; forked processes with ``--processes``). Each
producer opens an interaction and enqueues it through the real services (``interaction_create``
then ``interaction_enqueue``, which routes inline): the time of the ``interaction_enqueue``
call is the enqueue→offer latency. Consumer threads accept and close every offer
(``offer_accept`` then ``interaction_close``), which frees capacity and, through
``agent_released``, places what waits in the agents' queues, so agents keep taking work instead
of all filling up (when consumers fall behind, enqueues that find nobody free are counted
apart). A monitor thread counts, ten times a second, the busy interactions of every agent per
capacity kind.

Baseline, measured in the same run on the same server: the rate of a plain transaction that
updates one row, ``UPDATE bench_counter SET n = n + 1 WHERE id = <random of 1000>``, by the real
``pgbench`` with as many clients as producers (or psycopg threads when pgbench is missing).

The script sets itself up: without a postgres ``DATABASE_URL`` it runs
``scripts/test-services.sh start`` (and stops the services at the end only if it started them).
It works in its own database (``contactcenter_bench``, dropped at the end unless ``--keep``),
with ``CELERY_TASK_ALWAYS_EAGER=true`` and no ``REDIS_URL``: real-time events go to the
in-memory channel layer, and the offer-timeout task runs inline at commit (before its deadline,
so it does nothing but look).

    .venv/bin/python bench/routing.py --quick      # under a minute
    .venv/bin/python bench/routing.py              # 200 agents × 50 queues, 5,000 interactions
    .venv/bin/python bench/routing.py --profile    # one producer: queries per enqueue, hotspots

The last line is the summary::

    routing: decisions_per_s=… p50_ms=… p99_ms=… double_offers=0 over_capacity=0 pgbench_ratio=…

It exits 1 when an interaction was offered twice or an agent went past a capacity (correctness),
never because of a time.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Channel mix of the inbound traffic (capacity kinds: chat, voice, email, social).
CHANNEL_WEIGHTS = {"webchat": 40, "voice": 20, "email": 25, "whatsapp": 15}
CAPACITY = {"chat": 3, "voice": 1, "email": 5, "social": 3}
TIER_WEIGHTS = {"standard": 85, "silver": 8, "gold": 5, "vip": 2}


# --- Services and the bench database -----------------------------------------------------------


def ensure_postgres() -> tuple[str, bool]:
    """A postgres URL: DATABASE_URL if it is one, else test-services.sh's. And did we start it?"""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        return url, False
    script = ROOT / "scripts" / "test-services.sh"
    # stderr to a file, not a pipe: the servers it starts must not hold our pipe open.
    with tempfile.TemporaryFile(mode="w+") as err:
        proc = subprocess.run(
            [str(script), "start"], stdout=subprocess.PIPE, stderr=err, text=True, check=False
        )
        err.seek(0)
        chatter = err.read()
    if proc.returncode != 0:
        sys.exit(f"scripts/test-services.sh start failed:\n{chatter}")
    urls = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    # Stop them at the end only when neither was already running (someone else's otherwise).
    started = "already running" not in chatter
    return urls["DATABASE_URL"], started


def stop_services() -> None:
    subprocess.run(
        [str(ROOT / "scripts" / "test-services.sh"), "stop"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def code_version() -> str:
    """The commit measured, and whether application code differs from it."""

    def git(*args: str) -> str:
        proc = subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
        )
        return proc.stdout.strip() if proc.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "apps", "contactcenter")
    return f"{head}{' + uncommitted changes in apps/' if dirty else ''}"


def recreate_database(admin_url: str, name: str, *, drop_only: bool = False) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def django_setup(bench_url: str, log_level: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "contactcenter.settings"
    os.environ["DATABASE_URL"] = bench_url
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
    os.environ["LOG_LEVEL"] = log_level
    os.environ.pop("REDIS_URL", None)  # in-memory channel layer, no broker
    import django
    from django.core.management import call_command

    django.setup()
    # Eager Celery still builds a producer for the "memory://" broker, which warns once per thread.
    logging.getLogger("kombu.connection").setLevel(logging.ERROR)
    call_command("migrate", verbosity=0)


# --- The center ---------------------------------------------------------------------------------


@dataclass
class Center:
    org_id: int
    queue_ids: list[int]
    agent_ids: list[int]
    contact_ids: list[int]
    strategies: Counter
    # agent id → capacity kind → capacity
    capacity: dict[int, dict[str, int]]
    memberships: int


def build_center(args, rng: random.Random) -> Center:
    """One organization, its skills, queues, agents and contacts (bulk: setup is not measured)."""
    from datetime import timedelta

    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from apps.accounts.models import (
        AgentProfile,
        Organization,
        Plan,
        PlanFeature,
        Role,
        Subscription,
        User,
    )
    from apps.contacts.models import Contact
    from apps.queues.models import (
        AgentSkill,
        Presence,
        PresenceStatus,
        Queue,
        QueueMember,
        QueueSkill,
        Skill,
        Strategy,
    )

    now = timezone.now()
    org = Organization.objects.create(name="Bench Center", slug="bench", time_zone="UTC")
    plan = Plan.objects.create(code="bench", name="Bench", agent_seats=None)
    PlanFeature.objects.create(plan=plan, code="api", limit=None)  # webhooks on, no endpoint
    Subscription.objects.create(organization=org, plan=plan, status=Subscription.Status.ACTIVE)

    skills = Skill.objects.bulk_create(
        [Skill(organization=org, name=f"skill-{i:02d}") for i in range(args.skills)]
    )
    mix = [Strategy.LONGEST_IDLE, Strategy.SKILLS, Strategy.LEAST_OCCUPIED]
    queues = Queue.objects.bulk_create(
        [
            Queue(
                organization=org,
                name=f"queue-{i:03d}",
                strategy=Strategy.ROUND_ROBIN if i % 10 == 9 else mix[i % 3],
                base_priority=rng.randint(0, 5),
                # No offer times out during the run (nothing sweeps, consumers accept them all).
                offer_timeout_seconds=3600,
                # Contacts come back: do not hold their interaction for their last agent.
                preferred_agent_seconds=0,
            )
            for i in range(args.queues)
        ]
    )
    # Each queue needs one or two skills at a minimum level of 1 to 5.
    requirements: dict[int, dict[int, int]] = {}
    queue_skills = []
    for q in queues:
        need = {
            s.pk: rng.randint(1, 5)
            for s in rng.sample(skills, k=min(len(skills), rng.choice([1, 1, 2])))
        }
        requirements[q.pk] = need
        queue_skills += [QueueSkill(queue=q, skill_id=s, min_level=lvl) for s, lvl in need.items()]
    QueueSkill.objects.bulk_create(queue_skills)

    password = make_password(None)
    agents = User.objects.bulk_create(
        [
            User(
                organization=org,
                username=f"bench-agent-{i:04d}",
                first_name="Agent",
                last_name=f"{i:04d}",
                password=password,
            )
            for i in range(args.agents)
        ]
    )
    AgentProfile.objects.bulk_create(
        [AgentProfile(organization=org, user=a, capacity=dict(CAPACITY)) for a in agents]
    )
    group = Group.objects.filter(name=Role.AGENT).first()
    if group is not None:
        User.groups.through.objects.bulk_create(
            [User.groups.through(user_id=a.pk, group_id=group.pk) for a in agents]
        )
    per_agent = min(args.queues_per_agent, len(queues))
    members, agent_skills = [], []
    for a in agents:
        mine = rng.sample(queues, k=per_agent)
        members += [
            QueueMember(organization=org, queue=q, agent=a, order=rng.randint(0, 9)) for q in mine
        ]
        # The skills its queues need: met nine times out of ten (so the filter has work to do).
        wanted: dict[int, int] = {}
        for q in mine:
            for s, lvl in requirements[q.pk].items():
                wanted[s] = max(wanted.get(s, 1), lvl)
        levels = {
            s: rng.randint(lvl, 10) if lvl == 1 or rng.random() < 0.9 else rng.randint(1, lvl - 1)
            for s, lvl in wanted.items()
        }
        for s in rng.sample(skills, k=min(2, len(skills))):
            levels.setdefault(s.pk, rng.randint(1, 10))
        agent_skills += [
            AgentSkill(organization=org, agent=a, skill_id=s, level=lvl)
            for s, lvl in levels.items()
        ]
    QueueMember.objects.bulk_create(members, batch_size=2000)
    AgentSkill.objects.bulk_create(agent_skills, batch_size=2000)
    Presence.objects.bulk_create(
        [
            Presence(
                organization=org,
                agent=a,
                status=PresenceStatus.AVAILABLE,
                since=now,
                idle_since=now - timedelta(seconds=rng.randint(0, 3600)),
            )
            for a in agents
        ]
    )
    tiers = rng.choices(list(TIER_WEIGHTS), weights=list(TIER_WEIGHTS.values()), k=args.contacts)
    contacts = Contact.objects.bulk_create(
        [
            Contact(organization=org, first_name=f"Client{i}", last_name="Bench", tier=tier)
            for i, tier in enumerate(tiers)
        ],
        batch_size=2000,
    )
    return Center(
        org_id=org.pk,
        queue_ids=[q.pk for q in queues],
        agent_ids=[a.pk for a in agents],
        contact_ids=[c.pk for c in contacts],
        strategies=Counter(q.strategy for q in queues),
        capacity={a.pk: dict(CAPACITY) for a in agents},
        memberships=len(members),
    )


# --- Baseline: a plain one-row-update transaction ------------------------------------------------


def baseline_table(bench_url: str) -> None:
    import psycopg

    with psycopg.connect(bench_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_counter (id integer PRIMARY KEY, n bigint DEFAULT 0)")
        conn.execute("INSERT INTO bench_counter (id) SELECT generate_series(1, 1000)")
        conn.execute("VACUUM ANALYZE bench_counter")


def find_pgbench() -> str | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), key=lambda p: p.parts)
    if candidates:
        return str(candidates[-1])
    return shutil.which("pgbench")


def baseline_pgbench(bench_url: str, clients: int, seconds: int) -> float | None:
    binary = find_pgbench()
    if binary is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(
            "\\set id random(1, 1000)\nUPDATE bench_counter SET n = n + 1 WHERE id = :id;\n"
        )
    try:
        proc = subprocess.run(
            [binary, "-n", "-f", script.name, "-T", str(seconds), "-c", str(clients)]
            + ["-j", str(clients), bench_url],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        os.unlink(script.name)
    match = re.search(r"tps = ([\d.]+)", proc.stdout)
    if proc.returncode != 0 or match is None:
        print(f"pgbench failed ({proc.returncode}): {proc.stderr.strip()[-300:]}", file=sys.stderr)
        return None
    return float(match.group(1))


def baseline_psycopg(bench_url: str, clients: int, seconds: float) -> float:
    """The same transaction from Python threads (what one Python process can drive)."""
    import psycopg

    counts = [0] * clients
    barrier = threading.Barrier(clients + 1)
    deadline = [0.0]

    def worker(i: int) -> None:
        rng = random.Random(i)
        with psycopg.connect(bench_url, autocommit=True) as conn:
            barrier.wait()
            while time.perf_counter() < deadline[0]:
                conn.execute(
                    "UPDATE bench_counter SET n = n + 1 WHERE id = %s", (rng.randint(1, 1000),)
                )
                counts[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    deadline[0] = time.perf_counter() + seconds
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - start)


# --- The measured run ---------------------------------------------------------------------------

_route_log = threading.local()


def record_routing() -> None:
    """Pass-through wrapper on ``route_interaction``: lets a thread see what its call decided.

    ``interaction_enqueue`` routes inline but returns the interaction, not the offers; the
    wrapper appends the number of offers of every routing attempt made by the calling thread.
    """
    from apps.queues import services

    original = services.route_interaction
    if getattr(original, "_bench_wrapped", False):
        return

    def route_interaction(**kwargs):
        offers = original(**kwargs)
        log = getattr(_route_log, "calls", None)
        if log is not None:
            log.append(len(offers))
        return offers

    route_interaction._bench_wrapped = True
    services.route_interaction = route_interaction


class QueryTimer:
    """``connection.execute_wrapper``: counts queries and the time spent waiting on them."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - start
            self.count += 1


@dataclass
class ProducerResult:
    enqueue_s: list[float] = field(default_factory=list)  # interaction_enqueue, offered
    unplaced_s: list[float] = field(default_factory=list)  # interaction_enqueue, nobody free
    create_s: list[float] = field(default_factory=list)  # interaction_create
    errors: Counter = field(default_factory=Counter)
    started: float = 0.0
    finished: float = 0.0
    queries: int = 0
    query_s: float = 0.0


def producer(
    index: int, count: int, center: Center, seed: int, barrier, result: ProducerResult
) -> None:
    from django.db import connection

    from apps.accounts.models import Organization
    from apps.contacts.models import Contact
    from apps.interactions.services import interaction_create
    from apps.queues.models import Queue
    from apps.queues.services import interaction_enqueue

    rng = random.Random(seed * 1000 + index)
    try:
        # Each thread its own instances (the organization memoises its plan per instance, as it
        # would for the length of one webhook request).
        org = Organization.objects.get(pk=center.org_id)
        queues = list(Queue.objects.filter(organization=org))
        contacts = list(Contact.objects.filter(organization=org))
        channels = rng.choices(
            list(CHANNEL_WEIGHTS), weights=list(CHANNEL_WEIGHTS.values()), k=count
        )
        plan = [(rng.choice(queues), channels[i], rng.choice(contacts)) for i in range(count)]
        timer = QueryTimer()
        _route_log.calls = calls = []
        barrier.wait()
        result.started = time.perf_counter()
        with connection.execute_wrapper(timer):
            for i, (queue, channel, contact) in enumerate(plan):
                try:
                    t0 = time.perf_counter()
                    interaction = interaction_create(
                        organization=org,
                        channel=channel,
                        direction="inbound",
                        contact=contact,
                        subject=f"bench {index}-{i}",
                    )
                    t1 = time.perf_counter()
                    before = len(calls)
                    interaction_enqueue(interaction=interaction, queue=queue)
                    t2 = time.perf_counter()
                except Exception as exc:  # counted and shown; the run goes on
                    result.errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
                    continue
                result.create_s.append(t1 - t0)
                offered = len(calls) > before and calls[before] > 0
                (result.enqueue_s if offered else result.unplaced_s).append(t2 - t1)
        result.finished = time.perf_counter()
        result.queries, result.query_s = timer.count, timer.seconds
    finally:
        _route_log.calls = None
        connection.close()


@dataclass
class ConsumerStats:
    accepted: int = 0
    closed: int = 0
    conflicts: int = 0
    backlog_attempts: int = 0
    backlog_offers: int = 0
    errors: Counter = field(default_factory=Counter)


def consumer(index: int, consumers: int, center: Center, stop, stats: ConsumerStats) -> None:
    """Accept and close the offers of this consumer's agents as soon as they appear."""
    from django.core.exceptions import ValidationError
    from django.db import connection

    from apps.interactions.services import interaction_close
    from apps.queues.models import Offer
    from apps.queues.services import offer_accept

    mine = [a for a in center.agent_ids if a % consumers == index]
    _route_log.calls = calls = []
    try:
        while not stop.is_set():
            offers = list(
                Offer.objects.filter(
                    organization_id=center.org_id, status=Offer.Status.PENDING, agent_id__in=mine
                )
                .select_related("agent", "interaction__organization")
                .order_by("created_at", "id")[:50]
            )
            if not offers:
                time.sleep(0.005)
                continue
            for offer in offers:
                if stop.is_set():
                    break
                try:
                    offer_accept(offer=offer, agent=offer.agent)
                    stats.accepted += 1
                    interaction_close(interaction=offer.interaction, actor=offer.agent)
                    stats.closed += 1
                except ValidationError:
                    stats.conflicts += 1
                except Exception as exc:
                    stats.errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
        stats.backlog_attempts = len(calls)
        stats.backlog_offers = sum(1 for n in calls if n)
    finally:
        _route_log.calls = None
        connection.close()


@dataclass
class MonitorStats:
    samples: int = 0
    max_over: int | None = None  # max over agents and kinds of busy − capacity
    peak_full: int = 0  # most (agent, kind) pairs at capacity in one sample
    peak_busy: int = 0  # most busy interactions in one sample


def over_capacity(center: Center) -> tuple[int, int, int]:
    """(max busy − capacity, pairs at capacity, busy interactions), from one SQL snapshot."""
    from django.db.models import Count

    from apps.interactions.models import Interaction
    from apps.queues.services import BUSY_STATES, CAPACITY_KIND

    rows = (
        Interaction.objects.filter(
            organization_id=center.org_id, state__in=BUSY_STATES, assigned_agent__isnull=False
        )
        .values_list("assigned_agent_id", "channel")
        .annotate(n=Count("id"))
        .order_by()
    )
    load: Counter = Counter()
    for agent_id, channel, n in rows:
        load[agent_id, CAPACITY_KIND[channel]] += n
    worst = max(
        (n - center.capacity.get(agent, {}).get(kind, 0) for (agent, kind), n in load.items()),
        default=-1,
    )
    full = sum(1 for (agent, kind), n in load.items() if n >= center.capacity[agent][kind])
    return worst, full, sum(load.values())


def monitor(center: Center, stop, stats: MonitorStats, interval: float) -> None:
    from django.db import connection

    try:
        while not stop.wait(interval):
            worst, full, busy = over_capacity(center)
            stats.samples += 1
            stats.max_over = worst if stats.max_over is None else max(stats.max_over, worst)
            stats.peak_full = max(stats.peak_full, full)
            stats.peak_busy = max(stats.peak_busy, busy)
    finally:
        connection.close()


def verify(center: Center) -> dict[str, int]:
    """Correctness, from the database after the run."""
    from django.db.models import Count, Exists, OuterRef

    from apps.interactions.models import Interaction, State
    from apps.queues.models import Offer, QueueMember

    live = Offer.objects.filter(
        organization_id=center.org_id, status__in=[Offer.Status.PENDING, Offer.Status.ACCEPTED]
    )
    doubles = (
        live.values("interaction_id").annotate(n=Count("id")).filter(n__gt=1).order_by().count()
    )
    member = QueueMember.objects.filter(
        queue_id=OuterRef("queue_id"), agent_id=OuterRef("agent_id")
    )
    strangers = Offer.objects.filter(organization_id=center.org_id).exclude(Exists(member)).count()
    worst, _full, _busy = over_capacity(center)
    states = Counter(
        dict(
            Interaction.objects.filter(organization_id=center.org_id)
            .values_list("state")
            .annotate(n=Count("id"))
            .order_by()
        )
    )
    return {
        "double_offers": doubles,
        "offers_to_non_members": strangers,
        "over_capacity_end": max(worst, 0),
        "offers": Offer.objects.filter(organization_id=center.org_id).count(),
        "still_queued": states.get(State.QUEUED, 0),
        "closed": states.get(State.CLOSED, 0),
    }


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def _producer_process(index, count, center, seed, barrier, pipe) -> None:
    result = ProducerResult()
    try:
        producer(index, count, center, seed, barrier, result)
    except Exception as exc:  # reported by the parent
        result.errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
    pipe.send(result)
    pipe.close()


def cpu_snapshot() -> tuple[float, float, float]:
    """(wall, busy CPU seconds of the machine, CPU seconds of this process and its children)."""
    import resource

    with open("/proc/stat") as stat:
        ticks = [int(x) for x in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    busy = (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    own = sum(
        getattr(resource.getrusage(who), f)
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        for f in ("ru_utime", "ru_stime")
    )
    return time.perf_counter(), busy, own


def run(args, center: Center) -> dict:
    from django.db import connections

    record_routing()
    per = [args.interactions // args.producers] * args.producers
    for i in range(args.interactions % args.producers):
        per[i] += 1
    stop_consumers, stop_monitor = threading.Event(), threading.Event()
    cstats = [ConsumerStats() for _ in range(args.consumers)]
    mstats = MonitorStats()
    results = [ProducerResult() for _ in range(args.producers)]
    consumers = [
        threading.Thread(
            target=consumer, args=(i, args.consumers, center, stop_consumers, s), daemon=True
        )
        for i, s in enumerate(cstats)
    ]
    mon = threading.Thread(
        target=monitor, args=(center, stop_monitor, mstats, args.monitor_interval), daemon=True
    )
    cpu_before = cpu_snapshot()
    if args.processes:
        # Forked before any thread starts, with no open connection to inherit.
        import multiprocessing

        connections.close_all()
        mp = multiprocessing.get_context("fork")
        barrier = mp.Barrier(args.producers, timeout=300)
        pipes, procs = [], []
        for i in range(args.producers):
            receive, send = mp.Pipe(duplex=False)
            proc = mp.Process(
                target=_producer_process, args=(i, per[i], center, args.seed, barrier, send)
            )
            proc.start()
            send.close()
            pipes.append(receive)
            procs.append(proc)
        for t in [*consumers, mon]:
            t.start()
        results = [pipe.recv() for pipe in pipes]
        for proc in procs:
            proc.join()
    else:
        barrier = threading.Barrier(args.producers, timeout=300)
        producers = [
            threading.Thread(
                target=producer, args=(i, per[i], center, args.seed, barrier, r), daemon=True
            )
            for i, r in enumerate(results)
        ]
        for t in [*consumers, mon, *producers]:
            t.start()
        for t in producers:
            t.join()
    cpu_after = cpu_snapshot()
    stop_consumers.set()
    for t in consumers:
        t.join()
    stop_monitor.set()
    mon.join()
    connections.close_all()
    wall, busy, own = (after - before for after, before in zip(cpu_after, cpu_before, strict=True))
    return {
        "producers": results,
        "consumers": cstats,
        "monitor": mstats,
        "cpu": (busy / wall, own / wall),
    }


# --- Profile: one producer, queries per enqueue, hotspots -----------------------------------------


def backend_cpu(pid: int) -> float:
    """CPU seconds of a PostgreSQL backend (same machine), or NaN when /proc does not say."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def profile(args, center: Center) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.accounts.models import Organization
    from apps.contacts.models import Contact
    from apps.interactions.models import Interaction
    from apps.interactions.services import interaction_close, interaction_create
    from apps.queues.models import Offer, Queue
    from apps.queues.services import interaction_enqueue, offer_accept

    record_routing()
    rng = random.Random(args.seed)
    org = Organization.objects.get(pk=center.org_id)
    queues = list(Queue.objects.filter(organization=org))
    contacts = list(Contact.objects.filter(organization=org))
    empty = Queue.objects.create(organization=org, name="bench-empty", offer_timeout_seconds=3600)
    _route_log.calls = calls = []

    def one(queue, channel="webchat"):
        interaction = interaction_create(
            organization=org, channel=channel, direction="inbound", contact=rng.choice(contacts)
        )
        interaction_enqueue(interaction=interaction, queue=queue)

    def timed(sql_log):
        def wrapper(execute, sql, params, many, context):
            t = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                sql_log.append((time.perf_counter() - t, sql))

        return wrapper

    one(queues[0])  # warm: connection, entitlements, imports
    for label, queue in (("offered", queues[1]), ("nobody free", empty)):
        contact = rng.choice(contacts)
        with CaptureQueriesContext(connection) as created:
            interaction = interaction_create(
                organization=org, channel="webchat", direction="inbound", contact=contact
            )
        before, sql_log = len(calls), []
        t = time.perf_counter()
        with (
            CaptureQueriesContext(connection) as enqueued,
            connection.execute_wrapper(timed(sql_log)),
        ):
            interaction_enqueue(interaction=interaction, queue=queue)
        took = time.perf_counter() - t
        result = "offer" if calls[before:] and calls[before] else "no offer"
        print(
            f"\nqueries, {label} ({result}): interaction_create {len(created)}, "
            f"interaction_enqueue {len(enqueued)} (BEGIN/SAVEPOINT/COMMIT included; "
            f"{took * 1000:.1f} ms, {sum(d for d, _s in sql_log) * 1000:.1f} ms in execute)"
        )
        timings = iter(sql_log)
        for i, q in enumerate(enqueued.captured_queries, 1):
            sql = " ".join(q["sql"].split())
            # COMMIT does not go through execute(): no time of its own.
            spent = next(timings)[0] * 1000 if not sql.startswith(("COMMIT", "BEGIN")) else 0
            print(f"  {i:2d} {spent:6.2f} ms  {sql[:120]}")

    # The consumer's side: accept and close one call while other calls wait in its queue.
    target = queues[2]
    for _ in range(60):  # more voice calls than the queue's members can take (voice: 1 each)
        one(target, "voice")
    offer = (
        Offer.objects.filter(queue=target, status=Offer.Status.PENDING)
        .select_related("agent", "interaction__organization")
        .first()
    )
    waiting = Interaction.objects.filter(queue=target, state="queued").count()
    with CaptureQueriesContext(connection) as accepted:
        offer_accept(offer=offer, agent=offer.agent)
    before, t = len(calls), time.perf_counter()
    with CaptureQueriesContext(connection) as closed:
        interaction_close(interaction=offer.interaction, actor=offer.agent)
    took, attempts = time.perf_counter() - t, calls[before:]
    print(
        f"\nconsumer, {waiting} calls waiting: offer_accept {len(accepted)} queries; "
        f"interaction_close {len(closed)} queries in {took * 1000:.1f} ms, of which "
        f"agent_released made {len(attempts)} routing attempts "
        f"({sum(1 for n in attempts if n)} offered) in the agent's "
        f"{Queue.objects.filter(memberships__agent=offer.agent).count()} queues"
    )

    work = [
        (rng.choice(queues), rng.choices(list(CHANNEL_WEIGHTS), list(CHANNEL_WEIGHTS.values()))[0])
        for _ in range(args.profile_enqueues)
    ]
    # Without a profiler first: wall time, time in execute(), CPU time of this process.
    sql_log = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    pg_cpu = backend_cpu(backend)
    wall, cpu = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(timed(sql_log)):
        for queue, channel in work:
            one(queue, channel)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    pg_cpu = backend_cpu(backend) - pg_cpu
    n = len(work)
    print(
        f"\none thread, no consumer, {n} create+enqueue: {wall / n * 1000:.1f} ms each "
        f"({n / wall:.0f}/s); per create+enqueue {len(sql_log) / n:.1f} statements, "
        f"{sum(d for d, _s in sql_log) / n * 1000:.1f} ms in execute(), "
        f"{cpu / n * 1000:.1f} ms CPU in this process (all threads), "
        f"{pg_cpu / n * 1000:.1f} ms CPU in its PostgreSQL backend"
    )
    try:
        from pyinstrument import Profiler
    except ImportError:
        Profiler = None
    start = time.perf_counter()
    if Profiler is not None:
        profiler = Profiler(interval=0.0005)
        profiler.start()
        for queue, channel in work:
            one(queue, channel)
        profiler.stop()
        elapsed = time.perf_counter() - start
        print(f"\npyinstrument, {n} create+enqueue in one thread ({elapsed:.2f} s):")
        print(profiler.output_text(unicode=False, color=False, show_all=False))
    else:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        for queue, channel in work:
            one(queue, channel)
        prof.disable()
        elapsed = time.perf_counter() - start
        print(f"\ncProfile, {n} create+enqueue in one thread ({elapsed:.2f} s):")
        stats = pstats.Stats(prof)
        stats.sort_stats("cumulative").print_stats(r"apps/|asgiref|celery", 30)
        stats.sort_stats("tottime").print_stats(15)
    _route_log.calls = None


# --- Main ---------------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--queues", type=int, default=50)
    parser.add_argument("--interactions", type=int, default=5000)
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--skills", type=int, default=10)
    parser.add_argument("--queues-per-agent", type=int, default=10)
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--consumers", type=int, default=2, help="threads accepting offers")
    parser.add_argument(
        "--processes",
        action="store_true",
        help="producers are forked processes (no shared GIL) instead of threads",
    )
    parser.add_argument("--baseline-seconds", type=int, default=10)
    parser.add_argument("--monitor-interval", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db-name", default="contactcenter_bench")
    parser.add_argument("--log-level", default="WARNING", help="the app's LOG_LEVEL")
    parser.add_argument(
        "--quick", action="store_true", help="40 agents, 10 queues, 300 interactions"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead of the concurrent run: queries of one enqueue and a one-thread profile",
    )
    parser.add_argument("--profile-enqueues", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args(argv)
    if args.quick:
        args.agents, args.queues, args.interactions = 40, 10, 300
        args.contacts, args.baseline_seconds = 300, 3
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    wall = time.perf_counter()
    server_url, started = ensure_postgres()
    bench_url = with_database(server_url, args.db_name)
    recreate_database(server_url, args.db_name)
    status = 0
    try:
        t = time.perf_counter()
        django_setup(bench_url, args.log_level)
        migrate_s = time.perf_counter() - t
        t = time.perf_counter()
        center = build_center(args, random.Random(args.seed))
        setup_s = time.perf_counter() - t
        print(
            f"center: {len(center.agent_ids)} agents, {len(center.queue_ids)} queues "
            f"({', '.join(f'{n} {s}' for s, n in sorted(center.strategies.items()))}), "
            f"{args.skills} skills, {center.memberships} memberships, "
            f"{len(center.contact_ids)} contacts; migrate {migrate_s:.1f} s, setup {setup_s:.1f} s"
        )
        if args.profile:
            profile(args, center)
            return 0
        baseline_table(bench_url)
        plain_tps = baseline_pgbench(bench_url, args.producers, args.baseline_seconds)
        baseline_kind = "pgbench"
        py_tps = baseline_psycopg(bench_url, args.producers, min(args.baseline_seconds, 5))
        if plain_tps is None:
            plain_tps, baseline_kind = py_tps, "psycopg threads"
        load, code = os.getloadavg()[0], code_version()
        out = run(args, center)
        out["load"], out["code"] = load, code
        checks = verify(center)
        elapsed = time.perf_counter() - wall
        status = report(args, out, checks, plain_tps, baseline_kind, py_tps, setup_s, elapsed)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            recreate_database(server_url, args.db_name, drop_only=True)
        if started:
            stop_services()
    return status


def report(args, out, checks, plain_tps, baseline_kind, py_tps, setup_s, elapsed) -> int:
    results: list[ProducerResult] = out["producers"]
    cstats: list[ConsumerStats] = out["consumers"]
    mstats: MonitorStats = out["monitor"]
    offered = [s for r in results for s in r.enqueue_s]
    unplaced = [s for r in results for s in r.unplaced_s]
    every = offered + unplaced
    creates = [s for r in results for s in r.create_s]
    errors = sum((r.errors for r in results), Counter())
    cerrors = sum((c.errors for c in cstats), Counter())
    window = max(r.finished for r in results) - min(r.started for r in results)
    decisions = len(every)
    rate = decisions / window if window > 0 else 0.0
    queries = sum(r.queries for r in results)
    query_s = sum(r.query_s for r in results)
    done = len(every) or 1
    busy_s = sum(every) + sum(creates)
    max_over = mstats.max_over if mstats.max_over is not None else -1
    over = max(max_over, checks["over_capacity_end"], 0)

    def ms(values, p):
        return percentile(values, p) * 1000

    rows = [
        ("code", out["code"]),
        (
            "agents × queues (queues/agent)",
            f"{args.agents} × {args.queues} ({args.queues_per_agent})",
        ),
        (
            "producers / consumers",
            f"{args.producers} {'processes' if args.processes else 'threads'} / "
            f"{args.consumers} threads",
        ),
        ("load average before the run", f"{out['load']:.2f} on {os.cpu_count()} CPUs"),
        (
            "CPUs busy during the run",
            f"{out['cpu'][0]:.2f} of {os.cpu_count()}: bench process {out['cpu'][1]:.2f}, "
            f"PostgreSQL and the rest {out['cpu'][0] - out['cpu'][1]:.2f}",
        ),
        ("setup (bulk, not measured)", f"{setup_s:.1f} s"),
        ("enqueues", f"{decisions} of {args.interactions} ({sum(errors.values())} errors)"),
        ("  offered at enqueue", f"{len(offered)}"),
        ("  unplaced (nobody free)", f"{len(unplaced)}"),
        ("run window", f"{window:.1f} s"),
        ("decisions/s", f"{rate:.0f} ({rate / args.producers:.0f} per producer)"),
        (
            "enqueue→offer ms p50/p90/p99/max",
            f"{ms(offered, 50):.1f} / {ms(offered, 90):.1f} / {ms(offered, 99):.1f} / "
            f"{ms(offered, 100):.1f}",
        ),
        (
            "enqueue, unplaced ms p50/p99",
            f"{ms(unplaced, 50):.1f} / {ms(unplaced, 99):.1f}" if unplaced else "-",
        ),
        ("interaction_create ms p50/p99", f"{ms(creates, 50):.1f} / {ms(creates, 99):.1f}"),
        (
            "queries per create+enqueue",
            f"{queries / done:.1f} (inside execute(): {query_s / busy_s:.0%} of the time"
            f"{', GIL waits included' if not args.processes else ''})"
            if busy_s
            else "-",
        ),
        (
            "consumers: accepted / closed",
            f"{sum(c.accepted for c in cstats)} / {sum(c.closed for c in cstats)} "
            f"({sum(c.conflicts for c in cstats)} refused, {sum(cerrors.values())} errors)",
        ),
        (
            "backlog placements (agent_released)",
            f"{sum(c.backlog_offers for c in cstats)} of {sum(c.backlog_attempts for c in cstats)}"
            " attempts",
        ),
        ("offers in all / still queued at end", f"{checks['offers']} / {checks['still_queued']}"),
        (
            "baseline one-row update tps",
            f"{plain_tps:.0f} ({baseline_kind}, {args.producers} clients)",
        ),
        ("  same from psycopg threads", f"{py_tps:.0f}"),
        ("double offers", f"{checks['double_offers']}"),
        ("offers to non-members", f"{checks['offers_to_non_members']}"),
        (
            "max busy − capacity (monitor)",
            f"{max_over} over {mstats.samples} samples (peak {mstats.peak_busy} busy, "
            f"{mstats.peak_full} agent·kind slots full)",
        ),
        ("over capacity at end", f"{checks['over_capacity_end']}"),
        ("whole run so far (services, migrate, setup…)", f"{elapsed:.0f} s"),
    ]
    width = max(len(k) for k, _v in rows)
    print()
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    for label, counter in (("producer", errors), ("consumer", cerrors)):
        for message, n in counter.most_common(5):
            print(f"  {label} error ×{n}: {message}")
    ratio = rate / plain_tps if plain_tps else float("nan")
    latencies = offered or every
    print(
        f"routing: decisions_per_s={rate:.0f} p50_ms={ms(latencies, 50):.1f} "
        f"p99_ms={ms(latencies, 99):.1f} double_offers={checks['double_offers']} "
        f"over_capacity={over} pgbench_ratio={ratio:.4f}"
    )
    return 1 if checks["double_offers"] or over or checks["offers_to_non_members"] else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the bench database is dropped on the way out
        sys.exit(130)
