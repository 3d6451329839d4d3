"""Phone calls: the IVR, the queue's waiting loop, voicemail, callbacks and the agent's legs.

A call is an inbound voice ``Interaction`` whose ``provider_ref`` is the provider's CallSid
(unique: the same webhook twice stores one interaction). Its telephony state lives in
``interaction.data["voice"]``: ``call`` (the caller's CallSid), ``account``, ``base`` (where the
provider reached us, for callbacks), ``legs`` (agent id → the CallSid of their leg),
``in_conference``, ``held``, ``ended``, ``outcome``.

The webhooks answer TwiML at once (``call_incoming``, ``call_gather``, ``call_wait``,
``call_recorded``); status, recording and transcription callbacks are stored and handled in a
task (``call_status_handle``, ``voicemail_handle``). Once an agent accepts, the caller and the
agent meet in a conference named after the interaction: ``voice_sync`` (a task run after every
change of a voice interaction or of its participants) dials, holds and hangs up legs so they
follow the interaction: accepted → the agent's leg (with a whisper) joins; on hold or consulting
→ the caller is held; transferred → the previous agent's leg hangs up; wrap-up → all end.

The call log is events: ``call.ringing``, ``call.answered`` (the IVR picked up),
``call.connected`` (an agent's leg dialled), ``call.agent_ringing``/``call.agent_answered``/
``call.agent_ended``, ``call.hold``/``call.resumed``, ``call.ended`` (outcome and durations:
ivr, wait, talk, hold) and ``voicemail.recorded``/``voicemail.transcribed``; ``call_log`` adds the
wrap-up time once the interaction is closed, and the call's recordings.

Call recordings (``apps.connectors.recording``): a number with ``config["record_from_answer"]``
announces the consent and starts ``<Start><Recording>`` before its flow; a queue that records
has the consent said just before the caller joins the conference, and ``voice_sync`` starts the
recording there. Every flow step pauses the recording when it asks for something sensitive and
resumes it otherwise (``_next``), whatever path the flow took.
"""

import logging
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from twilio.base.exceptions import TwilioRestException
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from apps.connectors.handoff import (
    handoff_agent,
    handoff_callback,
    handoff_enqueue,
    handoff_queue,
)
from apps.connectors.models import ChannelAccount
from apps.connectors.providers import twilio_voice
from apps.flows.renderers import _say_prompts, render_voice, voice_language
from apps.interactions.models import Channel, Direction, Event, Interaction, Participant, State
from apps.interactions.services import event_record, interaction_transition

logger = logging.getLogger(__name__)

DEFAULT_ANNOUNCE_SECONDS = 30
VOICEMAIL_MAX_SECONDS = 120
LIVE_STATES = (State.ACTIVE, State.ON_HOLD)
WAITING_STATES = (State.QUEUED, State.OFFERED)


# --- Small helpers -----------------------------------------------------------------------------


def call_interaction(*, account: ChannelAccount, call_sid: str) -> Interaction | None:
    """The call ``call_sid`` on ``account``'s organization (None: not one of ours)."""
    if not call_sid:
        return None
    return (
        Interaction.objects.select_related("organization", "contact", "queue", "channel_account")
        .filter(
            organization_id=account.organization_id,
            channel=Channel.VOICE,
            provider_ref=call_sid,
        )
        .first()
    )


def conference_name(interaction: Interaction) -> str:
    return f"cc-{interaction.organization_id}-{interaction.pk}"


def _url(account: ChannelAccount, name: str, call_sid: str, **params) -> str:
    query = "&".join(f"{k}={quote(str(v))}" for k, v in {"call": call_sid, **params}.items())
    return reverse(name, kwargs={"key": account.key}) + "?" + query


def _hold_music(account: ChannelAccount) -> str:
    return account.config.get("hold_music") or settings.VOICE_HOLD_MUSIC_URL


def _language(interaction: Interaction) -> str:
    return interaction.language or interaction.organization.language or "en"


def _say(response, interaction: Interaction, text: str) -> None:
    response.say(text, language=voice_language(_language(interaction)))


def _voice(interaction: Interaction) -> dict:
    return dict((interaction.data or {}).get("voice") or {})


@transaction.atomic
def _voice_update(interaction: Interaction, **changes) -> dict:
    """Merge ``changes`` into the call's state (row locked: webhooks and tasks interleave)."""
    fresh = Interaction.objects.select_for_update().get(pk=interaction.pk)
    voice = {**((fresh.data or {}).get("voice") or {}), **changes}
    fresh.data = {**(fresh.data or {}), "voice": voice}
    fresh.save(update_fields=["data", "updated_at"])
    interaction.data = fresh.data
    return voice


def _once(interaction: Interaction, type: str, **data) -> None:
    """Record a call-log event unless the call already has one of that type."""
    if not Event.objects.filter(interaction=interaction, type=type).exists():
        event_record(
            organization=interaction.organization, type=type, interaction=interaction, data=data
        )


def _hangup(interaction: Interaction, text: str) -> str:
    response = VoiceResponse()
    with translation.override(_language(interaction)):
        _say(response, interaction, str(text))
    response.hangup()
    return str(response)


def _customer_conference(account: ChannelAccount, interaction: Interaction) -> str:
    response = VoiceResponse()
    consent = _consent_once(interaction)
    if consent:  # before the bridge, and so before the queue's recording starts
        _say(response, interaction, consent)
    dial = Dial()
    dial.conference(
        conference_name(interaction),
        start_conference_on_enter=False,
        end_conference_on_exit=True,
        wait_url=_hold_music(account),
        wait_method="GET",
        beep=False,
    )
    response.append(dial)
    return str(response)


def _consent_once(interaction: Interaction) -> str:
    """The recording consent announcement, when the caller's queue records and they have not
    heard it yet (once per call)."""
    from apps.connectors.recording import consent_text, queue_records

    voice = _voice(interaction)
    if voice.get("consent_played") or voice.get("auto_recorded"):
        return ""
    if not queue_records(queue=interaction.queue):
        return ""
    _voice_update(interaction, consent_played=True)
    return consent_text(
        organization=interaction.organization,
        language=_language(interaction),
        queue=interaction.queue,
    )


def _record_from_answer(account: ChannelAccount, interaction: Interaction) -> str:
    """A number set to record from the answer (``config["record_from_answer"]``): the consent
    announcement, then ``<Start><Recording>`` (the IVR is recorded too, PCI pauses apply)."""
    from apps.connectors.recording import START_STATUS_EVENTS, consent_text, status_callback_url

    response = VoiceResponse()
    _say(
        response,
        interaction,
        consent_text(organization=interaction.organization, language=_language(interaction)),
    )
    start = response.start()
    start.recording(
        recording_status_callback=status_callback_url(account=account, interaction=interaction),
        recording_status_callback_event=" ".join(START_STATUS_EVENTS),
        channels="dual",
    )
    response.redirect(
        _url(account, "connectors-twilio-voice-gather", interaction.provider_ref), method="POST"
    )
    _voice_update(interaction, record_from_answer=True, consent_played=True)
    return str(response)


def _record(account: ChannelAccount, interaction: Interaction, prompt: str = "") -> str:
    response = VoiceResponse()
    with translation.override(_language(interaction)):
        if prompt:
            _say(response, interaction, prompt)
        sid = interaction.provider_ref
        response.record(
            action=_url(account, "connectors-twilio-voice-recording", sid),
            method="POST",
            max_length=int(account.config.get("voicemail_seconds") or VOICEMAIL_MAX_SECONDS),
            play_beep=True,
            transcribe=True,
            transcribe_callback=_url(account, "connectors-twilio-voice-transcription", sid),
        )
        _say(response, interaction, _("We did not get your message. Goodbye."))
    response.hangup()
    return str(response)


# --- Incoming call and the IVR -----------------------------------------------------------------


def call_incoming(*, account: ChannelAccount, fields: dict, base: str) -> str:
    """A call rings on ``account``'s number: the caller's contact, an inbound voice interaction
    (once per CallSid), then the number's flow (``config["flow"]``) or its queue."""
    from apps.contacts.services import IdentityBlocked, contact_resolve
    from apps.flows.models import Flow
    from apps.interactions.services import interaction_create

    sid = fields.get("CallSid", "")[:64]
    existing = call_interaction(account=account, call_sid=sid)
    if existing is not None:  # the provider asked twice: carry on where the call is
        return call_wait(account=account, call_sid=sid)
    organization = account.organization
    caller = fields.get("From", "")[:40]
    try:
        contact, identity, _created = contact_resolve(
            organization=organization, kind="phone", value=caller
        )
    except IdentityBlocked:
        response = VoiceResponse()
        response.reject()
        return str(response)
    except ValidationError:  # no usable number (anonymous, restricted)
        contact, identity = _anonymous_contact(organization), None
    flow = None
    if account.config.get("flow"):
        flow = Flow.objects.filter(organization=organization, name=account.config["flow"]).first()
    try:
        with transaction.atomic():
            interaction = interaction_create(
                organization=organization,
                channel=Channel.VOICE,
                direction=Direction.INBOUND,
                contact=contact,
                identity=identity,
                queue=account.queue,
                flow=flow,
                provider_ref=sid,
                data={
                    "voice": {
                        "call": sid,
                        "account": account.pk,
                        "base": base,
                        "from": caller,
                        "to": fields.get("To", "")[:40],
                        "legs": {},
                    }
                },
            )
            interaction.channel_account = account
            interaction.save(update_fields=["channel_account"])
            data = {"call": sid, "from": caller, "to": fields.get("To", "")[:40]}
            event_record(
                organization=organization,
                type="call.ringing",
                interaction=interaction,
                data=data,
            )
            # Our answer is the TwiML below: the IVR picks the call up now.
            event_record(
                organization=organization,
                type="call.answered",
                interaction=interaction,
                data={"call": sid, "by": "ivr"},
            )
    except ValidationError:  # the same CallSid at the same instant: the other one won
        return call_wait(account=account, call_sid=sid)
    if account.config.get("record_from_answer"):
        # The recording starts first; the flow's first step comes with the next webhook,
        # when the provider knows the recording (a sensitive first step can pause it).
        return _record_from_answer(account, interaction)
    return _next(account, interaction, None)


def _anonymous_contact(organization):
    from apps.contacts.models import Contact

    return Contact.objects.get_or_create(
        organization=organization,
        first_name="Anonymous caller",
        last_name="",
        defaults={"language": organization.language},
    )[0]


def call_gather(*, account: ChannelAccount, call_sid: str, fields: dict) -> str:
    """The caller's keys or words for the IVR's question: the flow's next step."""
    interaction = call_interaction(account=account, call_sid=call_sid)
    if interaction is None:
        return _unknown_call()
    if interaction.state != State.NEW:
        return call_wait(account=account, call_sid=call_sid)
    answer = (fields.get("Digits") or fields.get("SpeechResult") or "").strip()[:100]
    return _next(account, interaction, answer)


def _unknown_call() -> str:
    response = VoiceResponse()
    response.say(_("Sorry, this call cannot be taken now. Goodbye."))
    response.hangup()
    return str(response)


def _next(account: ChannelAccount, interaction: Interaction, answer: str | None) -> str:
    """Run the flow one step; TwiML for its question, or the decision carried out.

    Whatever happens in the step (an answer, a lookup that fails or times out, a failure
    branch, an error), the call's recording is paused when the step now asks for something
    sensitive (a card number) and resumed otherwise, before the TwiML goes back."""
    step = None
    try:
        step, twiml = _step(account, interaction, answer)
        return twiml
    finally:
        from apps.connectors.recording import recording_pci_guard

        question = getattr(step, "question", None) or {}
        recording_pci_guard(interaction=interaction, sensitive=bool(question.get("sensitive")))


def _step(account: ChannelAccount, interaction: Interaction, answer: str | None):
    from apps.flows.services import interaction_flow_step

    step = None
    if interaction.flow_id is None:
        return step, _carry_out(account, interaction, {"action": "enqueue"}, None)
    try:
        step = interaction_flow_step(interaction=interaction, input=answer)
    except ValueError:  # no published version: straight to the number's queue
        logger.warning("voice.flow_unavailable", extra={"interaction": interaction.pk})
        return step, _carry_out(account, interaction, {"action": "enqueue"}, None)
    rendered = render_voice(
        step, action_url=_url(account, "connectors-twilio-voice-gather", interaction.provider_ref)
    )
    if isinstance(rendered, str):
        if step.is_final:
            _voice_update(interaction, outcome="ivr")
        return step, rendered
    return step, _carry_out(account, interaction, rendered, step)


def _carry_out(account: ChannelAccount, interaction: Interaction, decision: dict, step) -> str:
    """What a flow's ending means on the phone: wait in a queue, leave a message, be called
    back, be put through to a number or an agent."""
    action = decision.get("action")
    response = VoiceResponse()
    with translation.override(_language(interaction)):
        if step is not None:
            _say_prompts(response, step)
        if action == "voicemail":
            queue = handoff_queue(account=account, interaction=interaction, decision=decision)
            with transaction.atomic():
                interaction_transition(interaction=interaction, to=State.VOICEMAIL)
                _voice_update(interaction, voicemail_queue=getattr(queue, "pk", None))
            prompt = "" if step is not None and step.prompts else _("Please leave a message.")
            return _join(response, _record(account, interaction, prompt))
        if action == "callback":
            number = _voice(interaction).get("from", "")
            try:
                handoff_callback(
                    account=account, interaction=interaction, decision=decision, number=number
                )
            except ValidationError:
                _say(response, interaction, _("Sorry, we cannot call this number back."))
            _voice_update(interaction, outcome="callback")
            response.hangup()
            return str(response)
        if action == "transfer" and decision.get("number"):
            event_record(
                organization=interaction.organization,
                type="call.transferred",
                interaction=interaction,
                data={"number": decision["number"]},
            )
            _voice_update(interaction, outcome="transferred")
            response.dial(decision["number"], caller_id=account.address or None)
            return str(response)
        if action not in ("enqueue", "transfer"):
            response.hangup()
            return str(response)
        if action == "transfer" and decision.get("agent") and account.queue is not None:
            from apps.connectors.followme import follow_me_chain, follow_me_start

            agent = handoff_agent(interaction=interaction, username=decision["agent"])
            if agent is not None and follow_me_chain(agent):
                # The agent's follow-me chain: desk, mobile, then voicemail or a colleague.
                return _join(
                    response,
                    follow_me_start(account=account, interaction=interaction, agent=agent),
                )
        with transaction.atomic():
            queue = handoff_enqueue(account=account, interaction=interaction, decision=decision)
        if queue is None:
            _say(response, interaction, _("Sorry, nobody can take your call now. Goodbye."))
            response.hangup()
            return str(response)
        interaction.refresh_from_db()
        after = _after_enqueue(account, interaction)
        if after is not None:
            return _join(response, after)
        _say(response, interaction, _("Please hold, an agent will be with you shortly."))
        response.redirect(_url(account, "connectors-twilio-voice-wait", interaction.provider_ref))
        return str(response)


def _join(first: VoiceResponse, twiml: str) -> str:
    """``first``'s verbs then those of ``twiml`` (a document of ours) in one response."""
    head = str(first)
    if head.endswith("<Response />"):
        return twiml
    body = twiml.split("<Response>", 1)[-1]
    return head.replace("</Response>", "") + body


def _after_enqueue(account, interaction) -> str | None:
    """A closed queue sent the caller to voicemail or booked a callback: say so."""
    if interaction.state == State.VOICEMAIL:
        return _record(
            account,
            interaction,
            _("We are closed. Please leave a message after the tone and we will call you back."),
        )
    if interaction.state == State.CALLBACK_SCHEDULED:
        _voice_update(interaction, outcome="callback")
        return _hangup(
            interaction, _("We are closed; we will call you back when we open. Goodbye.")
        )
    return None


# --- The waiting loop --------------------------------------------------------------------------


def call_wait(*, account: ChannelAccount, call_sid: str, digits: str = "") -> str:
    """Where a queued caller waits: their position and estimated wait, hold music, and "press 1
    for voicemail, 2 to be called back keeping your place"; then again (``<Redirect>``). Once an
    agent accepts, the caller joins the conference."""
    from apps.connectors.recording import recording_pci_guard

    interaction = call_interaction(account=account, call_sid=call_sid)
    if interaction is None:
        return _unknown_call()
    voice = _voice(interaction)
    if voice.get("ended"):
        return _hangup(interaction, "")
    recording_pci_guard(interaction=interaction, sensitive=False)  # never left paused
    state = interaction.state
    with translation.override(_language(interaction)):
        if state in LIVE_STATES or (state in WAITING_STATES and voice.get("in_conference")):
            if not voice.get("in_conference"):
                _voice_update(interaction, in_conference=True)
            return _customer_conference(account, interaction)
        if state == State.QUEUED and digits == "1":
            with transaction.atomic():
                interaction_transition(interaction=interaction, to=State.VOICEMAIL)
                _voice_update(interaction, voicemail_queue=interaction.queue_id)
            return _record(account, interaction, _("Please leave a message after the tone."))
        if state == State.QUEUED and digits == "2":
            return _callback_keep_place(interaction)
        if state in WAITING_STATES:
            return _waiting(account, interaction)
        if state == State.VOICEMAIL and not voice.get("recorded"):
            return _record(account, interaction, _("Please leave a message after the tone."))
        if state == State.CALLBACK_SCHEDULED:
            return _hangup(interaction, _("We will call you back. Goodbye."))
        if state == State.NEW:  # the flow is still running (a repeated incoming webhook)
            response = VoiceResponse()
            response.pause(length=1)
            response.redirect(_url(account, "connectors-twilio-voice-wait", call_sid))
            return str(response)
        return _hangup(interaction, _("Goodbye."))


def _waiting(account: ChannelAccount, interaction: Interaction) -> str:
    from apps.queues.selectors import estimated_wait_seconds, queue_position

    response = VoiceResponse()
    url = _url(account, "connectors-twilio-voice-wait", interaction.provider_ref)
    gather = Gather(
        input="dtmf",
        num_digits=1,
        action=url,
        method="POST",
        timeout=int(account.config.get("announce_seconds") or DEFAULT_ANNOUNCE_SECONDS),
    )
    language = voice_language(_language(interaction))
    position = queue_position(interaction=interaction)
    if position is not None:
        gather.say(
            _("You are number %(position)s in line.") % {"position": position}, language=language
        )
        wait = estimated_wait_seconds(interaction=interaction)
        if wait is not None:
            minutes = max(1, round(wait / 60))
            gather.say(
                _("Your estimated wait is about %(minutes)s minutes.") % {"minutes": minutes},
                language=language,
            )
    gather.say(
        _("Press 1 to leave a message, or 2 to be called back: you keep your place in line."),
        language=language,
    )
    gather.play(_hold_music(account))
    response.append(gather)
    response.redirect(url, method="POST")
    return str(response)


def _callback_keep_place(interaction: Interaction) -> str:
    """Press 2 in the queue: a callback now, keeping the caller's place in line."""
    from apps.queues.services import callback_schedule

    number = _voice(interaction).get("from", "")
    try:
        callback_schedule(
            queue=interaction.queue,
            contact=interaction.contact,
            number=number,
            scheduled_for=timezone.now(),
            origin=interaction,
            keep_place=True,
        )
    except ValidationError:
        return _hangup(interaction, _("Sorry, we cannot call this number back. Goodbye."))
    _voice_update(interaction, outcome="callback")
    return _hangup(
        interaction,
        _("Thank you. We will call you back and you keep your place in line. Goodbye."),
    )


# --- Voicemail ---------------------------------------------------------------------------------


def call_recorded(*, account: ChannelAccount, call_sid: str) -> str:
    """The answer to ``<Record>``'s action (the recording itself comes with it, stored)."""
    interaction = call_interaction(account=account, call_sid=call_sid)
    if interaction is None:
        return _unknown_call()
    return _hangup(interaction, _("Thank you for your message. We will call you back. Goodbye."))


def voicemail_handle(*, account: ChannelAccount, kind: str, fields: dict) -> str | None:
    """A voicemail's recording (a message, then the interaction goes to its queue to be called
    back) or its transcript (another message)."""
    from apps.connectors.recording import recording_of_voicemail
    from apps.interactions.models import Message
    from apps.interactions.services import message_add
    from apps.queues.models import Queue
    from apps.queues.services import interaction_enqueue

    interaction = call_interaction(account=account, call_sid=fields.get("_call", ""))
    if interaction is None:
        return "ignored"
    if kind == "transcription":
        text = (fields.get("TranscriptionText") or "").strip()
        if not text:
            return "ignored"
        with transaction.atomic():
            recording_of_voicemail(interaction=interaction, fields=fields)
            message_add(
                interaction=interaction,
                direction=Direction.INBOUND,
                author_kind=Message.Author.CONTACT,
                body=_("Voicemail transcript: %(text)s") % {"text": text},
                provider_id=fields.get("TranscriptionSid", ""),
            )
            _voice_update(interaction, transcript=text)
            event_record(
                organization=interaction.organization,
                type="voicemail.transcribed",
                interaction=interaction,
                data={"recording": fields.get("RecordingSid", "")},
            )
            _notify_later(interaction)
        return None
    url = (fields.get("RecordingUrl") or "")[:500]
    duration = _int(fields.get("RecordingDuration"))
    with transaction.atomic():
        recording_of_voicemail(interaction=interaction, fields=fields)
        message_add(
            interaction=interaction,
            direction=Direction.INBOUND,
            author_kind=Message.Author.CONTACT,
            body=_("Voicemail (%(seconds)s s): %(url)s") % {"seconds": duration, "url": url},
            provider_id=fields.get("RecordingSid", ""),
        )
        voice = _voice_update(
            interaction,
            recorded=True,
            recording=url,
            recording_sid=fields.get("RecordingSid", "")[:64],
            seconds=duration,
            outcome="voicemail",
        )
        event_record(
            organization=interaction.organization,
            type="voicemail.recorded",
            interaction=interaction,
            data={"recording": fields.get("RecordingSid", ""), "url": url, "seconds": duration},
        )
        queue = (
            Queue.objects.filter(
                organization_id=interaction.organization_id, pk=voice.get("voicemail_queue")
            ).first()
            or interaction.queue
            or account.queue
        )
        interaction.refresh_from_db()
        if voice.get("voicemail_agent") and interaction.preferred_agent_id is None:
            # Left for one agent (their follow-me chain): it waits for them first.
            interaction.preferred_agent_id = voice["voicemail_agent"]
            interaction.save(update_fields=["preferred_agent"])
        if queue is not None and interaction.state in (State.VOICEMAIL, State.NEW):
            # Routed like any work: an agent takes it and calls back.
            interaction_enqueue(interaction=interaction, queue=queue)
    return None


def _notify_later(interaction: Interaction) -> None:
    """The voicemail's people hear of it (after commit, once: ``voicemail_notify``)."""
    from apps.connectors.tasks import voicemail_notify_task

    pk = interaction.pk
    transaction.on_commit(lambda: voicemail_notify_task.delay(pk), robust=True)


def _int(value) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


# --- Status callbacks and the call log ----------------------------------------------------------


def call_status_handle(*, account: ChannelAccount, fields: dict) -> str | None:
    """A call's status (the caller's or an agent's leg): call-log events; the caller hanging
    up ends the interaction as the desk expects (abandoned while waiting, wrap-up if talking)."""
    from apps.queues.services import _cancel_pending_offers

    interaction = call_interaction(account=account, call_sid=fields.get("_call", ""))
    if interaction is None:
        return "ignored"
    status = fields.get("CallStatus", "")
    if fields.get("_leg") == "followme":
        from apps.connectors.followme import follow_me_leg_status

        follow_me_leg_status(interaction=interaction, fields=fields)
    if fields.get("_leg") == "monitor":
        from apps.connectors.monitor import monitor_leg_status

        monitor_leg_status(interaction=interaction, fields=fields)
        return None
    outbound = _voice(interaction).get("outbound")
    if outbound and fields.get("_leg") not in ("agent", "followme"):
        from apps.connectors.phone import outbound_customer_status

        return outbound_customer_status(interaction=interaction, fields=fields)
    if fields.get("_leg") in ("agent", "followme"):
        kind = (
            "call.agent_ended"
            if status in twilio_voice.ENDED_STATUSES
            else "call.agent_answered"
            if status in ("in-progress", "answered")
            else "call.agent_ringing"
        )
        event_record(
            organization=interaction.organization,
            type=kind,
            interaction=interaction,
            data={
                "agent": _int(fields.get("_agent")),
                "call": fields.get("CallSid", "")[:64],
                "status": status,
                "duration": _int(fields.get("CallDuration")),
            },
        )
        if outbound:
            from apps.connectors.phone import outbound_agent_status

            outbound_agent_status(interaction=interaction, fields=fields)
        return None
    if status == "ringing":
        _once(interaction, "call.ringing", call=interaction.provider_ref)
        return None
    if status in ("in-progress", "answered"):
        _once(interaction, "call.answered", call=interaction.provider_ref, by="ivr")
        return None
    if status not in twilio_voice.ENDED_STATUSES:
        return "ignored"
    now = timezone.now()
    with transaction.atomic():
        fresh = Interaction.objects.select_for_update().get(pk=interaction.pk)
        voice = dict((fresh.data or {}).get("voice") or {})
        if voice.get("ended"):
            return "ignored"
        state = fresh.state
        outcome = voice.get("outcome") or ""
        if voice.get("recorded"):  # a voicemail, routed to be called back: not abandoned
            outcome = "voicemail"
        elif state in WAITING_STATES:
            _cancel_pending_offers(fresh, now)
            interaction_transition(interaction=fresh, to=State.ABANDONED, locked=True)
            outcome = "abandoned"
            if fresh.queue_id:
                from apps.queues.services import publish_queue_ids

                # One caller less in line: the supervisors' pages and the wallboard see it
                # now, not at the next tick.
                publish_queue_ids({fresh.queue_id})
        elif state in LIVE_STATES:
            interaction_transition(interaction=fresh, to=State.WRAP_UP, locked=True)
            outcome = "answered"
        elif state == State.NEW:
            done = outcome in ("ivr", "transferred")
            interaction_transition(
                interaction=fresh, to=State.CLOSED if done else State.ABANDONED, locked=True
            )
            outcome = outcome or "abandoned"
        elif state == State.VOICEMAIL and not voice.get("recorded"):
            outcome = "abandoned"
        outcome = outcome or ("answered" if fresh.answered_at else state)
        fresh.refresh_from_db()
        voice = {**((fresh.data or {}).get("voice") or {}), "ended": True, "outcome": outcome}
        fresh.data = {**fresh.data, "voice": voice}
        fresh.save(update_fields=["data", "updated_at"])
        event_record(
            organization=fresh.organization,
            type="call.ended",
            interaction=fresh,
            data={
                "status": status,
                "outcome": outcome,
                "duration": _int(fields.get("CallDuration")),
                **_durations(fresh, ended_at=now),
            },
            at=now,
        )
    voice_changed(interaction)
    return None


def _hold_seconds(interaction: Interaction, until) -> int:
    total, since = 0.0, None
    for event in Event.objects.filter(
        interaction=interaction, type__in=["call.hold", "call.resumed"]
    ).order_by("at", "pk"):
        if event.type == "call.hold" and since is None:
            since = event.at
        elif event.type == "call.resumed" and since is not None:
            total += (event.at - since).total_seconds()
            since = None
    if since is not None:
        total += (until - since).total_seconds()
    return round(total)


def _durations(interaction: Interaction, *, ended_at) -> dict:
    """Seconds in the IVR, waiting in line, talking (holds excluded) and on hold."""

    def seconds(start, end) -> int:
        return max(0, round((end - start).total_seconds())) if start and end else 0

    queued, answered = interaction.queued_at, interaction.answered_at
    hold = _hold_seconds(interaction, ended_at) if answered else 0
    return {
        "ivr_seconds": seconds(interaction.created_at, queued or ended_at),
        "wait_seconds": seconds(queued, answered or ended_at) if queued else 0,
        "talk_seconds": max(0, seconds(answered, ended_at) - hold) if answered else 0,
        "hold_seconds": hold,
    }


def call_log(*, interaction: Interaction) -> dict:
    """One call's log from its events: timestamps, durations (wrap-up once closed), outcome."""
    events = {}
    for event in Event.objects.filter(interaction=interaction, type__startswith="call.").order_by(
        "at", "pk"
    ):
        events.setdefault(event.type, event)
    ended = events.get("call.ended")
    log = {
        "direction": interaction.direction,
        "caller": _voice(interaction).get("from", ""),
        "callee": _voice(interaction).get("to", ""),
        "ringing_at": getattr(events.get("call.ringing"), "at", None),
        "answered_at": getattr(events.get("call.answered"), "at", None),
        "connected_at": interaction.answered_at,
        "ended_at": getattr(ended, "at", None),
        "outcome": (ended.data.get("outcome") if ended else "") or "",
        "agent": interaction.assigned_agent_id,
        "disposition": getattr(interaction.disposition, "code", None),
        "comments": interaction.wrap_up_notes,
        "recordings": list(
            interaction.recordings.order_by("started_at", "pk").values_list(
                "provider_sid", flat=True
            )
        ),
    }
    if ended is not None:
        log.update(
            {
                k: ended.data.get(k, 0)
                for k in ("ivr_seconds", "wait_seconds", "talk_seconds", "hold_seconds")
            }
        )
        if "ring_seconds" in ended.data:  # an outbound call: how long the customer's phone rang
            log["ring_seconds"] = ended.data["ring_seconds"]
        closed = interaction.closed_at
        log["wrap_up_seconds"] = (
            max(0, round((closed - ended.at).total_seconds()))
            if closed and interaction.answered_at
            else 0
        )
    return log


# --- The agents' legs ---------------------------------------------------------------------------


def voice_changed(interaction: Interaction) -> None:
    """After this transaction, bring the call's legs in line with the interaction (a task)."""
    if interaction.channel != Channel.VOICE or not interaction.provider_ref:
        return
    from apps.connectors.tasks import voice_sync_task

    pk = interaction.pk
    transaction.on_commit(lambda: voice_sync_task.delay(pk), robust=True)


def agent_destination(agent) -> str:
    """Where an agent's leg rings: a phone number in their profile's extension field, else
    their browser softphone (``client:<username>``)."""
    profile = getattr(agent, "agent_profile", None)
    extension = (getattr(profile, "extension", "") or "").strip()
    if extension.startswith("+") and extension[1:].isdigit():
        return extension
    return f"client:{agent.username}"


def _whisper(interaction: Interaction, mode: str) -> str:
    if mode != "agent":
        return _("A colleague asks you to join a call.")
    tier = interaction.contact.get_tier_display() if interaction.contact_id else ""
    return _("%(queue)s call, %(tier)s customer.") % {
        "queue": interaction.queue.name if interaction.queue_id else _("Direct"),
        "tier": tier,
    }


def _plan(interaction: Interaction) -> dict:
    """Who should be on the call now: agent id → mode ("agent", "consult", "conference")."""
    voice = _voice(interaction)
    if voice.get("ended") or voice.get("recorded") or interaction.state not in LIVE_STATES:
        return {}  # no caller on the line (a voicemail is called back, not joined)
    wanted = {}
    if interaction.assigned_agent_id:
        wanted[interaction.assigned_agent_id] = "agent"
    for participant in interaction.participants.filter(status=Participant.Status.JOINED):
        wanted.setdefault(participant.agent_id, participant.mode)
    return wanted


def voice_sync(*, interaction_id: int) -> dict:
    """Dial, hold and hang up the call's legs so they match the interaction (idempotent).
    Returns what was done. REST calls happen outside any transaction."""
    interaction = (
        Interaction.objects.select_related("organization", "contact", "queue", "channel_account")
        .filter(pk=interaction_id, channel=Channel.VOICE)
        .first()
    )
    done = {"dialled": [], "hung_up": [], "hold": None}
    if interaction is None:
        return done
    voice = _voice(interaction)
    if voice.get("outbound") and not voice.get("call"):  # an agent's call, customer not dialled
        from apps.connectors.phone import outbound_sync

        return outbound_sync(interaction=interaction)
    if not voice.get("call"):
        return done
    account = ChannelAccount.objects.filter(
        organization_id=interaction.organization_id, pk=voice.get("account")
    ).first()
    if account is None:
        return done
    wanted = _plan(interaction)
    with transaction.atomic():  # claim the legs to dial, so two syncs never dial one agent twice
        fresh = Interaction.objects.select_for_update().get(pk=interaction.pk)
        voice = dict((fresh.data or {}).get("voice") or {})
        legs = dict(voice.get("legs") or {})
        to_dial = [a for a in wanted if str(a) not in legs]
        to_end = {a: sid for a, sid in legs.items() if int(a) not in wanted}
        for agent_id in to_dial:
            legs[str(agent_id)] = "pending"
        for agent_id in to_end:
            legs.pop(agent_id)
        voice["legs"] = legs
        fresh.data = {**fresh.data, "voice": voice}
        fresh.save(update_fields=["data"])
    rest = twilio_voice.client(account, base=voice.get("base", ""))
    hang_customer = (
        not voice.get("ended")
        and interaction.state in (State.WRAP_UP, State.CLOSED)
        and voice.get("in_conference")
        and not voice.get("customer_hung_up")
    )
    for agent_id, sid in to_end.items():
        if sid != "pending":
            _rest(lambda sid=sid: rest.calls(sid).update(status="completed"))
            done["hung_up"].append(int(agent_id))
    if hang_customer:
        _rest(lambda: rest.calls(voice["call"]).update(status="completed"))
        _voice_update(interaction, customer_hung_up=True)
    if not wanted:
        return done
    if not voice.get("in_conference"):
        _rest(
            lambda: rest.calls(voice["call"]).update(
                twiml=_customer_conference(account, interaction)
            )
        )
        _voice_update(interaction, in_conference=True)
    from apps.connectors.recording import recording_auto_start, recording_pci_guard

    recording_pci_guard(interaction=interaction, sensitive=False)
    if recording_auto_start(interaction=interaction) is not None:
        done["recording"] = True
    base = voice.get("base") or settings.PUBLIC_BASE_URL
    from django.contrib.auth import get_user_model

    agents = get_user_model().objects.filter(pk__in=to_dial).select_related("agent_profile")
    sids = {}
    for agent in agents:
        response = VoiceResponse()
        with translation.override(_language(interaction)):
            # The whisper: heard by the agent only, before they join the caller.
            _say(response, interaction, _whisper(interaction, wanted[agent.pk]))
        dial = Dial()
        dial.conference(
            conference_name(interaction),
            start_conference_on_enter=True,
            end_conference_on_exit=False,
            beep=False,
        )
        response.append(dial)
        status_url = base + _url(
            account,
            "connectors-twilio-voice-status",
            interaction.provider_ref,
            leg="agent",
            agent=agent.pk,
        )
        call = _rest(
            lambda agent=agent, response=response, status_url=status_url: rest.calls.create(
                to=agent_destination(agent),
                from_=account.address,
                twiml=str(response),
                status_callback=status_url,
                status_callback_event=["initiated", "ringing", "answered", "completed"],
            )
        )
        sids[str(agent.pk)] = getattr(call, "sid", "") or "failed"
        event_record(
            organization=interaction.organization,
            type="call.connected",
            interaction=interaction,
            data={"agent": agent.pk, "call": sids[str(agent.pk)], "mode": wanted[agent.pk]},
        )
        done["dialled"].append(agent.pk)
    hold = interaction.state == State.ON_HOLD or "consult" in wanted.values()
    with transaction.atomic():
        fresh = Interaction.objects.select_for_update().get(pk=interaction.pk)
        voice = dict((fresh.data or {}).get("voice") or {})
        legs = dict(voice.get("legs") or {})
        legs.update(sids)
        voice["legs"] = legs
        held_before = bool(voice.get("held"))
        voice["held"] = hold
        fresh.data = {**fresh.data, "voice": voice}
        fresh.save(update_fields=["data"])
        if hold != held_before:
            event_record(
                organization=interaction.organization,
                type="call.hold" if hold else "call.resumed",
                interaction=interaction,
            )
    if hold != held_before:
        _customer_hold(rest, account, interaction, voice["call"], hold)
        done["hold"] = hold
    return done


def call_mute(*, interaction: Interaction, agent, muted: bool) -> bool:
    """Mute or unmute an agent's own leg in the call's conference, from the desk: the same
    for an agent on a phone number as in the browser softphone. Records ``call.muted`` or
    ``call.unmuted``; raises ValidationError when the agent has no leg on this call or the
    provider refuses (nothing is recorded then)."""
    voice = _voice(interaction)
    leg = (voice.get("legs") or {}).get(str(agent.pk), "")
    if interaction.state not in (State.ACTIVE, State.ON_HOLD) or leg in ("", "pending", "failed"):
        raise ValidationError(_("You are not on this call."), code="no_leg")
    account = ChannelAccount.objects.filter(
        organization_id=interaction.organization_id, pk=voice.get("account")
    ).first()
    if account is None:
        raise ValidationError(_("This call's number is gone."), code="no_number")
    rest = twilio_voice.client(account, base=voice.get("base", ""))
    try:
        conferences = rest.conferences.list(
            friendly_name=conference_name(interaction), status="in-progress", limit=1
        )
        if not conferences:
            raise ValidationError(_("This call is not live."), code="not_live")
        rest.conferences(conferences[0].sid).participants(leg).update(muted=muted)
    except (TwilioRestException, OSError) as exc:
        logger.warning(
            "voice.mute_failed", extra={"interaction": interaction.pk, "error": str(exc)}
        )
        raise ValidationError(
            _("The call could not be changed; try again."), code="provider"
        ) from exc
    with transaction.atomic():
        fresh = Interaction.objects.select_for_update().get(pk=interaction.pk)
        state = dict((fresh.data or {}).get("voice") or {})
        others = [a for a in state.get("muted") or [] if a != agent.pk]
        state["muted"] = [*others, agent.pk] if muted else others
        fresh.data = {**(fresh.data or {}), "voice": state}
        fresh.save(update_fields=["data", "updated_at"])
        interaction.data = fresh.data
        event_record(
            organization=interaction.organization,
            type="call.muted" if muted else "call.unmuted",
            interaction=interaction,
            actor=agent,
            data={"agent": agent.pk, "call": leg},
        )
    return muted


def _customer_hold(rest, account, interaction, call_sid: str, hold: bool) -> None:
    """The caller's leg of the conference on hold (with the hold music) or back."""

    def update():
        conferences = rest.conferences.list(
            friendly_name=conference_name(interaction), status="in-progress", limit=1
        )
        if conferences:
            options = {"hold": hold}
            if hold:
                options.update(hold_url=_hold_music(account), hold_method="GET")
            rest.conferences(conferences[0].sid).participants(call_sid).update(**options)

    _rest(update)


def _rest(action):
    """One REST call to the provider; a failure is logged, not raised (the next change, or the
    waiting loop, tries again)."""
    try:
        return action()
    except TwilioRestException as exc:
        logger.warning("voice.rest_failed", extra={"status": exc.status, "error": exc.msg})
    except Exception as exc:  # the network
        logger.warning("voice.rest_failed", extra={"error": f"{type(exc).__name__}: {exc}"})
    return None
