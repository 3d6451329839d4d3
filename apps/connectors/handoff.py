"""What a self-service flow's decision means for routing, whatever the channel.

A flow (``apps.flows``) ends with a decision: enqueue (a queue, a priority, skills), transfer
to an agent, leave a message, be called back. Phone calls (``voice``) and written
conversations (``chatflow``) carry them out differently (TwiML or bot messages) but find the
queue, the agent and the callback's time the same way: here.
"""

from django.utils import timezone

from apps.connectors.models import ChannelAccount
from apps.interactions.models import Interaction


def handoff_queue(*, account: ChannelAccount, interaction: Interaction, decision: dict):
    """The queue a decision names (by id, then by name) in the interaction's organization,
    else the account's own queue (None when it has none)."""
    from apps.queues.models import Queue

    queues = Queue.objects.filter(organization_id=interaction.organization_id)
    if decision.get("queue_id"):
        queue = queues.filter(pk=decision["queue_id"]).first()
        if queue is not None:
            return queue
    if decision.get("queue"):
        queue = queues.filter(name=decision["queue"]).first()
        if queue is not None:
            return queue
    return account.queue


def handoff_agent(*, interaction: Interaction, username: str):
    """The agent a flow names (its username), in the interaction's organization only."""
    from django.contrib.auth import get_user_model

    if not username:
        return None
    return (
        get_user_model()
        .objects.filter(organization_id=interaction.organization_id, username=username)
        .first()
    )


def next_opening(queue):
    """When a callback in ``queue`` should be made: now if it is open, else when it opens."""
    from apps.queues.hours import hours_next_opening, queue_is_open

    now = timezone.now()
    if queue is None or queue_is_open(queue=queue, at=now):
        return now
    return hours_next_opening(hours=queue.business_hours, at=now) or now


def handoff_enqueue(*, account: ChannelAccount, interaction: Interaction, decision: dict):
    """Put the interaction in line as the decision says: its queue (a transfer goes to the
    account's queue, meant for its preferred agent), priority, required skills. Returns the
    queue, or None when there is none (nothing done). Call inside a transaction."""
    from apps.queues.services import interaction_enqueue

    action = decision.get("action")
    queue = (
        account.queue
        if action == "transfer"
        else handoff_queue(account=account, interaction=interaction, decision=decision)
    )
    if queue is None:
        return None
    interaction.priority = int(decision.get("priority") or 0)
    if action in ("transfer", "voicemail") and decision.get("agent"):
        interaction.preferred_agent = handoff_agent(
            interaction=interaction, username=decision["agent"]
        )
    if decision.get("skills"):
        interaction.data = {**(interaction.data or {}), "skills": decision["skills"]}
    interaction.save(update_fields=["priority", "preferred_agent", "data"])
    interaction_enqueue(interaction=interaction, queue=queue)
    return queue


def handoff_callback(
    *, account: ChannelAccount, interaction: Interaction, decision: dict, number: str
):
    """Book the callback a flow's caller accepted, in the decision's queue, when it opens.
    Raises ValidationError for a number that cannot be called."""
    from apps.queues.services import callback_schedule

    queue = handoff_queue(account=account, interaction=interaction, decision=decision)
    return callback_schedule(
        queue=queue,
        contact=interaction.contact,
        number=number,
        scheduled_for=next_opening(queue),
        origin=interaction,
        keep_place=bool(decision.get("keep_place")),
    )
