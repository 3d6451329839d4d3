"""Channels in and out: store what providers send, turn it into conversations, send replies.

Inbound: a webhook view checks the provider's signature, then ``inbound_accept`` stores one
``InboundEvent`` per message or status (the unique constraint drops duplicates, even twenty
concurrent deliveries of one message) and answers at once; ``inbound_process`` (a task) hands
each event to its provider's ``handle``, which calls ``message_receive`` or ``delivery_update``.
A failure is recorded and retried with backoff until ``INBOUND_MAX_ATTEMPTS``.

Outbound: an agent's (or the bot's) message on a provider channel gets an ``Outbound`` row in
the same transaction; ``outbound_send`` (a task, then the sweep) gives it to the provider's
``send``, retrying transient failures.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.connectors.models import ChannelAccount, InboundEvent, Kind, Outbound
from apps.interactions.models import Direction, Interaction, Message, State

logger = logging.getLogger(__name__)

INBOUND_MAX_ATTEMPTS = 8
OUTBOUND_MAX_ATTEMPTS = 6
# How long one attempt may take before a sweep may try again (the worker is presumed dead).
CLAIM_LEASE = timedelta(minutes=5)
# A just-stored item's own task runs at once; the sweep only takes what waited this long.
SWEEP_GRACE = timedelta(seconds=30)
# Interactions a new message of the same customer joins rather than opening another.
THREAD_STATES = (State.NEW, State.QUEUED, State.OFFERED, State.ACTIVE, State.ON_HOLD)
# Channel kind → the plan feature that allows it.
FEATURE_OF_KIND = {kind: f"channel_{kind}" for kind in Kind.values}


class SendError(Exception):
    """A provider refused or failed a send. ``permanent``: retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass
class Item:
    """One thing a provider told us about, as stored: a message, a delivery status…"""

    kind: str
    external_id: str
    payload: dict[str, Any]


@dataclass
class Received:
    """A customer's message as a provider handler read it."""

    identity_kind: str
    identity_value: str
    provider_id: str
    body: str = ""
    content: dict[str, Any] = field(default_factory=dict)
    hints: dict[str, Any] = field(default_factory=dict)
    files: list[tuple[str, str, bytes]] = field(default_factory=list)  # (name, type, data)
    sent_at: datetime | None = None
    subject: str = ""
    thread: Interaction | None = None  # a provider that threads itself (e-mail) names it


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** (attempts - 1), 3600))


# --- Accounts -----------------------------------------------------------------------------------


def channel_account_check(*, account: ChannelAccount) -> None:
    """The plan must include the channel, and its allowance must not be used up (active
    accounts of that kind). Raises a ValidationError that says which."""
    from apps.accounts.selectors import organization_entitlements

    code = FEATURE_OF_KIND[account.kind]
    entitlements = organization_entitlements(organization=account.organization)
    if code not in entitlements.features:
        raise ValidationError(
            _("Your plan does not include %(channel)s.") % {"channel": account.get_kind_display()}
        )
    limit = entitlements.limit(code)
    if account.is_active and limit is not None:
        others = (
            ChannelAccount.objects.filter(
                organization=account.organization, kind=account.kind, is_active=True
            )
            .exclude(pk=account.pk)
            .count()
        )
        if others >= limit:
            raise ValidationError(
                _("Your plan allows %(limit)s active %(channel)s account(s).")
                % {"limit": limit, "channel": account.get_kind_display()}
            )
    if account.queue_id and account.queue.organization_id != account.organization_id:
        raise ValidationError({"queue": _("Not found.")})
    flow_name = str((account.config or {}).get("flow") or "").strip()
    if flow_name:
        from apps.connectors.chatflow import FLOW_CHANNELS
        from apps.flows.models import Flow

        if account.kind not in FLOW_CHANNELS | {Kind.VOICE}:
            raise ValidationError(
                {
                    "flow": _("%(channel)s accounts cannot run a flow.")
                    % {"channel": account.get_kind_display()}
                }
            )
        if not Flow.objects.filter(
            organization_id=account.organization_id, name=flow_name
        ).exists():
            raise ValidationError(
                {"flow": _("There is no flow named “%(name)s”.") % {"name": flow_name}}
            )


@transaction.atomic
def channel_account_save(
    *, account: ChannelAccount, secrets: dict[str, str] | None = None
) -> ChannelAccount:
    """Create or change a channel account within the plan; ``secrets`` replace stored
    credentials (empty values keep them; ``env:NAME`` reads the environment at use)."""
    channel_account_check(account=account)
    if secrets:
        account.set_secrets(secrets)
    account.full_clean(exclude=["organization", "queue"])
    account.save()
    return account


# --- Inbound ------------------------------------------------------------------------------------


def inbound_accept(*, account: ChannelAccount, items: list[Item]) -> int:
    """Store what a provider sent (duplicates are dropped by the unique constraint) and
    schedule its processing after commit. Returns how many items were new."""
    from apps.connectors.tasks import inbound_process_task

    new_ids: list[int] = []
    for item in items:
        try:
            with transaction.atomic():
                event = InboundEvent.objects.create(
                    organization_id=account.organization_id,
                    account=account,
                    kind=item.kind,
                    external_id=item.external_id[:255],
                    payload=item.payload,
                    next_attempt_at=timezone.now(),
                )
        except IntegrityError:
            logger.info(
                "connectors.inbound_duplicate",
                extra={"account": account.pk, "external_id": item.external_id},
            )
            continue
        new_ids.append(event.pk)
    for event_id in new_ids:
        transaction.on_commit(
            lambda event_id=event_id: inbound_process_task.delay(event_id), robust=True
        )
    return len(new_ids)


def _claim(model, pk: int, now: datetime, statuses):
    """Take a row for one attempt: locked while claimed, then leased (``next_attempt_at``
    pushed by ``CLAIM_LEASE``) so no sweep or second task takes it meanwhile. The provider is
    called outside any transaction (a slow provider must not hold database locks); a worker
    that dies mid-attempt leaves the lease to expire and the sweep tries again."""
    from apps.queues.engine import skip_locked

    with transaction.atomic():
        row = (
            model.objects.select_for_update(**skip_locked())
            .filter(pk=pk, status__in=statuses, next_attempt_at__lte=now)
            .first()
        )
        if row is None:
            return None
        row.attempts += 1
        row.next_attempt_at = now + CLAIM_LEASE
        row.save(update_fields=["attempts", "next_attempt_at"])
        return row


def inbound_process(*, event_id: int, now=None) -> str:
    """Hand one stored event to its provider (idempotent: a processed event is left alone;
    two workers never process one event at once). Returns the event's status."""
    from apps.connectors.providers import provider_for

    now = now or timezone.now()
    event = _claim(
        InboundEvent, event_id, now, [InboundEvent.Status.PENDING, InboundEvent.Status.FAILED]
    )
    if event is None:
        return "skipped"
    event = InboundEvent.objects.select_related("account__organization", "account__queue").get(
        pk=event.pk
    )
    fields = ["status", "last_error", "next_attempt_at", "processed_at"]
    try:
        outcome = provider_for(event.account.kind).handle(event)
    except Exception as exc:  # the event stays, to be retried: nothing is lost
        logger.exception("connectors.inbound_failed", extra={"event": event.pk})
        event.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        dead = event.attempts >= INBOUND_MAX_ATTEMPTS
        event.status = InboundEvent.Status.DEAD if dead else InboundEvent.Status.FAILED
        event.next_attempt_at = now + _backoff(event.attempts)
    else:
        event.status = (
            InboundEvent.Status.IGNORED if outcome == "ignored" else InboundEvent.Status.DONE
        )
        event.processed_at = timezone.now()
        event.last_error = ""
    event.save(update_fields=fields)
    return event.status


def inbound_retry_due(*, now=None, limit: int = 200) -> int:
    """Sweep: events whose retry is due, and pending ones whose task was lost."""
    now = now or timezone.now()
    due = list(
        InboundEvent.objects.filter(
            status__in=[InboundEvent.Status.PENDING, InboundEvent.Status.FAILED],
            next_attempt_at__lte=now - SWEEP_GRACE,
        ).values_list("pk", flat=True)[:limit]
    )
    for event_id in due:
        inbound_process(event_id=event_id, now=now)
    return len(due)


def inbound_retry(*, event: InboundEvent) -> str:
    """An administrator sends a given-up event through again."""
    InboundEvent.objects.filter(pk=event.pk).exclude(status=InboundEvent.Status.DONE).update(
        status=InboundEvent.Status.FAILED, attempts=0, next_attempt_at=timezone.now()
    )
    return inbound_process(event_id=event.pk)


def _thread_for(account: ChannelAccount, contact, identity) -> Interaction | None:
    return (
        Interaction.objects.filter(
            organization_id=account.organization_id,
            contact=contact,
            channel=account.kind,
            state__in=THREAD_STATES,
        )
        .order_by("-created_at", "-id")
        .first()
    )


def _route(account: ChannelAccount, interaction: Interaction) -> None:
    from apps.queues.services import interaction_enqueue, interaction_route_by_rules

    if interaction_route_by_rules(interaction=interaction) is None and account.queue_id:
        interaction_enqueue(interaction=interaction, queue=account.queue)


def conversation_start(
    *,
    account: ChannelAccount,
    contact,
    identity,
    subject: str = "",
    continues=None,
    language: str = "",
    defer_flow: bool = False,
):
    """A new inbound interaction on the account's channel: the account's self-service flow
    runs first when it names one (``config.flow``, see ``chatflow``), else the greeting bot
    talks when the account has one (``config.greeting``), else it is routed at once (by the
    routing rules, else to the account's queue). ``continues``: the closed one it carries on
    (e-mail); ``language``: the customer's, when the channel tells it (web chat);
    ``defer_flow``: the caller starts the flow itself once the customer's first message is
    stored (its answers follow that message; WhatsApp lets us write only after it)."""
    from apps.connectors.chatflow import account_flow_name, chat_flow_start
    from apps.interactions.services import interaction_create

    interaction = interaction_create(
        organization=account.organization,
        channel=account.kind,
        direction=Direction.INBOUND,
        contact=contact,
        identity=identity,
        subject=subject,
        continues=continues,
        language=language,
        data={"account": account.pk},
    )
    Interaction.objects.filter(pk=interaction.pk).update(channel_account=account)
    interaction.channel_account = account
    if account_flow_name(account):
        if not defer_flow:
            chat_flow_start(account=account, interaction=interaction)
    elif not bot_greet(account=account, interaction=interaction):
        _route(account, interaction)
    return interaction


# --- The greeting bot: name and reason before routing ---------------------------------------

BOT_CHANNELS = {Kind.SMS, Kind.WHATSAPP, Kind.MESSENGER, Kind.INSTAGRAM, Kind.X}
BOT_TIMEOUT = timedelta(minutes=10)  # no answer: routed anyway (``config.bot_timeout_minutes``)


def _bot_text(account: ChannelAccount, interaction: Interaction, key: str) -> str:
    from django.utils import translation

    custom = account.config.get(f"{key}_text")
    if custom:
        return custom
    with translation.override(interaction.language or account.organization.language):
        return {
            "name": _("What is your name?"),
            "reason": _("What is it about?"),
            "thanks": _("Thank you. An agent will answer you shortly."),
        }[key]


def _bot_say(interaction: Interaction, body: str) -> None:
    from apps.interactions.services import message_add

    message_add(
        interaction=interaction,
        direction=Direction.OUTBOUND,
        author_kind=Message.Author.BOT,
        body=body,
    )


def bot_greet(*, account: ChannelAccount, interaction: Interaction) -> bool:
    """Greet a new conversation and ask the first question (name, unless the customer is
    known by name, then the reason). False when the account has no greeting."""
    greeting = (account.config.get("greeting") or "").strip()
    if account.kind not in BOT_CHANNELS or not greeting:
        return False
    contact = interaction.contact
    steps = []
    if account.config.get("ask_name", True) and not (contact.first_name or contact.last_name):
        steps.append("name")
    if account.config.get("ask_reason", True):
        steps.append("reason")
    if not steps:
        _bot_say(interaction, greeting)
        return False  # nothing to ask: routed now
    interaction.data = {**interaction.data, "bot": {"steps": steps, "answers": {}}}
    interaction.save(update_fields=["data"])
    _bot_say(interaction, f"{greeting}\n{_bot_text(account, interaction, steps[0])}")
    return True


def bot_answer(*, account: ChannelAccount, interaction: Interaction, message: Message) -> None:
    """The customer answered the bot's question: keep the answer, ask the next question or
    thank them and route the conversation."""
    from apps.interactions.services import event_record

    bot = dict(interaction.data.get("bot") or {})
    steps, answers = list(bot.get("steps") or []), dict(bot.get("answers") or {})
    if not steps:
        return
    step, text = steps.pop(0), message.body.strip()
    answers[step] = text[:255]
    contact = interaction.contact
    if step == "name" and text and not (contact.first_name or contact.last_name):
        first, _sep, last = text.partition(" ")
        contact.first_name, contact.last_name = first[:100], last[:100]
        contact.save(update_fields=["first_name", "last_name", "updated_at"])
    if step == "reason" and text:
        interaction.reason = text[:100]
        interaction.subject = interaction.subject or text[:255]
    interaction.data = {**interaction.data, "bot": {"steps": steps, "answers": answers}}
    interaction.save(update_fields=["data", "reason", "subject", "updated_at"])
    if steps:
        _bot_say(interaction, _bot_text(account, interaction, steps[0]))
        return
    _bot_say(interaction, _bot_text(account, interaction, "thanks"))
    event_record(
        organization=interaction.organization,
        type="interaction.bot_collected",
        interaction=interaction,
        data=answers,
    )
    _route(account, interaction)


def bot_timeouts(*, now=None) -> int:
    """Conversations whose customer stopped answering the bot are routed anyway."""
    now = now or timezone.now()
    routed = 0
    waiting = Interaction.objects.filter(
        state=State.NEW,
        channel__in=list(BOT_CHANNELS),
        data__has_key="bot",
        created_at__lte=now - timedelta(minutes=1),
    ).select_related("channel_account__queue", "organization")
    for interaction in waiting[:200]:
        account = interaction.channel_account
        if account is None:
            continue
        minutes = account.config.get("bot_timeout_minutes")
        limit = timedelta(minutes=minutes) if minutes else BOT_TIMEOUT
        if interaction.created_at > now - limit or not interaction.data["bot"].get("steps"):
            continue
        with transaction.atomic():
            fresh = Interaction.objects.select_for_update().get(pk=interaction.pk)
            if fresh.state != State.NEW or not (fresh.data.get("bot") or {}).get("steps"):
                continue
            fresh.data = {
                **fresh.data,
                "bot": {**fresh.data["bot"], "steps": [], "timed_out": True},
            }
            fresh.save(update_fields=["data"])
            _route(account, fresh)
            routed += 1
    return routed


@transaction.atomic
def message_receive(*, account: ChannelAccount, received: Received) -> tuple[Message | None, bool]:
    """A customer's message: their contact (created when new), the open conversation with
    them on this channel (or a new one, routed), the message (once, however often it comes)
    and its files. ``(message, created)``; a blocked sender gets nothing stored: (None, False)."""
    from apps.connectors.chatflow import (
        account_flow_name,
        chat_flow_input,
        chat_flow_start,
        flow_waiting,
    )
    from apps.contacts.services import IdentityBlocked, contact_resolve
    from apps.interactions.services import message_add

    try:
        contact, identity, _created = contact_resolve(
            organization=account.organization,
            kind=received.identity_kind,
            value=received.identity_value,
            hints=received.hints,
        )
    except IdentityBlocked:
        logger.info("connectors.blocked_sender", extra={"account": account.pk})
        return None, False
    # One customer's messages processed at once by two workers join one conversation: the
    # identity row is the lock that orders them.
    from apps.contacts.models import Identity

    Identity.objects.select_for_update().filter(pk=identity.pk).first()
    interaction = received.thread or _thread_for(account, contact, identity)
    started = interaction is None
    if started:
        interaction = conversation_start(
            account=account,
            contact=contact,
            identity=identity,
            subject=received.subject,
            defer_flow=True,
        )
    message, created = message_add(
        interaction=interaction,
        direction=Direction.INBOUND,
        author_kind=Message.Author.CONTACT,
        body=received.body,
        content=received.content or ({"files": len(received.files)} if received.files else {}),
        provider_id=received.provider_id,
        created_at=received.sent_at,
    )
    if created:
        _attach(message, received.files)
        if started:
            if account_flow_name(account):  # its first question follows the first message
                chat_flow_start(account=account, interaction=interaction)
        elif flow_waiting(interaction):
            if not _sms_opt_out(account, message):
                chat_flow_input(account=account, interaction=interaction, message=message)
        elif interaction.state == State.NEW and interaction.data.get("bot"):
            bot_answer(account=account, interaction=interaction, message=message)
    return message, created


def _sms_opt_out(account: ChannelAccount, message: Message) -> bool:
    """STOP and its synonyms on SMS end the conversation's messages, they do not answer the
    flow (which would reply). YES or HELP may well be answers: the flow gets them too."""
    from apps.connectors.providers.twilio_sms import OPT_OUT

    return account.kind == Kind.SMS and message.body.strip().upper() in OPT_OUT


def _attach(message: Message, files: list[tuple[str, str, bytes]]) -> None:
    from django.core.files.base import ContentFile
    from django.utils.text import get_valid_filename

    from apps.interactions.models import Attachment

    for name, content_type, data in files:
        attachment = Attachment(
            organization_id=message.organization_id,
            message=message,
            filename=get_valid_filename(name)[:200] or "file",
            content_type=content_type[:100],
            size=len(data),
        )
        attachment.file.save(attachment.filename, ContentFile(data), save=False)
        attachment.save()


def delivery_update(*, account: ChannelAccount, provider_id: str, status: str, error: str = ""):
    """A provider's delivery or read receipt for a message we sent."""
    from apps.interactions.services import message_status_update

    return message_status_update(
        organization=account.organization,
        channel=account.kind,
        provider_id=provider_id,
        status=status,
        error=error,
    )


# --- Outbound -----------------------------------------------------------------------------------

SENDABLE = {Kind.SMS, Kind.WHATSAPP, Kind.MESSENGER, Kind.INSTAGRAM, Kind.X, Kind.EMAIL}


def account_for_interaction(interaction: Interaction) -> ChannelAccount | None:
    """The account a reply leaves through: the one the conversation came in on, else the
    organization's first active account of that channel."""
    if interaction.channel_account_id:
        return interaction.channel_account
    return (
        ChannelAccount.objects.filter(
            organization_id=interaction.organization_id, kind=interaction.channel, is_active=True
        )
        .order_by("pk")
        .first()
    )


def outbound_enqueue(*, message: Message) -> Outbound | None:
    """An outgoing message on a provider channel joins the outbox (sent after commit). The
    customer's opt-out on that channel is a clear error and nothing is stored."""
    from apps.connectors.tasks import outbound_send_task
    from apps.contacts.selectors import contact_can_be_contacted

    interaction = message.interaction
    if interaction.channel == Kind.WEBCHAT:  # no provider: the visitor's socket
        from apps.connectors.webchat import webchat_deliver

        return webchat_deliver(message=message)
    if interaction.channel not in SENDABLE:
        return None
    if message.author_kind != Message.Author.SYSTEM and not contact_can_be_contacted(
        contact=interaction.contact, channel=interaction.channel
    ):  # a system message (the opt-out confirmation) is the one exception
        raise ValidationError(
            {"body": _("The customer asked not to be contacted on this channel.")}
        )
    from apps.connectors.providers import provider_for

    precheck = getattr(provider_for(interaction.channel), "precheck", None)
    if precheck is not None:
        precheck(message)  # what the provider would refuse, refused now with a clear error
    account = account_for_interaction(interaction)
    to = interaction.identity.value if interaction.identity_id else ""
    if account is None or not to:
        # Kept, and shown as not sent: nothing is lost, nobody is misled.
        message.error = (
            _("No %(channel)s account is set up to send this.")
            % {"channel": interaction.get_channel_display()}
            if account is None
            else _("The customer has no address on this channel.")
        )
        message.save(update_fields=["error"])
        return None
    outbound = Outbound.objects.create(
        organization_id=message.organization_id, message=message, account=account, to=to
    )
    transaction.on_commit(lambda: outbound_send_task.delay(outbound.pk), robust=True)
    return outbound


def outbound_send(*, outbound_id: int, now=None) -> str:
    """Give one message to its provider (idempotent; transient failures retry with backoff,
    a permanent one marks the message failed with the provider's reason)."""
    from apps.connectors.providers import provider_for
    from apps.interactions.services import message_status_update

    now = now or timezone.now()
    claimed = _claim(Outbound, outbound_id, now, [Outbound.Status.PENDING, Outbound.Status.FAILED])
    if claimed is None:
        return "skipped"
    outbound = Outbound.objects.select_related(
        "account__organization", "message__interaction__identity"
    ).get(pk=claimed.pk)
    message = outbound.message
    try:
        provider_id = provider_for(outbound.account.kind).send(outbound)
    except SendError as exc:
        logger.warning("connectors.send_failed", extra={"outbound": outbound.pk})
        outbound.last_error = str(exc)[:2000]
        dead = exc.permanent or outbound.attempts >= OUTBOUND_MAX_ATTEMPTS
        outbound.status = Outbound.Status.DEAD if dead else Outbound.Status.FAILED
        outbound.next_attempt_at = now + _backoff(outbound.attempts)
        with transaction.atomic():
            outbound.save(update_fields=["status", "last_error", "next_attempt_at"])
            if dead:
                message_status_update(
                    organization=outbound.account.organization,
                    channel=message.channel,
                    message=message,
                    status=Message.Delivery.FAILED,
                    error=str(exc),
                )
        return outbound.status
    with transaction.atomic():
        outbound.status = Outbound.Status.SENT
        outbound.sent_at = timezone.now()
        outbound.last_error = ""
        outbound.save(update_fields=["status", "sent_at", "last_error"])
        if provider_id:
            Message.objects.filter(pk=message.pk).update(provider_id=provider_id[:255])
        message_status_update(
            organization=outbound.account.organization,
            channel=message.channel,
            message=message,
            status=Message.Delivery.SENT,
        )
    return outbound.status


def outbound_retry_due(*, now=None, limit: int = 200) -> int:
    """Sweep: sends whose retry is due, and pending ones whose task was lost."""
    now = now or timezone.now()
    due = list(
        Outbound.objects.filter(
            status__in=[Outbound.Status.PENDING, Outbound.Status.FAILED],
            next_attempt_at__lte=now - SWEEP_GRACE,
        ).values_list("pk", flat=True)[:limit]
    )
    for outbound_id in due:
        outbound_send(outbound_id=outbound_id, now=now)
    return len(due)


def fetch_media(url: str, *, auth=None, headers=None) -> tuple[bytes, str]:
    """Download a provider-hosted file (bounded by ATTACHMENT_MAX_BYTES): (data, type)."""
    import requests

    limit = settings.ATTACHMENT_MAX_BYTES
    with requests.get(url, auth=auth, headers=headers, timeout=20, stream=True) as response:
        response.raise_for_status()
        data = b""
        for chunk in response.iter_content(64 * 1024):
            data += chunk
            if len(data) > limit:
                raise ValueError(f"media larger than {limit} bytes")
        return data, response.headers.get("Content-Type", "application/octet-stream")


# --- Video ----------------------------------------------------------------------------------

# Written conversations an agent can turn into a video call.
VIDEO_FROM = {
    Kind.WEBCHAT,
    Kind.SMS,
    Kind.WHATSAPP,
    Kind.MESSENGER,
    Kind.INSTAGRAM,
    Kind.X,
    Kind.EMAIL,
}


@transaction.atomic
def video_call_start(*, interaction: Interaction, agent) -> Interaction:
    """Turn a written conversation into a video call: a room on the Jitsi-compatible server
    (``VIDEO_BASE_URL``), a linked video interaction in the agent's hands, and the link sent to
    the customer on the conversation's channel."""
    import secrets as random

    from apps.core.exceptions import FeatureNotAvailable
    from apps.core.features import require_feature
    from apps.interactions.services import (
        event_record,
        interaction_create,
        interaction_transition,
        message_add,
    )

    try:
        require_feature(interaction.organization, "channel_video")
    except FeatureNotAvailable as exc:
        raise ValidationError(str(exc)) from exc
    if interaction.channel not in VIDEO_FROM:
        raise ValidationError(_("Only a written conversation can become a video call."))
    if interaction.state not in (State.ACTIVE, State.ON_HOLD):
        raise ValidationError(_("The conversation is no longer live."))
    if interaction.assigned_agent_id != agent.pk:
        raise ValidationError(_("Only its agent can start a video call."))
    room = f"{interaction.organization.slug}-{random.token_hex(8)}"
    url = f"{settings.VIDEO_BASE_URL}/{room}"
    video = interaction_create(
        organization=interaction.organization,
        channel="video",
        direction=Direction.OUTBOUND,
        contact=interaction.contact,
        identity=interaction.identity,
        queue=interaction.queue,
        continues=interaction,
        subject=interaction.subject,
        data={"room": room, "url": url},
        actor=agent,
    )
    video.assigned_agent = agent
    video.save(update_fields=["assigned_agent"])
    interaction_transition(interaction=video, to=State.ACTIVE, actor=agent)
    from django.utils import translation

    with translation.override(interaction.language or interaction.organization.language):
        invitation = _("Let's continue on video: %(url)s") % {"url": url}
    message_add(
        interaction=interaction,
        direction=Direction.OUTBOUND,
        author_kind=Message.Author.AGENT,
        author=agent,
        body=invitation,
        content={"video": url},
    )
    event_record(
        organization=interaction.organization,
        type="interaction.video_started",
        interaction=interaction,
        actor=agent,
        data={"video": video.pk, "url": url},
    )
    return video


# --- Fax and scanned postal mail -------------------------------------------------------------

DOCUMENT_CHANNELS = ("fax", "mail")
DOCUMENT_TYPES = ("application/pdf", "image/")


def document_check(*, name: str, size: int) -> str:
    """A fax or a scan must be a PDF or an image within the size limit: its content type."""
    import mimetypes

    if size > settings.ATTACHMENT_MAX_BYTES:
        raise ValidationError(
            {"file": _("Files up to %(mb)s MB.") % {"mb": settings.ATTACHMENT_MAX_BYTES // 2**20}}
        )
    kind = mimetypes.guess_type(name)[0] or ""
    if not kind.startswith(DOCUMENT_TYPES):
        raise ValidationError({"file": _("A fax or a scan is a PDF or an image.")})
    return kind


@transaction.atomic
def document_receive(
    *,
    organization,
    channel: str,
    name: str,
    data: bytes,
    sender: str = "",
    sender_name: str = "",
    contact=None,
    subject: str = "",
    note: str = "",
    queue=None,
    account: ChannelAccount | None = None,
    provider_id: str = "",
    actor=None,
):
    """A received fax or a scanned letter becomes an inbound interaction routed like any
    other: from the fax number (``sender``), a known ``contact``, or a new contact named
    ``sender_name``; the document attached to its first message."""
    from apps.contacts.models import Contact
    from apps.contacts.services import contact_resolve
    from apps.core.exceptions import FeatureNotAvailable
    from apps.core.features import require_feature
    from apps.interactions.services import interaction_create, message_add
    from apps.queues.services import interaction_enqueue, interaction_route_by_rules

    if channel not in DOCUMENT_CHANNELS:
        raise ValidationError({"channel": _("Fax or postal mail.")})
    try:
        require_feature(organization, FEATURE_OF_KIND[Kind.FAX])
    except FeatureNotAvailable as exc:
        raise ValidationError(str(exc)) from exc
    content_type = document_check(name=name, size=len(data))
    for label, row in (("contact", contact), ("queue", queue), ("account", account)):
        if row is not None and row.organization_id != organization.pk:
            raise ValidationError({label: _("Not found.")})
    identity = None
    if contact is None and sender:
        contact, identity, _created = contact_resolve(
            organization=organization, kind="fax", value=sender, hints={"name": sender_name}
        )
    elif contact is None:
        if not sender_name.strip():
            raise ValidationError({"sender": _("Say who sent it: a fax number, or a name.")})
        first, _sep, last = sender_name.strip().partition(" ")
        contact = Contact.objects.create(
            organization=organization, first_name=first[:100], last_name=last[:100]
        )
    interaction = interaction_create(
        organization=organization,
        channel=channel,
        direction=Direction.INBOUND,
        contact=contact,
        identity=identity,
        subject=subject or name,
        provider_ref=provider_id,
        actor=actor,
    )
    if account is not None:
        Interaction.objects.filter(pk=interaction.pk).update(channel_account=account)
    message, _created = message_add(
        interaction=interaction,
        direction=Direction.INBOUND,
        author_kind=Message.Author.CONTACT,
        body=note,
        content={"document": name},
        provider_id=provider_id,
    )
    _attach(message, [(name, content_type, data)])
    target = queue or (account.queue if account is not None else None)
    if interaction_route_by_rules(interaction=interaction, actor=actor) is None and target:
        interaction_enqueue(interaction=interaction, queue=target, actor=actor)
    return interaction


# --- WhatsApp templates (outside the 24-hour window) -------------------------------------------


def whatsapp_templates(*, interaction: Interaction) -> list[dict]:
    """The approved templates of the conversation's WhatsApp account (``config.templates``:
    ``[{"name": "follow_up", "language": "en", "text": "Hello, …"}]``)."""
    account = account_for_interaction(interaction) if interaction.channel == Kind.WHATSAPP else None
    if account is None:
        return []
    return [
        t for t in account.config.get("templates") or [] if isinstance(t, dict) and t.get("name")
    ]


def whatsapp_template_send(*, interaction: Interaction, agent, name: str) -> Message:
    """Send one of the account's approved templates (the way back after 24 hours of silence)."""
    from apps.interactions.services import message_add

    template = next(
        (t for t in whatsapp_templates(interaction=interaction) if t["name"] == name), None
    )
    if template is None:
        raise ValidationError({"template": _("Choose one of the approved templates.")})
    message, _created = message_add(
        interaction=interaction,
        direction=Direction.OUTBOUND,
        author_kind=Message.Author.AGENT,
        author=agent,
        body=template.get("text") or name,
        content={"template": name, "language": template.get("language", "")},
    )
    return message
