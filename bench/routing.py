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
    os.environ["ROUTING_INLINE"] = "false"  # the router process places everything
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
                # Consumers close at once: no after-call work holding agents back.
                wrap_up_seconds=0,
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
    # (interaction id, wall clock when its enqueue committed): time.time(), shared by processes
    enqueued: list[tuple[int, float]] = field(default_factory=list)
    create_s: list[float] = field(default_factory=list)  # interaction_create
    enqueue_s: list[float] = field(default_factory=list)  # interaction_enqueue (no routing)
    errors: Counter = field(default_factory=Counter)
    started: float = 0.0
    finished: float = 0.0
    queries: int = 0
    query_s: float = 0.0


def producer(
    index: int,
    count: int,
    center: Center,
    seed: int,
    barrier,
    result: ProducerResult,
    interval: float = 0.0,
) -> None:
    """Open and queue ``count`` interactions through the real services, as channels do."""
    from django.db import connection, transaction

    from apps.accounts.models import Organization
    from apps.contacts.models import Contact
    from apps.interactions.services import interaction_create
    from apps.queues.models import Queue
    from apps.queues.services import interaction_enqueue

    rng = random.Random(seed * 1000 + index)
    try:
        # Each producer its own instances (the organization memoises its plan per instance, as it
        # would for the length of one webhook request).
        org = Organization.objects.get(pk=center.org_id)
        queues = list(Queue.objects.filter(organization=org, name__startswith="queue-"))
        contacts = list(Contact.objects.filter(organization=org))
        channels = rng.choices(
            list(CHANNEL_WEIGHTS), weights=list(CHANNEL_WEIGHTS.values()), k=count
        )
        plan = [(rng.choice(queues), channels[i], rng.choice(contacts)) for i in range(count)]
        timer = QueryTimer()
        barrier.wait()
        result.started = time.perf_counter()
        with connection.execute_wrapper(timer):
            for i, (queue, channel, contact) in enumerate(plan):
                if interval:  # paced: the i-th arrival is due at started + i × interval
                    delay = result.started + i * interval - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
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
                    with transaction.atomic():
                        interaction_enqueue(interaction=interaction, queue=queue)
                        # Taken before COMMIT (a descheduled producer would take it late after):
                        # the latency measured can only come out longer than the real one.
                        committed = time.time()
                    t2 = time.perf_counter()
                except Exception as exc:  # counted and shown; the run goes on
                    result.errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
                    continue
                result.enqueued.append((interaction.pk, committed))
                result.create_s.append(t1 - t0)
                result.enqueue_s.append(t2 - t1)
        result.finished = time.perf_counter()
        result.queries, result.query_s = timer.count, timer.seconds
    finally:
        connection.close()


def _producer_process(index, count, center, seed, barrier, pipe, interval, nice) -> None:
    os.nice(nice)
    result = ProducerResult()
    try:
        producer(index, count, center, seed, barrier, result, interval)
    except Exception as exc:  # reported by the parent
        result.errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
    pipe.send(result)
    pipe.close()


class Producers:
    """``args.producers`` forked processes, each queueing its share of ``total`` interactions.

    Forked before any thread of this process starts (a child must not inherit a connection a
    thread is using); they begin together when ``start()`` joins their barrier.
    """

    def __init__(self, args, center: Center, total: int, seed: int, rate: float = 0) -> None:
        import multiprocessing

        from django.db import connections

        per = [total // args.producers] * args.producers
        for i in range(total % args.producers):
            per[i] += 1
        connections.close_all()
        mp = multiprocessing.get_context("fork")
        interval = args.producers / rate if rate else 0.0  # each producer's share of the rate
        self.barrier = mp.Barrier(args.producers + 1, timeout=600)
        self.pipes, self.procs = [], []
        for i in range(args.producers):
            receive, send = mp.Pipe(duplex=False)
            proc = mp.Process(
                target=_producer_process,
                args=(i, per[i], center, seed, self.barrier, send, interval, args.nice),
            )
            proc.start()
            send.close()
            self.pipes.append(receive)
            self.procs.append(proc)

    def start(self) -> None:
        self.barrier.wait()

    def results(self) -> list[ProducerResult]:
        out = [pipe.recv() for pipe in self.pipes]
        for proc in self.procs:
            proc.join()
        return out


@dataclass
class RouterResult:
    # interaction id → (wall clock when its offer committed, placed in the first round that saw it)
    placed: dict[int, tuple[float, bool]] = field(default_factory=dict)
    # (start, end) wall clock, waiting read, decisions, interactions placed, dropped under locks
    rounds: list[tuple[float, float, int, int, int, int]] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)


def _router_process(stop, pipe, per_line: int, chunk: int) -> None:
    """``manage.py router`` in a child process, recording when each offer committed."""
    from django.db import connection

    from apps.queues.router import Router

    result = RouterResult()
    seen: set[int] = set()

    class BenchRouter(Router):
        fresh: set[int] = set()

        def heads(self, queue_ids):
            rows = super().heads(queue_ids)
            ids = {w.id for w in rows}
            self.fresh = ids - seen
            seen.update(ids)
            return rows

        def round(self):
            start = time.time()
            stats = super().round()
            result.rounds.append(
                (start, time.time(), stats.waiting, stats.decisions, stats.placed, stats.dropped)
            )
            return stats

    def applied(outcome) -> None:  # after each committed chunk
        now = time.time()
        for interaction_id in outcome.interactions:
            result.placed[interaction_id] = (now, interaction_id in router.fresh)

    router = BenchRouter(per_line=per_line, chunk=chunk, on_applied=applied)

    def watch() -> None:
        stop.wait()
        router.stop()

    threading.Thread(target=watch, daemon=True).start()
    profile_to = os.environ.get("BENCH_PROFILE_ROUTER")
    if profile_to:  # a cProfile of the router process, for whoever works on it
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        router.run()
    except Exception as exc:
        result.errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
    finally:
        connection.close()
        if profile_to:
            profiler.disable()
            profiler.dump_stats(f"{profile_to}.{os.getpid()}")
    pipe.send(result)
    pipe.close()


class RouterProcess:
    def __init__(self, args) -> None:
        import multiprocessing

        from django.db import connections

        connections.close_all()
        mp = multiprocessing.get_context("fork")
        self.stop_event = mp.Event()
        self.pipe, send = mp.Pipe(duplex=False)
        self.proc = mp.Process(
            target=_router_process, args=(self.stop_event, send, args.per_line, args.chunk)
        )
        self.proc.start()
        send.close()

    def stop(self) -> RouterResult:
        from apps.queues.services import routing_wake

        self.stop_event.set()
        routing_wake()  # autocommit: delivered now, ends the router's wait
        result = self.pipe.recv()
        self.proc.join()
        return result


@dataclass
class ConsumerStats:
    accepted: int = 0
    closed: int = 0
    conflicts: int = 0
    errors: Counter = field(default_factory=Counter)


def consumer(
    index: int, consumers: int, center: Center, stop, stats: ConsumerStats, nice: int = 0
) -> None:
    """Accept and close the offers of this consumer's agents as soon as they appear (agents
    freeing capacity; each close wakes the router)."""
    os.nice(nice)  # Linux: this thread only
    from django.core.exceptions import ValidationError
    from django.db import connection

    from apps.interactions.services import interaction_close
    from apps.queues.models import Offer
    from apps.queues.services import offer_accept

    mine = [a for a in center.agent_ids if a % consumers == index]
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
    finally:
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


def reset_center(center: Center) -> None:
    """Between the phases (not measured): nothing open, no offer ringing, everyone available."""
    from django.db import connections

    from apps.interactions.models import Interaction, State
    from apps.queues.models import Offer, Presence, PresenceStatus

    Interaction.objects.filter(organization_id=center.org_id).exclude(state=State.CLOSED).update(
        state=State.CLOSED
    )
    Offer.objects.filter(organization_id=center.org_id, status=Offer.Status.PENDING).update(
        status=Offer.Status.CANCELLED
    )
    Presence.objects.filter(organization_id=center.org_id).update(status=PresenceStatus.AVAILABLE)
    connections.close_all()


def wait_settled(center: Center, *, quiet: float, limit: float) -> None:
    """Until nothing changes for ``quiet`` seconds (or ``limit``): waiting count and offers."""
    from django.db import connection

    from apps.interactions.models import Interaction, State
    from apps.queues.models import Offer

    def state():
        return (
            Interaction.objects.filter(organization_id=center.org_id, state=State.QUEUED).count(),
            Offer.objects.filter(organization_id=center.org_id).count(),
        )

    deadline, last, since = time.monotonic() + limit, None, time.monotonic()
    while time.monotonic() < deadline:
        now = state()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
        time.sleep(0.05)
    connection.close()


def run(args, center: Center) -> dict:
    from django.db import connections

    stop_monitor = threading.Event()
    mstats = MonitorStats()
    mon = threading.Thread(
        target=monitor, args=(center, stop_monitor, mstats, args.monitor_interval), daemon=True
    )

    # Live: producers queue, the router places, consumers accept and close (freeing agents).
    router = RouterProcess(args)
    producers = Producers(args, center, args.interactions, args.seed, rate=args.rate)
    stop_consumers = threading.Event()
    cstats = [ConsumerStats() for _ in range(args.consumers)]
    consumers = [
        threading.Thread(
            target=consumer,
            args=(i, args.consumers, center, stop_consumers, s, args.nice),
            daemon=True,
        )
        for i, s in enumerate(cstats)
    ]
    for t in [*consumers, mon]:
        t.start()
    cpu_before = cpu_snapshot()
    producers.start()
    live = producers.results()
    cpu_after = cpu_snapshot()
    wait_settled(center, quiet=1.0, limit=args.settle_seconds)
    stop_consumers.set()
    for t in consumers:
        t.join()
    live_router = router.stop()
    stop_monitor.set()
    mon.join()
    wall, busy, own = (after - before for after, before in zip(cpu_after, cpu_before, strict=True))

    # Burst: a backlog queued while no router runs, then one router places what fits.
    reset_center(center)
    producers = Producers(args, center, args.burst, args.seed + 1)
    producers.start()
    burst = producers.results()
    connections.close_all()
    router = RouterProcess(args)
    stop_monitor.clear()
    mon = threading.Thread(
        target=monitor, args=(center, stop_monitor, mstats, args.monitor_interval), daemon=True
    )
    mon.start()
    wait_settled(center, quiet=1.0, limit=args.settle_seconds)
    burst_router = router.stop()
    stop_monitor.set()
    mon.join()
    connections.close_all()
    return {
        "producers": live,
        "consumers": cstats,
        "router": live_router,
        "burst_producers": burst,
        "burst_router": burst_router,
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
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.accounts.models import Organization
    from apps.contacts.models import Contact
    from apps.interactions.models import Interaction
    from apps.interactions.services import interaction_close, interaction_create
    from apps.queues.models import Offer, Queue
    from apps.queues.services import interaction_enqueue, offer_accept

    settings.ROUTING_INLINE = True  # what one request costs when it also routes
    rng = random.Random(args.seed)
    org = Organization.objects.get(pk=center.org_id)
    queues = list(Queue.objects.filter(organization=org))
    contacts = list(Contact.objects.filter(organization=org))
    empty = Queue.objects.create(organization=org, name="bench-empty", offer_timeout_seconds=3600)

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
        sql_log = []
        t = time.perf_counter()
        with (
            CaptureQueriesContext(connection) as enqueued,
            connection.execute_wrapper(timed(sql_log)),
        ):
            interaction_enqueue(interaction=interaction, queue=queue)
        took = time.perf_counter() - t
        result = "offer" if interaction.offers.exists() else "no offer"
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
    offers_before, t = Offer.objects.count(), time.perf_counter()
    with CaptureQueriesContext(connection) as closed:
        interaction_close(interaction=offer.interaction, actor=offer.agent)
    took = time.perf_counter() - t
    print(
        f"\nconsumer, {waiting} calls waiting: offer_accept {len(accepted)} queries; "
        f"interaction_close {len(closed)} queries in {took * 1000:.1f} ms, which placed "
        f"{Offer.objects.count() - offers_before} waiting call(s) from the agent's "
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
        "--rate",
        type=float,
        default=0,
        help="live phase: interactions per second from all producers (0: as fast as they can)",
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=10,
        help="CPU niceness of the traffic simulators (producers, consumers), not of the router",
    )
    parser.add_argument(
        "--burst", type=int, default=2000, help="interactions queued before the router starts"
    )
    parser.add_argument("--per-line", type=int, default=200, help="router: heads per queue line")
    parser.add_argument("--chunk", type=int, default=250, help="router: decisions per transaction")
    parser.add_argument(
        "--settle-seconds", type=float, default=30, help="longest wait for the router to finish"
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
        args.agents, args.queues, args.interactions, args.burst = 40, 10, 300, 300
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
    live: RouterResult = out["router"]
    burst: RouterResult = out["burst_router"]
    enqueued = dict(pair for r in results for pair in r.enqueued)
    creates = [s for r in results for s in r.create_s]
    enqueues = [s for r in results for s in r.enqueue_s]
    errors = sum((r.errors for r in results), Counter())
    errors += sum((r.errors for r in out["burst_producers"]), Counter())
    errors += live.errors + burst.errors
    cerrors = sum((c.errors for c in cstats), Counter())
    window = max(r.finished for r in results) - min(r.started for r in results)
    arrival = len(enqueued) / window if window > 0 else 0.0

    # Live: enqueue commit → offer commit of what the router placed the first round it saw it
    # (an agent had room); what waited for an agent to free up is queue time, shown apart.
    latency, waited = [], []
    for interaction_id, (offered_at, fresh) in live.placed.items():
        if interaction_id in enqueued:
            (latency if fresh else waited).append(max(0.0, offered_at - enqueued[interaction_id]))
    live_rounds = [r for r in live.rounds if r[4]]
    live_busy = sum(end - start for start, end, *_rest in live.rounds)

    # Burst: a backlog placed by one router; from its first round to its last committed offer.
    burst_rounds = [r for r in burst.rounds if r[4] or r[5]]
    placed = len(burst.placed)
    if placed:
        span = max(t for t, _f in burst.placed.values()) - burst_rounds[0][0]
        rate = placed / span if span > 0 else 0.0
    else:
        span, rate = 0.0, 0.0
    queued_burst = sum(len(r.enqueued) for r in out["burst_producers"])
    queries = sum(r.queries for r in results)
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
            "producers / consumers / routers",
            f"{args.producers} processes / {args.consumers} threads (nice {args.nice}) / "
            f"1 process (per line {args.per_line}, chunk {args.chunk})",
        ),
        ("load average before the run", f"{out['load']:.2f} on {os.cpu_count()} CPUs"),
        (
            "CPUs busy while producing",
            f"{out['cpu'][0]:.2f} of {os.cpu_count()}: bench processes {out['cpu'][1]:.2f}, "
            f"PostgreSQL and the rest {out['cpu'][0] - out['cpu'][1]:.2f}",
        ),
        ("setup (bulk, not measured)", f"{setup_s:.1f} s"),
        ("LIVE", "producers queue, the router places, consumers accept and close"),
        ("  enqueues", f"{len(enqueued)} of {args.interactions} in {window:.1f} s"),
        (
            "  arrival rate",
            f"{arrival:.0f}/s ({f'paced at {args.rate:g}/s' if args.rate else 'flat out'})",
        ),
        (
            "  interaction_create / _enqueue ms p50",
            f"{ms(creates, 50):.1f} / {ms(enqueues, 50):.1f} "
            f"({queries / max(len(enqueued), 1):.1f} queries per create+enqueue)",
        ),
        (
            "  placed at once (an agent had room)",
            f"{len(latency)}; enqueue→offer ms p50/p90/p99/max "
            f"{ms(latency, 50):.1f} / {ms(latency, 90):.1f} / {ms(latency, 99):.1f} / "
            f"{ms(latency, 100):.1f}",
        ),
        (
            "  placed after waiting for an agent",
            f"{len(waited)}; waited s p50/max {percentile(waited, 50):.1f} / "
            f"{percentile(waited, 100):.1f}"
            if waited
            else "0",
        ),
        (
            "  router rounds (placing / all)",
            f"{len(live_rounds)} / {len(live.rounds)}, busy {live_busy:.1f} s; "
            f"{len(live.placed) / max(len(live_rounds), 1):.1f} placed per placing round",
        ),
        (
            "  consumers: accepted / closed",
            f"{sum(c.accepted for c in cstats)} / {sum(c.closed for c in cstats)} "
            f"({sum(c.conflicts for c in cstats)} refused, {sum(cerrors.values())} errors)",
        ),
        ("BURST", f"{queued_burst} queued with no router running, then one router starts"),
        (
            "  placed / rounds",
            f"{placed} in {span * 1000:.0f} ms over {len(burst_rounds)} rounds "
            f"({sum(r[5] for r in burst.rounds)} dropped under locks)",
        ),
        ("  decisions/s", f"{rate:.0f}"),
        (
            "  first round: read, planned, placed",
            "{3} waiting, {4} decisions, {5} placed in {0:.0f} ms".format(
                (burst_rounds[0][1] - burst_rounds[0][0]) * 1000, *burst_rounds[0]
            )
            if burst_rounds
            else "-",
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
    for label, counter in (("producer/router", errors), ("consumer", cerrors)):
        for message, n in counter.most_common(5):
            print(f"  {label} error ×{n}: {message}")
    ratio = rate / plain_tps if plain_tps else float("nan")
    print(
        f"routing: decisions_per_s={rate:.0f} p50_ms={ms(latency, 50):.1f} "
        f"p99_ms={ms(latency, 99):.1f} double_offers={checks['double_offers']} "
        f"over_capacity={over} pgbench_ratio={ratio:.4f}"
    )
    failed = checks["double_offers"] or over or checks["offers_to_non_members"]
    return 1 if failed or errors else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the bench database is dropped on the way out
        sys.exit(130)
