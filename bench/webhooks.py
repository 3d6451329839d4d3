"""Inbound webhook benchmark: how fast a provider gets its answer, and that replays store once.

A real server (daphne, the production ASGI server, one process) on PostgreSQL + Redis, with a
Celery worker processing what it stores, as in production. C client threads post N signed
Twilio SMS webhooks (``RequestValidator`` signatures, one in ten a replay of an earlier one,
from a few hundred customers) and time each answer. The acknowledgement is what the issue
bounds (p95 ≤ 250 ms): signature check, one INSERT, the task queued, the TwiML answer.

Baseline, in the same run against the same server and with the same concurrency: ``/healthz``,
a view that touches nothing. ``ratio`` = webhook p95 / healthz p95.

Afterwards it waits for the worker to process everything and checks that every distinct
message was stored exactly once.

    .venv/bin/python bench/webhooks.py --quick     # 300 requests
    .venv/bin/python bench/webhooks.py             # 3,000 requests, 8 clients

Last line::

    webhooks: requests=… p50_ms=… p95_ms=… p99_ms=… healthz_p95_ms=… ratio=…
              stored_once=… processed_per_s=…      (one line)
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import routing as shared  # noqa: E402  (the PostgreSQL helpers of the routing benchmark)

TOKEN = "bench-auth-token"  # noqa: S105 (the bench's own throwaway account)
NUMBER = "+15005550006"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_url() -> str:
    out = subprocess.run(
        [str(ROOT / "scripts" / "test-services.sh"), "start"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)["REDIS_URL"]


def setup_center() -> str:
    """An organization with an SMS number and a queue; the number's webhook path."""
    from apps.accounts.models import Organization, Plan, PlanFeature, Subscription
    from apps.connectors.models import ChannelAccount
    from apps.queues.models import Queue

    org = Organization.objects.create(name="Bench", slug="bench-hooks", time_zone="UTC")
    plan = Plan.objects.create(code="bench-hooks", name="Bench", agent_seats=None)
    PlanFeature.objects.create(plan=plan, code="channel_sms", limit=None)
    Subscription.objects.create(organization=org, plan=plan, status=Subscription.Status.ACTIVE)
    queue = Queue.objects.create(organization=org, name="SMS")
    account = ChannelAccount(
        organization=org, kind="sms", name="Bench line", address=NUMBER, queue=queue
    )
    account.set_secrets({"auth_token": TOKEN})
    account.save()
    return f"/hooks/twilio/sms/{account.key}/"


def start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def wait_up(base: str, limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=2).read()  # noqa: S310 (ours)
            return
        except OSError:
            time.sleep(0.2)
    sys.exit("the server did not start (see var/bench-webhooks-web.log)")


def payloads(n: int, rng: random.Random) -> list[dict]:
    """n deliveries: distinct messages, one in ten a replay of an earlier one."""
    out: list[dict] = []
    for i in range(n):
        if out and rng.random() < 0.1:
            out.append(rng.choice(out))
            continue
        out.append(
            {
                "MessageSid": f"SM{i:032d}",
                "AccountSid": "AC" + "0" * 32,
                "From": f"+1415555{rng.randrange(300):04d}",
                "To": NUMBER,
                "Body": f"Message {i}: where is my order?",
                "NumMedia": "0",
            }
        )
    return out


def hammer(base: str, path: str | None, bodies: list[dict] | None, n: int, clients: int):
    """Latencies (ms) of n requests from ``clients`` threads: signed webhooks, or healthz."""
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(TOKEN)
    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    counter = iter(range(n))

    def client() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            if path is None:
                request = urllib.request.Request(base + "/healthz")  # noqa: S310
            else:
                data = bodies[i]
                url = base + path
                request = urllib.request.Request(  # noqa: S310
                    url,
                    data=urllib.parse.urlencode(data).encode(),
                    headers={"X-Twilio-Signature": validator.compute_signature(url, data)},
                )
            t = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                    response.read()
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            elapsed = (time.perf_counter() - t) * 1000
            with lock:
                latencies.append(elapsed)
                statuses.append(status)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, statuses


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="300 requests")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db-name", default="contactcenter_bench_hooks")
    args = parser.parse_args(argv)
    n = 300 if args.quick else args.requests

    server_url, started = shared.ensure_postgres()
    bench_url = shared.with_database(server_url, args.db_name)
    shared.recreate_database(server_url, args.db_name)
    redis = redis_url()
    procs: list[subprocess.Popen] = []
    status = 0
    try:
        shared.django_setup(bench_url, "WARNING")
        path = setup_center()
        from django.db import connections

        connections.close_all()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "DATABASE_URL": bench_url,
            "REDIS_URL": redis,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "LOG_LEVEL": "WARNING",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        }
        logs = ROOT / "var"
        logs.mkdir(exist_ok=True)
        bin_ = ROOT / ".venv" / "bin"
        procs.append(
            start(
                [
                    str(bin_ / "daphne"),
                    "-b",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "contactcenter.asgi:application",
                ],
                env,
                logs / "bench-webhooks-web.log",
            )
        )
        procs.append(
            start(
                [
                    str(bin_ / "celery"),
                    "-A",
                    "contactcenter",
                    "worker",
                    "--pool",
                    "solo",
                    "-l",
                    "WARNING",
                ],
                env,
                logs / "bench-webhooks-worker.log",
            )
        )
        wait_up(base)
        hammer(base, None, None, 50, args.clients)  # warm-up
        health, _ = hammer(base, None, None, n, args.clients)  # the baseline first
        bodies = payloads(n, random.Random(args.seed))
        t = time.perf_counter()
        hooks, statuses = hammer(base, path, bodies, n, args.clients)
        answered_s = time.perf_counter() - t

        from apps.connectors.models import InboundEvent
        from apps.interactions.models import Message

        distinct = len({b["MessageSid"] for b in bodies})
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            pending = InboundEvent.objects.exclude(status="done").count()
            if pending == 0 and InboundEvent.objects.count() == distinct:
                break
            time.sleep(0.5)
        processing_s = time.perf_counter() - t
        stored = Message.objects.count()
        events = InboundEvent.objects.count()
        once = stored == distinct and events == distinct
        p = shared.percentile
        p95, h95 = p(hooks, 95), p(health, 95)
        refused = sum(1 for s in statuses if s != 200)
        print(
            f"requests {n} ({n - distinct} replays) from {args.clients} clients: "
            f"{refused} not 200; {events} events, {stored} messages for {distinct} distinct; "
            f"answered in {answered_s:.1f} s, all processed {processing_s:.1f} s after the first"
        )
        print(
            f"webhooks: requests={n} p50_ms={p(hooks, 50):.1f} p95_ms={p95:.1f} "
            f"p99_ms={p(hooks, 99):.1f} healthz_p95_ms={h95:.1f} ratio={p95 / h95:.2f} "
            f"stored_once={'yes' if once else 'NO'} "
            f"processed_per_s={distinct / max(processing_s, 0.001):.0f}"
        )
        status = 0 if once and not refused else 1
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        from django.db import connections

        connections.close_all()
        shared.recreate_database(server_url, args.db_name, drop_only=True)
        if started:
            shared.stop_services()
    return status


if __name__ == "__main__":
    sys.exit(main())
