"""What the agent desk shows: the agent's presence, offers ringing and interactions in hand."""

from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from apps.interactions.models import Interaction, Participant, State
from apps.queues.models import Offer, Presence, ReasonCode

IN_HAND = (State.OFFERED, State.ACTIVE, State.ON_HOLD, State.WRAP_UP)


@dataclass
class DeskWork:
    offers: list[Offer]
    interactions: list[Interaction]
    now: object = field(default_factory=timezone.now)
    follow_ups: list = field(default_factory=list)
    invitations: list[Participant] = field(default_factory=list)  # colleagues asking for help
    participations: list[Participant] = field(default_factory=list)  # joined: consult, conference


def desk_work(*, agent) -> DeskWork:
    """The agent's ringing offers (oldest first), the interactions they hold, the colleagues'
    invitations to consult and the conversations they joined, and their open follow-ups
    (4 queries)."""
    now = timezone.now()
    offers = list(
        Offer.objects.filter(
            organization_id=agent.organization_id,
            agent=agent,
            status=Offer.Status.PENDING,
            expires_at__gt=now,
        )
        .select_related("interaction__contact", "queue")
        .order_by("created_at", "id")
    )
    interactions = list(
        Interaction.objects.filter(
            organization_id=agent.organization_id,
            assigned_agent=agent,
            state__in=[State.ACTIVE, State.ON_HOLD, State.WRAP_UP],
        )
        .select_related("contact", "queue")
        .order_by("answered_at", "id")
    )
    from apps.desk.models import FollowUp

    follow_ups = list(
        FollowUp.objects.filter(
            organization_id=agent.organization_id, assignee=agent, done_at__isnull=True
        )
        .select_related("contact")
        .order_by("due_at", "id")[:20]
    )
    participants = list(
        Participant.objects.filter(
            organization_id=agent.organization_id, agent=agent, status__in=Participant.ACTIVE
        )
        .select_related("interaction__contact", "invited_by")
        .order_by("invited_at", "id")
    )
    return DeskWork(
        offers=offers,
        interactions=interactions,
        now=now,
        follow_ups=follow_ups,
        invitations=[p for p in participants if p.status == Participant.Status.INVITED],
        participations=[p for p in participants if p.status == Participant.Status.JOINED],
    )


def desk_presence(*, agent) -> Presence:
    from apps.queues.services import presence_get

    return Presence.objects.select_related("reason").get(pk=presence_get(agent=agent).pk)


def desk_reason_codes(*, agent) -> QuerySet[ReasonCode]:
    return ReasonCode.objects.filter(
        organization_id=agent.organization_id, is_active=True
    ).order_by("status", "name")


def desk_offer_get(*, agent, offer_id: int) -> Offer:
    """One of the agent's own offers (someone else's, or another organization's: 404)."""
    offer = (
        Offer.objects.filter(organization_id=agent.organization_id, agent=agent, pk=offer_id)
        .select_related("agent", "interaction__organization", "queue")
        .first()
    )
    if offer is None:
        raise Http404
    return offer


def desk_leads(*, user, interaction: Interaction) -> bool:
    """Whether the user acts on the interaction as its agent: theirs, or a supervisor."""
    return interaction.assigned_agent_id == user.pk or user.has_perm(
        "interactions.supervise_interaction"
    )


def desk_participation(*, user, interaction: Interaction) -> Participant | None:
    """The user's place in a colleague's conversation (joined: consult or conference)."""
    return (
        Participant.objects.filter(
            interaction=interaction, agent=user, status=Participant.Status.JOINED
        )
        .select_related("invited_by")
        .first()
    )


def desk_interaction_get(*, user, interaction_id: int, joined: bool = False) -> Interaction:
    """An interaction the user may work on: theirs, or any of the organization's for a
    supervisor; with ``joined``, also one they were brought into by its agent (to read it,
    write notes and, in conference, reply). Anything else is a 404 (its existence is not
    revealed)."""
    interaction = (
        Interaction.objects.filter(organization_id=user.organization_id, pk=interaction_id)
        .select_related("contact", "queue", "assigned_agent", "organization", "disposition")
        .first()
    )
    if interaction is None:
        raise Http404
    if desk_leads(user=user, interaction=interaction):
        return interaction
    if joined and desk_participation(user=user, interaction=interaction) is not None:
        return interaction
    raise Http404


def desk_participant_get(*, user, participant_id: int) -> Participant:
    """An invitation or participation the user is part of: theirs, or on an interaction
    they lead (404 otherwise)."""
    participant = (
        Participant.objects.filter(organization_id=user.organization_id, pk=participant_id)
        .select_related("interaction", "agent")
        .first()
    )
    if participant is None or (
        participant.agent_id != user.pk
        and not desk_leads(user=user, interaction=participant.interaction)
    ):
        raise Http404
    return participant


def desk_colleagues(*, user) -> list:
    """The organization's other active users with their presence (transfer targets), the
    available ones first."""
    from django.contrib.auth import get_user_model

    from apps.queues.models import PresenceStatus

    people = list(
        get_user_model()
        .objects.filter(organization_id=user.organization_id, is_active=True)
        .exclude(pk=user.pk)
        .select_related("presence")
        .order_by("first_name", "last_name", "username")
    )

    def status(person) -> str:
        presence = getattr(person, "presence", None)
        return presence.status if presence else PresenceStatus.OFFLINE

    return sorted(people, key=lambda p: status(p) != PresenceStatus.AVAILABLE)


@dataclass
class AgentRow:
    user: object
    status: str
    status_label: str
    reason: str
    since: object
    in_hand: int


@dataclass
class QueueRow:
    queue: object
    waiting: int
    offered: int
    longest_wait_seconds: int
    answered_today: int
    service_level_percent: int | None


@dataclass
class SupervisorOverview:
    agents: list[AgentRow]
    queues: list[QueueRow]
    waiting: list[Interaction]


def supervisor_overview(*, organization, waiting_limit: int = 50) -> SupervisorOverview:
    """Agents by state with time in state and work in hand; queues with waiting, ringing,
    longest wait and today's service level; the longest-waiting interactions. A fixed number
    of queries, whatever the number of agents and queues."""
    from collections import Counter

    from django.contrib.auth import get_user_model
    from django.db.models import Count

    from apps.queues.models import PresenceStatus, Queue
    from apps.queues.selectors import LiveFigures, queue_live_figures
    from apps.queues.services import BUSY_STATES

    now = timezone.now()
    people = list(
        get_user_model()
        .objects.filter(organization=organization, is_active=True, groups__name="Agent")
        .select_related("presence__reason")
        .order_by("first_name", "last_name", "username")
        .distinct()
    )
    held = Counter(
        dict(
            Interaction.objects.filter(
                organization=organization, assigned_agent__in=people, state__in=BUSY_STATES
            )
            .order_by()
            .values_list("assigned_agent")
            .annotate(n=Count("id"))
        )
    )
    labels = dict(PresenceStatus.choices)
    agents = []
    for person in people:
        presence = getattr(person, "presence", None)
        status = presence.status if presence else PresenceStatus.OFFLINE
        agents.append(
            AgentRow(
                user=person,
                status=status,
                status_label=str(labels.get(status, status)),
                reason=presence.reason.name if presence and presence.reason_id else "",
                since=presence.since if presence else None,
                in_hand=held.get(person.pk, 0),
            )
        )
    order = {PresenceStatus.AVAILABLE: 0, PresenceStatus.WRAP_UP: 1, PresenceStatus.OFFLINE: 9}
    agents.sort(key=lambda a: (order.get(a.status, 5), -a.in_hand))

    queues = list(Queue.objects.filter(organization=organization, is_active=True).order_by("name"))
    totals = {q.pk: LiveFigures() for q in queues}
    for (queue_id, _channel), cell in queue_live_figures(
        organization=organization, queues=queues, now=now
    ).items():
        totals[queue_id].add(cell)
    rows = [
        QueueRow(
            queue=q,
            waiting=totals[q.pk].waiting,
            offered=totals[q.pk].ringing,
            longest_wait_seconds=totals[q.pk].longest_wait_seconds(now),
            answered_today=totals[q.pk].answered_today,
            service_level_percent=totals[q.pk].service_level_percent,
        )
        for q in queues
    ]
    waiting = list(
        Interaction.objects.filter(organization=organization, state=State.QUEUED)
        .select_related("contact", "queue")
        .order_by("routing_rank", "id")[:waiting_limit]
    )
    return SupervisorOverview(agents=agents, queues=rows, waiting=waiting)


def chat_unread(*, user) -> dict[int, int]:
    """Room id → messages from others the user has not read yet, over every room they may
    read (one query; a room never opened counts what came since they joined)."""
    from django.db.models import Count, DateTimeField, F, OuterRef, Q, Subquery, Value
    from django.db.models.functions import Coalesce

    from apps.desk.models import ChatMessage, ChatRead, ChatRoom

    rooms = ChatRoom.objects.filter(
        Q(team__members=user) | Q(team__supervisors=user) | Q(people=user),
        organization_id=user.organization_id,
    ).values("pk")
    read_at = ChatRead.objects.filter(room=OuterRef("room_id"), user=user).values("read_at")[:1]
    rows = (
        ChatMessage.objects.filter(room_id__in=rooms)
        .exclude(author_id=user.pk)
        .annotate(
            read_at=Coalesce(
                Subquery(read_at), Value(user.date_joined, output_field=DateTimeField())
            )
        )
        .filter(created_at__gt=F("read_at"))
        .order_by()
        .values_list("room_id")
        .annotate(n=Count("id"))
    )
    return dict(rows)


@dataclass
class LiveCall:
    interaction: Interaction
    agent: object
    monitor_mode: str  # the user's own monitoring of it ("" when not on it)
    may_monitor: bool


def supervisor_live_calls(*, user, limit: int = 50) -> list[LiveCall]:
    """Calls being talked now (an agent on the line) that the user could listen to, whisper
    in or barge into: those of the agents they supervise (all of them for an administrator)."""
    from apps.accounts.models import Role

    calls = (
        Interaction.objects.filter(
            organization_id=user.organization_id,
            channel="voice",
            state__in=["active", "on_hold"],
            assigned_agent__isnull=False,
        )
        .select_related("assigned_agent", "contact", "queue")
        .order_by("answered_at", "pk")
    )
    if not user.has_role(Role.ADMIN):
        calls = calls.filter(assigned_agent__teams__supervisors=user).distinct()
    rows = []
    for interaction in calls[:limit]:
        voice = (interaction.data or {}).get("voice") or {}
        if voice.get("ended") or not voice.get("in_conference"):
            continue
        mine = (voice.get("monitors") or {}).get(str(user.pk)) or {}
        rows.append(
            LiveCall(
                interaction=interaction,
                agent=interaction.assigned_agent,
                monitor_mode=mine.get("mode", ""),
                may_monitor=True,
            )
        )
    return rows
