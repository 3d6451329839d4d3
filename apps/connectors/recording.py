"""Call recordings: started automatically (a queue's calls once put through to an agent, or a
number's calls from the answer) or on demand from the desk; paused while a caller types a card
number (PCI) and for agent-assisted card capture; copied into our storage; purged after the
organization's retention.

The provider records (Twilio's Recordings resource: ``calls(sid).recordings.create`` and
``.recordings(sid).update(status=…)``, or ``<Start><Recording>`` in the answer's TwiML) and
tells us through the signed recording-status callback (``in-progress``, ``completed``,
``absent``; a transcript comes to the same URL with ``TranscriptionSid``). Each callback is
stored once (``InboundEvent``) and handled in a task; the ``Recording`` row is unique per
provider sid, so the same callback twice, or our REST answer and the callback racing, make one
row. Pauses and resumes are ours (Twilio sends no callback for them): events
``recording.paused``/``recording.resumed`` with the reason.

The PCI pause is synchronous on purpose: the TwiML that asks for the card must not reach the
caller before the provider has paused. Every webhook that follows a sensitive step resumes
(``recording_pci_guard`` with ``sensitive=False``: the flow's next step, whatever branch it took;
the waiting loop), so a recording is never left paused by the IVR.
"""

import logging
from datetime import timedelta

import requests
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from apps.connectors.models import ChannelAccount
from apps.connectors.providers import twilio_voice
from apps.interactions.models import (
    Channel,
    Interaction,
    Recording,
    RecordingMode,
    RecordingPolicy,
    Transcript,
)
from apps.interactions.services import event_record

logger = logging.getLogger(__name__)

# A recording started through the REST API is known from its answer; one started by the
# answer's TwiML (``<Start><Recording>``) is known from its ``in-progress`` callback.
STATUS_EVENTS = ["completed", "absent"]
START_STATUS_EVENTS = ["in-progress", "completed", "absent"]
MAX_AUDIO_BYTES = 200 * 1024 * 1024
DOWNLOAD_TIMEOUT = 30


# --- Settings: which calls are recorded, and what the caller hears first ------------------------


def recording_policy(*, organization) -> RecordingPolicy:
    """The organization's policy (the defaults when none was saved: no recording, kept)."""
    return RecordingPolicy.objects.filter(organization=organization).first() or RecordingPolicy(
        organization=organization
    )


def queue_records(*, queue) -> bool:
    """Whether calls put through from ``queue`` are recorded (the queue's choice, else the
    organization's)."""
    if queue is None:
        return False
    mode = queue.record_calls or recording_policy(organization=queue.organization).mode
    return mode == RecordingMode.ANNOUNCE


def consent_text(*, organization, language: str, queue=None) -> str:
    """The consent announcement in the caller's language: the queue's, the organization's,
    else the standard sentence (translated)."""
    from apps.flows.engine import pick_text

    queue_text = pick_text(getattr(queue, "recording_consent", None) or {}, language, "")
    text = queue_text or pick_text(
        recording_policy(organization=organization).consent_message or {}, language, ""
    )
    if text:
        return text
    with translation.override(language):
        return _("This call may be recorded for quality and training purposes.")


# --- Rows ---------------------------------------------------------------------------------------


def _account(interaction: Interaction) -> ChannelAccount | None:
    voice = (interaction.data or {}).get("voice") or {}
    return ChannelAccount.objects.filter(
        organization_id=interaction.organization_id, pk=voice.get("account")
    ).first()


def _rest(interaction: Interaction, account: ChannelAccount | None = None):
    account = account or _account(interaction)
    voice = (interaction.data or {}).get("voice") or {}
    return twilio_voice.client(account, base=voice.get("base", ""))


def status_callback_url(*, account: ChannelAccount, interaction: Interaction) -> str:
    """Our signed recording-status webhook for this call (absolute: the provider calls it)."""
    from django.conf import settings

    voice = (interaction.data or {}).get("voice") or {}
    base = voice.get("base") or settings.PUBLIC_BASE_URL
    path = reverse("connectors-twilio-voice-recording-status", kwargs={"key": account.key})
    return f"{base}{path}?call={interaction.provider_ref}"


def _recording_row(
    *,
    interaction: Interaction,
    sid: str,
    call_sid: str = "",
    source: str = Recording.Source.AUTO,
    started_by=None,
) -> Recording:
    """The row of recording ``sid`` (made once, whoever comes first: our REST answer or the
    provider's callback; the unique constraint settles a race). A new row is
    ``recording.started``."""
    recording = Recording.objects.filter(
        organization_id=interaction.organization_id, provider_sid=sid
    ).first()
    if recording is not None:
        return recording
    try:
        with transaction.atomic():
            recording = Recording.objects.create(
                organization_id=interaction.organization_id,
                interaction=interaction,
                provider_sid=sid,
                call_sid=call_sid or interaction.provider_ref,
                source=source,
                started_by=started_by,
            )
            event_record(
                organization=interaction.organization,
                type="recording.started",
                interaction=interaction,
                actor=started_by,
                data={"recording": recording.pk, "sid": sid, "source": source},
            )
    except IntegrityError:
        recording = Recording.objects.get(
            organization_id=interaction.organization_id, provider_sid=sid
        )
    return recording


def _event(recording: Recording, type: str, actor=None, **data) -> None:
    event_record(
        organization=recording.interaction.organization,
        type=type,
        interaction=recording.interaction,
        actor=actor,
        data={"recording": recording.pk, "sid": recording.provider_sid, **data},
    )


def _failed(exc: Exception) -> ValidationError:
    logger.warning("recording.rest_failed", extra={"error": f"{type(exc).__name__}: {exc}"})
    return ValidationError(_("The telephony provider refused: %(error)s") % {"error": exc})


def _live_call(interaction: Interaction) -> str:
    voice = (interaction.data or {}).get("voice") or {}
    if interaction.channel != Channel.VOICE or not voice.get("call") or voice.get("ended"):
        raise ValidationError(_("There is no call in progress to record."))
    return voice["call"]


# --- Start, pause, resume, stop -----------------------------------------------------------------


def recording_start(
    *, interaction: Interaction, actor=None, source: str = Recording.Source.ON_DEMAND
) -> Recording:
    """Record the caller's call from now on (both sides, two channels), through the
    provider's REST API. Refused when a recording of the call already runs."""
    call_sid = _live_call(interaction)
    if interaction.recordings.filter(status__in=Recording.LIVE).exists():
        raise ValidationError(_("This call is already being recorded."))
    account = _account(interaction)
    if account is None:
        raise ValidationError(_("There is no call in progress to record."))
    try:
        created = (
            _rest(interaction, account)
            .calls(call_sid)
            .recordings.create(
                recording_status_callback=status_callback_url(
                    account=account, interaction=interaction
                ),
                recording_status_callback_event=STATUS_EVENTS,
                recording_channels="dual",
            )
        )
    except Exception as exc:  # the provider or the network: the agent is told
        raise _failed(exc) from exc
    recording = _recording_row(
        interaction=interaction,
        sid=created.sid,
        call_sid=call_sid,
        source=source,
        started_by=actor,
    )
    if recording.source != source or recording.started_by_id != getattr(actor, "pk", None):
        # The provider's callback made the row first: it could not know who asked.
        recording.source, recording.started_by = source, actor
        recording.save(update_fields=["source", "started_by", "updated_at"])
    return recording


def _update(recording: Recording, **options) -> None:
    rest = _rest(recording.interaction)
    rest.calls(recording.call_sid).recordings(recording.provider_sid).update(**options)


def recording_pause(*, recording: Recording, actor=None, reason: str = "agent") -> Recording:
    """Pause (nothing is kept of what is said meanwhile: ``pause_behavior="skip"``)."""
    if recording.status != Recording.Status.IN_PROGRESS:
        raise ValidationError(_("Only a recording in progress can be paused."))
    try:
        _update(recording, status="paused", pause_behavior="skip")
    except Exception as exc:
        raise _failed(exc) from exc
    recording.status, recording.pause_reason = Recording.Status.PAUSED, reason
    recording.save(update_fields=["status", "pause_reason", "updated_at"])
    _event(recording, "recording.paused", actor, reason=reason)
    return recording


def recording_resume(*, recording: Recording, actor=None) -> Recording:
    if recording.status != Recording.Status.PAUSED:
        raise ValidationError(_("Only a paused recording can be resumed."))
    try:
        _update(recording, status="in-progress")
    except Exception as exc:
        raise _failed(exc) from exc
    reason = recording.pause_reason
    recording.status, recording.pause_reason = Recording.Status.IN_PROGRESS, ""
    recording.save(update_fields=["status", "pause_reason", "updated_at"])
    _event(recording, "recording.resumed", actor, reason=reason)
    return recording


def recording_stop(*, recording: Recording, actor=None) -> Recording:
    """Stop for good (the provider then sends ``completed`` with the audio)."""
    if not recording.is_live:
        raise ValidationError(_("This recording is already over."))
    try:
        _update(recording, status="stopped")
    except Exception as exc:
        raise _failed(exc) from exc
    recording.refresh_from_db()
    if recording.is_live:  # the completed callback may already have come
        recording.status = Recording.Status.STOPPED
        recording.ended_at = timezone.now()
        recording.save(update_fields=["status", "ended_at", "updated_at"])
    _event(recording, "recording.stopped", actor)
    return recording


def recording_control(*, interaction: Interaction, action: str, actor) -> Recording:
    """The desk's recording buttons: ``start``, ``stop``, ``pause``, ``resume``."""
    if action == "start":
        return recording_start(interaction=interaction, actor=actor)
    recording = interaction.recordings.filter(status__in=Recording.LIVE).first()
    if recording is None:
        raise ValidationError(_("This call is not being recorded."))
    if action == "pause":
        return recording_pause(recording=recording, actor=actor, reason="agent")
    if action == "resume":
        return recording_resume(recording=recording, actor=actor)
    if action == "stop":
        return recording_stop(recording=recording, actor=actor)
    raise ValidationError(_("Unknown recording action."))


# --- Automatic starts ----------------------------------------------------------------------------


def recording_auto_start(*, interaction: Interaction) -> Recording | None:
    """The caller was just put through to an agent: record when their queue says so (once per
    call; not when the number already records from the answer)."""
    voice = (interaction.data or {}).get("voice") or {}
    if voice.get("record_from_answer") or voice.get("auto_recorded"):
        return None
    if not queue_records(queue=interaction.queue):
        return None
    with transaction.atomic():  # claimed once: two syncs at once start one recording
        fresh = Interaction.objects.select_for_update().get(pk=interaction.pk)
        voice = dict((fresh.data or {}).get("voice") or {})
        if voice.get("auto_recorded"):
            return None
        voice["auto_recorded"] = True
        fresh.data = {**(fresh.data or {}), "voice": voice}
        fresh.save(update_fields=["data", "updated_at"])
        interaction.data = fresh.data
    try:
        return recording_start(interaction=interaction, source=Recording.Source.AUTO)
    except ValidationError as exc:
        logger.warning(
            "recording.auto_failed", extra={"interaction": interaction.pk, "error": exc.messages}
        )
        return None


# --- PCI: sensitive steps pause ------------------------------------------------------------------


def _provider_live_sids(interaction: Interaction, call_sid: str) -> list[str]:
    """The call's recordings in progress as the provider knows them (a recording started from
    the answer may not have reached us yet)."""
    rest = _rest(interaction)
    return [r.sid for r in rest.calls(call_sid).recordings.list() if r.status == "in-progress"]


def recording_pci_guard(*, interaction: Interaction, sensitive: bool) -> None:
    """Before a sensitive step (a card number): pause every recording of the call in
    progress. After it, on every path (the next step, a failure branch, a timeout, the queue):
    resume those the guard paused. Never raises: a webhook must answer."""
    from apps.connectors.voice import _voice_update

    voice = (interaction.data or {}).get("voice") or {}
    paused = list(voice.get("pci_paused") or [])
    if not sensitive and not paused:
        return
    if sensitive:
        may_record = (
            voice.get("record_from_answer")
            or interaction.recordings.filter(status=Recording.Status.IN_PROGRESS).exists()
        )
        if not may_record or voice.get("ended"):
            return
        try:
            sids = _provider_live_sids(interaction, voice["call"])
        except Exception as exc:
            logger.error("recording.pci_list_failed", extra={"error": str(exc)})
            sids = list(
                interaction.recordings.filter(status=Recording.Status.IN_PROGRESS).values_list(
                    "provider_sid", flat=True
                )
            )
        for sid in sids:
            recording = _recording_row(interaction=interaction, sid=sid, call_sid=voice["call"])
            try:
                recording_pause(recording=recording, reason="pci")
            except ValidationError as exc:
                logger.error("recording.pci_pause_failed", extra={"error": exc.messages})
                continue
            paused.append(sid)
        _voice_update(interaction, pci_paused=sorted(set(paused)))
        return
    left = []
    for sid in paused:
        recording = Recording.objects.filter(
            organization_id=interaction.organization_id, provider_sid=sid
        ).first()
        if recording is None or recording.status != Recording.Status.PAUSED:
            continue
        try:
            recording_resume(recording=recording)
        except ValidationError as exc:
            if not voice.get("ended"):
                logger.error("recording.pci_resume_failed", extra={"error": exc.messages})
                left.append(sid)  # the next webhook tries again
    _voice_update(interaction, pci_paused=left)


# --- The provider's callbacks ------------------------------------------------------------------


def recording_status_handle(*, account: ChannelAccount, fields: dict) -> str | None:
    """A recording-status callback (``in-progress``, ``completed``, ``absent``) or a transcript
    of a recording: the row, its events, and the audio copied in a task."""
    from apps.connectors.voice import call_interaction

    interaction = call_interaction(account=account, call_sid=fields.get("_call", ""))
    sid = fields.get("RecordingSid", "")[:64]
    if interaction is None or not sid:
        return "ignored"
    recording = _recording_row(
        interaction=interaction, sid=sid, call_sid=fields.get("CallSid", "")[:64]
    )
    if fields.get("TranscriptionSid"):
        return _transcript_store(recording, fields)
    status = fields.get("RecordingStatus", "")
    if status not in ("completed", "absent") or recording.status in (
        Recording.Status.COMPLETED,
        Recording.Status.ABSENT,
        Recording.Status.PURGED,
    ):
        return None
    with transaction.atomic():
        recording = Recording.objects.select_for_update().get(pk=recording.pk)
        recording.status = (
            Recording.Status.COMPLETED if status == "completed" else Recording.Status.ABSENT
        )
        recording.pause_reason = ""
        recording.duration = _int(fields.get("RecordingDuration"))
        recording.media_url = (fields.get("RecordingUrl") or "")[:500]
        recording.ended_at = recording.ended_at or timezone.now()
        recording.save()
        _event(recording, "recording.completed", status=status, duration=recording.duration)
        if status == "completed" and recording.media_url:
            from apps.connectors.tasks import recording_download_task

            pk = recording.pk
            transaction.on_commit(lambda: recording_download_task.delay(pk), robust=True)
    return None


def recording_of_voicemail(*, interaction: Interaction, fields: dict) -> Recording | None:
    """A voicemail's audio is a recording like any other: listed on the interaction with its
    player and transcript, copied into our storage, and purged by the retention. Called with
    the voicemail's recording callback (``RecordingUrl``) and again with its transcription
    (``TranscriptionText``); both are idempotent."""
    sid = (fields.get("RecordingSid") or "")[:64]
    if not sid:
        return None
    recording = _recording_row(
        interaction=interaction,
        sid=sid,
        call_sid=(fields.get("CallSid") or "")[:64],
        source=Recording.Source.VOICEMAIL,
    )
    if fields.get("TranscriptionSid"):
        _transcript_store(recording, fields)
        return recording
    url = (fields.get("RecordingUrl") or "")[:500]
    with transaction.atomic():
        recording = Recording.objects.select_for_update().get(pk=recording.pk)
        if recording.status != Recording.Status.IN_PROGRESS:
            return recording  # already completed (a replay), or purged
        now = timezone.now()
        recording.duration = _int(fields.get("RecordingDuration"))
        recording.status = Recording.Status.COMPLETED if url else Recording.Status.ABSENT
        recording.media_url = url
        recording.started_at = now - timedelta(seconds=recording.duration)
        recording.ended_at = now
        recording.save()
        _event(recording, "recording.completed", status=recording.status)
        if url:
            from apps.connectors.tasks import recording_download_task

            pk = recording.pk
            transaction.on_commit(lambda: recording_download_task.delay(pk), robust=True)
    return recording


def _int(value) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def _transcript_store(recording: Recording, fields: dict) -> str | None:
    text = (fields.get("TranscriptionText") or "").strip()
    if not text:
        return "ignored"
    interaction = recording.interaction
    try:
        with transaction.atomic():
            Transcript.objects.create(
                organization_id=recording.organization_id,
                recording=recording,
                provider_sid=fields["TranscriptionSid"][:64],
                text=text,
                language=interaction.language or interaction.organization.language or "",
            )
            _event(recording, "recording.transcribed", transcript=fields["TranscriptionSid"])
    except IntegrityError:
        return "ignored"
    return None


def recording_download(*, recording_id: int) -> bool:
    """Copy the provider's audio into our storage with the number's credentials (so playing
    it needs none). True when the file is here; a failure raises for the task to retry."""
    recording = (
        Recording.objects.select_related("interaction", "organization")
        .filter(pk=recording_id)
        .first()
    )
    if recording is None or recording.status != Recording.Status.COMPLETED:
        return False
    if recording.file:
        return True
    account = _account(recording.interaction)
    if account is None or not recording.media_url:
        return False
    url = recording.media_url
    if not url.rsplit("/", 1)[-1].count("."):
        url += ".wav"
    with requests.get(
        url,
        auth=(account.config.get("account_sid", ""), account.secret("auth_token")),
        timeout=DOWNLOAD_TIMEOUT,
        stream=True,
    ) as response:
        response.raise_for_status()
        data = response.raw.read(MAX_AUDIO_BYTES + 1, decode_content=True)
        content_type = response.headers.get("Content-Type", "audio/x-wav").split(";")[0]
    if len(data) > MAX_AUDIO_BYTES:
        raise ValueError("recording too large")
    extension = "mp3" if "mpeg" in content_type else "wav"
    with transaction.atomic():
        fresh = Recording.objects.select_for_update().get(pk=recording.pk)
        if fresh.file or fresh.status != Recording.Status.COMPLETED:
            return bool(fresh.file)
        fresh.file.save(f"{fresh.provider_sid}.{extension}", ContentFile(data), save=False)
        fresh.content_type, fresh.size = content_type, len(data)
        fresh.save(update_fields=["file", "content_type", "size", "updated_at"])
    return True


# --- Tags and retention --------------------------------------------------------------------------


def recording_tags_set(*, recording: Recording, names: list[str], actor=None) -> Recording:
    """Replace the recording's tags by ``names`` (made when new, like interaction tags)."""
    from apps.contacts.models import Tag

    tags = []
    for name in dict.fromkeys(n.strip()[:50] for n in names if n.strip()):
        tag = Tag.objects.filter(organization_id=recording.organization_id, name__iexact=name)
        tags.append(
            tag.first() or Tag.objects.create(organization_id=recording.organization_id, name=name)
        )
    recording.tags.set(tags)
    return recording


def recording_purge(*, recording: Recording, actor=None) -> bool:
    """Delete the audio (ours and the provider's) and keep the row, marked purged. Idempotent;
    a provider failure leaves the row for the next run (False)."""
    if recording.status == Recording.Status.PURGED:
        return True
    account = _account(recording.interaction)
    if account is not None:
        try:
            _rest(recording.interaction, account).recordings(recording.provider_sid).delete()
        except Exception as exc:
            if getattr(exc, "status", None) != 404:  # already gone is what we want
                logger.warning(
                    "recording.purge_failed",
                    extra={"recording": recording.pk, "error": f"{type(exc).__name__}: {exc}"},
                )
                return False
    if recording.file:
        recording.file.delete(save=False)
    recording.status, recording.purged_at = Recording.Status.PURGED, timezone.now()
    recording.file, recording.size, recording.media_url = "", 0, ""
    recording.save()
    Transcript.objects.filter(recording=recording).delete()
    _event(recording, "recording.purged", actor)
    return True


def recordings_purge_due(*, now=None) -> int:
    """The retention: every organization's recordings older than its days (not on hold)."""
    now = now or timezone.now()
    purged = 0
    for policy in RecordingPolicy.objects.filter(retention_days__isnull=False):
        due = (
            Recording.objects.select_related("interaction__organization")
            .filter(
                organization_id=policy.organization_id,
                started_at__lt=now - timedelta(days=policy.retention_days),
                keep=False,
            )
            .exclude(status__in=[*Recording.LIVE, Recording.Status.PURGED])
        )
        for recording in due:
            purged += recording_purge(recording=recording)
    return purged


def recordings_download_missing(*, now=None, limit: int = 100) -> int:
    """Completed recordings whose audio is not here yet (the last day's): try again."""
    now = now or timezone.now()
    missing = Recording.objects.filter(
        status=Recording.Status.COMPLETED, file="", ended_at__gte=now - timedelta(days=1)
    ).exclude(media_url="")
    copied = 0
    for pk in missing.values_list("pk", flat=True)[:limit]:
        try:
            copied += recording_download(recording_id=pk)
        except Exception as exc:
            logger.warning("recording.download_failed", extra={"recording": pk, "error": str(exc)})
    return copied
