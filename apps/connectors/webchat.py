"""Web chat: the widget's visitors, their conversations, and what travels live between them.

A visitor is known by an opaque token their browser made and keeps (localStorage); we store
only its digest, as the ``webchat`` identity of their contact, and name their live group after
it (``visitor.<digest>``). The visitor's socket joins that group and nothing else: agent replies,
agent typing and message receipts are sent there on purpose, while ``interaction.<id>`` (where
internal notes and colleagues' events travel) stays for the desk.

Every write is a service here; the widget's HTTP endpoints (``webchat_views``) and its socket
(``consumers.VisitorConsumer``) only translate. Visitor input is plain text, bounded in length,
and rate-limited per token and per address with Django's cache.
"""

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.connectors.models import ChannelAccount, Kind
from apps.core.realtime import interaction_group, publish
from apps.interactions.models import Direction, Interaction, Message, State

logger = logging.getLogger(__name__)

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32,128}$")
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
REPLY_RE = re.compile(r"^[^\x00-\x1f]{1,50}$")  # a flow choice's id (an outcome: a key, a word)
FILE_LINK_MAX_AGE = 7 * 24 * 3600  # seconds a visitor's download link works
TYPING_THROTTLE_SECONDS = 2
RECEIPTS_MAX = 100  # message ids in one acknowledgement
FIELD_MAX = {"name": 100, "email": 254, "subject": 200, "phone": 40}
PRECHAT_FIELDS = ("name", "email", "subject")
OPEN_STATES = (State.NEW, State.QUEUED, State.OFFERED, State.ACTIVE, State.ON_HOLD)


class RateLimited(ValidationError):
    """Too many messages or conversations: refused, nothing stored."""


@dataclass
class Visitor:
    """A widget visitor: the account they write to and the digest of their token."""

    account: ChannelAccount
    digest: str

    @property
    def group(self) -> str:
        return visitor_group(self.digest)


def token_digest(token: str) -> str:
    """The stored form of a visitor token (the token itself is a bearer secret)."""
    if not isinstance(token, str) or not TOKEN_RE.match(token):
        raise ValidationError({"token": _("This chat session is not valid. Reload the page.")})
    return "wc1-" + hashlib.sha256(token.encode()).hexdigest()[:48]


def visitor_group(digest: str) -> str:
    return f"visitor.{digest}"


def visitor_for(*, account: ChannelAccount, token: str) -> Visitor:
    return Visitor(account=account, digest=token_digest(token))


# --- Settings of an account ------------------------------------------------------------------


def _config(account: ChannelAccount) -> dict[str, Any]:
    return account.config or {}


def required_fields(account: ChannelAccount) -> list[str]:
    required = _config(account).get("required_fields", ["name"])
    return [f for f in required if f in PRECHAT_FIELDS]


def origin_allowed(*, account: ChannelAccount, origin: str, own_host: str) -> bool:
    """The page embedding the widget must be one of the account's ``allowed_origins`` (or
    this server itself, for the demo page). No Origin header: not a browser's cross-site
    request (browsers send it on every socket and every cross-origin request)."""
    if not origin:
        return True
    origin = origin.rstrip("/").lower()
    allowed = {str(o).rstrip("/").lower() for o in _config(account).get("allowed_origins", [])}
    if "*" in allowed or origin in allowed:
        return True
    host = origin.split("://", 1)[-1]
    if own_host and host == own_host.lower():
        return True
    base = settings.PUBLIC_BASE_URL.lower()
    return bool(base) and origin == base


def webchat_is_open(*, account: ChannelAccount, at: datetime | None = None) -> bool:
    """Whether a chat can start now: the queue's business hours, and (when the account says
    ``offline_when_no_agents``) somebody signed in and working in it."""
    from apps.queues.hours import queue_is_open
    from apps.queues.selectors import queue_staffed_agents

    queue = account.queue
    if queue is None:
        return True
    if not queue_is_open(queue=queue, at=at):
        return False
    if _config(account).get("offline_when_no_agents"):
        return queue_staffed_agents(queue=queue) > 0
    return True


# --- Limits ------------------------------------------------------------------------------------


def _hit(key: str, limit: int, window: int) -> bool:
    """Count one use of ``key`` in a fixed window; False when over ``limit``."""
    cache.add(key, 0, timeout=window)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window)
        count = 1
    return count <= limit


def _limit_messages(visitor: Visitor, ip: str) -> None:
    per_token = settings.WEBCHAT_MESSAGES_PER_MINUTE
    per_ip = settings.WEBCHAT_MESSAGES_PER_MINUTE_PER_IP
    if not _hit(f"wc:msg:t:{visitor.digest}", per_token, 60) or (
        ip and not _hit(f"wc:msg:ip:{ip}", per_ip, 60)
    ):
        raise RateLimited(
            _("You are sending messages too quickly. Please wait a minute and try again."),
            code="rate_limited",
        )


def frame_allowed(visitor: Visitor) -> bool:
    """Typing, receipts and status requests on the socket (messages have their own limits)."""
    return _hit(f"wc:frames:{visitor.digest}", settings.WEBCHAT_FRAMES_PER_MINUTE, 60)


def _limit_conversations(ip: str) -> None:
    if ip and not _hit(f"wc:conv:ip:{ip}", settings.WEBCHAT_CONVERSATIONS_PER_HOUR_PER_IP, 3600):
        raise RateLimited(
            _("Too many conversations were started from your network. Please try again later."),
            code="rate_limited",
        )


def _text(value: Any, *, field: str, limit: int, required: bool = False) -> str:
    text = str(value or "").replace("\x00", "").strip()
    if required and not text:
        raise ValidationError({field: _("This field is required.")})
    if len(text) > limit:
        raise ValidationError(
            {field: _("At most %(limit)s characters, please.") % {"limit": limit}}
        )
    return text


def _language(value: Any) -> str:
    """The browser's language (``fr-CA`` → ``fr``) for language routing rules; "" if odd."""
    code = str(value or "").split("-")[0].lower()
    return code if re.fullmatch(r"[a-z]{2,3}", code) else ""


def _email(value: Any, *, required: bool) -> str:
    email = _text(value, field="email", limit=FIELD_MAX["email"], required=required).lower()
    if email:
        try:
            validate_email(email)
        except ValidationError as exc:
            raise ValidationError({"email": _("Enter a valid e-mail address.")}) from exc
    return email


# --- Reads -------------------------------------------------------------------------------------


def visitor_identity(visitor: Visitor):
    from apps.contacts.models import Identity, IdentityKind

    return (
        Identity.objects.select_related("contact")
        .filter(
            organization_id=visitor.account.organization_id,
            kind=IdentityKind.WEBCHAT,
            value=visitor.digest,
        )
        .first()
    )


def visitor_interaction(visitor: Visitor, *, open_only: bool = False) -> Interaction | None:
    """The visitor's conversation on this widget: the open one, else (unless ``open_only``)
    the last one, so that a reload after the end still shows it."""
    rows = Interaction.objects.filter(
        organization_id=visitor.account.organization_id,
        channel=Kind.WEBCHAT,
        identity__kind="webchat",
        identity__value=visitor.digest,
    ).select_related("assigned_agent", "queue", "contact", "identity")
    if open_only:
        rows = rows.filter(state__in=OPEN_STATES)
    return rows.order_by("-created_at", "-id").first()


def file_link(*, account: ChannelAccount, attachment, digest: str) -> str:
    token = signing.dumps({"a": attachment.pk, "v": digest}, salt="webchat.file")
    return reverse("webchat-file", kwargs={"key": account.key, "token": token})


def file_for_link(*, account: ChannelAccount, token: str):
    """The attachment a visitor's signed link names, if it is still theirs (None otherwise)."""
    from apps.interactions.models import Attachment

    try:
        data = signing.loads(token, salt="webchat.file", max_age=FILE_LINK_MAX_AGE)
    except signing.BadSignature:
        return None
    return (
        Attachment.objects.filter(
            pk=data.get("a"),
            organization_id=account.organization_id,
            message__interaction__identity__kind="webchat",
            message__interaction__identity__value=data.get("v"),
        )
        .select_related("message")
        .first()
    )


def message_payload(message: Message, *, account: ChannelAccount, digest: str) -> dict:
    """A message as the widget shows it (plain text; the widget renders it with textContent)."""
    if message.author_kind == Message.Author.AGENT and message.author_id:
        author = message.author.first_name or _("Agent")
    elif message.author_kind == Message.Author.CONTACT:
        author = ""
    else:
        author = message.get_author_kind_display()
    return {
        "id": message.pk,
        "mine": message.direction == Direction.INBOUND,
        "author": str(author),
        "body": message.body,
        "at": message.created_at.isoformat(),
        "status": message.delivery_status,
        "client_id": message.provider_id.rsplit(":", 1)[-1] if message.provider_id else "",
        # A flow's choices: the widget shows them as buttons (their titles as plain text).
        "buttons": [
            {"id": str(b.get("id", "")), "title": str(b.get("title", ""))}
            for b in (message.content or {}).get("buttons") or []
            if isinstance(b, dict)
        ],
        "files": [
            {
                "name": a.filename,
                "size": a.size,
                "url": file_link(account=account, attachment=a, digest=digest),
            }
            for a in message.attachments.all()
        ],
    }


def conversation_status(visitor: Visitor, interaction: Interaction | None = None) -> dict:
    """State, place in line and estimated wait (the API's queue-position selectors)."""
    from apps.queues.selectors import estimated_wait_seconds, queue_position

    interaction = interaction or visitor_interaction(visitor)
    if interaction is None:
        return {"type": "status", "state": "none"}
    waiting = interaction.state == State.QUEUED
    is_open = interaction.state in OPEN_STATES
    agent = interaction.assigned_agent if is_open else None
    return {
        "type": "status",
        "interaction": interaction.pk,
        "state": interaction.state,
        "open": is_open,
        "position": queue_position(interaction=interaction) if waiting else None,
        "wait_seconds": estimated_wait_seconds(interaction=interaction) if waiting else None,
        "agent": (agent.first_name or _("Agent")) if agent else "",
    }


def visitor_history(visitor: Visitor) -> dict:
    """What a reconnecting widget shows again: the conversation's messages and its status."""
    interaction = visitor_interaction(visitor)
    if interaction is None:
        return {"status": {"type": "status", "state": "none"}, "messages": []}
    messages = (
        Message.objects.filter(interaction=interaction)
        .select_related("author")
        .prefetch_related("attachments")
        .order_by("created_at", "id")
    )
    return {
        "status": conversation_status(visitor, interaction),
        # A transcript can be sent: to the address given in the pre-chat form, if any.
        "email": bool((interaction.data.get("webchat") or {}).get("email")),
        "messages": [
            message_payload(m, account=visitor.account, digest=visitor.digest) for m in messages
        ],
    }


# --- Services ----------------------------------------------------------------------------------


def _refuse_blocked(interaction: Interaction) -> None:
    """An agent blocked this visitor (the desk's Block): nothing more is stored from them."""
    if interaction.identity is not None and interaction.identity.blocked_at is not None:
        raise ValidationError(_("This chat is not available."), code="blocked")


def _publish_visitor(visitor: Visitor, message: Message) -> None:
    publish(
        group=visitor.group,
        event="webchat.message",
        data={"message": message.pk},
    )


@transaction.atomic
def webchat_start(
    *,
    account: ChannelAccount,
    token: str,
    fields: dict[str, Any],
    ip: str = "",
    page: str = "",
) -> Interaction:
    """The pre-chat form: the visitor's contact (their name and e-mail as hints), and one
    conversation per visitor session, routed. The same token again (a double click, a retry,
    a second tab) gets the open conversation back rather than a second one."""
    from apps.connectors.chatflow import chat_flow_start
    from apps.connectors.services import conversation_start
    from apps.contacts.models import Identity
    from apps.contacts.services import IdentityBlocked, contact_resolve
    from apps.interactions.services import message_add

    visitor = visitor_for(account=account, token=token)
    required = required_fields(account)
    name = _text(
        fields.get("name"), field="name", limit=FIELD_MAX["name"], required="name" in required
    )
    email = _email(fields.get("email"), required="email" in required)
    subject = _text(
        fields.get("subject"),
        field="subject",
        limit=FIELD_MAX["subject"],
        required="subject" in required,
    )
    body = _text(fields.get("message"), field="message", limit=settings.WEBCHAT_MESSAGE_MAX_CHARS)
    existing = visitor_interaction(visitor, open_only=True)
    if existing is not None:
        return existing
    if not webchat_is_open(account=account):
        raise ValidationError(
            _("We are not available right now. Please leave us a message."), code="closed"
        )
    _limit_conversations(ip)
    try:
        contact, identity, _created = contact_resolve(
            organization=account.organization,
            kind="webchat",
            value=visitor.digest,
            hints={"name": name, "email": email},
        )
    except IdentityBlocked as exc:
        raise ValidationError(_("This chat is not available."), code="blocked") from exc
    # Two requests of one visitor at once: the identity row orders them (one conversation).
    Identity.objects.select_for_update().filter(pk=identity.pk).first()
    existing = visitor_interaction(visitor, open_only=True)
    if existing is not None:
        return existing
    interaction = conversation_start(
        account=account,
        contact=contact,
        identity=identity,
        subject=subject,
        language=_language(fields.get("language")),
        defer_flow=True,
    )
    interaction.refresh_from_db()
    Interaction.objects.filter(pk=interaction.pk).update(
        data={
            **interaction.data,
            "webchat": {"name": name, "email": email, "page": page[:500]},
        }
    )
    interaction.refresh_from_db()
    if body:
        message, _new = message_add(
            interaction=interaction,
            direction=Direction.INBOUND,
            author_kind=Message.Author.CONTACT,
            body=body,
        )
        _publish_visitor(visitor, message)
    # The account's self-service flow: its first prompts follow what the visitor wrote.
    chat_flow_start(account=account, interaction=interaction)
    publish(group=visitor.group, event="webchat.status", data={"interaction": interaction.pk})
    logger.info("webchat.started", extra={"interaction": interaction.pk, "account": account.pk})
    return interaction


@transaction.atomic
def webchat_visitor_message(
    *,
    account: ChannelAccount,
    token: str,
    body: str,
    client_id: str,
    ip: str = "",
    reply: str = "",
) -> tuple[Message, bool]:
    """A visitor's message into their open conversation. ``client_id`` (the widget's id for
    it) makes a resend after a reconnect land once. Over the limits: refused, nothing stored.
    ``reply``: the id of the flow's button the visitor clicked (``body`` is its title); while
    the conversation's flow waits for an answer, the message is that answer."""
    from apps.connectors.chatflow import chat_flow_input, flow_waiting
    from apps.interactions.services import message_add

    visitor = visitor_for(account=account, token=token)
    if not isinstance(client_id, str) or not CLIENT_ID_RE.match(client_id):
        raise ValidationError({"client_id": _("Invalid message id.")})
    if not isinstance(reply, str) or (reply and not REPLY_RE.match(reply)):
        raise ValidationError({"reply": _("Invalid choice.")})
    body = _text(body, field="body", limit=settings.WEBCHAT_MESSAGE_MAX_CHARS, required=True)
    interaction = visitor_interaction(visitor, open_only=True)
    if interaction is None:
        raise ValidationError(
            _("This conversation has ended. Start a new one to write again."), code="ended"
        )
    _refuse_blocked(interaction)
    _limit_messages(visitor, ip)
    message, created = message_add(
        interaction=interaction,
        direction=Direction.INBOUND,
        author_kind=Message.Author.CONTACT,
        body=body,
        content={"reply": reply} if reply else None,
        provider_id=f"wc:{visitor.digest[4:28]}:{client_id}",
    )
    if created:
        _publish_visitor(visitor, message)
        if flow_waiting(interaction):
            chat_flow_input(account=account, interaction=interaction, message=message)
    return message, created


@transaction.atomic
def webchat_visitor_upload(
    *, account: ChannelAccount, token: str, upload, body: str = "", ip: str = ""
) -> Message:
    """A file from the visitor (the agents' attachment rules: size and kind)."""
    from django.utils.text import get_valid_filename

    from apps.interactions.models import Attachment
    from apps.interactions.services import attachment_check, message_add

    visitor = visitor_for(account=account, token=token)
    content_type = attachment_check(upload)
    body = _text(body, field="body", limit=settings.WEBCHAT_MESSAGE_MAX_CHARS)
    interaction = visitor_interaction(visitor, open_only=True)
    if interaction is None:
        raise ValidationError(
            _("This conversation has ended. Start a new one to write again."), code="ended"
        )
    _refuse_blocked(interaction)
    _limit_messages(visitor, ip)
    name = get_valid_filename(upload.name)[:200] or "file"
    message, _created = message_add(
        interaction=interaction,
        direction=Direction.INBOUND,
        author_kind=Message.Author.CONTACT,
        body=body,
        content={"files": 1},
    )
    attachment = Attachment(
        organization=interaction.organization,
        message=message,
        filename=name,
        content_type=content_type,
        size=upload.size,
    )
    attachment.file.save(name, upload, save=False)
    attachment.save()
    _publish_visitor(visitor, message)
    return message


def webchat_visitor_typing(*, account: ChannelAccount, token: str) -> bool:
    """The visitor is typing: the agent's open conversation shows it (at most every
    ``TYPING_THROTTLE_SECONDS``). True when it was passed on."""
    visitor = visitor_for(account=account, token=token)
    if not cache.add(f"wc:typing:v:{visitor.digest}", 1, timeout=TYPING_THROTTLE_SECONDS):
        return False
    interaction = visitor_interaction(visitor, open_only=True)
    if interaction is None:
        return False
    publish(
        group=interaction_group(interaction.pk),
        event="webchat.visitor_typing",
        data={"interaction": interaction.pk},
    )
    return True


def webchat_agent_typing(*, interaction: Interaction, agent) -> bool:
    """The agent is typing a reply: the visitor's widget shows it (throttled)."""
    if interaction.channel != Kind.WEBCHAT or interaction.state not in OPEN_STATES:
        return False
    identity = interaction.identity
    if identity is None or identity.kind != "webchat":
        return False
    if not cache.add(f"wc:typing:a:{interaction.pk}", 1, timeout=TYPING_THROTTLE_SECONDS):
        return False
    publish(
        group=visitor_group(identity.value),
        event="webchat.agent_typing",
        data={"interaction": interaction.pk, "agent": agent.first_name or _("Agent")},
    )
    return True


def webchat_receipts(*, account: ChannelAccount, token: str, message_ids: list, status: str) -> int:
    """The widget showed (``delivered``) or the visitor read (``read``) agent messages:
    their delivery status moves on, and the desk shows it. Returns how many changed."""
    from apps.interactions.services import message_status_update

    if status not in (Message.Delivery.DELIVERED, Message.Delivery.READ):
        raise ValidationError({"status": _("Unknown receipt.")})
    visitor = visitor_for(account=account, token=token)
    ids = [i for i in message_ids[:RECEIPTS_MAX] if isinstance(i, int)]
    messages = Message.objects.filter(
        pk__in=ids,
        organization_id=account.organization_id,
        direction=Direction.OUTBOUND,
        interaction__identity__kind="webchat",
        interaction__identity__value=visitor.digest,
    ).exclude(delivery_status__in=[status, Message.Delivery.READ, Message.Delivery.FAILED])
    changed = 0
    for message in messages:
        with transaction.atomic():
            message_status_update(
                organization=account.organization,
                channel=Kind.WEBCHAT,
                message=message,
                status=status,
            )
        changed += 1
    return changed


def webchat_deliver(*, message: Message) -> None:
    """An agent's (or the bot's) message on a web chat: marked sent and pushed to the
    visitor's group (a visitor who is away gets it from the history when back)."""
    interaction = message.interaction
    identity = interaction.identity
    if identity is None or identity.kind != "webchat":
        return None  # a web chat opened by hand (the API): nobody to push to
    Message.objects.filter(pk=message.pk).update(delivery_status=Message.Delivery.SENT)
    message.delivery_status = Message.Delivery.SENT
    publish(
        group=visitor_group(identity.value), event="webchat.message", data={"message": message.pk}
    )
    return None


def visitor_message_get(visitor: Visitor, message_id: int) -> dict | None:
    """One message of the visitor's conversations as the widget shows it (for live pushes)."""
    message = (
        Message.objects.filter(
            pk=message_id,
            organization_id=visitor.account.organization_id,
            interaction__identity__kind="webchat",
            interaction__identity__value=visitor.digest,
        )
        .select_related("author")
        .prefetch_related("attachments")
        .first()
    )
    if message is None:
        return None
    return message_payload(message, account=visitor.account, digest=visitor.digest)


# --- Offline: a message, or a callback --------------------------------------------------------


@transaction.atomic
def webchat_leave_message(
    *, account: ChannelAccount, fields: dict[str, Any], ip: str = ""
) -> Interaction:
    """Offline, the visitor leaves a message: an inbound e-mail interaction from their
    address, with the text, routed (the rules, else the widget's queue) for when agents are
    back."""
    from apps.contacts.services import IdentityBlocked, contact_resolve
    from apps.interactions.services import interaction_create, message_add
    from apps.queues.services import interaction_enqueue, interaction_route_by_rules

    name = _text(fields.get("name"), field="name", limit=FIELD_MAX["name"])
    email = _email(fields.get("email"), required=True)
    subject = _text(fields.get("subject"), field="subject", limit=FIELD_MAX["subject"])
    body = _text(
        fields.get("message"),
        field="message",
        limit=settings.WEBCHAT_MESSAGE_MAX_CHARS,
        required=True,
    )
    _limit_conversations(ip)
    try:
        contact, identity, _created = contact_resolve(
            organization=account.organization, kind="email", value=email, hints={"name": name}
        )
    except IdentityBlocked as exc:
        raise ValidationError(_("This chat is not available."), code="blocked") from exc
    interaction = interaction_create(
        organization=account.organization,
        channel="email",
        direction=Direction.INBOUND,
        contact=contact,
        identity=identity,
        subject=subject or _("Message left on the web chat"),
        data={"webchat_account": account.pk, "left_message": True},
    )
    message_add(
        interaction=interaction,
        direction=Direction.INBOUND,
        author_kind=Message.Author.CONTACT,
        body=body,
    )
    if interaction_route_by_rules(interaction=interaction) is None and account.queue_id:
        interaction_enqueue(interaction=interaction, queue=account.queue)
    return interaction


def _aware(value: Any) -> datetime:
    if isinstance(value, datetime):
        at = value
    else:
        try:
            at = datetime.fromisoformat(str(value or "").strip())
        except ValueError as exc:
            raise ValidationError({"at": _("Choose a date and time.")}) from exc
    if timezone.is_naive(at):
        raise ValidationError({"at": _("The time needs its time zone.")})
    return at


@transaction.atomic
def webchat_request_callback(
    *, account: ChannelAccount, fields: dict[str, Any], ip: str = "", now=None
) -> Any:
    """Offline, the visitor asks to be called at a chosen time (aware: the widget sends the
    browser's time with its offset): a callback in the widget's queue."""
    from apps.contacts.services import IdentityBlocked, contact_resolve
    from apps.queues.services import callback_schedule

    now = now or timezone.now()
    name = _text(fields.get("name"), field="name", limit=FIELD_MAX["name"])
    email = _email(fields.get("email"), required=False)
    phone = _text(fields.get("phone"), field="phone", limit=FIELD_MAX["phone"], required=True)
    at = _aware(fields.get("at"))
    if at < now - timedelta(minutes=5):
        raise ValidationError({"at": _("Choose a time in the future.")})
    days = settings.WEBCHAT_CALLBACK_MAX_DAYS
    if at > now + timedelta(days=days):
        raise ValidationError({"at": _("Choose a time within %(days)s days.") % {"days": days}})
    if account.queue is None:
        raise ValidationError(_("Callbacks are not available on this chat."), code="no_queue")
    _limit_conversations(ip)
    try:
        contact, _identity, _created = contact_resolve(
            organization=account.organization,
            kind="phone",
            value=phone,
            hints={"name": name, "email": email},
        )
    except IdentityBlocked as exc:
        raise ValidationError(_("This chat is not available."), code="blocked") from exc
    except ValidationError as exc:
        raise ValidationError({"phone": _("Enter a valid phone number.")}) from exc
    return callback_schedule(queue=account.queue, contact=contact, number=phone, scheduled_for=at)


# --- Transcript -------------------------------------------------------------------------------


def transcript_text(interaction: Interaction) -> str:
    lines = []
    messages = (
        Message.objects.filter(interaction=interaction)
        .select_related("author")
        .prefetch_related("attachments")
        .order_by("created_at", "id")
    )
    for m in messages:
        if m.author_kind == Message.Author.CONTACT:
            who = _("You")
        elif m.author_id:
            who = m.author.first_name or _("Agent")
        else:
            who = m.get_author_kind_display()
        when = timezone.localtime(m.created_at).strftime("%Y-%m-%d %H:%M")
        files = "".join(f"\n  [{a.filename}]" for a in m.attachments.all())
        lines.append(f"[{when}] {who}: {m.body}{files}")
    return "\n".join(lines)


def send_transcript_email(*, organization, to: str, subject: str, body: str) -> None:
    """The one place a transcript leaves by e-mail: from the organization's own mailbox when
    it has one (a task, retried on temporary failures), else through the platform's mail
    settings (``EMAIL_URL``, ``DEFAULT_FROM_EMAIL``)."""
    from django.core.mail import send_mail
    from django.db import transaction

    from apps.connectors.tasks import email_send_plain_task

    if ChannelAccount.objects.filter(
        organization=organization, kind=Kind.EMAIL, is_active=True
    ).exists():
        transaction.on_commit(
            lambda: email_send_plain_task.delay(organization.pk, to, subject, body), robust=True
        )
        return
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to])


def webchat_send_transcript(*, account: ChannelAccount, token: str, ip: str = "") -> str:
    """E-mail the conversation to the address the visitor gave in the pre-chat form (only
    that one: the widget must not become a way to mail strangers). Returns the address."""
    visitor = visitor_for(account=account, token=token)
    interaction = visitor_interaction(visitor)
    if interaction is None:
        raise ValidationError(_("There is no conversation to send."), code="none")
    email = (interaction.data.get("webchat") or {}).get("email", "")
    if not email:
        raise ValidationError(
            _("You did not give an e-mail address when the chat started."), code="no_email"
        )
    if not _hit(f"wc:transcript:{visitor.digest}", settings.WEBCHAT_TRANSCRIPTS_PER_HOUR, 3600):
        raise RateLimited(_("The transcript was already sent. Please try again later."))
    title = _config(account).get("title") or account.organization.name
    try:
        send_transcript_email(
            organization=account.organization,
            to=email,
            subject=_("Your conversation with %(name)s") % {"name": title},
            body=transcript_text(interaction),
        )
    except Exception as exc:  # the mail server: the visitor learns it did not leave
        logger.exception("webchat.transcript_failed", extra={"interaction": interaction.pk})
        raise ValidationError(
            _("The transcript could not be sent. Please try again later."), code="mail"
        ) from exc
    logger.info("webchat.transcript_sent", extra={"interaction": interaction.pk})
    return email
