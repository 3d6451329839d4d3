"""Self-service flows on written channels: SMS, WhatsApp, Messenger, Instagram, X, web chat.

The same flows as phone calls (``apps.flows``; ``voice`` runs them with TwiML). An account of
one of these kinds names a flow in ``config["flow"]``; its new conversations stay ``new`` while
the flow talks: each step's prompts are bot messages, a question's choices ride on the last
one as the channel shows choices (``content["buttons"]``: WhatsApp reply buttons or a list,
Messenger and Instagram quick replies, the widget's buttons; a numbered text on SMS and X),
and the customer's next messages are the answers (typed text, a key, a keyword, a number of
the numbered text, or the id a tapped button sends back) until the flow decides. Its decision
is carried out with ``handoff`` (shared with voice): enqueue, transfer, leave a message, a
callback, or the end of the conversation.

State: the flow's session in ``interaction.data["flow"]`` (``interaction_flow_step``), and
``interaction.data["flow_chat"]`` while a question waits: when it was asked and what each
number of a numbered text means. ``chat_flow_timeouts`` (a beat task) answers a question left
unanswered for ``config["flow_timeout_minutes"]`` (default 10) with a silence, so the flow's
timeout rule applies; voice's timeouts (seconds) are too short for someone typing.
"""

import logging
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from apps.connectors.handoff import handoff_callback, handoff_enqueue
from apps.connectors.models import ChannelAccount, Kind
from apps.interactions.models import Direction, Interaction, Message, State

logger = logging.getLogger(__name__)

FLOW_CHANNELS = {Kind.SMS, Kind.WHATSAPP, Kind.MESSENGER, Kind.INSTAGRAM, Kind.X, Kind.WEBCHAT}
NUMBERED_CHANNELS = {Kind.SMS, Kind.X}  # no buttons: "1. Billing" lines
# The most choices each channel shows as buttons; more become a numbered text.
MAX_BUTTONS = {Kind.WHATSAPP: 10, Kind.MESSENGER: 13, Kind.INSTAGRAM: 13, Kind.WEBCHAT: 20}
FLOW_TIMEOUT = timedelta(minutes=10)


# --- Reads -------------------------------------------------------------------------------------


def account_flow_name(account: ChannelAccount) -> str:
    if account.kind not in FLOW_CHANNELS:
        return ""
    return str((account.config or {}).get("flow") or "").strip()


def flow_waiting(interaction: Interaction) -> bool:
    """Whether the customer's next message is the flow's input: the conversation is still
    the bot's (new, nobody took it) and a question waits."""
    session = (interaction.data or {}).get("flow") or {}
    return (
        interaction.state == State.NEW
        and interaction.assigned_agent_id is None
        and bool(session.get("awaiting"))
        and not session.get("done")
    )


def _language(interaction: Interaction, step=None) -> str:
    return (
        getattr(step, "language", "")
        or interaction.language
        or getattr(interaction.contact, "language", "")
        or interaction.organization.language
        or "en"
    )


def _phone(interaction: Interaction) -> str:
    """A number to call the customer back on: the conversation's own (SMS, WhatsApp), else
    a phone number their contact has."""
    identity = interaction.identity
    if identity is not None and identity.kind in ("phone", "whatsapp"):
        return identity.value
    if interaction.contact_id is None:
        return ""
    return (
        interaction.contact.identities.filter(kind="phone", blocked_at__isnull=True)
        .values_list("value", flat=True)
        .first()
        or ""
    )


# --- Rendering ---------------------------------------------------------------------------------


def choice_labels(choices: list[dict]) -> dict[str, str]:
    """What a numbered text shows for each choice (its key, else the first free number) →
    the choice's id."""
    keys = {c["key"] for c in choices if c.get("key")}
    labels, number = {}, 1
    for choice in choices:
        label = choice.get("key") or ""
        if not label:
            while str(number) in keys or str(number) in labels:
                number += 1
            label = str(number)
        labels[label] = choice["id"]
    return labels


def shape(kind: str, text: str, buttons: list[dict], labels: dict[str, str]) -> tuple[str, dict]:
    """(body, content) of one bot message on channel ``kind``: buttons in ``content`` where
    the channel has them (the provider module turns them into its own format), else a
    numbered text."""
    if not buttons:
        return text, {}
    if kind not in NUMBERED_CHANNELS and len(buttons) <= MAX_BUTTONS.get(kind, 0):
        return text, {"buttons": buttons}
    by_id = {b["id"]: b["title"] for b in buttons}
    lines = [f"{label}. {by_id.get(choice, choice)}" for label, choice in labels.items()]
    return "\n".join(([text] if text else []) + lines), {}


def _send(interaction: Interaction, step) -> dict[str, str]:
    """The step's prompts as bot messages (choices on the last one); returns the labels of
    a numbered text."""
    from apps.flows.renderers import render_chat
    from apps.interactions.services import message_add

    choices = (step.question or {}).get("choices") or []
    labels = choice_labels(choices)
    for line in render_chat(step):
        body, content = shape(interaction.channel, line["text"], line["buttons"], labels)
        if not body.strip() and not content:
            continue
        if content and not body.strip():  # providers want text with their buttons
            with translation.override(_language(interaction, step)):
                body = _("Please choose:")
        message_add(
            interaction=interaction,
            direction=Direction.OUTBOUND,
            author_kind=Message.Author.BOT,
            body=body,
            content=content,
        )
    return labels


def _say(interaction: Interaction, text: str) -> None:
    from apps.interactions.services import message_add

    message_add(
        interaction=interaction,
        direction=Direction.OUTBOUND,
        author_kind=Message.Author.BOT,
        body=str(text),
    )


# --- Running -----------------------------------------------------------------------------------


def chat_flow_start(*, account: ChannelAccount, interaction: Interaction) -> bool:
    """Start the account's flow on a new conversation. False when the account has none (the
    greeting bot or routing applies). A flow that cannot run (missing, not published) or a
    customer who cannot be written to: routed at once, with a log line."""
    from apps.connectors.services import _route
    from apps.contacts.selectors import contact_can_be_contacted
    from apps.flows.models import Flow
    from apps.flows.services import interaction_flow_step

    name = account_flow_name(account)
    if not name:
        return False
    flow = Flow.objects.filter(organization_id=account.organization_id, name=name).first()
    if interaction.contact_id and not contact_can_be_contacted(
        contact=interaction.contact, channel=interaction.channel
    ):
        _route(account, interaction)
        return True
    try:
        if flow is None or not flow.is_active:
            raise ValueError("no such flow")
        step = interaction_flow_step(interaction=interaction, flow=flow)
    except ValueError:
        logger.warning(
            "chatflow.flow_unavailable",
            extra={"interaction": interaction.pk, "account": account.pk, "flow": name},
        )
        _route(account, interaction)
        return True
    _carry_on(account, interaction, step)
    return True


def chat_flow_input(*, account: ChannelAccount, interaction: Interaction, message: Message) -> bool:
    """The customer's message answers the flow's question (when one waits). True when the
    flow took it."""
    answer = str((message.content or {}).get("reply") or message.body or "")
    return _advance(account, interaction, answer)


def _advance(account: ChannelAccount, interaction: Interaction, answer: str | None) -> bool:
    from apps.connectors.services import _route
    from apps.flows.services import interaction_flow_step

    with transaction.atomic():
        # One answer at a time: two messages processed at once must not both advance it.
        fresh = Interaction.objects.select_for_update().get(pk=interaction.pk)
        if not flow_waiting(fresh):
            return False
        chat = (fresh.data or {}).get("flow_chat") or {}
        if answer is not None:
            said = " ".join(answer.split()).lower()
            answer = (chat.get("labels") or {}).get(said, answer)
        try:
            step = interaction_flow_step(interaction=fresh, input=answer)
        except (ValueError, LookupError) as exc:  # the version vanished meanwhile
            logger.warning(
                "chatflow.flow_failed", extra={"interaction": fresh.pk, "error": repr(exc)}
            )
            _route(account, fresh)
            return True
        _carry_on(account, fresh, step)
    interaction.refresh_from_db()
    return True


def _carry_on(account: ChannelAccount, interaction: Interaction, step) -> None:
    """Say the step, then wait for the answer or carry the decision out."""
    labels = _send(interaction, step)
    data = dict(interaction.data or {})
    if step.decision is None:
        data["flow_chat"] = {"asked_at": timezone.now().isoformat(), "labels": labels}
    else:
        data.pop("flow_chat", None)
    interaction.data = data
    interaction.save(update_fields=["data", "updated_at"])
    if step.decision is not None:
        with translation.override(_language(interaction, step)):
            _decide(account, interaction, step.decision, said=bool(step.prompts))


def _decide(account: ChannelAccount, interaction: Interaction, decision: dict, *, said: bool):
    """What a flow's ending means in a written conversation."""
    from apps.interactions.services import interaction_close

    action = decision.get("action")
    if action == "hangup" and decision.get("reason") in ("error", "loop"):
        # A broken node: the customer is still there and typing; an agent takes over.
        logger.warning("chatflow.flow_broken", extra={"interaction": interaction.pk, **decision})
        action = "enqueue"
    if action == "transfer" and decision.get("number"):
        _say(
            interaction,
            _("Please call us at %(number)s. This conversation is now closed.")
            % {"number": decision["number"]},
        )
        interaction_close(interaction=interaction)
        return
    if action == "callback":
        number = _phone(interaction)
        if not number:
            _say(
                interaction,
                _("We have no phone number to call you back: an agent will answer you here."),
            )
        else:
            try:
                handoff_callback(
                    account=account, interaction=interaction, decision=decision, number=number
                )
                return
            except (ValidationError, AttributeError):  # no queue, or a number we cannot call
                _say(
                    interaction,
                    _("Sorry, we cannot call this number back: an agent will answer you here."),
                )
        action = "enqueue"
    if action == "voicemail":
        interaction.data = {**interaction.data, "left_message": True}
        interaction.save(update_fields=["data"])
        if not said:
            _say(
                interaction,
                _("Please leave your message here: we will answer you as soon as we can."),
            )
    if action in ("enqueue", "transfer", "voicemail"):
        queue = handoff_enqueue(account=account, interaction=interaction, decision=decision)
        if queue is None:
            _say(interaction, _("Sorry, nobody can answer you now. Please try again later."))
            interaction_close(interaction=interaction)
            return
        interaction.refresh_from_db()
        if interaction.state == State.CALLBACK_SCHEDULED:  # a closed queue booked a callback
            _say(interaction, _("We are closed now: we will call you back when we open."))
        return
    # Hang up: the flow's last prompts are said; the conversation ends.
    interaction_close(interaction=interaction)


# --- Timeouts ----------------------------------------------------------------------------------


def _timeout(account: ChannelAccount | None) -> timedelta:
    minutes = (account.config or {}).get("flow_timeout_minutes") if account else None
    try:
        return timedelta(minutes=float(minutes)) if minutes else FLOW_TIMEOUT
    except (TypeError, ValueError):
        return FLOW_TIMEOUT


def chat_flow_timeouts(*, now: datetime | None = None, limit: int = 200) -> int:
    """Questions nobody answered in time get a silence: the flow's timeout rule (ask again,
    or its ``timeout`` edge). Returns how many were answered so."""
    now = now or timezone.now()
    done = 0
    waiting = (
        Interaction.objects.filter(
            state=State.NEW, channel__in=list(FLOW_CHANNELS), data__has_key="flow_chat"
        )
        .select_related("channel_account__queue")
        .order_by("updated_at")
    )
    for interaction in waiting[:limit]:
        account = interaction.channel_account
        if account is None:
            continue
        try:
            asked = datetime.fromisoformat(interaction.data["flow_chat"]["asked_at"])
        except (KeyError, TypeError, ValueError):
            asked = interaction.updated_at
        if asked > now - _timeout(account):
            continue
        try:
            if _advance(account, interaction, None):
                done += 1
        except Exception:  # one broken conversation must not stop the others
            logger.exception("chatflow.timeout_failed", extra={"interaction": interaction.pk})
    return done
