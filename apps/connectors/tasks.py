"""Thin tasks: each calls one service; the sweep repairs whatever a lost task left behind."""

import logging

from celery import shared_task

from apps.connectors import services

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def inbound_process_task(event_id: int) -> None:
    services.inbound_process(event_id=event_id)


@shared_task(ignore_result=True)
def outbound_send_task(outbound_id: int) -> None:
    services.outbound_send(outbound_id=outbound_id)


@shared_task(ignore_result=True)
def voice_sync_task(interaction_id: int) -> None:
    from apps.connectors.followme import follow_me_sync
    from apps.connectors.monitor import monitor_sync
    from apps.connectors.voice import voice_sync

    follow_me_sync(interaction_id=interaction_id)
    voice_sync(interaction_id=interaction_id)
    monitor_sync(interaction_id=interaction_id)


@shared_task(ignore_result=True)
def follow_me_step_task(interaction_id: int, agent_id: int, index: int) -> None:
    from apps.connectors.followme import follow_me_step

    follow_me_step(interaction_id=interaction_id, agent_id=agent_id, index=index)


@shared_task(ignore_result=True)
def voicemail_notify_task(interaction_id: int) -> None:
    from apps.connectors.voicemail import voicemail_notify

    voicemail_notify(interaction_id=interaction_id)


@shared_task(bind=True, ignore_result=True, max_retries=8)
def recording_download_task(self, recording_id: int) -> None:
    """Copy a finished recording's audio into our storage (retried: the provider may still be
    processing it, or the network fails)."""
    from apps.connectors.recording import recording_download

    try:
        recording_download(recording_id=recording_id)
    except Exception as exc:
        if self.request.is_eager:  # no worker to retry: the hourly maintenance does
            logger.warning("recording.download_failed", extra={"recording": recording_id})
            return
        raise self.retry(exc=exc, countdown=min(30 * 2**self.request.retries, 3600)) from exc


@shared_task(ignore_result=True)
def recordings_maintain_task() -> None:
    """The retention purge, and audio not copied yet (a download that kept failing)."""
    from apps.connectors.recording import recordings_download_missing, recordings_purge_due

    recordings_purge_due()
    recordings_download_missing()


@shared_task(ignore_result=True)
def channels_sweep_task() -> None:
    services.inbound_retry_due()
    services.outbound_retry_due()
    services.bot_timeouts()
    from apps.connectors.voicemail import voicemails_notify_due

    voicemails_notify_due()


@shared_task(ignore_result=True)
def chat_flow_timeouts_task() -> None:
    from apps.connectors.chatflow import chat_flow_timeouts

    chat_flow_timeouts()


@shared_task(ignore_result=True)
def email_poll_task() -> None:
    from apps.connectors.providers.email import mailboxes_poll

    mailboxes_poll()


@shared_task(bind=True, ignore_result=True, max_retries=6)
def email_send_plain_task(self, organization_id: int, to: str, subject: str, body: str) -> None:
    """``email_send_plain`` from a task: transient failures are retried with backoff."""
    from apps.accounts.models import Organization
    from apps.connectors.providers.email import email_send_plain

    organization = Organization.objects.get(pk=organization_id)
    try:
        email_send_plain(organization=organization, to=to, subject=subject, body=body)
    except services.SendError as exc:
        if exc.permanent:
            raise
        raise self.retry(exc=exc, countdown=min(30 * 2**self.request.retries, 3600)) from exc


@shared_task(bind=True, ignore_result=True, max_retries=6)
def sms_send_plain_task(self, organization_id: int, to: str, body: str) -> None:
    """``sms_send_plain`` from a task: transient failures are retried with backoff."""
    from apps.accounts.models import Organization
    from apps.connectors.providers.twilio_sms import sms_send_plain

    organization = Organization.objects.get(pk=organization_id)
    try:
        sms_send_plain(organization=organization, to=to, body=body)
    except services.SendError as exc:
        if exc.permanent:
            raise
        raise self.retry(exc=exc, countdown=min(30 * 2**self.request.retries, 3600)) from exc
