"""Interactions told through the real services, at chosen times, for report tests."""

from datetime import datetime, timedelta

from apps.interactions.models import Channel, Direction, State
from apps.interactions.services import event_record, interaction_create, interaction_transition
from apps.queues.models import Offer


def story(
    *,
    organization,
    contact,
    start: datetime,
    steps: list[tuple[float, str]],
    channel: str = Channel.VOICE,
    direction: str = Direction.INBOUND,
    queue=None,
    agent=None,
):
    """Create an interaction and move it through ``steps``: (seconds after ``start``, what),
    where what is a state, ``"transferred"``, or ``"declined"`` (offered → queued, rejected).
    The agent is assigned before the first step."""
    interaction = interaction_create(
        organization=organization,
        channel=channel,
        direction=direction,
        contact=contact,
        queue=queue,
    )
    if agent is not None:
        interaction.assigned_agent = agent
        interaction.save(update_fields=["assigned_agent"])
    for offset, what in steps:
        at = start + timedelta(seconds=offset)
        if what == "transferred":
            event_record(
                organization=organization,
                type="interaction.transferred",
                interaction=interaction,
                data={"from_agent": getattr(agent, "pk", None)},
                at=at,
            )
        elif what == "declined":
            interaction_transition(
                interaction=interaction, to=State.QUEUED, data={"reason": "rejected"}, at=at
            )
        else:
            interaction_transition(interaction=interaction, to=what, at=at)
    return interaction


def presence(*, organization, agent, changes: list[tuple[datetime, str]]):
    """``presence.changed`` events as ``presence_set`` writes them, at chosen times."""
    previous = "offline"
    for at, status in changes:
        event_record(
            organization=organization,
            type="presence.changed",
            actor=agent,
            data={"agent": agent.pk, "from": previous, "to": status, "reason": None},
            at=at,
        )
        previous = status


def offer_missed(*, interaction, agent, reason: str, at: datetime, names_agent: bool = True):
    """An offer to ``agent`` at ``at`` that the agent declines (``"rejected"``) or lets time out
    (``"timed_out"``) 10 s later: the interaction goes back to the queue with the event routing
    writes (``data.offer``, ``data.reason`` and ``data.agent``; ``names_agent=False``: as
    before it named the agent, only the offer)."""
    answered = at + timedelta(seconds=10)
    offer = Offer.objects.create(
        organization=interaction.organization,
        interaction=interaction,
        agent=agent,
        queue=interaction.queue,
        status=reason,
        created_at=at,
        expires_at=answered,
        responded_at=answered,
    )
    interaction_transition(interaction=interaction, to=State.OFFERED, at=at)
    data = {"offer": offer.pk, "reason": reason}
    if names_agent:
        data["agent"] = agent.pk
    interaction_transition(interaction=interaction, to=State.QUEUED, data=data, at=answered)
    return offer
