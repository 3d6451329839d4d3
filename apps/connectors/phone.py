"""The agent's phone: calls agents place (click-to-call, a scheduled callback accepted on the
desk, a number dialled on the browser softphone), the softphone's access token, the caller ID.

An outbound call is a voice ``Interaction`` (direction outbound, assigned to the agent, its
``channel_account`` the number shown as caller ID) whose ``data["voice"]`` has ``outbound``
true and, like an inbound call (``apps.connectors.voice``): ``account``, ``base``, ``from``
(our number), ``to`` (the customer's), ``legs`` (agent id → CallSid), ``call`` (the customer's
CallSid, once dialled), ``in_conference``, ``ended``, ``outcome``. Its ``provider_ref`` is a
reference of ours (``out-…``), or the CallSid of the softphone call that placed it; status
callbacks carry it as ``?call=``.

The agent is dialled first (``outbound_sync``, run by ``voice_sync`` after every change) into
the conference named after the interaction; when their leg answers, the customer is dialled
into it with the caller ID. From then on the call is an ordinary conference call: hold,
consult and transfer on the desk move the legs through ``voice_sync``. The customer's leg
ending gives the outcome (answered, no-answer, busy, failed), recorded on ``call.ended`` and,
for a callback, on the ``Callback`` (``callback_attempt_record``: retried as the queue says).
"""

import logging
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from twilio.twiml.voice_response import Dial, VoiceResponse

from apps.connectors.models import ChannelAccount, Kind
from apps.connectors.providers import twilio_voice
from apps.interactions.models import Channel, Direction, Event, Interaction, State
from apps.interactions.services import event_record, interaction_transition

logger = logging.getLogger(__name__)

RING_SECONDS = 30  # how long a leg we dial rings before it is "no-answer"
TOKEN_TTL_SECONDS = 900  # the softphone renews its token before it expires
OUTCOMES = {"completed": "no-answer", "canceled": "no-answer", "no-answer": "no-answer"}
OUTCOMES.update({"busy": "busy", "failed": "failed"})


# --- Caller ID ----------------------------------------------------------------------------------


def voice_numbers(*, organization):
    return ChannelAccount.objects.filter(
        organization=organization, kind=Kind.VOICE, is_active=True
    ).order_by("name", "pk")


def caller_id_for(*, organization, queue=None) -> ChannelAccount | None:
    """The number an outbound call shows: the queue's caller ID, else the organization's
    default voice number, else its only voice number (None: nothing to call from)."""

    def usable(account) -> bool:
        return (
            account is not None
            and account.is_active
            and account.kind == Kind.VOICE
            and account.organization_id == organization.pk
        )

    for candidate in (getattr(queue, "caller_id", None), organization.default_voice_number):
        if usable(candidate):
            return candidate
    numbers = list(voice_numbers(organization=organization)[:2])
    return numbers[0] if len(numbers) == 1 else None


# --- Who may call whom --------------------------------------------------------------------------


def _agent_check(agent, organization, *, require_agent: bool = True) -> None:
    from apps.accounts.models import Role
    from apps.core.features import feature_enabled

    if (
        agent is None
        or not agent.is_active
        or agent.organization_id != organization.pk
        or (require_agent and not agent.has_role(Role.AGENT))
    ):
        raise ValidationError(_("Only the organization's agents may place calls."), code="agent")
    if not feature_enabled(organization, "channel_voice"):
        raise ValidationError(_("Calls are not part of this organization's plan."), code="plan")


def _number_to_call(contact, number: str):
    """The contact's number to dial (``number`` or their first phone) and its identity."""
    from apps.contacts.models import Identity, IdentityKind
    from apps.contacts.services import phone_normalize

    phones = Identity.objects.filter(
        organization_id=contact.organization_id, kind=IdentityKind.PHONE
    )
    if number:
        try:
            number = phone_normalize(number, country=contact.organization.country)
        except ValidationError as exc:
            raise ValidationError(_("This is not a phone number."), code="number") from exc
        identity = phones.filter(value=number).first()
    else:
        identity = phones.filter(contact=contact).order_by("blocked_at", "pk").first()
        if identity is None:
            raise ValidationError(_("This contact has no phone number."), code="number")
        number = identity.value
    if identity is not None and identity.blocked_at is not None:
        raise ValidationError(_("This number is blocked."), code="blocked")
    if identity is not None and identity.contact_id != contact.pk:
        raise ValidationError(_("This number belongs to another contact."), code="number")
    return number, identity


def call_place(
    *,
    agent,
    contact,
    number: str = "",
    queue=None,
    base: str = "",
    agent_call_sid: str = "",
) -> Interaction:
    """The agent calls ``contact`` (on ``number``, else their first phone number): an outbound
    voice interaction, active and assigned to the agent; their leg is dialled first, then the
    customer's (after commit, ``voice_sync``). ``agent_call_sid``: the agent is already on the
    line (a call their browser softphone placed): only the customer is dialled.

    Refused (``ValidationError``, nothing written) for someone who is not an agent of the
    contact's organization, a contact who asked not to be called, a blocked number, or an
    organization without a voice number to call from."""
    from apps.contacts.models import ConsentChannel
    from apps.contacts.selectors import contact_can_be_contacted
    from apps.interactions.services import interaction_create

    organization = contact.organization
    _agent_check(agent, organization)
    if queue is not None and queue.organization_id != organization.pk:
        raise ValidationError(_("Not found."), code="queue")
    if not contact_can_be_contacted(contact=contact, channel=ConsentChannel.VOICE):
        raise ValidationError(_("This contact asked not to be called."), code="opt_out")
    number, identity = _number_to_call(contact, number)
    account = caller_id_for(organization=organization, queue=queue)
    if account is None:
        raise ValidationError(
            _(
                "No voice number to call from: set the queue's caller ID or the "
                "organization's default voice number."
            ),
            code="no_number",
        )
    voice = {
        "outbound": True,
        "account": account.pk,
        "base": base,
        "from": account.address,
        "to": number,
        "legs": {},
    }
    if agent_call_sid:
        voice.update(legs={str(agent.pk): agent_call_sid}, agent_answered=True)
    with transaction.atomic():
        interaction = interaction_create(
            organization=organization,
            channel=Channel.VOICE,
            direction=Direction.OUTBOUND,
            contact=contact,
            identity=identity,
            queue=queue,
            provider_ref=agent_call_sid or f"out-{uuid.uuid4().hex}",
            subject=_("Call to %(number)s") % {"number": number},
            data={"voice": voice},
            actor=agent,
        )
        interaction.channel_account = account
        interaction.assigned_agent = agent
        interaction.save(update_fields=["channel_account", "assigned_agent"])
        event_record(
            organization=organization,
            type="call.placed",
            interaction=interaction,
            actor=agent,
            data={"to": number, "from": account.address, "agent": agent.pk},
        )
        # Active now: the agent is working it (voice_changed dials their leg after commit).
        interaction_transition(interaction=interaction, to=State.ACTIVE, actor=agent)
    logger.info("voice.call_placed", extra={"interaction": interaction.pk, "agent": agent.pk})
    return interaction


# --- Dialling the legs --------------------------------------------------------------------------


def _base(interaction: Interaction, account: ChannelAccount) -> str:
    """Where our webhooks are: where the call was placed from, the configured public URL, or
    where this number's calls last reached us (a callback accepted on the desk)."""
    voice = (interaction.data or {}).get("voice") or {}
    if voice.get("base"):
        return voice["base"]
    if settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL
    last = (
        Interaction.objects.filter(channel_account=account, data__voice__base__startswith="http")
        .order_by("-pk")
        .values_list("data__voice__base", flat=True)
        .first()
    )
    return last or ""


def _prepare(interaction: Interaction) -> Interaction | None:
    """A callback's interaction becomes dialable when first synced: its caller ID (the
    queue's), its reference and its telephony state."""
    from apps.connectors.voice import _voice_update

    voice = (interaction.data or {}).get("voice") or {}
    if voice.get("account"):
        return interaction
    account = caller_id_for(organization=interaction.organization, queue=interaction.queue)
    if account is None:
        return None
    with transaction.atomic():
        fresh = Interaction.objects.select_for_update().get(pk=interaction.pk)
        if not fresh.provider_ref:
            fresh.provider_ref = f"out-{uuid.uuid4().hex}"
        fresh.channel_account = account
        fresh.save(update_fields=["provider_ref", "channel_account"])
        interaction.provider_ref, interaction.channel_account = fresh.provider_ref, account
    _voice_update(
        interaction,
        account=account.pk,
        **{"from": account.address, "to": voice.get("to") or interaction.data.get("number", "")},
        legs=voice.get("legs") or {},
    )
    return interaction


def _status_url(account, interaction, base: str, **params) -> str:
    from apps.connectors.voice import _url

    return base + _url(
        account, "connectors-twilio-voice-status", interaction.provider_ref, **params
    )


def _conference_twiml(interaction: Interaction, *, whisper: str = "", ends: bool) -> str:
    from apps.connectors.voice import _language, _say, conference_name

    response = VoiceResponse()
    if whisper:
        with translation.override(_language(interaction)):
            _say(response, interaction, whisper)
    dial = Dial()
    dial.conference(
        conference_name(interaction),
        start_conference_on_enter=True,
        end_conference_on_exit=ends,
        beep=False,
    )
    response.append(dial)
    return str(response)


def _whisper(interaction: Interaction) -> str:
    """What the agent hears first: who is being called (a callback says so)."""
    from apps.connectors.voice import _language

    with translation.override(_language(interaction)):
        name = str(interaction.contact) if interaction.contact_id else ""
        if (interaction.data or {}).get("callback"):
            return _("Callback to %(name)s.") % {"name": name}
        return _("Calling %(name)s.") % {"name": name}


def _claim(interaction: Interaction, key: str) -> bool:
    """Mark ``key`` of the call's state as being dialled; False when another sync did."""
    with transaction.atomic():
        fresh = Interaction.objects.select_for_update().get(pk=interaction.pk)
        voice = dict((fresh.data or {}).get("voice") or {})
        if key == "agent":
            legs = dict(voice.get("legs") or {})
            agent = str(fresh.assigned_agent_id)
            if agent in legs:
                return False
            legs[agent] = "pending"
            voice["legs"] = legs
        else:
            if voice.get("customer"):
                return False
            voice["customer"] = "pending"
        fresh.data = {**fresh.data, "voice": voice}
        fresh.save(update_fields=["data"])
        interaction.data = fresh.data
    return True


def outbound_sync(*, interaction: Interaction) -> dict:
    """The legs of an outbound call before the customer's is dialled (then ``voice_sync``
    does the rest): the agent's first, the customer's once the agent answered; a call given
    up (wrap-up, closed) before that hangs the agent's leg up."""

    done = {"dialled": [], "hung_up": [], "hold": None}
    if _prepare(interaction) is None:  # no number to call from: the agent is told by the log
        if interaction.state in (State.ACTIVE, State.ON_HOLD):
            _outbound_end(
                interaction=interaction,
                outcome="failed",
                reason="no_number",
            )
        return done
    voice = (interaction.data or {}).get("voice") or {}
    account = ChannelAccount.objects.filter(
        organization_id=interaction.organization_id, pk=voice.get("account")
    ).first()
    if account is None:
        return done
    base = _base(interaction, account)
    rest = twilio_voice.client(account, base=base)
    try:
        return _outbound_legs(interaction, voice, account, base, rest, done)
    finally:
        session = getattr(rest.http_client, "session", None)
        if session is not None:  # no idle keep-alive connection left behind
            session.close()


def _outbound_legs(interaction, voice, account, base, rest, done) -> dict:
    from apps.connectors.voice import _rest, _voice_update, agent_destination

    legs = voice.get("legs") or {}
    if interaction.state not in (State.ACTIVE, State.ON_HOLD) or voice.get("ended"):
        for agent_id, sid in legs.items():
            if sid not in ("pending", "failed"):
                _rest(lambda sid=sid: rest.calls(sid).update(status="completed"))
                done["hung_up"].append(int(agent_id))
        if legs:
            _voice_update(interaction, legs={})
        return done
    agent = interaction.assigned_agent
    if agent is None:
        return done
    if str(agent.pk) not in legs and _claim(interaction, "agent"):
        call = _rest(
            lambda: rest.calls.create(
                to=agent_destination(agent),
                from_=account.address,
                twiml=_conference_twiml(interaction, whisper=_whisper(interaction), ends=False),
                status_callback=_status_url(
                    account, interaction, base, leg="agent", agent=agent.pk
                ),
                status_callback_event=["initiated", "ringing", "answered", "completed"],
                timeout=RING_SECONDS,
            )
        )
        sid = getattr(call, "sid", "") or "failed"
        fresh = Interaction.objects.get(pk=interaction.pk)
        _voice_update(
            interaction, legs={**(fresh.data["voice"].get("legs") or {}), str(agent.pk): sid}
        )
        event_record(
            organization=interaction.organization,
            type="call.connected",
            interaction=interaction,
            data={"agent": agent.pk, "call": sid, "mode": "agent"},
        )
        done["dialled"].append(agent.pk)
        if sid == "failed":
            _outbound_end(interaction=interaction, outcome="failed")
        return done
    if (
        voice.get("agent_answered")
        and not voice.get("customer")
        and _claim(interaction, "customer")
    ):
        call = _rest(
            lambda: rest.calls.create(
                to=voice["to"],
                from_=account.address,
                twiml=_conference_twiml(interaction, ends=True),
                status_callback=_status_url(account, interaction, base, leg="customer"),
                status_callback_event=["initiated", "ringing", "answered", "completed"],
                timeout=RING_SECONDS,
            )
        )
        sid = getattr(call, "sid", "")
        if not sid:
            _voice_update(interaction, customer="failed")
            _outbound_end(interaction=interaction, outcome="failed")
            return done
        _voice_update(
            interaction, customer=sid, call=sid, in_conference=True, dialled_at=_now_iso()
        )
        done["dialled"].append("customer")
    return done


def _now_iso() -> str:
    return timezone.now().isoformat()


# --- Status callbacks of outbound legs -----------------------------------------------------------


def outbound_agent_status(*, interaction: Interaction, fields: dict) -> None:
    """The agent's leg of an outbound call: answered → the customer is dialled; not reached,
    or hung up before the customer answered → the call ends; the assigned agent hanging up
    during the conversation ends it too (their desk goes to wrap-up)."""
    from apps.connectors.voice import _voice, _voice_update, voice_changed

    status = fields.get("CallStatus", "")
    voice = _voice(interaction)
    agent_id = str(fields.get("_agent") or "")
    if status in ("in-progress", "answered"):
        if agent_id == str(interaction.assigned_agent_id) and not voice.get("agent_answered"):
            _voice_update(interaction, agent_answered=True)
            voice_changed(interaction)
        return
    if status not in twilio_voice.ENDED_STATUSES or voice.get("ended"):
        return
    if agent_id != str(interaction.assigned_agent_id):
        return  # a colleague's leg (a transfer, a consultation)
    if (voice.get("legs") or {}).get(agent_id) not in (fields.get("CallSid"), "pending"):
        return
    if not voice.get("customer_answered"):
        outcome = "agent-unreached" if not voice.get("agent_answered") else "cancelled"
        _outbound_end(interaction=interaction, outcome=outcome)
        return
    with transaction.atomic():
        fresh = Interaction.objects.select_for_update().get(pk=interaction.pk)
        if fresh.state in (State.ACTIVE, State.ON_HOLD):
            interaction_transition(interaction=fresh, to=State.WRAP_UP, locked=True)


def outbound_customer_status(*, interaction: Interaction, fields: dict) -> str | None:
    """The customer's leg: ringing, answered, then its end gives the call's outcome."""
    from apps.connectors.voice import _once, _voice, _voice_update

    status = fields.get("CallStatus", "")
    if status == "ringing":
        _once(
            interaction,
            "call.ringing",
            call=fields.get("CallSid", ""),
            to=_voice(interaction).get("to", ""),
        )
        return None
    if status in ("in-progress", "answered"):
        _once(interaction, "call.answered", call=fields.get("CallSid", ""), by="customer")
        _voice_update(interaction, customer_answered=_now_iso())
        return None
    if status not in twilio_voice.ENDED_STATUSES:
        return "ignored"
    answered = bool(_voice(interaction).get("customer_answered"))
    outcome = "answered" if answered else OUTCOMES.get(status, "failed")
    _outbound_end(
        interaction=interaction,
        outcome=outcome,
        status=status,
        duration=fields.get("CallDuration"),
    )
    return None


def _seconds(start, end) -> int:
    return max(0, round((end - start).total_seconds())) if start and end else 0


def _outbound_end(
    *,
    interaction: Interaction,
    outcome: str,
    status: str = "",
    duration=None,
    reason: str = "",
) -> None:
    """The call is over: outcome and durations on ``call.ended``, the agent's desk to wrap-up
    (their leg hangs up after commit), a callback's attempt recorded."""
    from apps.connectors.voice import _hold_seconds, _int, voice_changed
    from apps.queues.models import Callback
    from apps.queues.services import callback_attempt_record

    now = timezone.now()
    with transaction.atomic():
        fresh = Interaction.objects.select_for_update().get(pk=interaction.pk)
        voice = dict((fresh.data or {}).get("voice") or {})
        if voice.get("ended"):
            return
        voice.update(ended=True, outcome=outcome)
        fresh.data = {**fresh.data, "voice": voice}
        fresh.save(update_fields=["data", "updated_at"])
        if fresh.state in (State.ACTIVE, State.ON_HOLD):
            interaction_transition(interaction=fresh, to=State.WRAP_UP, locked=True)
        events = {
            e.type: e.at
            for e in Event.objects.filter(
                interaction=fresh, type__in=["call.ringing", "call.answered"]
            ).order_by("-at")
        }
        answered_at = events.get("call.answered") if outcome == "answered" else None
        hold = _hold_seconds(fresh, now) if answered_at else 0
        event_record(
            organization=fresh.organization,
            type="call.ended",
            interaction=fresh,
            data={
                "status": status or outcome,
                "outcome": outcome,
                "direction": "outbound",
                "duration": _int(duration),
                "ring_seconds": _seconds(events.get("call.ringing"), answered_at or now),
                "wait_seconds": 0,
                "ivr_seconds": 0,
                "talk_seconds": max(0, _seconds(answered_at, now) - hold),
                "hold_seconds": hold,
                **({"reason": reason} if reason else {}),
            },
            at=now,
        )
        callback_id = (fresh.data or {}).get("callback")
        callback = (
            Callback.objects.filter(organization_id=fresh.organization_id, pk=callback_id).first()
            if callback_id
            else None
        )
        if callback is not None and callback.interaction_id == fresh.pk:
            callback_attempt_record(callback=callback, outcome=outcome, now=now)
        interaction.data = fresh.data
    voice_changed(interaction)


# --- The browser softphone ----------------------------------------------------------------------


def softphone_account(*, organization) -> ChannelAccount | None:
    """The number whose provider account the softphone registers with."""
    return caller_id_for(organization=organization)


def softphone_token(*, agent, ttl: int = TOKEN_TTL_SECONDS) -> dict:
    """What the desk's softphone needs to register: ``{"mode": "twilio", "token": <JWT>,
    "identity", "ttl"}`` (an access token with a Voice grant: incoming calls to
    ``client:<username>``, outgoing calls through the number's TwiML App), or ``{"mode":
    "simulated", "identity"}`` for a simulated number (the desk talks to the simulator).
    Refused for someone who is not an agent (a supervisor gets one that only receives: the
    legs of live monitoring), or when the number lacks the credentials."""
    from twilio.jwt.access_token import AccessToken
    from twilio.jwt.access_token.grants import VoiceGrant

    from apps.accounts.models import Role

    organization = agent.organization
    if organization is None:
        raise ValidationError(_("Only the organization's agents may place calls."), code="agent")
    places_calls = agent.has_role(Role.AGENT)
    # A supervisor who is not an agent still answers the legs of live monitoring here: their
    # token only receives (and the TwiML App webhook checks the agent again anyway).
    _agent_check(
        agent,
        organization,
        require_agent=not agent.has_perm("interactions.supervise_interaction"),
    )
    account = softphone_account(organization=organization)
    if account is None:
        raise ValidationError(_("The organization has no voice number."), code="no_number")
    identity = agent.username
    if account.config.get("simulated"):
        return {"mode": "simulated", "identity": identity}
    config = account.config
    key_sid, secret = config.get("api_key_sid", ""), account.secret("api_key_secret")
    app_sid, account_sid = config.get("twiml_app_sid", ""), config.get("account_sid", "")
    if not (key_sid and secret and app_sid and account_sid):
        raise ValidationError(
            _(
                "The browser softphone is not set up: the voice number needs an account SID, "
                "an API key (SID and secret) and a TwiML App SID."
            ),
            code="not_configured",
        )
    token = AccessToken(account_sid, key_sid, secret, identity=identity, ttl=ttl)
    outgoing = {"outgoing_application_sid": app_sid} if places_calls else {}
    token.add_grant(VoiceGrant(incoming_allow=True, **outgoing))
    return {"mode": "twilio", "identity": identity, "token": token.to_jwt(), "ttl": ttl}


def softphone_call(*, account: ChannelAccount, fields: dict, base: str) -> str:
    """The TwiML App's voice webhook: the agent's browser softphone dials ``To``
    (``device.connect({params: {To}})``). That call is the agent's leg: it joins the
    conference of a new outbound interaction, and the customer is dialled into it. Refused
    calls hear why."""
    from django.contrib.auth import get_user_model

    from apps.connectors.voice import call_interaction, conference_name
    from apps.contacts.services import IdentityBlocked, contact_resolve
    from apps.queues.models import Queue

    sid = fields.get("CallSid", "")[:64]
    organization = account.organization
    existing = call_interaction(account=account, call_sid=sid)
    if existing is None:
        identity = fields.get("From", "").removeprefix("client:")
        agent = (
            get_user_model()
            .objects.filter(organization=organization, username=identity, is_active=True)
            .first()
        )
        queue = None
        if str(fields.get("queue") or "").isdigit():
            queue = Queue.objects.filter(organization=organization, pk=fields["queue"]).first()
        try:
            contact, _identity, _created = contact_resolve(
                organization=organization, kind="phone", value=fields.get("To", "")[:40]
            )
            existing = call_place(
                agent=agent,
                contact=contact,
                number=fields.get("To", "")[:40],
                queue=queue,
                base=base,
                agent_call_sid=sid,
            )
        except IdentityBlocked:
            return _refuse(_("This number is blocked."))
        except ValidationError as exc:
            return _refuse(" ".join(exc.messages))
    response = VoiceResponse()
    dial = Dial()
    dial.conference(
        conference_name(existing),
        start_conference_on_enter=True,
        end_conference_on_exit=False,
        beep=False,
    )
    response.append(dial)
    return str(response)


def _refuse(text: str) -> str:
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return str(response)
