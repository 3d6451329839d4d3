"""Every change to interactions: creation, the state machine, messages, notes, closing."""

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.realtime import agent_group, interaction_group, publish
from apps.interactions.models import (
    Attachment,
    Channel,
    Direction,
    Disposition,
    Event,
    Interaction,
    InteractionNote,
    Message,
    Participant,
    State,
)

logger = logging.getLogger(__name__)

# The interaction life cycle. Anything not listed is refused.
TRANSITIONS: dict[str, frozenset[str]] = {
    State.NEW: frozenset(
        {
            State.QUEUED,
            State.OFFERED,
            State.ACTIVE,
            State.ABANDONED,
            State.VOICEMAIL,
            State.CALLBACK_SCHEDULED,
            State.CLOSED,
        }
    ),
    State.QUEUED: frozenset(
        {
            State.OFFERED,
            State.ACTIVE,
            State.ABANDONED,
            State.VOICEMAIL,
            State.CALLBACK_SCHEDULED,
            State.CLOSED,
        }
    ),
    # Declined or timed-out offers go back to the queue; ring-all offers may be abandoned.
    State.OFFERED: frozenset({State.ACTIVE, State.QUEUED, State.ABANDONED}),
    # Transfers re-queue (to a queue) or re-offer (to an agent).
    State.ACTIVE: frozenset(
        {State.ON_HOLD, State.WRAP_UP, State.QUEUED, State.OFFERED, State.CLOSED}
    ),
    State.ON_HOLD: frozenset({State.ACTIVE, State.WRAP_UP, State.ABANDONED}),
    State.WRAP_UP: frozenset({State.CLOSED}),
    State.VOICEMAIL: frozenset({State.QUEUED, State.CLOSED}),
    State.CALLBACK_SCHEDULED: frozenset({State.QUEUED, State.CLOSED}),
    State.ABANDONED: frozenset({State.CALLBACK_SCHEDULED, State.CLOSED}),
    State.CLOSED: frozenset(),
}

# Milestones stamped the first time an interaction reaches a state.
_MILESTONES = {State.QUEUED: "queued_at", State.ACTIVE: "answered_at"}
_ENDING = {State.WRAP_UP, State.CLOSED, State.ABANDONED, State.VOICEMAIL}


class IllegalTransition(ValidationError):
    """The state machine does not allow this move."""


def _actor_kind(actor) -> str:
    if actor is None:
        return Event.ActorKind.SYSTEM
    if getattr(actor, "pk", None) is None:  # an API key
        return Event.ActorKind.API
    return Event.ActorKind.USER


def event_record(
    *,
    organization,
    type: str,
    interaction: Interaction | None = None,
    contact=None,
    actor=None,
    actor_kind: str | None = None,
    data: Mapping[str, Any] | None = None,
    at=None,
) -> Event:
    """Append one event to the log (the source of every report)."""
    return Event.objects.create(
        organization=organization,
        type=type,
        interaction=interaction,
        contact=contact if contact is not None else getattr(interaction, "contact", None),
        actor=actor if getattr(actor, "pk", None) else None,
        actor_kind=actor_kind or _actor_kind(actor),
        data=dict(data or {}),
        at=at or timezone.now(),
    )


def _publish(interaction: Interaction, event: str, **extra) -> None:
    data = {"id": interaction.pk, "state": interaction.state, **extra}
    publish(group=interaction_group(interaction.pk), event=event, data=data)
    if event == "interaction.updated" and interaction.assigned_agent_id:
        # The agent's desk (every tab) follows the interactions in their hands.
        publish(group=agent_group(interaction.assigned_agent_id), event=event, data=data)


def interaction_payload(interaction: Interaction) -> dict[str, Any]:
    """The interaction as integrators see it (webhooks)."""
    return {
        "id": interaction.pk,
        "channel": interaction.channel,
        "direction": interaction.direction,
        "state": interaction.state,
        "contact": interaction.contact_id,
        "queue": interaction.queue_id,
        "assigned_agent": interaction.assigned_agent_id,
        "subject": interaction.subject,
        "disposition": interaction.disposition.code if interaction.disposition_id else None,
        "wrap_up_notes": interaction.wrap_up_notes,
        "created_at": interaction.created_at,
        "answered_at": interaction.answered_at,
        "closed_at": interaction.closed_at,
        "continues": interaction.continues_id,
    }


@transaction.atomic
def interaction_create(
    *,
    organization,
    channel: str,
    direction: str,
    contact,
    identity=None,
    queue=None,
    campaign=None,
    flow=None,
    continues: Interaction | None = None,
    subject: str = "",
    reason: str = "",
    provider_ref: str = "",
    priority: int = 0,
    language: str = "",
    data: Mapping[str, Any] | None = None,
    actor=None,
) -> Interaction:
    """Open an interaction with a contact on a channel. ``continues`` links a channel switch."""
    from apps.integrations.services import webhook_emit

    if channel not in Channel.values:
        raise ValidationError({"channel": _("Unknown channel.")})
    if direction not in Direction.values:
        raise ValidationError({"direction": _("Direction is inbound or outbound.")})
    for name, row in (
        ("contact", contact),
        ("identity", identity),
        ("queue", queue),
        ("campaign", campaign),
        ("flow", flow),
        ("continues", continues),
    ):
        if row is not None and row.organization_id != organization.pk:
            raise ValidationError({name: _("Not found.")})
    if identity is not None and identity.contact_id != contact.pk:
        raise ValidationError({"identity": _("This identity belongs to another contact.")})
    if continues is not None and continues.contact_id != contact.pk:
        raise ValidationError({"continues": _("It must be an interaction of the same contact.")})
    try:
        with transaction.atomic():
            interaction = Interaction.objects.create(
                organization=organization,
                channel=channel,
                direction=direction,
                contact=contact,
                identity=identity,
                queue=queue,
                campaign=campaign,
                flow=flow,
                continues=continues,
                subject=subject[:255],
                reason=reason[:100],
                provider_ref=provider_ref,
                priority=priority,
                language=language or contact.language,
                data=dict(data or {}),
            )
    except IntegrityError as exc:
        raise ValidationError(
            {"provider_ref": _("An interaction with this provider id exists.")}
        ) from exc
    event_record(
        organization=organization,
        type="interaction.created",
        interaction=interaction,
        actor=actor,
        data={
            "channel": channel,
            "direction": direction,
            "continues": getattr(continues, "pk", None),
        },
    )
    webhook_emit(
        organization=organization,
        event_type="interaction.created",
        data=interaction_payload(interaction),
    )
    logger.info("interactions.created", extra={"interaction": interaction.pk, "channel": channel})
    return interaction


def _locked(interaction: Interaction) -> Interaction:
    """The row, locked for this transaction, with its current state (not a stale copy)."""
    fresh = Interaction.objects.select_for_update().get(pk=interaction.pk)
    interaction.state = fresh.state
    for field in ("queued_at", "answered_at", "ended_at", "closed_at", "assigned_agent_id"):
        setattr(interaction, field, getattr(fresh, field))
    return interaction


@transaction.atomic
def interaction_transition(
    *,
    interaction: Interaction,
    to: str,
    actor=None,
    data: Mapping[str, Any] | None = None,
    at=None,
    locked: bool = False,
) -> Interaction:
    """Move an interaction to another state; an illegal move raises and changes nothing.

    ``locked``: the caller already holds the row lock in this transaction, with fresh values.
    """
    if not locked:
        _locked(interaction)
    source = interaction.state
    if to not in TRANSITIONS.get(source, ()):
        raise IllegalTransition(
            _("An interaction cannot go from %(source)s to %(target)s.")
            % {
                "source": State(source).label,
                "target": State(to).label if to in State.values else to,
            },
            code="illegal_transition",
        )
    now = at or timezone.now()
    interaction.state = to
    changed = ["state", "updated_at"]
    milestone = _MILESTONES.get(to)
    if milestone and getattr(interaction, milestone) is None:
        setattr(interaction, milestone, now)
        changed.append(milestone)
    if to in _ENDING and interaction.ended_at is None:
        interaction.ended_at = now
        changed.append("ended_at")
    if to == State.CLOSED:
        interaction.closed_at = now
        changed.append("closed_at")
    frees_agent = to in (State.CLOSED, State.ABANDONED) and source in (
        State.ACTIVE,
        State.ON_HOLD,
        State.WRAP_UP,
    )
    interaction.save(update_fields=changed)
    event_record(
        organization=interaction.organization,
        type="interaction.state_changed",
        interaction=interaction,
        actor=actor,
        data={"from": source, "to": to, **(data or {})},
        at=now,
    )
    _publish(interaction, "interaction.updated")
    if interaction.channel == Channel.VOICE:
        from apps.connectors.voice import voice_changed

        voice_changed(interaction)  # the call's legs follow (after commit)
    if to in _ENDING:
        participants_end(interaction=interaction, at=now)
    if frees_agent and interaction.assigned_agent_id:
        from apps.queues.services import agent_released

        # After a conversation the agent had (not one abandoned while ringing), the queue's
        # wrap-up time for after-call work.
        wrap_up = interaction.queue.wrap_up_seconds if interaction.queue_id else 0
        agent_released(agent=interaction.assigned_agent, wrap_up_seconds=wrap_up)
    return interaction


def participants_end(*, interaction: Interaction, at=None, keep=()) -> int:
    """The colleagues consulted or in conference on ``interaction`` leave it (invitations
    still ringing are cancelled), except those in ``keep``; each one's desk is told."""
    now = at or timezone.now()
    ended = 0
    for participant in interaction.participants.filter(status__in=Participant.ACTIVE).exclude(
        pk__in=list(keep)
    ):
        participant.end(now)
        publish(
            group=agent_group(participant.agent_id),
            event="participant.ended",
            data={"participant": participant.pk, "interaction": interaction.pk},
        )
        ended += 1
    return ended


@transaction.atomic
def interaction_assign(*, interaction: Interaction, agent, actor=None) -> Interaction:
    """Give the interaction to an agent of its organization (routing decides who)."""
    if agent is not None and agent.organization_id != interaction.organization_id:
        raise ValidationError({"agent": _("Not found.")})
    _locked(interaction)
    previous = interaction.assigned_agent_id
    interaction.assigned_agent = agent
    interaction.save(update_fields=["assigned_agent", "updated_at"])
    event_record(
        organization=interaction.organization,
        type="interaction.assigned",
        interaction=interaction,
        actor=actor,
        data={"agent": getattr(agent, "pk", None), "previous_agent": previous},
    )
    return interaction


@transaction.atomic
def interaction_close(
    *,
    interaction: Interaction,
    actor=None,
    disposition: Disposition | None = None,
    notes: str = "",
    at=None,
) -> Interaction:
    """Close with an outcome: through wrap-up when it was live, straight when it never was.
    ``at``: when it happened (demo and imported history; now by default)."""
    from apps.integrations.services import webhook_emit

    if disposition is not None:
        if disposition.organization_id != interaction.organization_id or not disposition.is_active:
            raise ValidationError({"disposition": _("Not found.")})
        if disposition.requires_note and not notes.strip():
            raise ValidationError({"notes": _("This disposition needs a wrap-up note.")})
    _locked(interaction)
    if interaction.state in (State.ACTIVE, State.ON_HOLD):
        interaction_transition(interaction=interaction, to=State.WRAP_UP, actor=actor, at=at)
    interaction.disposition = disposition
    interaction.wrap_up_notes = notes.strip()
    interaction.save(update_fields=["disposition", "wrap_up_notes", "updated_at"])
    interaction_transition(
        interaction=interaction,
        to=State.CLOSED,
        actor=actor,
        at=at,
        # The agent's comments travel with the event: call logs and reports read them there.
        data={
            "disposition": getattr(disposition, "code", None),
            "notes": interaction.wrap_up_notes,
        },
    )
    webhook_emit(
        organization=interaction.organization,
        event_type="interaction.closed",
        data=interaction_payload(interaction),
    )
    return interaction


@transaction.atomic
def message_add(
    *,
    interaction: Interaction,
    direction: str,
    author_kind: str,
    body: str = "",
    author=None,
    content: Mapping[str, Any] | None = None,
    provider_id: str = "",
    delivery_status: str | None = None,
    created_at=None,
) -> tuple[Message, bool]:
    """Store a message; the same provider message delivered twice is stored once.

    Returns ``(message, created)``. Deduplication rests on the unique constraint, not on a
    look-up first, so concurrent deliveries of one message cannot both insert.
    """
    from apps.integrations.services import webhook_emit

    if not body.strip() and not content:
        raise ValidationError({"body": _("A message needs text or content.")})
    status = delivery_status or (
        Message.Delivery.RECEIVED if direction == Direction.INBOUND else Message.Delivery.QUEUED
    )
    try:
        with transaction.atomic():
            message = Message.objects.create(
                organization=interaction.organization,
                interaction=interaction,
                channel=interaction.channel,
                direction=direction,
                author_kind=author_kind,
                author=author if getattr(author, "pk", None) else None,
                body=body,
                content=dict(content or {}),
                provider_id=provider_id,
                delivery_status=status,
                created_at=created_at or timezone.now(),
            )
    except IntegrityError:
        if not provider_id:
            raise
        existing = Message.objects.get(
            organization=interaction.organization,
            channel=interaction.channel,
            provider_id=provider_id,
        )
        logger.info("interactions.message_duplicate", extra={"message_id": existing.pk})
        return existing, False
    event_type = "message.received" if direction == Direction.INBOUND else "message.sent"
    event_record(
        organization=interaction.organization,
        type=event_type,
        interaction=interaction,
        actor=author,
        actor_kind=Event.ActorKind.CONTACT if author_kind == Message.Author.CONTACT else None,
        data={"message": message.pk, "author_kind": author_kind},
        at=message.created_at,
    )
    if direction == Direction.OUTBOUND and status == Message.Delivery.QUEUED:
        from apps.connectors.services import outbound_enqueue

        # On a provider channel it joins the outbox (an opted-out customer: a clear error).
        outbound_enqueue(message=message)
    if direction == Direction.INBOUND:
        webhook_emit(
            organization=interaction.organization,
            event_type="message.received",
            data={
                "interaction": interaction.pk,
                "message": message.pk,
                "body": body,
                "channel": interaction.channel,
            },
        )
    _publish(interaction, "message.created", message=message.pk)
    return message, True


# Files agents may send: documents, images, audio, video. Nothing a browser would run.
ATTACHMENT_TYPES = (
    "image/",
    "audio/",
    "video/",
    "application/pdf",
    "text/plain",
    "text/csv",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.",
    "application/vnd.oasis.opendocument.",
    "application/zip",
)


def attachment_check(upload) -> str:
    """The upload's content type if it may be attached; a clear error otherwise."""
    import mimetypes

    limit = settings.ATTACHMENT_MAX_BYTES
    if upload.size > limit:
        raise ValidationError(
            {"file": _("Files up to %(mb)s MB.") % {"mb": limit // (1024 * 1024)}}
        )
    # The name decides, not what the browser claims (it may say anything).
    guessed = mimetypes.guess_type(upload.name)[0] or ""
    if not guessed.startswith(ATTACHMENT_TYPES):
        raise ValidationError({"file": _("This kind of file cannot be attached.")})
    return guessed


@transaction.atomic
def message_add_with_files(
    *, interaction: Interaction, author, body: str, files: Iterable
) -> Message:
    """An agent's outbound message with attachments (all checked before anything is stored)."""
    from django.utils.text import get_valid_filename

    files = list(files)
    types = [attachment_check(f) for f in files]
    message, _created = message_add(
        interaction=interaction,
        direction=Direction.OUTBOUND,
        author_kind=Message.Author.AGENT,
        author=author,
        body=body,
        content={"attachments": [f.name for f in files]} if files else None,
    )
    for upload, content_type in zip(files, types, strict=True):
        name = get_valid_filename(upload.name)[:200] or "file"
        attachment = Attachment(
            organization=interaction.organization,
            message=message,
            filename=name,
            content_type=content_type,
            size=upload.size,
        )
        attachment.file.save(name, upload, save=False)
        attachment.save()
    return message


# The written channels an agent can switch a conversation to, by the kind of identity.
SWITCH_CHANNELS = {
    "phone": (Channel.SMS,),
    "email": (Channel.EMAIL,),
    "whatsapp": (Channel.WHATSAPP,),
    "messenger": (Channel.MESSENGER,),
    "instagram": (Channel.INSTAGRAM,),
    "x": (Channel.X,),
}


def switch_targets(*, interaction: Interaction) -> list[tuple[Any, str]]:
    """(identity, channel) pairs the conversation can continue on, other than its own."""
    return [
        (identity, channel)
        for identity in interaction.contact.identities.all()
        if identity.blocked_at is None
        for channel in SWITCH_CHANNELS.get(identity.kind, ())
        if not (channel == interaction.channel and identity.pk == interaction.identity_id)
    ]


@transaction.atomic
def interaction_switch_channel(
    *, interaction: Interaction, identity, channel: str, agent, body: str
) -> Interaction:
    """Continue a conversation on another channel of the same customer: a new outbound
    interaction linked to this one (``continues``), in the agent's hands, with the message."""
    from apps.contacts.selectors import contact_can_be_contacted

    if identity.contact_id != interaction.contact_id:
        raise ValidationError({"via": _("Not found.")})
    if identity.blocked_at is not None:
        raise ValidationError({"via": _("This sender is blocked.")})
    if channel not in SWITCH_CHANNELS.get(identity.kind, ()):
        raise ValidationError({"via": _("This address cannot receive that channel.")})
    if not body.strip():
        raise ValidationError({"body": _("A message needs text or content.")})
    if not contact_can_be_contacted(contact=interaction.contact, channel=channel):
        raise ValidationError({"via": _("The customer asked not to be contacted on this channel.")})
    switched = interaction_create(
        organization=interaction.organization,
        channel=channel,
        direction=Direction.OUTBOUND,
        contact=interaction.contact,
        identity=identity,
        queue=interaction.queue,
        continues=interaction,
        subject=interaction.subject,
        actor=agent,
    )
    switched.assigned_agent = agent
    switched.save(update_fields=["assigned_agent"])
    interaction_transition(
        interaction=switched, to=State.ACTIVE, actor=agent, data={"continues": interaction.pk}
    )
    message_add(
        interaction=switched,
        direction=Direction.OUTBOUND,
        author_kind=Message.Author.AGENT,
        author=agent,
        body=body,
    )
    return switched


# Delivery statuses only move forward: a late "delivered" never overwrites "read".
_DELIVERY_RANK = {
    s: i
    for i, s in enumerate(
        [
            Message.Delivery.QUEUED,
            Message.Delivery.SENT,
            Message.Delivery.DELIVERED,
            Message.Delivery.READ,
        ]
    )
}


@transaction.atomic
def message_status_update(
    *,
    organization,
    channel: str,
    status: str,
    provider_id: str = "",
    message: Message | None = None,
    error: str = "",
) -> Message | None:
    """Apply a provider's delivery receipt (by the provider's id, or to ``message``);
    unknown messages are ignored (None). The open conversation shows the change live."""
    rows = Message.objects.select_for_update().filter(organization=organization, channel=channel)
    if message is not None:
        rows = rows.filter(pk=message.pk)
    elif provider_id:
        rows = rows.filter(provider_id=provider_id)
    else:
        return None
    message = rows.select_related("interaction").first()
    if message is None:
        return None
    current = _DELIVERY_RANK.get(message.delivery_status, -1)
    if status == Message.Delivery.FAILED or _DELIVERY_RANK.get(status, -1) > current:
        message.delivery_status = status
        message.error = error[:255]
        message.save(update_fields=["delivery_status", "error"])
        _publish(message.interaction, "message.updated", message=message.pk)
    return message


def interaction_note_add(*, interaction: Interaction, body: str, author=None) -> InteractionNote:
    if not body.strip():
        raise ValidationError({"body": _("A note needs some text.")})
    note = InteractionNote.objects.create(
        organization=interaction.organization,
        interaction=interaction,
        author=author if getattr(author, "pk", None) else None,
        body=body.strip(),
    )
    _publish(interaction, "interaction.note_added", note=note.pk)
    return note


@transaction.atomic
def interaction_set_tags(*, interaction: Interaction, names: Iterable[str]) -> Interaction:
    from apps.contacts.services import tags_get_or_create

    interaction.tags.set(tags_get_or_create(interaction.organization, names))
    return interaction
