"""What the agent desk shows: the agent's presence, offers ringing and interactions in hand."""

from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from apps.interactions.models import Interaction, State
from apps.queues.models import Offer, Presence, ReasonCode

IN_HAND = (State.OFFERED, State.ACTIVE, State.ON_HOLD, State.WRAP_UP)


@dataclass
class DeskWork:
    offers: list[Offer]
    interactions: list[Interaction]
    now: object = field(default_factory=timezone.now)


def desk_work(*, agent) -> DeskWork:
    """The agent's ringing offers (oldest first) and the interactions they hold (3 queries)."""
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
    return DeskWork(offers=offers, interactions=interactions, now=now)


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


def desk_interaction_get(*, user, interaction_id: int) -> Interaction:
    """An interaction the user may work on: theirs, or any of the organization's for a
    supervisor. Anything else is a 404 (its existence is not revealed)."""
    interaction = (
        Interaction.objects.filter(organization_id=user.organization_id, pk=interaction_id)
        .select_related("contact", "queue", "assigned_agent", "organization", "disposition")
        .first()
    )
    if interaction is None:
        raise Http404
    if interaction.assigned_agent_id != user.pk and not user.has_perm(
        "interactions.supervise_interaction"
    ):
        raise Http404
    return interaction


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
