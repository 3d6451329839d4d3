"""Follow-me: a call for one agent rings where they are, in turn.

An agent's chain (``AgentProfile.follow_me``) is a list of steps: ``desk`` (an offer on their
desk, for ``timeout`` seconds), ``mobile`` (a leg dialled to their phone through the provider's
REST API, ringing ``timeout`` seconds: Twilio reports ``no-answer`` after that), and last
``voicemail`` (a message for them) or ``agent`` (the call goes on to a colleague's chain).
``follow_me_validate`` checks a chain before it is saved: E.164 numbers, timeouts of 5–120 s,
the last step voicemail or a colleague of the same organization, no loop between agents.

A call enters the chain from the IVR (a flow's ``transfer`` to an agent who has a chain): the
caller waits in the call's conference (hold music) while the steps run, each in a task or a
webhook, never blocking a request. Its state is ``interaction.data["voice"]["follow_me"]``:
``agent``, ``steps``, ``step`` (the index ringing now), ``leg`` (the mobile leg's CallSid),
``visited`` (agents already tried), ``done``. Every step records ``call.follow_me`` (step, kind,
agent, result: ringing, answered, no-answer, busy, declined, unavailable, voicemail, next-agent,
caller-hung-up). The caller hanging up stops the chain (a ringing mobile leg is cancelled).
"""

import logging
import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _
from twilio.twiml.voice_response import Dial, VoiceResponse

from apps.connectors.models import ChannelAccount
from apps.interactions.models import Interaction, State
from apps.interactions.services import event_record, interaction_transition

logger = logging.getLogger(__name__)

STEP_KINDS = ("desk", "mobile", "voicemail", "agent")
MIN_TIMEOUT, MAX_TIMEOUT = 5, 120
MAX_STEPS = 6
# A colleague without a chain of their own: their desk, then their voicemail.
DEFAULT_CHAIN = [{"kind": "desk", "timeout": 30}, {"kind": "voicemail"}]
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
UNANSWERED = {"no-answer", "busy", "failed", "canceled"}


# --- The chain, as an agent or an administrator edits it ----------------------------------------


def _profile(user):
    return getattr(user, "agent_profile", None)


def follow_me_chain(agent) -> list[dict]:
    """The agent's chain, or [] (calls for them are then routed as before)."""
    profile = _profile(agent)
    return list(getattr(profile, "follow_me", None) or [])


def follow_me_validate(*, agent, steps, mobile: str | None = None) -> list[dict]:
    """``steps`` cleaned (only the keys each kind uses, timeouts as integers), or a
    ``ValidationError`` saying what is wrong. ``mobile``: the agent's number as it will be
    saved (a mobile step without its own number rings it)."""
    from django.contrib.auth import get_user_model

    if steps in (None, "", []):
        return []
    if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
        raise ValidationError(_("Follow-me is a list of steps."))
    if len(steps) > MAX_STEPS:
        raise ValidationError(_("Follow-me has at most %(count)s steps.") % {"count": MAX_STEPS})
    if mobile is None:
        mobile = getattr(_profile(agent), "mobile", "") or ""
    cleaned = []
    for index, step in enumerate(steps, start=1):
        kind = step.get("kind")
        last = index == len(steps)
        if kind not in STEP_KINDS:
            raise ValidationError(
                _("Step %(index)s: choose desk, mobile, voicemail or another agent.")
                % {"index": index}
            )
        if kind in ("voicemail", "agent") and not last:
            raise ValidationError(
                _("Step %(index)s: voicemail or another agent can only be the last step.")
                % {"index": index}
            )
        if last and kind not in ("voicemail", "agent"):
            raise ValidationError(_("The last step must be voicemail or another agent."))
        item = {"kind": kind}
        if kind in ("desk", "mobile"):
            timeout = step.get("timeout")
            try:
                timeout = int(timeout)
            except (TypeError, ValueError):
                timeout = None
            if timeout is None or not MIN_TIMEOUT <= timeout <= MAX_TIMEOUT:
                raise ValidationError(
                    _("Step %(index)s: ring between %(min)s and %(max)s seconds.")
                    % {"index": index, "min": MIN_TIMEOUT, "max": MAX_TIMEOUT}
                )
            item["timeout"] = timeout
        if kind == "mobile":
            number = str(step.get("number") or "").replace(" ", "")
            if number and not E164.match(number):
                raise ValidationError(
                    _("Step %(index)s: %(number)s is not an international number (+33612345678).")
                    % {"index": index, "number": number}
                )
            if not number and not E164.match(mobile or ""):
                raise ValidationError(
                    _("Step %(index)s: give a number, or your mobile number first.")
                    % {"index": index}
                )
            if number:
                item["number"] = number
        if kind == "agent":
            try:
                target_id = int(step.get("agent"))
            except (TypeError, ValueError):
                target_id = None
            target = (
                get_user_model()
                .objects.filter(pk=target_id, organization_id=agent.organization_id, is_active=True)
                .select_related("agent_profile")
                .first()
                if target_id
                else None
            )
            if target is None:
                raise ValidationError(
                    _("Step %(index)s: choose an agent of your organization.") % {"index": index}
                )
            _refuse_loop(agent, target)
            item["agent"] = target.pk
        cleaned.append(item)
    return cleaned


def _refuse_loop(agent, target) -> None:
    """The chain of ``target`` (and of whoever it passes the call to) never comes back."""
    seen = {agent.pk}
    current = target
    while current is not None:
        if current.pk in seen:
            raise ValidationError(
                _("This would send calls around in a loop (%(name)s passes them back).")
                % {"name": current.get_full_name() or current.username}
            )
        seen.add(current.pk)
        chain = follow_me_chain(current)
        last = chain[-1] if chain else {}
        current = None
        if last.get("kind") == "agent":
            from django.contrib.auth import get_user_model

            current = (
                get_user_model()
                .objects.filter(pk=last.get("agent"), organization_id=agent.organization_id)
                .select_related("agent_profile")
                .first()
            )


@transaction.atomic
def follow_me_set(*, agent, steps, mobile: str, notify: list[str] | None = None):
    """Save the agent's mobile number, chain and voicemail notification channels (checked)."""
    from apps.accounts.models import AgentProfile

    mobile = (mobile or "").replace(" ", "")
    if mobile and not E164.match(mobile):
        raise ValidationError({"mobile": _("Give an international number, e.g. +33612345678.")})
    cleaned = follow_me_validate(agent=agent, steps=steps, mobile=mobile)
    profile, _created = AgentProfile.objects.get_or_create(
        user=agent, defaults={"organization_id": agent.organization_id}
    )
    profile.mobile = mobile
    profile.follow_me = cleaned
    fields = ["mobile", "follow_me", "updated_at"]
    if notify is not None:
        profile.voicemail_notify = [n for n in ("desk", "email", "sms") if n in notify]
        fields.append("voicemail_notify")
    profile.save(update_fields=fields)
    return profile


# --- Running a call through the chain -----------------------------------------------------------


def _voice(interaction: Interaction) -> dict:
    return dict((interaction.data or {}).get("voice") or {})


def _record_step(interaction: Interaction, follow: dict, index: int, result: str, **extra) -> None:
    step = follow["steps"][index] if index < len(follow["steps"]) else {}
    event_record(
        organization=interaction.organization,
        type="call.follow_me",
        interaction=interaction,
        data={
            "agent": follow["agent"],
            "step": index,
            "kind": step.get("kind", ""),
            "result": result,
            **extra,
        },
    )


def _run_later(interaction_id: int, agent_id: int, index: int) -> None:
    from apps.connectors.tasks import follow_me_step_task

    transaction.on_commit(
        lambda: follow_me_step_task.delay(interaction_id, agent_id, index), robust=True
    )


def follow_me_start(*, account: ChannelAccount, interaction: Interaction, agent) -> str:
    """The caller asked for ``agent`` (who has a chain): they wait in the call's conference
    while the steps run (a task). The TwiML the caller gets now."""
    from apps.connectors.voice import (
        _customer_conference,
        _join,
        _language,
        _say,
        _voice_update,
    )

    steps = follow_me_chain(agent) or DEFAULT_CHAIN
    with transaction.atomic():
        interaction.queue = None  # nobody else's line: the chain decides where it rings
        interaction.preferred_agent = agent
        interaction.save(update_fields=["queue", "preferred_agent"])
        interaction_transition(interaction=interaction, to=State.QUEUED, data={"follow_me": True})
        _voice_update(
            interaction,
            in_conference=True,
            follow_me={
                "agent": agent.pk,
                "steps": steps,
                "step": 0,
                "leg": "",
                "visited": [agent.pk],
                "done": False,
            },
        )
        _run_later(interaction.pk, agent.pk, 0)
    response = VoiceResponse()
    with translation.override(_language(interaction)):
        _say(response, interaction, _("Please hold, we are putting you through."))
    return _join(response, _customer_conference(account, interaction))


def follow_me_transfer(*, interaction: Interaction, agent, actor) -> None:
    """A live call transferred to ``agent`` (who has a chain): it leaves its queue and walks
    their chain (in the caller's transaction; the caller already waits in the conference)."""
    interaction.queue = None
    interaction.assigned_agent = None
    interaction.preferred_agent = agent
    interaction.save(update_fields=["queue", "assigned_agent", "preferred_agent"])
    interaction_transition(
        interaction=interaction,
        to=State.QUEUED,
        actor=actor,
        data={"transfer": True, "follow_me": True, "agents": [agent.pk]},
        locked=True,
    )
    voice = _voice(interaction)
    voice["follow_me"] = {
        "agent": agent.pk,
        "steps": follow_me_chain(agent),
        "step": 0,
        "leg": "",
        "visited": [agent.pk],
        "done": False,
    }
    interaction.data = {**(interaction.data or {}), "voice": voice}
    interaction.save(update_fields=["data", "updated_at"])
    _run_later(interaction.pk, agent.pk, 0)


def _locked(interaction_id: int) -> Interaction:
    return (
        Interaction.objects.select_for_update()
        .select_related("organization", "contact")
        .get(pk=interaction_id)
    )


def _save_follow(interaction: Interaction, follow: dict) -> None:
    voice = {**_voice(interaction), "follow_me": follow}
    interaction.data = {**(interaction.data or {}), "voice": voice}
    interaction.save(update_fields=["data", "updated_at"])


def _current(interaction: Interaction, agent_id: int, index: int) -> dict | None:
    """The chain if it is at step ``index`` of ``agent_id`` and still running (else None: a
    late or repeated task or webhook changes nothing)."""
    voice = _voice(interaction)
    follow = voice.get("follow_me")
    if not follow or follow.get("done") or voice.get("ended"):
        return None
    if follow.get("agent") != agent_id or follow.get("step") != index:
        return None
    return dict(follow)


def follow_me_next(*, interaction_id: int, agent_id: int, index: int, result: str) -> bool:
    """Step ``index`` ended without the agent (``result``): the next step, in a task."""
    with transaction.atomic():
        interaction = _locked(interaction_id)
        follow = _current(interaction, agent_id, index)
        if follow is None:
            return False
        _record_step(interaction, follow, index, result)
        follow.update(step=index + 1, leg="")
        _save_follow(interaction, follow)
        _run_later(interaction.pk, agent_id, index + 1)
    return True


def follow_me_step(*, interaction_id: int, agent_id: int, index: int) -> str:
    """Carry out step ``index`` of the chain (idempotent: only while it is the current one).
    Returns what was done."""
    from django.contrib.auth import get_user_model

    from apps.queues.models import Presence, PresenceStatus
    from apps.queues.services import interaction_offer_to

    with transaction.atomic():
        interaction = _locked(interaction_id)
        follow = _current(interaction, agent_id, index)
        if follow is None:
            return "stale"
        steps = follow["steps"]
        step = steps[index] if index < len(steps) else {"kind": "voicemail"}
        agent = (
            get_user_model()
            .objects.filter(pk=agent_id, organization_id=interaction.organization_id)
            .select_related("agent_profile")
            .first()
        )
        kind = step["kind"] if agent is not None else "voicemail"
        if kind == "desk":
            available = Presence.objects.filter(
                agent_id=agent_id, status=PresenceStatus.AVAILABLE
            ).exists()
            if not available or interaction.state != State.QUEUED:
                _record_step(interaction, follow, index, "unavailable")
                follow.update(step=index + 1)
                _save_follow(interaction, follow)
                _run_later(interaction.pk, agent_id, index + 1)
                return "unavailable"
            interaction_offer_to(
                interaction=interaction,
                agent=agent,
                timeout_seconds=int(step["timeout"]),
                why={"follow_me": index},
            )
            _record_step(interaction, follow, index, "ringing")
            return "desk"
        if kind == "agent":
            target = (
                get_user_model()
                .objects.filter(pk=step.get("agent"), organization_id=interaction.organization_id)
                .select_related("agent_profile")
                .first()
            )
            visited = list(follow.get("visited") or [])
            if target is None or target.pk in visited:  # changed since it was checked
                kind = "voicemail"
            else:
                _record_step(interaction, follow, index, "next-agent", to_agent=target.pk)
                follow = {
                    "agent": target.pk,
                    "steps": follow_me_chain(target) or DEFAULT_CHAIN,
                    "step": 0,
                    "leg": "",
                    "visited": [*visited, target.pk],
                    "done": False,
                }
                interaction.preferred_agent = target
                interaction.save(update_fields=["preferred_agent"])
                _save_follow(interaction, follow)
                _run_later(interaction.pk, target.pk, 0)
                return "agent"
        if kind == "voicemail":
            _record_step(interaction, follow, index, "voicemail")
            follow.update(done=True)
            _save_follow(interaction, follow)
            if interaction.state in (State.OFFERED,):
                return "stale"
            interaction_transition(interaction=interaction, to=State.VOICEMAIL)
            voice = _voice(interaction)
            voice.update(
                voicemail_agent=agent_id if agent is not None else None,
                voicemail_queue=getattr(interaction.channel_account, "queue_id", None),
            )
            interaction.data = {**interaction.data, "voice": voice}
            interaction.save(update_fields=["data"])
    if kind == "voicemail":
        _to_voicemail(interaction, agent)
        return "voicemail"
    return _dial_mobile(interaction, agent, follow, index, step)


def _account(interaction: Interaction) -> ChannelAccount | None:
    return ChannelAccount.objects.filter(
        organization_id=interaction.organization_id, pk=_voice(interaction).get("account")
    ).first()


def _to_voicemail(interaction: Interaction, agent) -> None:
    """The caller leaves the conference for a recording "for <agent>" (REST, no transaction)."""
    from apps.connectors.providers import twilio_voice
    from apps.connectors.voice import _record, _rest

    account = _account(interaction)
    if account is None:
        return
    name = (agent.get_full_name() or agent.username) if agent is not None else ""
    with translation.override(interaction.language or interaction.organization.language or "en"):
        prompt = (
            _("%(name)s cannot take your call. Please leave a message after the tone.")
            % {"name": name}
            if name
            else _("Please leave a message after the tone.")
        )
    voice = _voice(interaction)
    rest = twilio_voice.client(account, base=voice.get("base", ""))
    twiml = _record(account, interaction, prompt)
    _rest(lambda: rest.calls(voice["call"]).update(twiml=twiml))


def _dial_mobile(interaction: Interaction, agent, follow: dict, index: int, step: dict) -> str:
    """A leg to the agent's phone, into the caller's conference once they pick up (a whisper
    first); the provider rings it ``timeout`` seconds and reports no-answer after that."""
    from django.conf import settings

    from apps.connectors.providers import twilio_voice
    from apps.connectors.voice import _language, _rest, _say, _url, conference_name

    account = _account(interaction)
    number = step.get("number") or getattr(_profile(agent), "mobile", "")
    if account is None or not number:
        follow_me_next(
            interaction_id=interaction.pk, agent_id=agent.pk, index=index, result="failed"
        )
        return "failed"
    voice = _voice(interaction)
    base = voice.get("base") or settings.PUBLIC_BASE_URL
    response = VoiceResponse()
    with translation.override(_language(interaction)):
        _say(response, interaction, _("A call for you. Connecting."))
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
        leg="followme",
        agent=agent.pk,
        step=index,
    )
    rest = twilio_voice.client(account, base=voice.get("base", ""))
    call = _rest(
        lambda: rest.calls.create(
            to=number,
            from_=account.address,
            twiml=str(response),
            timeout=int(step.get("timeout") or 20),
            status_callback=status_url,
            status_callback_event=["initiated", "ringing", "answered", "completed"],
        )
    )
    sid = getattr(call, "sid", "") or ""
    if not sid:
        follow_me_next(
            interaction_id=interaction.pk, agent_id=agent.pk, index=index, result="failed"
        )
        return "failed"
    with transaction.atomic():
        fresh = _locked(interaction.pk)
        current = _current(fresh, agent.pk, index)
        if current is None:
            # Its status came first (a fast answer, or "busy"), or the caller hung up while we
            # dialled: only in the last case is the leg still to be stopped.
            stop = (_voice(fresh).get("legs") or {}).get(str(agent.pk)) != sid and (
                _voice(fresh).get("ended") or fresh.state not in (State.ACTIVE, State.ON_HOLD)
            )
        else:
            stop = False
            current["leg"] = sid
            _save_follow(fresh, current)
            _record_step(fresh, current, index, "ringing", number=number, call=sid)
    if stop:
        _rest(lambda: rest.calls(sid).update(status="canceled"))
    return "mobile"


def follow_me_leg_status(*, interaction: Interaction, fields: dict) -> None:
    """A status of a mobile leg of the chain: answered → the agent has the call (the caller and
    they meet in the conference); unanswered → the next step."""
    status = fields.get("CallStatus", "")
    sid = fields.get("CallSid", "")[:64]
    try:
        agent_id, index = int(fields.get("_agent") or 0), int(fields.get("_step") or 0)
    except ValueError:
        return
    if status in ("in-progress", "answered"):
        _mobile_answered(interaction, agent_id, index, sid)
    elif status in UNANSWERED or status == "completed":
        voice = _voice(interaction)
        follow = voice.get("follow_me") or {}
        # The leg may end (a fast "busy") before we stored its sid: the URL names the step.
        if follow.get("leg") in ("", sid) and not follow.get("done"):
            result = "no-answer" if status == "completed" else status
            follow_me_next(
                interaction_id=interaction.pk, agent_id=agent_id, index=index, result=result
            )


def _mobile_answered(interaction: Interaction, agent_id: int, index: int, sid: str) -> None:
    from django.contrib.auth import get_user_model

    from apps.connectors.providers import twilio_voice
    from apps.connectors.voice import _rest

    hang_up = False
    with transaction.atomic():
        fresh = _locked(interaction.pk)
        follow = _current(fresh, agent_id, index)
        if follow is None or follow.get("leg") not in ("", sid) or fresh.state != State.QUEUED:
            hang_up = _voice(fresh).get("ended") or fresh.state not in (
                State.ACTIVE,
                State.ON_HOLD,
            )
        else:
            agent = get_user_model().objects.get(pk=agent_id)
            voice = _voice(fresh)
            voice["legs"] = {**(voice.get("legs") or {}), str(agent_id): sid}
            voice["follow_me"] = {**follow, "done": True}
            fresh.data = {**fresh.data, "voice": voice}
            fresh.assigned_agent = agent
            fresh.save(update_fields=["data", "assigned_agent", "updated_at"])
            _record_step(fresh, follow, index, "answered", call=sid)
            interaction_transition(
                interaction=fresh, to=State.ACTIVE, actor=agent, data={"follow_me": index}
            )
    if hang_up:  # answered too late: the caller is gone or someone else has them
        account = _account(interaction)
        if account is not None:
            rest = twilio_voice.client(account, base=_voice(interaction).get("base", ""))
            _rest(lambda: rest.calls(sid).update(status="completed"))


def follow_me_sync(*, interaction_id: int) -> str:
    """After any change of the call: the desk offer of the current step was accepted (the
    chain is done), declined or not answered (the next step); the caller hung up (the chain
    stops, a ringing mobile leg is cancelled). Idempotent."""
    from apps.queues.models import Offer

    interaction = (
        Interaction.objects.select_related("organization").filter(pk=interaction_id).first()
    )
    if interaction is None:
        return ""
    voice = _voice(interaction)
    follow = voice.get("follow_me")
    if not follow or follow.get("done"):
        return ""
    index, agent_id = follow.get("step", 0), follow.get("agent")
    steps = follow.get("steps") or []
    kind = steps[index]["kind"] if index < len(steps) else ""
    if voice.get("ended"):
        with transaction.atomic():
            fresh = _locked(interaction_id)
            current = dict(_voice(fresh).get("follow_me") or {})
            if not current or current.get("done"):
                return ""
            _record_step(fresh, current, current.get("step", 0), "caller-hung-up")
            current["done"] = True
            _save_follow(fresh, current)
        leg = current.get("leg")
        if leg:
            from apps.connectors.providers import twilio_voice
            from apps.connectors.voice import _rest

            account = _account(interaction)
            if account is not None:
                rest = twilio_voice.client(account, base=voice.get("base", ""))
                _rest(lambda: rest.calls(leg).update(status="canceled"))
        return "stopped"
    if kind != "desk":
        return ""
    offer = (
        Offer.objects.filter(interaction=interaction, agent_id=agent_id, why__follow_me=index)
        .order_by("-created_at", "-pk")
        .first()
    )
    if offer is None or offer.status == Offer.Status.PENDING:
        return ""
    if offer.status == Offer.Status.ACCEPTED:
        with transaction.atomic():
            fresh = _locked(interaction_id)
            current = _current(fresh, agent_id, index)
            if current is None:
                return ""
            _record_step(fresh, current, index, "answered")
            current["done"] = True
            _save_follow(fresh, current)
        return "answered"
    if interaction.state != State.QUEUED:
        return ""
    result = "declined" if offer.status == Offer.Status.REJECTED else "no-answer"
    follow_me_next(interaction_id=interaction_id, agent_id=agent_id, index=index, result=result)
    return result
