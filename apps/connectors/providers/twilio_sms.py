"""SMS and MMS through Twilio (or any provider speaking its webhooks and REST API).

In: Twilio POSTs form fields (``MessageSid``, ``From``, ``To``, ``Body``, ``NumMedia``,
``MediaUrl0``…) signed with ``X-Twilio-Signature`` (HMAC-SHA1 of the URL and the sorted fields
with the auth token, checked by ``twilio.request_validator.RequestValidator``). Status
callbacks carry ``MessageSid`` and ``MessageStatus``. Out: ``Client.messages.create``.

Keywords: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT record an opt-out for
SMS (and one confirmation is sent); START, YES, UNSTOP an opt-in; HELP, INFO get the
account's help text. Sending to an opted-out customer is refused with a clear error.
"""

from django.conf import settings
from django.utils.translation import gettext as _
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from apps.connectors.providers.common import absolute, media_link, public_url

OPT_OUT = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
OPT_IN = {"START", "YES", "UNSTOP"}
HELP = {"HELP", "INFO"}
STATUSES = {
    "queued": "queued",
    "accepted": "queued",
    "scheduled": "queued",
    "sending": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "failed",
    "failed": "failed",
}


def verify(request, account) -> bool:
    signature = request.headers.get("X-Twilio-Signature", "")
    token = account.secret("auth_token")
    if not signature or not token:
        return False
    return RequestValidator(token).validate(public_url(request), request.POST, signature)


def inbound_items(request) -> list:
    from apps.connectors.services import Item

    fields = {k: request.POST.get(k) for k in request.POST}
    sid = fields.get("MessageSid") or fields.get("SmsSid") or ""
    if not sid:
        return []
    return [Item(kind="message", external_id=sid, payload=fields)]


def status_items(request) -> list:
    from apps.connectors.services import Item

    sid = request.POST.get("MessageSid", "")
    status = request.POST.get("MessageStatus", "")
    if not sid or not status:
        return []
    fields = {k: request.POST.get(k) for k in request.POST}
    # One event per (message, status): "sent" then "delivered" are two, a repeat is one.
    return [Item(kind="status", external_id=f"{sid}:{status}", payload=fields)]


def handle(event):
    from apps.connectors.services import delivery_update

    fields = event.payload
    account = event.account
    if event.kind == "status":
        status = STATUSES.get(fields.get("MessageStatus", ""))
        if status is None:
            return "ignored"
        error = fields.get("ErrorCode") or ""
        found = delivery_update(
            account=account,
            provider_id=fields["MessageSid"],
            status=status,
            error=f"Twilio error {error}" if error else "",
        )
        if found is None:
            # The receipt came before our send was recorded: retried shortly.
            raise LookupError(f"no message {fields['MessageSid']} yet")
        return None
    return _receive(account, fields)


def _receive(account, fields):
    from django.db import transaction

    from apps.connectors.services import Received, fetch_media, message_receive

    files = []  # fetched before the transaction: a slow download holds no lock
    auth = (account.config.get("account_sid", ""), account.secret("auth_token"))
    for n in range(int(fields.get("NumMedia") or 0)):
        url = fields.get(f"MediaUrl{n}")
        if url:
            data, content_type = fetch_media(url, auth=auth)
            kind = fields.get(f"MediaContentType{n}") or content_type
            extension = kind.split("/")[-1].split(";")[0] or "bin"
            files.append((f"media-{n}.{extension}", kind, data))
    body = (fields.get("Body") or "").strip()
    with transaction.atomic():
        message, created = message_receive(
            account=account,
            received=Received(
                identity_kind="phone",
                identity_value=fields.get("From", ""),
                provider_id=fields.get("MessageSid") or fields.get("SmsSid", ""),
                body=body,
                files=files,
            ),
        )
        if message is None:
            return "ignored"
        keyword = body.upper()
        if created and keyword in OPT_OUT | OPT_IN | HELP:
            _keyword(account, message, keyword)
    return None


def _keyword(account, message, keyword: str) -> None:
    """Opt-out, opt-in or help: the consent is recorded and the customer told once (in the
    transaction that stored their message, which happens once per provider message id)."""
    from django.utils import translation

    from apps.interactions.models import Direction, Message
    from apps.interactions.services import message_add

    interaction = message.interaction
    name = account.organization.name
    with translation.override(interaction.language or account.organization.language):
        reply = _reply(account, interaction, keyword, name)
    # Through the outbox, like any reply; a system confirmation is the one message an
    # opted-out customer may still get.
    message_add(
        interaction=interaction,
        direction=Direction.OUTBOUND,
        author_kind=Message.Author.SYSTEM,
        body=reply,
    )


def _reply(account, interaction, keyword: str, name: str) -> str:
    """Records the consent a keyword asks for; the text that confirms it (or the help)."""
    from apps.contacts.models import Consent
    from apps.contacts.services import consent_record

    if keyword in HELP:
        reply = account.config.get("help_text") or _(
            "%(name)s: reply STOP to stop receiving messages, START to receive them again."
        ) % {"name": name}
    else:
        opted_out = keyword in OPT_OUT
        consent_record(
            contact=interaction.contact,
            channel="sms",
            status=Consent.Status.OPT_OUT if opted_out else Consent.Status.OPT_IN,
            source=Consent.Source.KEYWORD,
            note=keyword,
        )
        if opted_out:
            reply = account.config.get("opt_out_reply") or _(
                "You will no longer receive messages from %(name)s. Reply START to undo."
            ) % {"name": name}
        else:
            reply = account.config.get("opt_in_reply") or _(
                "You will receive messages from %(name)s again. Reply STOP to stop."
            ) % {"name": name}
    return reply


def _client(account) -> Client:
    client = Client(account.config.get("account_sid", ""), account.secret("auth_token"))
    if settings.TWILIO_API_BASE:
        client.api.base_url = settings.TWILIO_API_BASE
    return client


def send(outbound) -> str:
    from apps.connectors.services import SendError

    account, message = outbound.account, outbound.message
    params = {"to": outbound.to, "body": message.body}
    service = account.config.get("messaging_service_sid")
    if service:
        params["messaging_service_sid"] = service
    else:
        params["from_"] = account.address
    callback = absolute(f"/hooks/twilio/sms/{account.key}/status/")
    if callback:
        params["status_callback"] = callback
    media = [link for a in message.attachments.all() if (link := media_link(a))]
    if media:
        params["media_url"] = media
    try:
        created = _client(account).messages.create(**params)
    except TwilioRestException as exc:
        # 4xx: the request itself is wrong (bad number, blocked): retrying will not help.
        raise SendError(
            f"Twilio {exc.status} {exc.code}: {exc.msg}", permanent=400 <= exc.status < 500
        ) from exc
    except Exception as exc:  # the network or Twilio itself: try again later
        raise SendError(f"{type(exc).__name__}: {exc}") from exc
    return created.sid


def sms_send_plain(*, organization, to: str, body: str) -> str:
    """One SMS from the organization's first active SMS number, outside any conversation (a
    notice to one of its people: a voicemail came). Returns the provider's id; raises
    ``SendError`` (``permanent`` when retrying cannot help). Synchronous: call it from a task
    (``sms_send_plain_task``)."""
    import re

    from apps.connectors.models import ChannelAccount, Kind
    from apps.connectors.services import SendError

    if not re.match(r"^\+[1-9]\d{6,14}$", to or ""):
        raise SendError(f"Not an international number: {to!r}", permanent=True)
    account = (
        ChannelAccount.objects.filter(organization=organization, kind=Kind.SMS, is_active=True)
        .order_by("pk")
        .first()
    )
    if account is None:
        raise SendError("The organization has no SMS number.", permanent=True)
    params = {"to": to, "body": body[:1600]}
    service = account.config.get("messaging_service_sid")
    if service:
        params["messaging_service_sid"] = service
    else:
        params["from_"] = account.address
    try:
        created = _client(account).messages.create(**params)
    except TwilioRestException as exc:
        raise SendError(
            f"Twilio {exc.status} {exc.code}: {exc.msg}", permanent=400 <= exc.status < 500
        ) from exc
    except Exception as exc:  # the network or Twilio itself: try again later
        raise SendError(f"{type(exc).__name__}: {exc}") from exc
    return created.sid
