"""Live monitoring of a call by a supervisor: listen, whisper (coach the agent), barge.

The supervisor's leg is added to the call's conference with the provider's Participants API
(``conferences(<name>).participants.create``): **listen** joins muted (the agent is not told,
as in real contact centres), **whisper** joins coaching the agent's leg (``coaching`` +
``call_sid_to_coach``: only the agent hears the supervisor), **barge** joins as a full
participant (everyone hears). The mode changes on the live leg (a participant update of
``muted``/``coaching``); stopping hangs the leg up. The call's ``data["voice"]["monitors"]``
holds supervisor id → ``{"call": CallSid, "mode": …}``; events ``call.monitor_started``
(mode), ``call.monitor_changed`` (from, to) and ``call.monitor_ended``.

Who may: a user with the ``supervise`` permission who supervises a team the call's agent is
in, or an administrator of the organization (``monitor_allowed``).
"""

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from apps.accounts.models import Role, Team
from apps.connectors.models import ChannelAccount
from apps.interactions.models import Channel, Interaction, State
from apps.interactions.services import event_record

logger = logging.getLogger(__name__)

MODES = ("listen", "whisper", "barge")
LIVE = (State.ACTIVE, State.ON_HOLD)


def monitor_allowed(*, supervisor, interaction: Interaction) -> bool:
    """``supervisor`` may listen to ``interaction``: same organization, the supervise
    permission, and an administrator or a supervisor of one of the agent's teams."""
    if supervisor.organization_id != interaction.organization_id:
        return False
    if not supervisor.has_perm("interactions.supervise_interaction"):
        return False
    if supervisor.has_role(Role.ADMIN):
        return True
    return Team.objects.filter(
        organization_id=interaction.organization_id,
        supervisors=supervisor,
        members=interaction.assigned_agent_id,
    ).exists()


def _voice(interaction: Interaction) -> dict:
    return dict((interaction.data or {}).get("voice") or {})


def _account(interaction: Interaction) -> ChannelAccount | None:
    return ChannelAccount.objects.filter(
        organization_id=interaction.organization_id, pk=_voice(interaction).get("account")
    ).first()


def _rest_client(interaction: Interaction, account: ChannelAccount):
    from apps.connectors.providers import twilio_voice

    return twilio_voice.client(account, base=_voice(interaction).get("base", ""))


def _agent_leg(interaction: Interaction) -> str:
    sid = (_voice(interaction).get("legs") or {}).get(str(interaction.assigned_agent_id), "")
    return "" if sid in ("", "pending", "failed") else sid


def _audio(mode: str, agent_leg: str) -> dict:
    """The participant settings of a mode (Twilio's names, for the ``twilio`` client)."""
    if mode == "listen":
        return {"muted": True, "coaching": False}
    if mode == "whisper":
        return {"muted": False, "coaching": True, "call_sid_to_coach": agent_leg}
    return {"muted": False, "coaching": False}


def _check(interaction: Interaction, supervisor, mode: str) -> None:
    if mode not in MODES:
        raise ValidationError(_("Choose listen, whisper or barge."))
    if not monitor_allowed(supervisor=supervisor, interaction=interaction):
        raise ValidationError(_("You do not supervise this agent."), code="forbidden")
    voice = _voice(interaction)
    if (
        interaction.channel != Channel.VOICE
        or interaction.state not in LIVE
        or voice.get("ended")
        or not voice.get("in_conference")
    ):
        raise ValidationError(_("This call is not live."))
    if mode == "whisper" and not _agent_leg(interaction):
        raise ValidationError(_("The agent is not on the line yet."))


def call_monitor_start(*, interaction: Interaction, supervisor, mode: str) -> dict:
    """Dial ``supervisor`` into the live call in ``mode``; an ongoing monitoring by them
    changes mode instead. Returns the monitor's state (call, mode)."""
    from apps.connectors.voice import _url, agent_destination, conference_name

    interaction = Interaction.objects.select_related("organization").get(pk=interaction.pk)
    _check(interaction, supervisor, mode)
    if str(supervisor.pk) in (_voice(interaction).get("monitors") or {}):
        return call_monitor_change(interaction=interaction, supervisor=supervisor, mode=mode)
    account = _account(interaction)
    if account is None:
        raise ValidationError(_("This call's number is gone."))
    voice = _voice(interaction)
    base = voice.get("base") or settings.PUBLIC_BASE_URL
    status_url = base + _url(
        account,
        "connectors-twilio-voice-status",
        interaction.provider_ref,
        leg="monitor",
        agent=supervisor.pk,
    )
    rest = _rest_client(interaction, account)
    try:  # REST, outside any transaction
        participant = rest.conferences(conference_name(interaction)).participants.create(
            from_=account.address,
            to=agent_destination(supervisor),
            beep="false",
            end_conference_on_exit=False,
            status_callback=status_url,
            status_callback_event=["ringing", "answered", "completed"],
            **_audio(mode, _agent_leg(interaction)),
        )
    except Exception as exc:
        logger.warning("voice.monitor_failed", extra={"error": f"{type(exc).__name__}: {exc}"})
        raise ValidationError(_("The call could not be joined; try again.")) from exc
    monitor = {"call": participant.call_sid, "mode": mode}
    with transaction.atomic():
        fresh = Interaction.objects.select_for_update().get(pk=interaction.pk)
        voice = _voice(fresh)
        voice["monitors"] = {**(voice.get("monitors") or {}), str(supervisor.pk): monitor}
        fresh.data = {**fresh.data, "voice": voice}
        fresh.save(update_fields=["data", "updated_at"])
        event_record(
            organization=fresh.organization,
            type="call.monitor_started",
            interaction=fresh,
            actor=supervisor,
            data={"supervisor": supervisor.pk, "mode": mode, "call": monitor["call"]},
        )
    return monitor


def _conference_sid(rest, interaction: Interaction) -> str:
    from apps.connectors.voice import conference_name

    found = rest.conferences.list(
        friendly_name=conference_name(interaction), status="in-progress", limit=1
    )
    return found[0].sid if found else ""


def call_monitor_change(*, interaction: Interaction, supervisor, mode: str) -> dict:
    """Switch the supervisor's live leg to ``mode`` (a participant update)."""
    interaction = Interaction.objects.select_related("organization").get(pk=interaction.pk)
    _check(interaction, supervisor, mode)
    monitor = (_voice(interaction).get("monitors") or {}).get(str(supervisor.pk))
    if monitor is None:
        raise ValidationError(_("You are not on this call."))
    if monitor["mode"] == mode:
        return monitor
    account = _account(interaction)
    rest = _rest_client(interaction, account)
    audio = _audio(mode, _agent_leg(interaction))
    if mode != "whisper":
        audio["call_sid_to_coach"] = ""
    try:
        conference = _conference_sid(rest, interaction)
        rest.conferences(conference).participants(monitor["call"]).update(**audio)
    except Exception as exc:
        logger.warning("voice.monitor_failed", extra={"error": f"{type(exc).__name__}: {exc}"})
        raise ValidationError(_("The call could not be changed; try again.")) from exc
    with transaction.atomic():
        fresh = Interaction.objects.select_for_update().get(pk=interaction.pk)
        voice = _voice(fresh)
        monitors = dict(voice.get("monitors") or {})
        previous = (monitors.get(str(supervisor.pk)) or {}).get("mode", monitor["mode"])
        monitors[str(supervisor.pk)] = {**monitor, "mode": mode}
        voice["monitors"] = monitors
        fresh.data = {**fresh.data, "voice": voice}
        fresh.save(update_fields=["data", "updated_at"])
        event_record(
            organization=fresh.organization,
            type="call.monitor_changed",
            interaction=fresh,
            actor=supervisor,
            data={"supervisor": supervisor.pk, "from": previous, "to": mode},
        )
    return monitors[str(supervisor.pk)]


def _forget(interaction_id: int, supervisor_id: int, actor=None, reason: str = "") -> dict | None:
    """Drop the monitor from the call's state and record its end (once)."""
    with transaction.atomic():
        fresh = (
            Interaction.objects.select_for_update()
            .select_related("organization")
            .get(pk=interaction_id)
        )
        voice = _voice(fresh)
        monitors = dict(voice.get("monitors") or {})
        monitor = monitors.pop(str(supervisor_id), None)
        if monitor is None:
            return None
        voice["monitors"] = monitors
        fresh.data = {**fresh.data, "voice": voice}
        fresh.save(update_fields=["data", "updated_at"])
        event_record(
            organization=fresh.organization,
            type="call.monitor_ended",
            interaction=fresh,
            actor=actor,
            data={"supervisor": supervisor_id, "mode": monitor["mode"], "reason": reason},
        )
    return monitor


def call_monitor_stop(*, interaction: Interaction, supervisor) -> None:
    """The supervisor leaves the call: their leg hangs up."""
    from apps.connectors.voice import _rest

    if not monitor_allowed(supervisor=supervisor, interaction=interaction):
        raise ValidationError(_("You do not supervise this agent."), code="forbidden")
    monitor = _forget(interaction.pk, supervisor.pk, actor=supervisor, reason="stopped")
    if monitor is None:
        raise ValidationError(_("You are not on this call."))
    account = _account(interaction)
    if account is not None:
        rest = _rest_client(interaction, account)
        _rest(lambda: rest.calls(monitor["call"]).update(status="completed"))


def monitor_leg_status(*, interaction: Interaction, fields: dict) -> None:
    """The supervisor's leg ended on their side (they hung up): the monitoring ends."""
    from apps.connectors.providers.twilio_voice import ENDED_STATUSES

    if fields.get("CallStatus") not in ENDED_STATUSES:
        return
    try:
        supervisor_id = int(fields.get("_agent") or 0)
    except ValueError:
        return
    monitor = (_voice(interaction).get("monitors") or {}).get(str(supervisor_id))
    if monitor and monitor.get("call") == fields.get("CallSid"):
        _forget(interaction.pk, supervisor_id, reason="hung-up")


def monitor_sync(*, interaction_id: int) -> list[int]:
    """The call is over (wrap-up, closed, caller gone): every supervisor's leg hangs up."""
    from apps.connectors.voice import _rest

    interaction = (
        Interaction.objects.select_related("organization").filter(pk=interaction_id).first()
    )
    if interaction is None:
        return []
    voice = _voice(interaction)
    monitors = voice.get("monitors") or {}
    if not monitors or (interaction.state in LIVE and not voice.get("ended")):
        return []
    account = _account(interaction)
    rest = _rest_client(interaction, account) if account is not None else None
    ended = []
    for supervisor_id in list(monitors):
        monitor = _forget(interaction.pk, int(supervisor_id), reason="call-ended")
        if monitor is None:
            continue
        if rest is not None:
            _rest(lambda sid=monitor["call"]: rest.calls(sid).update(status="completed"))
        ended.append(int(supervisor_id))
    return ended
