"""The ACD: enqueue, pick the best available agent, offer, accept/decline/time out, presence.

Concurrency: a router locks the interaction it routes and the presence row of the agent it
offers to (``select_for_update(skip_locked=True)`` on PostgreSQL; SQLite's IMMEDIATE
transactions serialise writers), then recounts that agent's load before offering. So an
interaction is never offered twice and no agent goes past their capacity, however many routers
run at once.
"""

import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.contacts.models import Tier
from apps.core.realtime import agent_group, organization_group, publish, queue_group
from apps.interactions.models import Channel, Interaction, Participant, State
from apps.interactions.services import event_record, interaction_transition, participants_end
from apps.queues import engine
from apps.queues.hours import hours_next_opening, queue_is_open
from apps.queues.models import (
    Callback,
    Offer,
    Presence,
    PresenceStatus,
    Queue,
    ReasonCode,
    RoutingRule,
    Strategy,
    WhenClosed,
)

logger = logging.getLogger(__name__)

# Which capacity counter an interaction of a channel uses (AgentProfile.capacity keys).
CAPACITY_KIND = {
    Channel.VOICE: "voice",
    Channel.VIDEO: "video",
    Channel.SMS: "sms",
    Channel.EMAIL: "email",
    Channel.FAX: "email",
    Channel.MAIL: "email",
    Channel.WEBCHAT: "chat",
    Channel.WHATSAPP: "social",
    Channel.MESSENGER: "social",
    Channel.INSTAGRAM: "social",
    Channel.X: "social",
}
# States in which an interaction occupies its agent.
BUSY_STATES = (State.OFFERED, State.ACTIVE, State.ON_HOLD, State.WRAP_UP)
# Priority points (one point = one minute of waiting) by customer tier: VIPs go first.
TIER_PRIORITY = {Tier.STANDARD: 0, Tier.SILVER: 5, Tier.GOLD: 15, Tier.VIP: 1000}
MISSED_OFFER_REASON = "Missed offer"


def channels_of_kind(kind: str) -> list[str]:
    return [channel for channel, k in CAPACITY_KIND.items() if k == kind]


# --- Priority and enqueue ----------------------------------------------------------------------


def interaction_priority(*, interaction: Interaction, queue: Queue) -> int:
    """Queue base + customer tier + channel (a caller on the line outranks an e-mail)."""
    channel_points = 2 if interaction.channel in (Channel.VOICE, Channel.VIDEO) else 0
    tier_points = TIER_PRIORITY.get(interaction.contact.tier, 0)
    return queue.base_priority + tier_points + channel_points + interaction.priority


def _rank(*, since: datetime, priority: int) -> datetime:
    return since - timedelta(minutes=priority)


@transaction.atomic
def interaction_enqueue(
    *,
    interaction: Interaction,
    queue: Queue,
    actor=None,
    priority: int | None = None,
    keep_place_since: datetime | None = None,
    prefer_last_agent: bool = True,
) -> Interaction:
    """Put an interaction in a queue's waiting line and ask a router to place it.

    ``prefer_last_agent``: wait a while for the customer's last agent (the queue's setting);
    off for a transfer, which means someone else."""
    if queue.organization_id != interaction.organization_id:
        raise ValidationError({"queue": _("Not found.")})
    now = timezone.now()
    points = (
        priority
        if priority is not None
        else interaction_priority(interaction=interaction, queue=queue)
    )
    interaction.queue = queue
    interaction.priority = points
    if keep_place_since is not None and interaction.queued_at is None:
        interaction.queued_at = keep_place_since
    since = keep_place_since or interaction.queued_at or now
    interaction.routing_rank = _rank(since=since, priority=points)
    if (
        prefer_last_agent
        and interaction.preferred_agent_id is None
        and queue.preferred_agent_seconds
    ):
        interaction.preferred_agent_id = _last_agent_id(interaction)
    interaction.save(
        update_fields=["queue", "priority", "routing_rank", "preferred_agent", "queued_at"]
    )
    interaction_transition(
        interaction=interaction, to=State.QUEUED, actor=actor, data={"queue": queue.pk}
    )
    _publish_queue(queue)
    if not queue_is_open(queue=queue, at=now):
        _closed(interaction=interaction, queue=queue, now=now)
        return interaction
    _route_now(interaction)
    return interaction


def _closed(*, interaction: Interaction, queue: Queue, now) -> None:
    """Outside business hours: voicemail, a callback when it opens, or wait (digital)."""
    if queue.when_closed == WhenClosed.VOICEMAIL and interaction.channel == Channel.VOICE:
        interaction_transition(interaction=interaction, to=State.VOICEMAIL, data={"closed": True})
        return
    if queue.when_closed == WhenClosed.CALLBACK:
        number = _phone_of(interaction)
        opening = hours_next_opening(hours=queue.business_hours, at=now)
        if number and opening:
            callback_schedule(
                queue=queue,
                contact=interaction.contact,
                number=number,
                scheduled_for=opening,
                origin=interaction,
            )
            return
    event_record(
        organization=interaction.organization,
        type="interaction.waiting_closed",
        interaction=interaction,
        data={"queue": queue.pk},
    )


def _phone_of(interaction: Interaction) -> str:
    from apps.contacts.models import IdentityKind

    if interaction.identity_id and interaction.identity.kind == IdentityKind.PHONE:
        return interaction.identity.value
    identity = interaction.contact.identities.filter(kind=IdentityKind.PHONE).first()
    return identity.value if identity else ""


def _last_agent_id(interaction: Interaction) -> int | None:
    """The agent who last served this customer (preferred/last-agent routing)."""
    return (
        Interaction.objects.filter(contact=interaction.contact_id, assigned_agent__isnull=False)
        .exclude(pk=interaction.pk)
        .order_by("-created_at")
        .values_list("assigned_agent_id", flat=True)
        .first()
    )


def _route_now(interaction: Interaction) -> None:
    """Place a waiting interaction: inline, in the caller's transaction (no task hop, the
    engine's locks make it safe), unless a router process does it (ROUTING_INLINE off)."""
    if settings.ROUTING_INLINE:
        route_interaction(interaction_id=interaction.pk)
    routing_wake(queue_id=interaction.queue_id)


def routing_wake(*, queue_id: int | None = None, agent_id: int | None = None) -> None:
    """Tell the router process what changed: a queue's line, an agent's room, or (neither)
    anything. A PostgreSQL NOTIFY, delivered at commit; the router also makes a full round on
    its own every ``ROUTER_IDLE_SECONDS`` (SQLite has no NOTIFY)."""
    if connection.vendor != "postgresql":
        return
    payload = f"q{queue_id}" if queue_id else f"a{agent_id}" if agent_id else ""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, %s)", [ROUTING_CHANNEL, payload])


ROUTING_CHANNEL = "cc_routing"

_pending_queue_updates = threading.local()


def _publish_queue(queue: Queue) -> None:
    publish_queue_ids({queue.pk})


def publish_queue_ids(queue_ids) -> None:
    """After commit, one live summary per queue touched (however often it was touched)."""
    pending = getattr(_pending_queue_updates, "ids", None)
    if pending is None:
        pending = _pending_queue_updates.ids = set()
    pending.update(queue_ids)
    transaction.on_commit(_flush_queue_updates)


def _flush_queue_updates() -> None:
    pending = getattr(_pending_queue_updates, "ids", set())
    _pending_queue_updates.ids = set()
    from apps.core.realtime import publish_many

    publish_many(queue_update_messages(pending))


def queue_update_messages(queue_ids) -> list[tuple[str, str, dict]]:
    """``queue.updated`` for each queue, with its live summary (one query for them all)."""
    summaries = queue_live_summaries(queue_ids)
    return [(queue_group(q), "queue.updated", summaries[q]) for q in sorted(summaries)]


def queue_live_summary(queue_id: int) -> dict:
    """Waiting, ringing and longest wait of a queue (for live pages)."""
    return queue_live_summaries([queue_id])[queue_id]


def queue_live_summaries(queue_ids) -> dict[int, dict]:
    """``queue_live_summary`` of several queues in one grouped query."""
    from django.db.models import Count, Min

    ids = list(queue_ids)
    out = {q: {"queue": q, "waiting": 0, "offered": 0, "longest_wait_seconds": 0} for q in ids}
    now = timezone.now()
    rows = (
        Interaction.objects.filter(queue_id__in=ids, state__in=[State.QUEUED, State.OFFERED])
        .order_by()
        .values("queue_id")
        .annotate(
            waiting=Count("id", filter=Q(state=State.QUEUED)),
            offered=Count("id", filter=Q(state=State.OFFERED)),
            oldest=Min("queued_at", filter=Q(state=State.QUEUED)),
        )
    )
    for row in rows:
        oldest = row["oldest"]
        out[row["queue_id"]].update(
            waiting=row["waiting"],
            offered=row["offered"],
            longest_wait_seconds=round((now - oldest).total_seconds()) if oldest else 0,
        )
    return out


# --- Eligibility and scoring ---------------------------------------------------------------


@dataclass
class Candidate:
    agent_id: int
    presence_id: int
    load: int
    capacity: int
    total_load: int
    skill_score: int
    skill_tier: int
    idle_since: datetime
    last_offer_at: datetime | None
    order: int
    notes: list[str] = field(default_factory=list)

    def as_dict(self, score) -> dict:
        return {
            "agent": self.agent_id,
            "score": score,
            "load": self.load,
            "capacity": self.capacity,
            "skill_score": self.skill_score,
        }


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _sort_key(strategy: str, c: Candidate):
    if strategy == Strategy.ROUND_ROBIN:
        return ((c.last_offer_at or _EPOCH), c.agent_id)
    if strategy == Strategy.SKILLS:
        return (-c.skill_tier, -c.skill_score, c.total_load, c.idle_since, c.agent_id)
    if strategy == Strategy.LEAST_OCCUPIED:
        return (c.total_load / max(c.capacity, 1), c.total_load, c.idle_since, c.agent_id)
    if strategy == Strategy.SEQUENTIAL:
        return (c.order, c.agent_id)
    # Longest idle (and ring-all's order of listing).
    return (c.idle_since, c.agent_id)


def rank_candidates(*, strategy: str, candidates: list[Candidate]) -> list[Candidate]:
    return sorted(candidates, key=lambda c: _sort_key(strategy, c))


# --- Routing ---------------------------------------------------------------------------------


def route_interaction(*, interaction_id: int, now=None) -> list[Offer]:
    """Offer a queued interaction to the best available agent (all of them for ring-all).

    Returns the offers made (none when nobody can take it now, its queue is closed, or
    another router holds it: it stays queued).
    """
    waiting = engine.waiting_rows(Interaction.objects.filter(pk=interaction_id))
    return engine.route_waiting(waiting, now=now).offers


def route_queue(*, queue: Queue, limit: int = 100) -> int:
    """Place as many waiting interactions of the queue as agents can take; how many offered."""
    waiting = engine.waiting_rows(Interaction.objects.filter(queue=queue), limit=limit)
    return len(engine.route_waiting(waiting).interactions)


def route_agent_backlog(*, agent, limit: int = 50) -> int:
    """An agent freed up: what waits in their queues, on channels they have room for, is
    routed (to them, most often) in line order. How many interactions were offered."""
    row = (
        Presence.objects.filter(agent=agent, status=PresenceStatus.AVAILABLE)
        .values_list("agent__agent_profile__capacity", flat=True)
        .first()
    )
    if row is None:
        return 0
    free = _free_channels(agent.pk, row or {})
    if not free:
        return 0
    waiting = engine.waiting_rows(
        Interaction.objects.filter(
            queue__memberships__agent=agent, queue__is_active=True, channel__in=free
        ),
        limit=limit,
    )
    return len(engine.route_waiting(waiting).interactions)


def _free_channels(agent_id: int, capacities: dict) -> list[str]:
    loads = engine.loads_of([agent_id])
    return [
        channel
        for channel, kind in CAPACITY_KIND.items()
        if loads[agent_id, kind] < int(capacities.get(kind, 0) or 0)
    ]


# --- Offers ----------------------------------------------------------------------------------


def _locked_offer(offer: Offer) -> Offer:
    return Offer.objects.select_for_update().select_related("interaction").get(pk=offer.pk)


@transaction.atomic
def offer_accept(*, offer: Offer, agent) -> Offer:
    """The agent takes the interaction (for ring-all, the first to accept wins)."""
    offer = _locked_offer(offer)
    if offer.agent_id != agent.pk:
        raise ValidationError(_("This offer was made to someone else."))
    if offer.status != Offer.Status.PENDING:
        raise ValidationError(_("This offer is no longer open."))
    now = timezone.now()
    if offer.expires_at <= now:
        _expire(offer, now)
        raise ValidationError(_("This offer expired."))
    interaction = Interaction.objects.select_for_update().get(pk=offer.interaction_id)
    if interaction.state != State.OFFERED:
        offer.status = Offer.Status.CANCELLED
        offer.responded_at = now
        offer.save(update_fields=["status", "responded_at"])
        raise ValidationError(_("Another agent took this interaction."))
    offer.status = Offer.Status.ACCEPTED
    offer.responded_at = now
    offer.save(update_fields=["status", "responded_at"])
    for other in Offer.objects.filter(interaction=interaction, status=Offer.Status.PENDING):
        other.status = Offer.Status.CANCELLED
        other.responded_at = now
        other.save(update_fields=["status", "responded_at"])
        publish(
            group=agent_group(other.agent_id), event="offer.cancelled", data={"offer": other.pk}
        )
    interaction.assigned_agent = agent
    interaction.save(update_fields=["assigned_agent"])
    interaction_transition(
        interaction=interaction, to=State.ACTIVE, actor=agent, data={"offer": offer.pk}
    )
    publish(
        group=agent_group(agent.pk),
        event="offer.accepted",
        data={"offer": offer.pk, "interaction": interaction.pk},
    )
    if interaction.queue_id:
        _publish_queue(interaction.queue)
    return offer


def _requeue(interaction: Interaction, *, offer: Offer, reason: str, now) -> None:
    """Back to the front of its line (its rank is kept) unless another ring-all offer rings."""
    if Offer.objects.filter(interaction=interaction, status=Offer.Status.PENDING).exists():
        return
    declined = set(interaction.data.get("declined_by", []))
    if reason == "rejected":
        declined.add(offer.agent_id)
    interaction.data = {**interaction.data, "declined_by": sorted(declined)}
    interaction.assigned_agent = None
    interaction.save(update_fields=["data", "assigned_agent"])
    interaction_transition(
        interaction=interaction,
        to=State.QUEUED,
        # Who missed it: per-agent missed offers in reports read it here.
        data={"offer": offer.pk, "reason": reason, "agent": offer.agent_id},
        at=now,
    )
    _route_now(interaction)


@transaction.atomic
def offer_reject(*, offer: Offer, agent) -> Offer:
    """The agent declines: the interaction goes back to the front of its queue, to others."""
    offer = _locked_offer(offer)
    if offer.agent_id != agent.pk:
        raise ValidationError(_("This offer was made to someone else."))
    if offer.status != Offer.Status.PENDING:
        raise ValidationError(_("This offer is no longer open."))
    now = timezone.now()
    offer.status = Offer.Status.REJECTED
    offer.responded_at = now
    offer.save(update_fields=["status", "responded_at"])
    interaction = Interaction.objects.select_for_update().get(pk=offer.interaction_id)
    if interaction.state == State.OFFERED:
        _requeue(interaction, offer=offer, reason="rejected", now=now)
    return offer


def _expire(offer: Offer, now) -> None:
    offer.status = Offer.Status.TIMED_OUT
    offer.responded_at = now
    offer.save(update_fields=["status", "responded_at"])
    # Redirection on no answer (RONA): the agent is not there; stop offering them work first,
    # so the re-queued interaction goes to someone else.
    reason, _created = ReasonCode.objects.get_or_create(
        organization=offer.organization,
        name=MISSED_OFFER_REASON,
        defaults={"status": PresenceStatus.AWAY},
    )
    presence_set(agent=offer.agent, status=PresenceStatus.AWAY, reason=reason)
    publish(group=agent_group(offer.agent_id), event="offer.expired", data={"offer": offer.pk})
    interaction = Interaction.objects.select_for_update().get(pk=offer.interaction_id)
    if interaction.state == State.OFFERED:
        _requeue(interaction, offer=offer, reason="timed_out", now=now)


@transaction.atomic
def offer_expire(*, offer_id: int, now=None) -> bool:
    """Time out one unanswered offer (idempotent: a done or not yet due offer is left)."""
    now = now or timezone.now()
    offer = (
        Offer.objects.select_for_update(**engine.skip_locked())
        .filter(pk=offer_id, status=Offer.Status.PENDING, expires_at__lte=now)
        .first()
    )
    if offer is None:
        return False
    _expire(offer, now)
    return True


def offers_expire_due(*, now=None) -> int:
    """Sweep: time out every offer past its deadline (beat runs it every few seconds)."""
    now = now or timezone.now()
    due = Offer.objects.filter(status=Offer.Status.PENDING, expires_at__lte=now).values_list(
        "pk", flat=True
    )
    return sum(offer_expire(offer_id=pk, now=now) for pk in list(due[:500]))


# --- Presence --------------------------------------------------------------------------------


def presence_get(*, agent) -> Presence:
    presence, _created = Presence.objects.get_or_create(
        agent=agent, defaults={"organization_id": agent.organization_id}
    )
    return presence


@transaction.atomic
def presence_set(*, agent, status: str, reason: ReasonCode | None = None, actor=None) -> Presence:
    """Change an agent's status (every change is an event); available agents get work at once."""
    if status not in PresenceStatus.values:
        raise ValidationError({"status": _("Unknown status.")})
    if reason is not None and (
        reason.organization_id != agent.organization_id or reason.status != status
    ):
        raise ValidationError({"reason": _("This reason does not go with this status.")})
    presence_get(agent=agent)
    presence = Presence.objects.select_for_update().get(agent=agent)
    previous = presence.status
    now = timezone.now()
    presence.status = status
    presence.reason = reason
    presence.since = now
    presence.wrap_up_until = None
    fields = ["status", "reason", "since", "wrap_up_until"]
    if status == PresenceStatus.AVAILABLE and previous != PresenceStatus.AVAILABLE:
        presence.idle_since = now
        fields.append("idle_since")
    presence.save(update_fields=fields)
    event_record(
        organization=agent.organization,
        type="presence.changed",
        actor=actor or agent,
        data={
            "agent": agent.pk,
            "from": previous,
            "to": status,
            "reason": reason.name if reason else None,
        },
        at=now,
    )
    for group in (agent_group(agent.pk), organization_group(agent.organization_id)):
        # The agent's desk, and the organization's supervisors.
        publish(
            group=group,
            event="presence.updated",
            data={"agent": agent.pk, "status": status, "reason": reason.name if reason else ""},
        )
    if status == PresenceStatus.AVAILABLE:
        _route_agent_now(agent)
    else:
        routing_wake(agent_id=agent.pk)  # the router stops counting on them
    return presence


def agent_released(*, agent, wrap_up_seconds: int = 0) -> None:
    """An interaction of the agent ended: they are idle from now and may take more work,
    after ``wrap_up_seconds`` of wrap-up (the queue's after-call work time) when given."""
    now = timezone.now()
    Presence.objects.filter(agent=agent).update(idle_since=now)
    # Wrap-up holds new work back only when nothing else is in their hands (a chat agent
    # finishing one of three conversations goes on with the others).
    if (
        wrap_up_seconds > 0
        and not Interaction.objects.filter(assigned_agent=agent, state__in=BUSY_STATES).exists()
        and presence_wrap_up(agent=agent, until=now + timedelta(seconds=wrap_up_seconds))
    ):
        return
    _route_agent_now(agent)


@transaction.atomic
def presence_wrap_up(*, agent, until) -> bool:
    """An available agent goes to wrap-up until ``until`` (no offers meanwhile); False when
    they were not available (away, on a break: their status stays)."""
    presence = Presence.objects.select_for_update().filter(agent=agent).first()
    if presence is None or presence.status != PresenceStatus.AVAILABLE:
        return False
    presence_set(agent=agent, status=PresenceStatus.WRAP_UP)
    Presence.objects.filter(pk=presence.pk).update(wrap_up_until=until)
    return True


def presences_end_wrap_up(*, now=None) -> int:
    """Agents whose wrap-up time is over are available again (and get what waits)."""
    now = now or timezone.now()
    due = Presence.objects.filter(
        status=PresenceStatus.WRAP_UP, wrap_up_until__lte=now
    ).select_related("agent")
    ended = 0
    for presence in list(due[:500]):
        with transaction.atomic():
            fresh = (
                Presence.objects.select_for_update(**engine.skip_locked())
                .filter(pk=presence.pk, status=PresenceStatus.WRAP_UP, wrap_up_until__lte=now)
                .first()
            )
            if fresh is None:
                continue
            presence_set(agent=presence.agent, status=PresenceStatus.AVAILABLE)
            ended += 1
    return ended


def _route_agent_now(agent) -> None:
    if settings.ROUTING_INLINE:
        route_agent_backlog(agent=agent)
    routing_wake(agent_id=agent.pk)


# --- Waiting-line upkeep: overflow, no reply, callbacks ---------------------------------------


@transaction.atomic
def interaction_move(
    *, interaction: Interaction, queue: Queue, actor=None, reason: str = "moved"
) -> Interaction:
    """Move a waiting (or ringing) interaction to another queue; the customer keeps their place."""
    if queue.organization_id != interaction.organization_id:
        raise ValidationError({"queue": _("Not found.")})
    interaction = Interaction.objects.select_for_update().get(pk=interaction.pk)
    if interaction.state not in (State.QUEUED, State.OFFERED):
        raise ValidationError(_("Only a waiting interaction can change queue."))
    now = timezone.now()
    _cancel_pending_offers(interaction, now)
    previous = interaction.queue_id
    interaction.queue = queue
    interaction.assigned_agent = None
    interaction.save(update_fields=["queue", "assigned_agent"])
    if interaction.state == State.OFFERED:
        interaction_transition(interaction=interaction, to=State.QUEUED, actor=actor)
    event_record(
        organization=interaction.organization,
        type=f"interaction.{reason}",
        interaction=interaction,
        actor=actor,
        data={"from_queue": previous, "to_queue": queue.pk},
    )
    _route_now(interaction)
    return interaction


def _cancel_pending_offers(interaction: Interaction, now) -> None:
    for offer in Offer.objects.filter(interaction=interaction, status=Offer.Status.PENDING):
        offer.status = Offer.Status.CANCELLED
        offer.responded_at = now
        offer.save(update_fields=["status", "responded_at"])
        publish(
            group=agent_group(offer.agent_id), event="offer.cancelled", data={"offer": offer.pk}
        )


@transaction.atomic
def interaction_force_assign(*, interaction: Interaction, agent, actor) -> Offer:
    """A supervisor pushes a waiting interaction to a chosen agent (who still accepts it)."""
    if agent.organization_id != interaction.organization_id:
        raise ValidationError({"agent": _("Not found.")})
    interaction = (
        Interaction.objects.select_for_update(**engine.skip_locked(of_self=True))
        .select_related("queue")
        .filter(pk=interaction.pk)
        .first()
    )
    if interaction is None:  # a router holds it this very moment
        raise ValidationError(_("Someone else is changing this interaction; try again."))
    if interaction.state not in (State.QUEUED, State.OFFERED):
        raise ValidationError(_("Only a waiting interaction can be assigned."))
    now = timezone.now()
    _cancel_pending_offers(interaction, now)
    offer = _offer_directly(
        interaction=interaction, agent=agent, why={"forced_by": getattr(actor, "pk", None)}, now=now
    )
    if interaction.state == State.QUEUED:
        interaction_transition(
            interaction=interaction, to=State.OFFERED, actor=actor, data={"forced": agent.pk}
        )
    return offer


@transaction.atomic
def interaction_offer_to(
    *, interaction: Interaction, agent, timeout_seconds: int, why: dict, actor=None
) -> Offer:
    """Ring one chosen agent's desk for ``timeout_seconds`` (a follow-me step): declined or
    unanswered, the interaction goes back to waiting (its queue, if it has one)."""
    if agent.organization_id != interaction.organization_id:
        raise ValidationError({"agent": _("Not found.")})
    now = timezone.now()
    offer = _offer_directly(
        interaction=interaction, agent=agent, why=why, now=now, timeout=timeout_seconds
    )
    interaction_transition(
        interaction=interaction, to=State.OFFERED, actor=actor, data={"agents": [agent.pk]}
    )
    return offer


def _offer_directly(
    *, interaction: Interaction, agent, why: dict, now, timeout: int | None = None
) -> Offer:
    """An offer to one chosen agent (no strategy): they become its agent until they answer."""
    if timeout is None:
        timeout = interaction.queue.offer_timeout_seconds if interaction.queue_id else 30
    offer = Offer.objects.create(
        organization=interaction.organization,
        interaction=interaction,
        agent=agent,
        queue=interaction.queue,
        expires_at=now + timedelta(seconds=timeout),
        why=why,
        created_at=now,
    )
    interaction.assigned_agent = agent
    interaction.save(update_fields=["assigned_agent"])
    publish(
        group=agent_group(agent.pk),
        event="offer.created",
        data={
            "offer": offer.pk,
            "interaction": interaction.pk,
            "channel": interaction.channel,
            "expires_at": offer.expires_at.isoformat(),
        },
    )
    from apps.queues.tasks import offer_expire_task

    offer_id, delay = offer.pk, (offer.expires_at - now).total_seconds()
    transaction.on_commit(
        lambda: offer_expire_task.apply_async((offer_id,), countdown=delay), robust=True
    )
    return offer


@transaction.atomic
def interaction_transfer(
    *, interaction: Interaction, actor, agent=None, queue: Queue | None = None, note: str = ""
) -> Interaction:
    """Blind transfer of a live interaction to a colleague (offered to them: declined or
    unanswered, it goes back to its queue) or to a queue (it keeps its place in line). The
    note goes with it as an internal note; the transferring agent is free at once."""
    from apps.interactions.services import interaction_note_add

    if (agent is None) == (queue is None):
        raise ValidationError(_("Transfer to an agent or to a queue."))
    target_org = (agent or queue).organization_id
    if target_org != interaction.organization_id:
        raise ValidationError({"agent" if agent else "queue": _("Not found.")})
    interaction = (
        Interaction.objects.select_for_update(**engine.skip_locked(of_self=True))
        .select_related("queue", "organization", "contact")
        .filter(pk=interaction.pk)
        .first()
    )
    if interaction is None:
        raise ValidationError(_("Someone else is changing this interaction; try again."))
    if actor.pk != interaction.assigned_agent_id and not actor.has_perm(
        "interactions.supervise_interaction"
    ):
        raise ValidationError(_("Only its agent or a supervisor can transfer it."))
    if interaction.state == State.ON_HOLD:
        interaction_transition(interaction=interaction, to=State.ACTIVE, actor=actor, locked=True)
    if interaction.state != State.ACTIVE:
        raise ValidationError(_("Only a live interaction can be transferred."))
    if agent is not None and agent.pk == interaction.assigned_agent_id:
        raise ValidationError({"agent": _("It is already theirs.")})
    previous = interaction.assigned_agent
    now = timezone.now()
    if note.strip():
        interaction_note_add(interaction=interaction, body=note, author=actor)
    event_record(
        organization=interaction.organization,
        type="interaction.transferred",
        interaction=interaction,
        actor=actor,
        data={
            "from_agent": getattr(previous, "pk", None),
            "to_agent": getattr(agent, "pk", None),
            "to_queue": getattr(queue, "pk", None),
            "note": note.strip(),
        },
        at=now,
    )
    follow_me = False
    if agent is not None and interaction.channel == "voice":
        from apps.connectors.followme import follow_me_chain

        follow_me = bool(follow_me_chain(agent))
    if follow_me:
        # A call put through to an agent with a follow-me chain rings where they are.
        from apps.connectors.followme import follow_me_transfer

        follow_me_transfer(interaction=interaction, agent=agent, actor=actor)
    elif agent is not None:
        _offer_directly(
            interaction=interaction,
            agent=agent,
            why={"transferred_by": actor.pk, "from_agent": getattr(previous, "pk", None)},
            now=now,
        )
        interaction_transition(
            interaction=interaction,
            to=State.OFFERED,
            actor=actor,
            data={"transfer": True, "agents": [agent.pk]},
            at=now,
            locked=True,
        )
    else:
        declined = set(interaction.data.get("declined_by", []))
        if previous is not None:
            declined.add(previous.pk)  # it goes to someone else
        interaction.data = {**interaction.data, "declined_by": sorted(declined)}
        interaction.assigned_agent = None
        interaction.preferred_agent = None
        interaction.save(update_fields=["data", "assigned_agent", "preferred_agent"])
        interaction_enqueue(
            interaction=interaction,
            queue=queue,
            actor=actor,
            priority=interaction.priority,  # as it was: not counted twice
            prefer_last_agent=False,
        )
    participants_end(interaction=interaction, at=now)
    if previous is not None:
        agent_released(agent=previous)
    return interaction


# --- Consult, conference and warm transfer ------------------------------------------------------


def _live_for(interaction: Interaction, actor) -> Interaction:
    """``interaction`` locked and live, with ``actor`` its agent or a supervisor."""
    locked = (
        Interaction.objects.select_for_update(**engine.skip_locked(of_self=True))
        .select_related("organization")
        .filter(pk=interaction.pk)
        .first()
    )
    if locked is None:
        raise ValidationError(_("Someone else is changing this interaction; try again."))
    if actor.pk != locked.assigned_agent_id and not actor.has_perm(
        "interactions.supervise_interaction"
    ):
        raise ValidationError(_("Only its agent or a supervisor can do this."))
    if locked.state not in (State.ACTIVE, State.ON_HOLD):
        raise ValidationError(_("The conversation is no longer live."))
    return locked


def _tell(participant: Participant, event: str, *agent_ids) -> None:
    from apps.connectors.voice import voice_changed

    voice_changed(participant.interaction)  # a call: their leg is dialled, held or hung up
    data = {"participant": participant.pk, "interaction": participant.interaction_id}
    for agent_id in {a for a in agent_ids if a}:
        publish(group=agent_group(agent_id), event=event, data=data)


@transaction.atomic
def participant_invite(
    *,
    interaction: Interaction,
    actor,
    agent,
    mode: str = Participant.Mode.CONSULT,
    note: str = "",
    for_transfer: bool = False,
) -> Participant:
    """Ask a colleague to join a live interaction: to consult (they read it and talk with its
    agent in the internal notes), in conference (they also write to the customer), or to take
    it over once they have read it (``for_transfer``: a warm transfer). Their desk rings."""
    from apps.interactions.services import interaction_note_add

    if agent.organization_id != interaction.organization_id or not agent.is_active:
        raise ValidationError({"agent": _("Not found.")})
    if mode not in Participant.Mode.values:
        raise ValidationError({"mode": _("Consult or conference.")})
    interaction = _live_for(interaction, actor)
    if agent.pk == interaction.assigned_agent_id:
        raise ValidationError({"agent": _("It is already theirs.")})
    if interaction.participants.filter(agent=agent, status__in=Participant.ACTIVE).exists():
        raise ValidationError({"agent": _("They are already invited to this conversation.")})
    now = timezone.now()
    participant = Participant.objects.create(
        organization=interaction.organization,
        interaction=interaction,
        agent=agent,
        invited_by=actor,
        mode=mode,
        for_transfer=for_transfer,
        note=note.strip(),
        invited_at=now,
    )
    if note.strip():
        interaction_note_add(interaction=interaction, body=note, author=actor)
    event_record(
        organization=interaction.organization,
        type="interaction.participant_invited",
        interaction=interaction,
        actor=actor,
        data={"agent": agent.pk, "mode": mode, "for_transfer": for_transfer},
        at=now,
    )
    _tell(participant, "participant.invited", agent.pk, interaction.assigned_agent_id)
    return participant


def queue_free_member(*, queue: Queue, channel: str, exclude=()) -> int | None:
    """The queue's member who has been idle longest among those available with room for
    ``channel`` (a warm transfer to a queue consults them first), or None."""
    members = queue.memberships.exclude(agent_id__in=list(exclude)).values_list(
        "agent_id", flat=True
    )
    kind = engine.capacity_kind(channel)
    free = [
        a
        for a in engine.agents_state(list(members)).values()
        if a.available and a.load[kind] < a.capacity.get(kind, 0)
    ]
    free.sort(key=lambda a: (a.idle_since, a.agent_id))
    return free[0].agent_id if free else None


def participant_invite_from_queue(
    *, interaction: Interaction, actor, queue: Queue, note: str = ""
) -> Participant:
    """Warm transfer to a queue: its longest-idle available member is asked to take it over.
    With nobody free, a clear error (a blind transfer keeps the customer's place in line)."""
    from django.contrib.auth import get_user_model

    if queue.organization_id != interaction.organization_id:
        raise ValidationError({"queue": _("Not found.")})
    agent_id = queue_free_member(
        queue=queue, channel=interaction.channel, exclude=[interaction.assigned_agent_id or 0]
    )
    if agent_id is None:
        raise ValidationError(
            _("Nobody in %(queue)s is free now; transfer without consulting to wait in line.")
            % {"queue": queue.name}
        )
    return participant_invite(
        interaction=interaction,
        actor=actor,
        agent=get_user_model().objects.get(pk=agent_id),
        note=note,
        for_transfer=True,
    )


def _locked_participant(participant: Participant) -> Participant:
    return (
        Participant.objects.select_for_update()
        .select_related("interaction__organization", "agent")
        .get(pk=participant.pk)
    )


def participant_answer(*, participant: Participant, agent, accept: bool) -> Participant:
    """The invited colleague joins the conversation or declines; its agent is told. An
    invitation to a conversation that is over is cancelled (and that is the error)."""
    participant = _participant_answer(participant=participant, agent=agent, accept=accept)
    if accept and participant.status == Participant.Status.CANCELLED:
        raise ValidationError(_("The conversation is over."))
    return participant


@transaction.atomic
def _participant_answer(*, participant: Participant, agent, accept: bool) -> Participant:
    participant = _locked_participant(participant)
    if participant.agent_id != agent.pk:
        raise ValidationError(_("This invitation was made to someone else."))
    if participant.status != Participant.Status.INVITED:
        raise ValidationError(_("This invitation is no longer open."))
    interaction = participant.interaction
    now = timezone.now()
    if accept and interaction.state not in (State.ACTIVE, State.ON_HOLD):
        participant.status = Participant.Status.CANCELLED
        participant.ended_at = now
        participant.save(update_fields=["status", "ended_at"])
        _tell(participant, "participant.ended", agent.pk)
        return participant
    participant.status = Participant.Status.JOINED if accept else Participant.Status.DECLINED
    if accept:
        participant.joined_at = now
    else:
        participant.ended_at = now
    participant.save(update_fields=["status", "joined_at", "ended_at"])
    event_record(
        organization=interaction.organization,
        type="interaction.participant_joined" if accept else "interaction.participant_declined",
        interaction=interaction,
        actor=agent,
        data={"agent": agent.pk, "mode": participant.mode},
        at=now,
    )
    _tell(participant, "participant.answered", agent.pk, interaction.assigned_agent_id)
    return participant


@transaction.atomic
def participant_end(*, participant: Participant, actor) -> Participant:
    """The colleague leaves, or its agent (or a supervisor) ends the consult or withdraws
    the invitation."""
    participant = _locked_participant(participant)
    interaction = participant.interaction
    if actor.pk not in (participant.agent_id, interaction.assigned_agent_id) and not actor.has_perm(
        "interactions.supervise_interaction"
    ):
        raise ValidationError(_("Only its agent or a supervisor can do this."))
    if participant.status not in Participant.ACTIVE:
        raise ValidationError(_("They are no longer in this conversation."))
    now = timezone.now()
    participant.end(now)
    event_record(
        organization=interaction.organization,
        type="interaction.participant_left",
        interaction=interaction,
        actor=actor,
        data={"agent": participant.agent_id, "mode": participant.mode},
        at=now,
    )
    _tell(participant, "participant.ended", participant.agent_id, interaction.assigned_agent_id)
    return participant


@transaction.atomic
def participant_conference(*, participant: Participant, actor) -> Participant:
    """A consulted colleague is brought into the conversation with the customer."""
    interaction = _live_for(participant.interaction, actor)
    participant = _locked_participant(participant)
    if participant.status != Participant.Status.JOINED:
        raise ValidationError(_("They have not joined yet."))
    if participant.mode != Participant.Mode.CONFERENCE:
        participant.mode = Participant.Mode.CONFERENCE
        participant.save(update_fields=["mode"])
        event_record(
            organization=interaction.organization,
            type="interaction.conference_started",
            interaction=interaction,
            actor=actor,
            data={"agent": participant.agent_id},
        )
        _tell(participant, "participant.answered", participant.agent_id)
    return participant


@transaction.atomic
def participant_take_over(*, participant: Participant, actor) -> Interaction:
    """Complete a warm transfer: the colleague who joined becomes the interaction's agent
    (no new offer: they already said yes) and its former agent is free."""
    interaction = _live_for(participant.interaction, actor)
    participant = _locked_participant(participant)
    if participant.status != Participant.Status.JOINED:
        raise ValidationError(_("They have not joined yet."))
    previous = interaction.assigned_agent
    now = timezone.now()
    participant.status = Participant.Status.TOOK_OVER
    participant.ended_at = now
    participant.save(update_fields=["status", "ended_at"])
    interaction.assigned_agent = participant.agent
    interaction.save(update_fields=["assigned_agent", "updated_at"])
    event_record(
        organization=interaction.organization,
        type="interaction.transferred",
        interaction=interaction,
        actor=actor,
        data={
            "from_agent": getattr(previous, "pk", None),
            "to_agent": participant.agent_id,
            "to_queue": None,
            "warm": True,
            "note": participant.note,
        },
        at=now,
    )
    _tell(participant, "participant.ended", participant.agent_id, getattr(previous, "pk", None))
    publish(
        group=agent_group(participant.agent_id),
        event="interaction.updated",
        data={"id": interaction.pk, "state": interaction.state},
    )
    if previous is not None:
        agent_released(agent=previous)
    return interaction


def queues_overflow(*, now=None) -> int:
    """Interactions that waited past their queue's limit move to its overflow queue."""
    now = now or timezone.now()
    moved = 0
    for queue in Queue.objects.filter(
        is_active=True, max_wait_seconds__isnull=False, overflow_queue__isnull=False
    ).select_related("overflow_queue"):
        limit = now - timedelta(seconds=queue.max_wait_seconds)
        for interaction in queue_waiting_older_than(queue=queue, before=limit):
            interaction_move(
                interaction=interaction, queue=queue.overflow_queue, reason="overflowed"
            )
            moved += 1
    return moved


def queue_waiting_older_than(*, queue: Queue, before) -> list[Interaction]:
    return list(
        Interaction.objects.filter(queue=queue, state=State.QUEUED, queued_at__lte=before).order_by(
            "routing_rank"
        )[:200]
    )


DIGITAL = [c for c in Channel.values if c not in (Channel.VOICE, Channel.VIDEO)]


def interactions_requeue_unanswered(*, now=None) -> int:
    """Digital conversations whose customer waits for the agent's reply too long go back to
    the front of the queue, to someone else."""
    from django.db.models import Max

    from apps.interactions.models import Direction

    now = now or timezone.now()
    requeued = 0
    for queue in Queue.objects.filter(is_active=True, no_reply_requeue_minutes__isnull=False):
        limit = now - timedelta(minutes=queue.no_reply_requeue_minutes)
        stale = (
            Interaction.objects.filter(queue=queue, state=State.ACTIVE, channel__in=DIGITAL)
            .annotate(
                last_in=Max(
                    "messages__created_at", filter=Q(messages__direction=Direction.INBOUND)
                ),
                last_out=Max(
                    "messages__created_at", filter=Q(messages__direction=Direction.OUTBOUND)
                ),
            )
            .filter(last_in__lte=limit)
            .filter(Q(last_out__isnull=True) | Q(last_out__lt=models.F("last_in")))
        )
        for interaction in stale[:200]:
            with transaction.atomic():
                agent_id = interaction.assigned_agent_id
                interaction.data = {
                    **interaction.data,
                    "declined_by": sorted({*interaction.data.get("declined_by", []), agent_id}),
                }
                interaction.assigned_agent = None
                interaction.save(update_fields=["data", "assigned_agent"])
                interaction_transition(
                    interaction=interaction,
                    to=State.QUEUED,
                    data={"reason": "no_reply", "agent": agent_id},
                )
                _route_now(interaction)
            requeued += 1
    return requeued


@transaction.atomic
def callback_schedule(
    *,
    queue: Queue,
    contact,
    number: str,
    scheduled_for,
    origin: Interaction | None = None,
    keep_place: bool = False,
    actor=None,
) -> Callback:
    """A callback at a chosen time; "keep my place" keeps the origin's position in line."""
    from apps.contacts.services import phone_normalize

    if queue.organization_id != contact.organization_id:
        raise ValidationError({"queue": _("Not found.")})
    try:
        number = phone_normalize(number, country=contact.organization.country)
    except ValidationError as exc:
        raise ValidationError({"number": exc.messages}) from exc
    callback = Callback.objects.create(
        organization=contact.organization,
        contact=contact,
        queue=queue,
        number=number,
        scheduled_for=scheduled_for,
        origin=origin,
        keep_place_since=origin.queued_at if (keep_place and origin is not None) else None,
    )
    if origin is not None and origin.state in TRANSITIONS_TO_CALLBACK:
        _cancel_pending_offers(origin, timezone.now())
        interaction_transition(
            interaction=origin,
            to=State.CALLBACK_SCHEDULED,
            actor=actor,
            data={"callback": callback.pk, "at": scheduled_for.isoformat()},
        )
    event_record(
        organization=contact.organization,
        type="callback.scheduled",
        contact=contact,
        interaction=origin,
        actor=actor,
        data={"callback": callback.pk, "at": scheduled_for.isoformat(), "keep_place": keep_place},
    )
    return callback


TRANSITIONS_TO_CALLBACK = (State.NEW, State.QUEUED, State.ABANDONED)
# Outcomes of a dialled callback where the customer's phone never rang.
CALLBACK_NOT_DIALLED = ("agent-unreached",)


@transaction.atomic
def callback_attempt_record(*, callback: Callback, outcome: str, now=None) -> Callback:
    """The customer was dialled: answered → done; no answer, busy or failed → tried again
    after the queue's retry delay while attempts remain, else given up ("Not reached"). When
    the agent's own phone was not answered the customer was never dialled: no attempt counts."""
    now = now or timezone.now()
    callback = Callback.objects.select_for_update().select_related("queue").get(pk=callback.pk)
    callback.last_outcome = outcome[:20]
    changed = ["attempts", "last_outcome", "status", "updated_at"]
    if outcome in CALLBACK_NOT_DIALLED:
        # The agent's phone was never answered, so the customer was not dialled: no attempt
        # is spent, and the callback is due again for the next available agent.
        callback.status = Callback.Status.SCHEDULED
        callback.scheduled_for = now
        changed.append("scheduled_for")
    elif outcome == "answered":
        callback.attempts += 1
        callback.status = Callback.Status.DONE
    elif callback.attempts + 1 < callback.queue.callback_attempts:
        callback.attempts += 1
        callback.status = Callback.Status.SCHEDULED
        callback.scheduled_for = now + timedelta(minutes=callback.queue.callback_retry_minutes)
        changed.append("scheduled_for")
    else:
        callback.attempts += 1
        callback.status = Callback.Status.FAILED
    callback.save(update_fields=changed)
    event_record(
        organization=callback.organization,
        type="callback.attempted",
        contact=callback.contact,
        interaction=callback.interaction,
        data={
            "callback": callback.pk,
            "outcome": outcome,
            "attempt": callback.attempts,
            "status": callback.status,
            "next_at": callback.scheduled_for.isoformat()
            if callback.status == Callback.Status.SCHEDULED
            else None,
        },
    )
    return callback


def callbacks_start_due(*, now=None) -> int:
    """Due callbacks become outbound calls in their queue (at the kept place, if any)."""
    from apps.contacts.models import Identity, IdentityKind
    from apps.interactions.models import Direction
    from apps.interactions.services import interaction_create

    now = now or timezone.now()
    started = 0
    due = Callback.objects.filter(status=Callback.Status.SCHEDULED, scheduled_for__lte=now)
    for callback_id in list(due.values_list("pk", flat=True)[:200]):
        with transaction.atomic():
            callback = (
                Callback.objects.select_for_update(**engine.skip_locked(of_self=True))
                .select_related("contact", "queue", "origin")
                .filter(pk=callback_id, status=Callback.Status.SCHEDULED)
                .first()
            )
            if callback is None:
                continue
            identity = Identity.objects.filter(
                organization=callback.organization, kind=IdentityKind.PHONE, value=callback.number
            ).first()
            interaction = interaction_create(
                organization=callback.organization,
                channel=Channel.VOICE,
                direction=Direction.OUTBOUND,
                contact=callback.contact,
                identity=identity
                if identity and identity.contact_id == callback.contact_id
                else None,
                continues=callback.origin,
                subject=_("Callback"),
                # Dialled when an agent accepts it (apps.connectors.phone.outbound_sync).
                provider_ref=f"out-{uuid.uuid4().hex}",
                data={
                    "callback": callback.pk,
                    "number": callback.number,
                    "voice": {"outbound": True, "to": callback.number, "legs": {}},
                },
            )
            interaction_enqueue(
                interaction=interaction,
                queue=callback.queue,
                keep_place_since=callback.keep_place_since,
            )
            callback.status = Callback.Status.QUEUED
            callback.interaction = interaction
            callback.save(update_fields=["status", "interaction", "updated_at"])
            started += 1
    return started


def queues_maintain(*, now=None) -> dict[str, int]:
    """The periodic round: time-outs, overflow, no-reply re-queues, callbacks, then placing."""
    now = now or timezone.now()
    done = {
        "expired": offers_expire_due(now=now),
        "wrapped_up": presences_end_wrap_up(now=now),
        "overflowed": queues_overflow(now=now),
        "rule_targets": rules_advance_targets(now=now),
        "requeued": interactions_requeue_unanswered(now=now),
        "callbacks": callbacks_start_due(now=now),
    }
    done["placed"] = sum(route_queue(queue=q) for q in Queue.objects.filter(is_active=True))
    return done


# --- Routing rules ---------------------------------------------------------------------------


def routing_rule_match(*, interaction: Interaction) -> RoutingRule | None:
    """The first active rule (by order) whose conditions all hold for the interaction."""
    contact = interaction.contact
    for rule in RoutingRule.objects.filter(
        organization=interaction.organization, is_active=True
    ).prefetch_related("targets"):
        if rule.channels and interaction.channel not in rule.channels:
            continue
        if rule.tiers and contact.tier not in rule.tiers:
            continue
        language = interaction.language or contact.language
        if rule.languages and language not in rule.languages:
            continue
        if rule.reasons and interaction.reason not in rule.reasons:
            continue
        if rule.contact_field and str(contact.custom_fields.get(rule.contact_field, "")) != (
            rule.contact_value
        ):
            continue
        if rule.targets.all():
            return rule
    return None


@transaction.atomic
def interaction_route_by_rules(*, interaction: Interaction, actor=None) -> RoutingRule | None:
    """Enqueue by the first matching rule's first target (None: no rule matched, nothing done)."""
    rule = routing_rule_match(interaction=interaction)
    if rule is None:
        return None
    target = rule.targets.all()[0]
    interaction.data = {**interaction.data, "rule": rule.pk, "target": 0}
    interaction.priority += target.priority
    interaction.save(update_fields=["data", "priority"])
    event_record(
        organization=interaction.organization,
        type="interaction.rule_matched",
        interaction=interaction,
        actor=actor,
        data={"rule": rule.pk, "name": rule.name, "queue": target.queue_id},
    )
    interaction_enqueue(interaction=interaction, queue=target.queue, actor=actor)
    return rule


def rules_advance_targets(*, now=None) -> int:
    """Interactions that waited past their rule target's timeout move to the next target."""
    now = now or timezone.now()
    moved = 0
    waiting = Interaction.objects.filter(state=State.QUEUED, data__has_key="rule").select_related(
        "queue"
    )
    for interaction in waiting[:500]:
        rule = RoutingRule.objects.filter(pk=interaction.data["rule"]).prefetch_related("targets")
        rule = rule.first()
        if rule is None:
            continue
        targets = list(rule.targets.all())
        index = interaction.data.get("target", 0)
        current = targets[index] if index < len(targets) else None
        if current is None or current.timeout_seconds is None or index + 1 >= len(targets):
            continue
        since = _target_since(interaction)
        if (now - since).total_seconds() < current.timeout_seconds:
            continue
        with transaction.atomic():
            nxt = targets[index + 1]
            interaction.data = {**interaction.data, "target": index + 1}
            interaction.save(update_fields=["data"])
            interaction_move(interaction=interaction, queue=nxt.queue, reason="rule_next_target")
        moved += 1
    return moved


def _target_since(interaction: Interaction):
    """When the interaction arrived in its current target (its last move, else its queuing)."""
    last_move = (
        interaction.events.filter(type__in=["interaction.rule_next_target", "interaction.moved"])
        .order_by("-at")
        .values_list("at", flat=True)
        .first()
    )
    return last_move or interaction.queued_at or interaction.created_at
