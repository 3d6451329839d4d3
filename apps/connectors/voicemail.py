"""Voicemail notifications and the link to a message's audio.

A voicemail is left for an agent (the end of their follow-me chain: ``voice["voicemail_agent"]``)
or in a queue. Once its transcript is in (or ``VOICEMAIL_TRANSCRIPT_WAIT_SECONDS`` after the
recording, if none comes: the channels sweep sends it) the agent — or the queue's people — hear
of it the ways they chose: in the desk (a notification, live), by e-mail (the organization's
mailbox) and/or by SMS (the organization's SMS number); ``AgentProfile.voicemail_notify``, or
``Queue.voicemail_notify`` with its address and number. Each carries a link to the audio: signed
and expiring (``VOICEMAIL_LINK_MAX_AGE``), served by ``voicemail_audio_view``, which fetches the
provider's recording with the number's credentials, so no provider credential ever leaves us.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from apps.connectors.models import ChannelAccount
from apps.interactions.models import Channel, Event, Interaction

logger = logging.getLogger(__name__)

LINK_SALT = "connectors.voicemail-audio"


def voicemail_link(*, interaction: Interaction) -> str:
    """A signed link to the voicemail's audio (absolute when the public address is known)."""
    voice = (interaction.data or {}).get("voice") or {}
    token = signing.dumps(
        {"o": interaction.organization_id, "i": interaction.pk, "r": voice.get("recording_sid")},
        salt=LINK_SALT,
    )
    path = reverse("voicemail-audio", kwargs={"token": token})
    base = settings.PUBLIC_BASE_URL or voice.get("base") or ""
    return base.rstrip("/") + path


def voicemail_audio_source(*, token: str) -> tuple[ChannelAccount, str] | None:
    """The number and the provider URL of the recording a link names (None: tampered,
    expired, or no longer there)."""
    try:
        data = signing.loads(token, salt=LINK_SALT, max_age=settings.VOICEMAIL_LINK_MAX_AGE)
    except signing.BadSignature:
        return None
    interaction = Interaction.objects.filter(
        organization_id=data.get("o"), pk=data.get("i"), channel=Channel.VOICE
    ).first()
    if interaction is None:
        return None
    voice = (interaction.data or {}).get("voice") or {}
    if not voice.get("recording") or voice.get("recording_sid") != data.get("r"):
        return None
    account = ChannelAccount.objects.filter(
        organization_id=interaction.organization_id, pk=voice.get("account")
    ).first()
    if account is None:
        return None
    return account, voice["recording"]


def _recipients(interaction: Interaction) -> list[tuple[str, object]]:
    """(channel, whom) pairs: ("desk", user), ("email", address), ("sms", number)."""
    from django.contrib.auth import get_user_model

    from apps.queues.models import Queue

    voice = (interaction.data or {}).get("voice") or {}
    agent_id = voice.get("voicemail_agent")
    if agent_id:
        agent = (
            get_user_model()
            .objects.filter(pk=agent_id, organization_id=interaction.organization_id)
            .select_related("agent_profile")
            .first()
        )
        if agent is None:
            return []
        profile = getattr(agent, "agent_profile", None)
        wanted = getattr(profile, "voicemail_notify", None) or ["desk"]
        pairs = []
        if "desk" in wanted:
            pairs.append(("desk", agent))
        if "email" in wanted and agent.email:
            pairs.append(("email", agent.email))
        if "sms" in wanted and getattr(profile, "mobile", ""):
            pairs.append(("sms", profile.mobile))
        return pairs
    queue = Queue.objects.filter(
        organization_id=interaction.organization_id,
        pk=voice.get("voicemail_queue") or interaction.queue_id,
    ).first()
    if queue is None:
        return []
    wanted = queue.voicemail_notify or []
    pairs = []
    if "desk" in wanted:
        pairs += [("desk", member) for member in queue.members.filter(is_active=True)]
    if "email" in wanted and queue.voicemail_email:
        pairs.append(("email", queue.voicemail_email))
    if "sms" in wanted and queue.voicemail_sms:
        pairs.append(("sms", queue.voicemail_sms))
    return pairs


def voicemail_notify(*, interaction_id: int) -> list[str]:
    """Tell whoever the voicemail is for, once (later calls change nothing). Returns the
    channels used."""
    from apps.connectors.tasks import email_send_plain_task, sms_send_plain_task
    from apps.interactions.services import event_record
    from apps.notifications.services import notification_send

    with transaction.atomic():
        interaction = (
            Interaction.objects.select_for_update()
            .select_related("organization", "contact")
            .filter(pk=interaction_id, channel=Channel.VOICE)
            .first()
        )
        if interaction is None:
            return []
        voice = dict((interaction.data or {}).get("voice") or {})
        if not voice.get("recorded") or voice.get("notified"):
            return []
        voice["notified"] = True
        interaction.data = {**interaction.data, "voice": voice}
        interaction.save(update_fields=["data", "updated_at"])
        organization = interaction.organization
        link = voicemail_link(interaction=interaction)
        caller = voice.get("from") or _("an unknown number")
        with translation.override(organization.language or "en"):
            title = _("New voicemail from %(caller)s") % {"caller": caller}
            lines = [
                _("%(name)s left a message of %(seconds)s s.")
                % {"name": str(interaction.contact), "seconds": voice.get("seconds", 0)}
            ]
            if voice.get("transcript"):
                lines.append(_("Transcript: %(text)s") % {"text": voice["transcript"]})
            lines.append(_("Listen: %(link)s") % {"link": link})
            body = "\n".join(lines)
            sms = _("Voicemail from %(caller)s: %(link)s") % {"caller": caller, "link": link}
        used = []
        for channel, whom in _recipients(interaction):
            if channel == "desk":
                notification_send(recipient=whom, title=title, body=body, url=link)
            elif channel == "email":
                args = (organization.pk, whom, title, body)
                transaction.on_commit(
                    lambda args=args: email_send_plain_task.delay(*args), robust=True
                )
            elif channel == "sms":
                args = (organization.pk, whom, sms)
                transaction.on_commit(
                    lambda args=args: sms_send_plain_task.delay(*args), robust=True
                )
            used.append(channel)
        event_record(
            organization=organization,
            type="voicemail.notified",
            interaction=interaction,
            data={"channels": sorted(set(used))},
        )
    return used


def voicemails_notify_due(*, now=None) -> int:
    """Sweep: voicemails whose transcript never came are notified without it, a while after
    the recording."""
    now = now or timezone.now()
    wait = timedelta(seconds=settings.VOICEMAIL_TRANSCRIPT_WAIT_SECONDS)
    due = (
        Event.objects.filter(
            type="voicemail.recorded", at__lte=now - wait, at__gte=now - timedelta(days=2)
        )
        .exclude(interaction__data__voice__has_key="notified")
        .values_list("interaction_id", flat=True)
    )
    return sum(bool(voicemail_notify(interaction_id=pk)) for pk in list(due[:200]))
