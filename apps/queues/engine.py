"""The routing engine: a snapshot of queues and agents, a plan made in memory, applied in bulk.

Every routing decision goes through three steps:

1. ``snapshot_load`` reads what a decision needs for a set of queues in a fixed number of
   queries: queue settings, required skills, members, the members' presence, capacity, skills
   and current load.
2. ``plan`` walks the waiting interactions in line order (``routing_rank``, then id) and picks,
   by each queue's strategy, the best agent with room (all of them for ring-all voice). It
   updates the snapshot as it goes, so one plan never gives an agent more than their capacity.
3. ``apply`` writes the plan in one transaction: it locks the interactions still waiting and the
   presence rows of the agents still available (``FOR UPDATE SKIP LOCKED`` on PostgreSQL: what
   another router holds is left for the next round), recounts those agents' loads under the
   lock, drops any decision that no longer fits, then inserts the offers and events and updates
   the interactions and presences with one statement each.

The inline path (one interaction routed in the request that queued it) and the router process
(``manage.py router``: hundreds of interactions per round) share this code; the locks and the
recount make any number of them safe together, and with the older one-by-one paths.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from apps.core.realtime import agent_group, interaction_group, publish_many
from apps.interactions.models import Channel, Event, Interaction, State
from apps.queues.hours import queue_is_open
from apps.queues.models import (
    AgentSkill,
    Offer,
    Presence,
    PresenceStatus,
    Queue,
    QueueMember,
    QueueSkill,
    Strategy,
)

logger = logging.getLogger(__name__)

# Candidates written into an offer's "why" (the best first); the count says how many there were.
WHY_CANDIDATES = 10


def capacity_kind(channel: str) -> str:
    from apps.queues.services import CAPACITY_KIND

    return CAPACITY_KIND[channel]


def skip_locked(*, of_self: bool = False) -> dict:
    """``select_for_update`` arguments: skip rows other routers hold (PostgreSQL; SQLite's
    IMMEDIATE transactions serialise writers instead). ``of_self``: lock only the main table's
    row, not the nullable side of an outer join (which PostgreSQL refuses)."""
    if not connection.features.has_select_for_update_skip_locked:
        return {}
    extra = {"of": ("self",)} if of_self and connection.features.has_select_for_update_of else {}
    return {"skip_locked": True, **extra}


# --- The snapshot ------------------------------------------------------------------------------


@dataclass
class QueueState:
    id: int
    organization_id: int
    strategy: str
    offer_timeout_seconds: int
    preferred_agent_seconds: int
    relax_skills_after_seconds: int | None
    is_open: bool
    required: dict[int, int] = field(default_factory=dict)  # skill id → minimum level
    members: dict[int, int] = field(default_factory=dict)  # agent id → order (sequential)


@dataclass
class AgentState:
    agent_id: int
    presence_id: int
    available: bool  # else at work in wrap-up (still "working" for preferred-agent waits)
    idle_since: datetime
    last_offer_at: datetime | None
    capacity: dict[str, int]
    load: Counter = field(default_factory=Counter)  # capacity kind → interactions held
    skills: dict[int, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.load.values())


@dataclass
class Snapshot:
    queues: dict[int, QueueState]
    agents: dict[int, AgentState]
    taken_at: datetime


@dataclass
class Waiting:
    id: int
    organization_id: int
    contact_id: int | None
    queue_id: int
    channel: str
    queued_at: datetime | None
    routing_rank: datetime | None
    preferred_agent_id: int | None
    declined: frozenset[int]


@dataclass
class Decision:
    waiting: Waiting
    agent_ids: list[int]
    why: dict
    ring_all: bool
    timeout: int  # seconds the offer rings


def json_value(raw):
    """A JSON column's value as Python: Django's PostgreSQL connections hand raw ``jsonb`` over
    as text (the field decodes it), the ORM as Python already."""
    import json

    return json.loads(raw) if isinstance(raw, str | bytes) else raw


def _capacity(raw) -> dict[str, int]:
    out = {}
    for kind, value in (json_value(raw) or {}).items():
        try:
            out[kind] = int(value)
        except (TypeError, ValueError):
            continue
    return out


def queues_config(queue_ids, *, now: datetime) -> dict[int, QueueState]:
    """Settings, open or closed now, required skills and members of the queues (4-6 queries)."""
    rows = (
        Queue.objects.filter(pk__in=list(queue_ids), is_active=True)
        .select_related("business_hours")
        .prefetch_related("business_hours__periods", "business_hours__holidays")
    )
    queues = {
        q.pk: QueueState(
            id=q.pk,
            organization_id=q.organization_id,
            strategy=q.strategy,
            offer_timeout_seconds=q.offer_timeout_seconds,
            preferred_agent_seconds=q.preferred_agent_seconds,
            relax_skills_after_seconds=q.relax_skills_after_seconds,
            is_open=queue_is_open(queue=q, at=now),
        )
        for q in rows
    }
    if not queues:
        return queues
    for queue_id, skill_id, level in QueueSkill.objects.filter(queue_id__in=queues).values_list(
        "queue_id", "skill_id", "min_level"
    ):
        queues[queue_id].required[skill_id] = level
    for queue_id, agent_id, order in (
        QueueMember.objects.filter(queue_id__in=queues)
        .order_by()
        .values_list("queue_id", "agent_id", "order")
    ):
        queues[queue_id].members[agent_id] = order
    return queues


def agent_skills(agent_ids) -> dict[int, dict[int, int]]:
    """Agent id → skill id → level (one query)."""
    skills: dict[int, dict[int, int]] = {}
    for agent_id, skill_id, level in AgentSkill.objects.filter(
        agent_id__in=list(agent_ids)
    ).values_list("agent_id", "skill_id", "level"):
        skills.setdefault(agent_id, {})[skill_id] = level
    return skills


def agents_state(agent_ids, *, skills: dict[int, dict[int, int]] | None = None) -> dict:
    """Presence, capacity, skills and load of the agents at work (2-3 queries; ``skills``
    already loaded saves one)."""
    agents = {
        agent_id: AgentState(
            agent_id=agent_id,
            presence_id=presence_id,
            available=status == PresenceStatus.AVAILABLE,
            idle_since=idle_since,
            last_offer_at=last_offer_at,
            capacity=_capacity(capacity),
        )
        for presence_id, agent_id, status, idle_since, last_offer_at, capacity in (
            Presence.objects.filter(
                agent_id__in=list(agent_ids),
                status__in=[PresenceStatus.AVAILABLE, PresenceStatus.WRAP_UP],
                agent__is_active=True,
            )
            .order_by()
            .values_list(
                "pk",
                "agent_id",
                "status",
                "idle_since",
                "last_offer_at",
                "agent__agent_profile__capacity",
            )
        )
    }
    if not agents:
        return agents
    if skills is None:
        skills = agent_skills(agents)
    for agent_id, agent in agents.items():
        agent.skills = skills.get(agent_id, {})
    for (agent_id, kind), n in loads_of(list(agents)).items():
        agents[agent_id].load[kind] = n
    return agents


def loads_of(agent_ids: list[int]) -> Counter:
    """(agent id, capacity kind) → interactions the agent holds now (one grouped query)."""
    from apps.queues.services import BUSY_STATES, CAPACITY_KIND

    loads: Counter = Counter()
    if not agent_ids:
        return loads
    if connection.vendor == "postgresql":
        rows = _pg_rows(
            f"""SELECT assigned_agent_id, channel, count(*) FROM {Interaction._meta.db_table}
                WHERE assigned_agent_id = ANY(%s) AND state = ANY(%s)
                GROUP BY assigned_agent_id, channel""",  # noqa: S608
            [list(agent_ids), list(BUSY_STATES)],
        )
    else:
        rows = (
            Interaction.objects.filter(assigned_agent_id__in=agent_ids, state__in=BUSY_STATES)
            .order_by()
            .values_list("assigned_agent_id", "channel")
            .annotate(n=Count("id"))
        )
    for agent_id, channel, n in rows:
        loads[agent_id, CAPACITY_KIND[channel]] += n
    return loads


def snapshot_load(queue_ids, *, now: datetime | None = None, config=None, skills=None) -> Snapshot:
    """Everything ``plan`` needs for these queues. ``config`` and ``skills``: queue settings
    and agent skills already loaded (the router keeps them for a second); presence and loads
    are always read fresh."""
    now = now or timezone.now()
    queues = config if config is not None else queues_config(queue_ids, now=now)
    members = {agent_id for q in queues.values() for agent_id in q.members}
    return Snapshot(queues=queues, agents=agents_state(members, skills=skills), taken_at=now)


# --- Waiting interactions -----------------------------------------------------------------------

_WAITING_FIELDS = (
    "pk",
    "organization_id",
    "contact_id",
    "queue_id",
    "channel",
    "queued_at",
    "routing_rank",
    "preferred_agent_id",
    "data",
)


def waiting_rows(queryset, *, limit: int | None = None) -> list[Waiting]:
    """``Waiting`` records of the queued interactions of a queryset, in line order."""
    rows = (
        queryset.filter(state=State.QUEUED, queue__isnull=False)
        .order_by("routing_rank", "id")
        .values_list(*_WAITING_FIELDS)
    )
    if limit is not None:
        rows = rows[:limit]
    return [
        Waiting(
            id=pk,
            organization_id=org,
            contact_id=contact,
            queue_id=queue,
            channel=channel,
            queued_at=queued_at,
            routing_rank=rank,
            preferred_agent_id=preferred,
            declined=frozenset((data or {}).get("declined_by", ())),
        )
        for pk, org, contact, queue, channel, queued_at, rank, preferred, data in rows
    ]


# --- The plan -----------------------------------------------------------------------------------


def plan(
    waiting: list[Waiting], snapshot: Snapshot, *, now: datetime | None = None
) -> list[Decision]:
    """Decide, in line order, who gets each waiting interaction (pure: no query)."""
    from apps.queues.services import Candidate, rank_candidates

    now = now or snapshot.taken_at
    decisions = []
    # (queue, relaxed) → members with the required skills: (agent, order, score, tier).
    skilled: dict[tuple[int, bool], list[tuple[AgentState, int, int, int]]] = {}
    # (queue, capacity kind, relaxed) where nobody has room left: a plan only adds load, so
    # the rest of that line is skipped without looking at its members again.
    full: set[tuple[int, str, bool]] = set()
    for w in waiting:
        queue = snapshot.queues.get(w.queue_id)
        if queue is None or not queue.is_open:
            continue
        kind = capacity_kind(w.channel)
        waited = (now - (w.queued_at or now)).total_seconds()
        relaxed = queue.relax_skills_after_seconds is not None and (
            waited >= queue.relax_skills_after_seconds
        )
        if (queue.id, kind, relaxed) in full:
            continue
        members = skilled.get((queue.id, relaxed))
        if members is None:
            members = skilled[queue.id, relaxed] = _skilled_members(queue, snapshot, relaxed)
        candidates = []
        for agent, order, score, tier in members:
            if not agent.available or agent.agent_id in w.declined:
                continue
            capacity = agent.capacity.get(kind, 0)
            load = agent.load[kind]
            if load >= capacity:
                continue
            candidates.append(
                Candidate(
                    agent_id=agent.agent_id,
                    presence_id=agent.presence_id,
                    load=load,
                    capacity=capacity,
                    total_load=agent.total,
                    skill_score=score,
                    skill_tier=tier,
                    idle_since=agent.idle_since,
                    last_offer_at=agent.last_offer_at,
                    order=order,
                )
            )
        if not candidates and not w.declined:
            full.add((queue.id, kind, relaxed))
        note = ""
        preferred = w.preferred_agent_id
        if preferred and waited < queue.preferred_agent_seconds and preferred in snapshot.agents:
            # The customer's last agent, at work but busy, is waited for a while before others.
            candidates = [c for c in candidates if c.agent_id == preferred]
            note = "waiting for the preferred agent"
        if not candidates:
            continue
        ranked = rank_candidates(strategy=queue.strategy, candidates=candidates)
        ring_all = queue.strategy == Strategy.RING_ALL and w.channel == Channel.VOICE
        chosen = ranked if ring_all else ranked[:1]
        why = {
            "strategy": queue.strategy,
            "queue": queue.id,
            "waited_seconds": round(waited, 1),
            "considered": len(ranked),
            "candidates": [c.as_dict(i) for i, c in enumerate(ranked[:WHY_CANDIDATES])],
            "note": note,
        }
        if relaxed and queue.required:
            why["relaxed_skills"] = True
        for c in chosen:
            agent = snapshot.agents[c.agent_id]
            agent.load[kind] += 1
            agent.last_offer_at = now
        decisions.append(
            Decision(
                waiting=w,
                agent_ids=[c.agent_id for c in chosen],
                why=why,
                ring_all=ring_all,
                timeout=queue.offer_timeout_seconds,
            )
        )
    return decisions


def _skilled_members(
    queue: QueueState, snapshot: Snapshot, relaxed: bool
) -> list[tuple[AgentState, int, int, int]]:
    """Members at work with the queue's skills: (agent, order, skill score, penalty tier).

    After the relax delay, having each skill at all is enough. Asterisk-style penalty tiers:
    the weakest required skill decides the tier (10 is best).
    """
    required = {s: 1 for s in queue.required} if relaxed else queue.required
    out = []
    for agent_id, order in queue.members.items():
        agent = snapshot.agents.get(agent_id)
        if agent is None:
            continue
        have = agent.skills
        if any(have.get(skill, 0) < level for skill, level in required.items()):
            continue
        score = sum(have.get(s, 0) for s in required)
        tier = min((have[s] for s in required), default=10)
        out.append((agent, order, score, tier))
    return out


# --- Hot statements ----------------------------------------------------------------------------
# The router runs these several times a second. On PostgreSQL they are written out, with arrays
# as parameters: building them through the ORM cost more CPU than running them. Elsewhere the
# ORM's versions (SQLite has one writer and small volumes). Table names come from the models.


def _pg_rows(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _lock_waiting(ids: list[int]) -> set[int]:
    """Lock those of these interactions still waiting that no other router holds."""
    if connection.vendor == "postgresql":
        rows = _pg_rows(
            f"""SELECT id FROM {Interaction._meta.db_table}
                WHERE id = ANY(%s) AND state = %s
                ORDER BY id FOR UPDATE SKIP LOCKED""",  # noqa: S608
            [ids, State.QUEUED],
        )
        return {row[0] for row in rows}
    return set(
        Interaction.objects.select_for_update(**skip_locked())
        .filter(pk__in=ids, state=State.QUEUED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _lock_available(agent_ids: list[int]) -> dict[int, tuple[int, dict[str, int]]]:
    """Lock the presence rows of those of these agents still available that no other router
    holds: agent id → (presence id, capacity)."""
    from apps.accounts.models import AgentProfile

    if connection.vendor == "postgresql":
        rows = _pg_rows(
            f"""SELECT p.agent_id, p.id, ap.capacity FROM {Presence._meta.db_table} p
                LEFT JOIN {AgentProfile._meta.db_table} ap ON ap.user_id = p.agent_id
                WHERE p.agent_id = ANY(%s) AND p.status = %s
                ORDER BY p.id FOR UPDATE OF p SKIP LOCKED""",  # noqa: S608
            [agent_ids, PresenceStatus.AVAILABLE],
        )
    else:
        rows = (
            Presence.objects.select_for_update(**skip_locked(of_self=True))
            .filter(agent_id__in=agent_ids, status=PresenceStatus.AVAILABLE)
            .order_by("pk")
            .values_list("agent_id", "pk", "agent__agent_profile__capacity")
        )
    return {
        agent_id: (presence_id, _capacity(capacity)) for agent_id, presence_id, capacity in rows
    }


def _stamp_offered(agent_ids: set[int], now: datetime) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Presence._meta.db_table} SET last_offer_at = %s "  # noqa: S608
                "WHERE agent_id = ANY(%s)",
                [now, sorted(agent_ids)],
            )
        return
    Presence.objects.filter(agent_id__in=agent_ids).update(last_offer_at=now)


# --- Applying a plan ----------------------------------------------------------------------------


@dataclass
class Applied:
    offers: list[Offer]
    interactions: list[int]
    queues: set[int]
    dropped: int  # decisions that no longer held under the locks (left waiting)


def apply(
    decisions: list[Decision],
    *,
    now: datetime | None = None,
    schedule_expiry: bool = True,
    queue_updates: bool = True,
    announce=publish_many,
) -> Applied:
    """Write a plan: lock, recheck, then one statement per table.

    ``schedule_expiry``: one timeout task per offer (the inline path); the router times offers
    out itself. ``queue_updates``: publish the live summary of every queue touched.
    """
    if not decisions:
        return Applied(offers=[], interactions=[], queues=set(), dropped=0)
    now = now or timezone.now()
    with transaction.atomic():
        still = _lock_waiting([d.waiting.id for d in decisions])
        wanted = sorted({a for d in decisions if d.waiting.id in still for a in d.agent_ids})
        held = _lock_available(wanted)
        loads = loads_of(list(held))
        kept: list[tuple[Decision, list[int]]] = []
        for d in decisions:
            if d.waiting.id not in still:
                continue
            kind = capacity_kind(d.waiting.channel)
            agents = [
                a for a in d.agent_ids if a in held and loads[a, kind] < held[a][1].get(kind, 0)
            ]
            if not agents:
                continue
            for a in agents:
                loads[a, kind] += 1
            kept.append((d, agents))
        if not kept:
            return Applied(offers=[], interactions=[], queues=set(), dropped=len(decisions))
        timeouts = {d.waiting.queue_id: d.timeout for d, _a in kept}
        offers = _write(kept, now)
        _stamp_offered({o.agent_id for o in offers}, now)
        _announce(offers, kept, announce)
        if schedule_expiry:
            _schedule_expiry(offers, timeouts)
        touched = {d.waiting.queue_id for d, _a in kept}
        if queue_updates:
            from apps.queues.services import publish_queue_ids

            publish_queue_ids(touched)
    logger.debug(
        "routing.applied", extra={"offers": len(offers), "dropped": len(decisions) - len(kept)}
    )
    return Applied(
        offers=offers,
        interactions=[d.waiting.id for d, _a in kept],
        queues=touched,
        dropped=len(decisions) - len(kept),
    )


def _event_data(d: Decision, agents: list[int]) -> dict:
    # The candidates and their scores are on the offers; the event keeps the outline.
    outline = {k: d.why[k] for k in ("strategy", "queue", "waited_seconds", "considered", "note")}
    return {"from": State.QUEUED, "to": State.OFFERED, "agents": agents, "why": outline}


def _write(kept: list[tuple[Decision, list[int]]], now: datetime) -> list[Offer]:
    """Offers, interaction states and events of the kept decisions: one statement per table."""
    offers = [
        Offer(
            organization_id=d.waiting.organization_id,
            interaction_id=d.waiting.id,
            agent_id=agent_id,
            queue_id=d.waiting.queue_id,
            status=Offer.Status.PENDING,
            expires_at=now + timedelta(seconds=d.timeout),
            why={**d.why, "chosen": agent_id},
            created_at=now,
        )
        for d, agents in kept
        for agent_id in agents
    ]
    if connection.vendor == "postgresql":
        _write_postgresql(kept, offers, now)
        return offers
    # Elsewhere (SQLite: one writer, small volumes) the ORM's bulk statements do.
    Offer.objects.bulk_create(offers)
    Interaction.objects.bulk_update(
        [
            Interaction(
                pk=d.waiting.id,
                state=State.OFFERED,
                assigned_agent_id=None if d.ring_all else agents[0],
                updated_at=now,
            )
            for d, agents in kept
        ],
        ["state", "assigned_agent", "updated_at"],
    )
    Event.objects.bulk_create(
        [
            Event(
                organization_id=d.waiting.organization_id,
                interaction_id=d.waiting.id,
                contact_id=d.waiting.contact_id,
                type="interaction.state_changed",
                actor_kind=Event.ActorKind.SYSTEM,
                data=_event_data(d, agents),
                at=now,
            )
            for d, agents in kept
        ]
    )
    return offers


def _write_postgresql(kept, offers: list[Offer], now: datetime) -> None:
    """PostgreSQL: each batch travels as one JSON document that ``jsonb_to_recordset`` turns
    into rows. Building hundreds of ORM expressions (``bulk_update``) or escaping JSON inside
    text arrays (``bulk_create``'s UNNEST) cost ten times more than the statements themselves."""
    import json

    def doc(rows) -> str:  # plain values only: the C encoder does it
        return json.dumps(rows, separators=(",", ":"))

    at = now.isoformat()
    # Table names come from the models' metadata; every value travels as a parameter.
    offer_table, interaction_table = Offer._meta.db_table, Interaction._meta.db_table
    event_table = Event._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {offer_table} (organization_id, interaction_id, agent_id, queue_id,
                    status, created_at, expires_at, why)
                SELECT r.organization_id, r.interaction_id, r.agent_id, r.queue_id, %s, %s,
                    r.expires_at, r.why
                FROM jsonb_to_recordset(%s::jsonb) AS r(organization_id bigint,
                    interaction_id bigint, agent_id bigint, queue_id bigint,
                    expires_at timestamptz, why jsonb)
                RETURNING id, interaction_id, agent_id""",  # noqa: S608
            [
                Offer.Status.PENDING,
                now,
                doc(
                    [
                        {
                            "organization_id": o.organization_id,
                            "interaction_id": o.interaction_id,
                            "agent_id": o.agent_id,
                            "queue_id": o.queue_id,
                            "expires_at": o.expires_at.isoformat(),
                            "why": o.why,
                        }
                        for o in offers
                    ]
                ),
            ],
        )
        ids = {(interaction, agent): pk for pk, interaction, agent in cursor.fetchall()}
        for offer in offers:
            offer.pk = ids[offer.interaction_id, offer.agent_id]
            offer._state.adding = False
        cursor.execute(
            f"""UPDATE {interaction_table} AS i
                SET state = %s, updated_at = %s, assigned_agent_id = r.agent
                FROM jsonb_to_recordset(%s::jsonb) AS r(id bigint, agent bigint)
                WHERE i.id = r.id""",  # noqa: S608
            [
                State.OFFERED,
                now,
                doc(
                    [
                        {"id": d.waiting.id, "agent": None if d.ring_all else agents[0]}
                        for d, agents in kept
                    ]
                ),
            ],
        )
        cursor.execute(
            f"""INSERT INTO {event_table} (organization_id, interaction_id, contact_id,
                    type, actor_kind, at, data)
                SELECT r.organization_id, r.interaction_id, r.contact_id, %s, %s, %s, r.data
                FROM jsonb_to_recordset(%s::jsonb) AS r(organization_id bigint,
                    interaction_id bigint, contact_id bigint, data jsonb)""",  # noqa: S608
            [
                "interaction.state_changed",
                Event.ActorKind.SYSTEM,
                at,
                doc(
                    [
                        {
                            "organization_id": d.waiting.organization_id,
                            "interaction_id": d.waiting.id,
                            "contact_id": d.waiting.contact_id,
                            "data": _event_data(d, agents),
                        }
                        for d, agents in kept
                    ]
                ),
            ],
        )


def _announce(offers: list[Offer], kept: list[tuple[Decision, list[int]]], send) -> None:
    channel = {d.waiting.id: d.waiting.channel for d, _a in kept}
    messages = [
        (
            agent_group(o.agent_id),
            "offer.created",
            {
                "offer": o.pk,
                "interaction": o.interaction_id,
                "channel": channel[o.interaction_id],
                "expires_at": o.expires_at.isoformat(),
            },
        )
        for o in offers
    ]
    messages += [
        (
            interaction_group(d.waiting.id),
            "interaction.updated",
            {"id": d.waiting.id, "state": State.OFFERED},
        )
        for d, _a in kept
    ]
    send(messages)


def _schedule_expiry(offers: list[Offer], timeouts: dict[int, int]) -> None:
    from apps.queues.tasks import offer_expire_task

    due = [(o.pk, timeouts[o.queue_id]) for o in offers]

    def schedule() -> None:
        for offer_id, delay in due:
            offer_expire_task.apply_async((offer_id,), countdown=delay)

    transaction.on_commit(schedule, robust=True)


# --- One call: load, plan, apply ----------------------------------------------------------------


def route_waiting(waiting: list[Waiting], *, now: datetime | None = None, **options) -> Applied:
    """Route these waiting interactions (in line order) with a snapshot of their queues."""
    now = now or timezone.now()
    if not waiting:
        return Applied(offers=[], interactions=[], queues=set(), dropped=0)
    snapshot = snapshot_load({w.queue_id for w in waiting}, now=now)
    return apply(plan(waiting, snapshot, now=now), now=now, **options)
