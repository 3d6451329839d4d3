"""The router process: places what waits, in batches, as soon as something changes.

``manage.py router`` runs ``Router.run``. Each round it

1. times out the offers past their deadline (RONA) and ends the wrap-ups whose time is over,
   at most every ``expire_every`` seconds;
2. reads the head of each line (queue and channel) of the queues in scope (see below):
   ``per_line`` interactions each, one query; a line blocked on voice never hides the chats
   behind it;
3. plans them all in memory against the agents' state (queue settings, members and skills
   are kept for ``config_seconds``; presence and loads are kept between rounds and read
   again for the agents a wake-up names, for everyone on full rounds: ``Router.agents``);
4. applies the plan in chunks of ``chunk`` decisions, one transaction each (``engine.apply``:
   the interactions and agents are locked and rechecked, so routers, inline routing and agent
   actions can run at the same time);
5. publishes each touched queue's live summary at most every ``summary_every`` seconds.

It then waits for a wake-up: a PostgreSQL ``NOTIFY`` sent at the commit of every enqueue, re-queue
(naming the queue) and agent release (naming the agent), ``services.routing_wake``. The next
round reads only the lines of the queues named, and of the queues of the agents named: a
backlog elsewhere costs it nothing. A round looks at every queue after ``ROUTER_IDLE_SECONDS``
without any wake-up (SQLite has no NOTIFY), and at least every ``ROUTER_FULL_SECONDS`` under
steady traffic (what time alone changes: relaxed skills, preferred-agent waits, business
hours). A round that left work behind (a chunk dropped under contention, a line longer than it
read) is followed at once by a round over every queue.

A crash mid-round loses nothing: an uncommitted plan leaves every interaction queued.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from apps.interactions.models import Interaction, State
from apps.queues import engine

logger = logging.getLogger(__name__)


@dataclass
class RoundStats:
    waiting: int = 0
    decisions: int = 0
    offers: int = 0
    placed: int = 0
    dropped: int = 0
    expired: int = 0
    more: bool = False  # work is left that another round could do now
    seconds: float = 0.0


class Router:
    def __init__(
        self,
        *,
        per_line: int = 200,
        chunk: int = 250,
        config_seconds: float | None = None,
        full_every: float | None = None,
        expire_every: float = 0.5,
        summary_every: float = 1.0,
        idle_seconds: float | None = None,
        on_applied=None,
    ) -> None:
        self.per_line = per_line
        self.chunk = chunk
        self.config_seconds = (
            config_seconds if config_seconds is not None else settings.ROUTER_CONFIG_SECONDS
        )
        # Under steady traffic every round is woken by NOTIFY and scoped; a full round (every
        # queue, every agent re-read) still comes at least this often.
        self.full_every = full_every if full_every is not None else settings.ROUTER_FULL_SECONDS
        self.expire_every = expire_every
        self.summary_every = summary_every
        self.idle_seconds = (
            idle_seconds if idle_seconds is not None else settings.ROUTER_IDLE_SECONDS
        )
        self.on_applied = on_applied  # callback(Applied) after each committed chunk (benchmarks)
        self._config: dict[int, engine.QueueState] | None = None
        self._skills: dict[int, dict[int, int]] = {}
        self._config_at = 0.0
        self._expired_at = 0.0
        self._summaries_at = 0.0
        self._touched: set[int] = set()
        # What the wake-ups since the last round named: queues, and agents (their queues).
        # None: look at every queue (the first round, a bare wake-up, at least every idle
        # period for what time alone changes, and after a round that left work behind).
        self._queues: set[int] | None = None
        self._agents: set[int] = set()
        self._full_at = 0.0
        self._agent_cache: dict[int, engine.AgentState] | None = None
        self._cache_config = None
        self._stop = False
        self._listener = None
        self._publisher = None  # started by run(): one thread sends the real-time events

    # --- One round --------------------------------------------------------------------------

    def config(self, now) -> dict[int, engine.QueueState]:
        from apps.queues.models import Queue

        clock = time.monotonic()
        if self._config is None or clock - self._config_at >= self.config_seconds:
            ids = Queue.objects.filter(is_active=True).values_list("pk", flat=True)
            self._config = engine.queues_config(list(ids), now=now)
            self._skills = engine.agent_skills(
                {agent for q in self._config.values() for agent in q.members}
            )
            self._config_at = clock
        return self._config

    def heads(self, queue_ids) -> list[engine.Waiting]:
        """The first ``per_line`` waiting interactions of each (queue, channel), in line order."""
        if connection.vendor == "postgresql":
            return self._heads_postgresql(list(queue_ids))
        ranked = (
            Interaction.objects.filter(state=State.QUEUED, queue_id__in=list(queue_ids))
            .annotate(
                place=Window(
                    RowNumber(),
                    partition_by=[F("queue_id"), F("channel")],
                    order_by=[F("routing_rank").asc(), F("id").asc()],
                )
            )
            .filter(place__lte=self.per_line)
        )
        return engine.waiting_rows(ranked)

    def _heads_postgresql(self, queue_ids: list[int]) -> list[engine.Waiting]:
        # The same query written out: the ORM's compiling of the window cost more CPU than
        # PostgreSQL's running of it, several times a second.
        with connection.cursor() as cursor:
            cursor.execute(
                f"""SELECT id, organization_id, contact_id, queue_id, channel, queued_at,
                        routing_rank, preferred_agent_id, data -> 'declined_by'
                    FROM (
                        SELECT *, row_number() OVER (
                            PARTITION BY queue_id, channel ORDER BY routing_rank, id
                        ) AS place
                        FROM {Interaction._meta.db_table}
                        WHERE state = %s AND queue_id = ANY(%s)
                    ) AS line
                    WHERE place <= %s
                    ORDER BY routing_rank, id""",  # noqa: S608
                [State.QUEUED, queue_ids, self.per_line],
            )
            rows = cursor.fetchall()
        return [
            engine.Waiting(
                id=pk,
                organization_id=org,
                contact_id=contact,
                queue_id=queue,
                channel=channel,
                queued_at=queued_at,
                routing_rank=rank,
                preferred_agent_id=preferred,
                declined=frozenset(engine.json_value(declined) or ()),
            )
            for pk, org, contact, queue, channel, queued_at, rank, preferred, declined in rows
        ]

    def _scope(self, config, clock: float) -> tuple[list[int], set[int] | None]:
        """The queues this round looks at, and the agents to read again (None: everyone).
        Resets what the wake-ups named."""
        named, agents = self._queues, self._agents
        self._queues, self._agents = set(), set()
        if named is None or clock - self._full_at >= self.full_every:
            self._full_at = clock
            return list(config), None
        for queue_id, queue in config.items():
            if queue_id in named or not agents.isdisjoint(queue.members):
                named.add(queue_id)
        return [q for q in named if q in config], agents

    def agents(self, config, refresh: set[int] | None) -> dict[int, engine.AgentState]:
        """Presence, capacity and load of the members of every queue, kept between rounds.

        Everyone is read again on full rounds and when the queue settings were reloaded;
        otherwise only the agents wake-ups named (a release, a presence change). What the
        plans offered is already counted in it. Staleness costs no correctness: ``apply``
        locks and recounts, and a dropped decision makes the next round a full one.
        """
        if refresh is None or self._agent_cache is None or self._cache_config is not config:
            members = {a for q in config.values() for a in q.members}
            self._agent_cache = engine.agents_state(members, skills=self._skills)
            self._cache_config = config
        elif refresh:
            fresh = engine.agents_state(refresh, skills=self._skills)
            for agent_id in refresh:
                self._agent_cache.pop(agent_id, None)
            self._agent_cache.update(fresh)
        return self._agent_cache

    def round(self) -> RoundStats:
        started = time.perf_counter()
        stats = RoundStats()
        now = timezone.now()
        clock = time.monotonic()
        if clock - self._expired_at >= self.expire_every:
            from apps.queues.services import offers_expire_due, presences_end_wrap_up

            self._expired_at = clock
            stats.expired = offers_expire_due(now=now)
            if presences_end_wrap_up(now=now) or stats.expired:
                # Agents back from wrap-up, interactions back in line: look everywhere.
                self._queues = None
        config = self.config(now)
        scope, refresh = self._scope(config, clock)
        open_queues = [q for q in scope if config[q].is_open]
        waiting = self.heads(open_queues) if open_queues else []
        stats.waiting = len(waiting)
        agents = self.agents(config, refresh)
        if waiting:
            snapshot = engine.Snapshot(
                queues={q: config[q] for q in open_queues}, agents=agents, taken_at=now
            )
            decisions = engine.plan(waiting, snapshot, now=now)
            stats.decisions = len(decisions)
            for start in range(0, len(decisions), self.chunk):
                applied = engine.apply(
                    decisions[start : start + self.chunk],
                    now=now,
                    schedule_expiry=False,
                    queue_updates=False,
                    **({"announce": self._publisher} if self._publisher else {}),
                )
                stats.offers += len(applied.offers)
                stats.placed += len(applied.interactions)
                stats.dropped += applied.dropped
                self._touched |= applied.queues
                if self.on_applied is not None:
                    self.on_applied(applied)
            # A line read only in part, with something placed: the rest may fit now.
            lines = {}
            for w in waiting:
                lines[w.queue_id, w.channel] = lines.get((w.queue_id, w.channel), 0) + 1
            long_line = any(n >= self.per_line for n in lines.values())
            stats.more = stats.dropped > 0 or (long_line and stats.placed > 0)
            if stats.more:
                self._queues = None
        self._publish_summaries(clock)
        stats.seconds = time.perf_counter() - started
        if stats.placed or stats.dropped or stats.expired:
            logger.info(
                "router.round",
                extra={
                    "waiting": stats.waiting,
                    "placed": stats.placed,
                    "dropped": stats.dropped,
                    "expired": stats.expired,
                    "ms": round(stats.seconds * 1000, 1),
                },
            )
        return stats

    def _publish_summaries(self, clock: float) -> None:
        if not self._touched or clock - self._summaries_at < self.summary_every:
            return
        from apps.core.realtime import publish_many
        from apps.queues.services import queue_update_messages

        touched, self._touched, self._summaries_at = self._touched, set(), clock
        send = self._publisher or publish_many
        send(queue_update_messages(touched))

    # --- The loop ---------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop = True

    def run(self, *, rounds: int | None = None) -> None:
        """Route until ``stop()`` (or for ``rounds`` rounds)."""
        from apps.core.realtime import BackgroundPublisher

        done = 0
        self._publisher = BackgroundPublisher()
        try:
            while not self._stop and (rounds is None or done < rounds):
                done += 1
                try:
                    stats = self.round()
                except Exception:
                    # A failed round rolled back: everything it touched is still waiting.
                    logger.exception("router.round_failed")
                    connection.close()
                    time.sleep(min(self.idle_seconds, 1.0))
                    continue
                if not stats.more and (rounds is None or done < rounds):
                    self.wait(self.idle_seconds)
        finally:
            self._close_listener()
            self._publisher.close()
            self._publisher = None

    def wait(self, seconds: float) -> None:
        """Until a wake-up or ``seconds`` (all wake-ups already pending are taken at once)."""
        listener = self._listen()
        if listener is None:
            time.sleep(seconds)
            return
        try:
            notes = list(listener.notifies(timeout=seconds, stop_after=1))
            if not notes:  # nothing named: a full round
                self._queues = None
                return
            # Several commits in a row: one round for them all.
            notes += listener.notifies(timeout=0.001)
            for note in notes:
                self._note(note.payload)
        except Exception:
            logger.exception("router.listen_failed")
            self._close_listener()
            time.sleep(min(seconds, 1.0))

    def _note(self, payload: str) -> None:
        if self._queues is None:
            return
        kind, number = payload[:1], payload[1:]
        if kind == "q" and number.isdigit():
            self._queues.add(int(number))
        elif kind == "a" and number.isdigit():
            self._agents.add(int(number))
        else:
            self._queues = None

    def _listen(self):
        if connection.vendor != "postgresql":
            return None
        if self._listener is not None and not self._listener.closed:
            return self._listener
        import psycopg

        from apps.queues.services import ROUTING_CHANNEL

        params = connection.get_connection_params()
        keep = {"dbname", "user", "password", "host", "port", "sslmode", "options", "service"}
        conninfo = {k: v for k, v in params.items() if k in keep and v not in (None, "")}
        self._listener = psycopg.connect(**conninfo, autocommit=True)
        self._listener.execute(f"LISTEN {ROUTING_CHANNEL}")
        return self._listener

    def _close_listener(self) -> None:
        if self._listener is not None:
            try:
                self._listener.close()
            finally:
                self._listener = None
