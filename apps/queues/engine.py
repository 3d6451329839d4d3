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


def _capacity(raw) -> dict[str, int]:
    out = {}
    for kind, value in (raw or {}).items():
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


def agents_state(agent_ids) -> dict[int, AgentState]:
    """Presence, capacity, skills and load of the agents at work (3 queries)."""
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
    for agent_id, skill_id, level in AgentSkill.objects.filter(agent_id__in=agents).values_list(
        "agent_id", "skill_id", "level"
    ):
        agents[agent_id].skills[skill_id] = level
    for (agent_id, kind), n in loads_of(list(agents)).items():
        agents[agent_id].load[kind] = n
    return agents


def loads_of(agent_ids: list[int]) -> Counter:
    """(agent id, capacity kind) → interactions the agent holds now (one grouped query)."""
    from apps.queues.services import BUSY_STATES, CAPACITY_KIND

    loads: Counter = Counter()
    if not agent_ids:
        return loads
    rows = (
        Interaction.objects.filter(assigned_agent_id__in=agent_ids, state__in=BUSY_STATES)
        .order_by()
        .values_list("assigned_agent_id", "channel")
        .annotate(n=Count("id"))
    )
    for agent_id, channel, n in rows:
        loads[agent_id, CAPACITY_KIND[channel]] += n
    return loads


def snapshot_load(queue_ids, *, now: datetime | None = None, config=None) -> Snapshot:
    """Everything ``plan`` needs for these queues. ``config``: queue settings already loaded
    (the router keeps them for a second); presence and loads are always read fresh."""
    now = now or timezone.now()
    queues = config if config is not None else queues_config(queue_ids, now=now)
    members = {agent_id for q in queues.values() for agent_id in q.members}
    return Snapshot(queues=queues, agents=agents_state(members), taken_at=now)


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
    for w in waiting:
        queue = snapshot.queues.get(w.queue_id)
        if queue is None or not queue.is_open:
            continue
        kind = capacity_kind(w.channel)
        waited = (now - (w.queued_at or now)).total_seconds()
        relaxed = queue.relax_skills_after_seconds is not None and (
            waited >= queue.relax_skills_after_seconds
        )
        required = {s: 1 for s in queue.required} if relaxed else queue.required
        candidates = []
        for agent_id, order in queue.members.items():
            agent = snapshot.agents.get(agent_id)
            if agent is None or not agent.available or agent_id in w.declined:
                continue
            capacity = agent.capacity.get(kind, 0)
            load = agent.load[kind]
            if load >= capacity:
                continue
            have = agent.skills
            if any(have.get(skill, 0) < level for skill, level in required.items()):
                continue
            candidates.append(
                Candidate(
                    agent_id=agent_id,
                    presence_id=agent.presence_id,
                    load=load,
                    capacity=capacity,
                    total_load=agent.total,
                    # Asterisk-style penalty tiers: the weakest required skill decides (10 best).
                    skill_score=sum(have.get(s, 0) for s in required),
                    skill_tier=min((have[s] for s in required), default=10),
                    idle_since=agent.idle_since,
                    last_offer_at=agent.last_offer_at,
                    order=order,
                )
            )
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
            Decision(waiting=w, agent_ids=[c.agent_id for c in chosen], why=why, ring_all=ring_all)
        )
    return decisions


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
) -> Applied:
    """Write a plan: lock, recheck, then one statement per table.

    ``schedule_expiry``: one timeout task per offer (the inline path); the router times offers
    out itself. ``queue_updates``: publish the live summary of every queue touched.
    """
    if not decisions:
        return Applied(offers=[], interactions=[], queues=set(), dropped=0)
    now = now or timezone.now()
    with transaction.atomic():
        still = set(
            Interaction.objects.select_for_update(**skip_locked())
            .filter(pk__in=[d.waiting.id for d in decisions], state=State.QUEUED)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        wanted = sorted({a for d in decisions if d.waiting.id in still for a in d.agent_ids})
        held = {
            agent_id: (presence_id, _capacity(capacity))
            for agent_id, presence_id, capacity in (
                Presence.objects.select_for_update(**skip_locked(of_self=True))
                .filter(agent_id__in=wanted, status=PresenceStatus.AVAILABLE)
                .order_by("pk")
                .values_list("agent_id", "pk", "agent__agent_profile__capacity")
            )
        }
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
        timeouts = _timeouts({d.waiting.queue_id for d, _a in kept})
        offers = Offer.objects.bulk_create(
            [
                Offer(
                    organization_id=d.waiting.organization_id,
                    interaction_id=d.waiting.id,
                    agent_id=agent_id,
                    queue_id=d.waiting.queue_id,
                    expires_at=now + timedelta(seconds=timeouts[d.waiting.queue_id]),
                    why={**d.why, "chosen": agent_id},
                    created_at=now,
                )
                for d, agents in kept
                for agent_id in agents
            ]
        )
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
                    data={
                        "from": State.QUEUED,
                        "to": State.OFFERED,
                        "agents": agents,
                        "why": d.why,
                    },
                    at=now,
                )
                for d, agents in kept
            ]
        )
        Presence.objects.filter(agent_id__in={o.agent_id for o in offers}).update(last_offer_at=now)
        _announce(offers, kept)
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


def _timeouts(queue_ids: set[int]) -> dict[int, int]:
    return dict(Queue.objects.filter(pk__in=queue_ids).values_list("pk", "offer_timeout_seconds"))


def _announce(offers: list[Offer], kept: list[tuple[Decision, list[int]]]) -> None:
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
    publish_many(messages)


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
