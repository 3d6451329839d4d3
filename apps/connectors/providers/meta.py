"""WhatsApp Cloud API, Messenger and Instagram messaging: Meta's webhooks and Graph API.

In: Meta checks the subscription with a GET (``hub.mode=subscribe``, ``hub.verify_token``,
answered with ``hub.challenge``) and POSTs JSON signed with ``X-Hub-Signature-256``
(``sha256=`` + hex HMAC-SHA256 of the raw body with the app secret). WhatsApp nests messages
and statuses in ``entry[].changes[].value``; Messenger (``object: page``) and Instagram
(``object: instagram``) in ``entry[].messaging[]``.

Out: ``POST {META_GRAPH_URL}/{phone-number-id}/messages`` (WhatsApp) or ``…/{page or account
id}/messages`` (Messenger, Instagram) with the account's access token. WhatsApp allows free
text only within 24 hours of the customer's last message; after that, an approved template.
"""

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from apps.connectors.models import Kind
from apps.connectors.providers.common import media_link

WHATSAPP_WINDOW = timedelta(hours=24)
WHATSAPP_STATUSES = {"sent": "sent", "delivered": "delivered", "read": "read", "failed": "failed"}
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
WHATSAPP_BUTTONS_MAX = 3  # interactive reply buttons; up to 10 choices go in a list
WHATSAPP_LIST_MAX = 10
QUICK_REPLIES_MAX = 13  # Messenger and Instagram
# Graph errors that retrying cannot fix (bad recipient, outside the window, bad template…).
TRANSIENT_CODES = {1, 2, 4, 17, 32, 80007, 130429, 131000, 131016, 131048, 131056}


# --- Webhooks --------------------------------------------------------------------------------


def subscription_challenge(request, account) -> str | None:
    """Meta's GET check: the challenge back when the verify token is ours, else None."""
    token = account.secret("verify_token")
    if (
        request.GET.get("hub.mode") == "subscribe"
        and token
        and hmac.compare_digest(request.GET.get("hub.verify_token", ""), token)
    ):
        return request.GET.get("hub.challenge", "")
    return None


def signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(request, account) -> bool:
    secret = account.secret("app_secret")
    given = request.headers.get("X-Hub-Signature-256", "")
    return bool(secret and given) and hmac.compare_digest(given, signature(request.body, secret))


def items(body: bytes, account) -> list:
    """One item per message and per status in the delivery (Meta batches them)."""
    from apps.connectors.services import Item

    payload = json.loads(body)
    if not isinstance(payload, dict):
        raise ValueError("not an object")
    found: list[Item] = []
    for entry in payload.get("entry") or []:
        for change in entry.get("changes") or []:  # WhatsApp
            value = change.get("value") or {}
            names = {
                c.get("wa_id"): (c.get("profile") or {}).get("name", "")
                for c in value.get("contacts") or []
            }
            for message in value.get("messages") or []:
                item = {"message": message, "name": names.get(message.get("from"), "")}
                found.append(Item("message", message.get("id", ""), item))
            for status in value.get("statuses") or []:
                key = f"{status.get('id')}:{status.get('status')}"
                found.append(Item("status", key, {"status": status}))
        for event in entry.get("messaging") or []:  # Messenger, Instagram
            sender = (event.get("sender") or {}).get("id", "")
            message = event.get("message") or {}
            if message.get("is_echo"):  # what our page sent, echoed back
                continue
            if message.get("mid"):
                found.append(Item("message", message["mid"], {"event": event}))
            elif event.get("postback"):
                key = f"postback:{sender}:{event.get('timestamp')}"
                found.append(Item("message", key, {"event": event}))
            for mid in (event.get("delivery") or {}).get("mids") or []:
                found.append(Item("status", f"{mid}:delivered", {"event": event, "mid": mid}))
            read = event.get("read") or {}
            if read.get("mid"):  # Instagram: one message read
                found.append(
                    Item(
                        "status",
                        f"{read['mid']}:read",
                        {"event": event, "mid": read["mid"], "read": True},
                    )
                )
            elif read.get("watermark"):  # Messenger: everything up to then
                key = f"read:{sender}:{read['watermark']}"
                found.append(Item("status", key, {"event": event}))
    return [i for i in found if i.external_id]


# --- Processing ------------------------------------------------------------------------------


def _graph(account, method: str, path: str, **kwargs):
    headers = {"Authorization": f"Bearer {account.secret('access_token')}"}
    return requests.request(
        method,
        f"{settings.META_GRAPH_URL}/{path.lstrip('/')}",
        headers=headers,
        timeout=20,
        **kwargs,
    )


def _whatsapp_media(account, media: dict) -> tuple[str, str, bytes]:
    from apps.connectors.services import fetch_media

    info = _graph(account, "GET", media["id"])
    info.raise_for_status()
    data, content_type = fetch_media(
        info.json()["url"], headers={"Authorization": f"Bearer {account.secret('access_token')}"}
    )
    kind = media.get("mime_type") or content_type
    name = media.get("filename") or f"{media['id']}.{kind.split('/')[-1].split(';')[0]}"
    return name, kind, data


def _read_whatsapp(account, item: dict):
    """(identity value, body, content, files, hints) of a WhatsApp message."""
    message = item["message"]
    kind = message.get("type", "")
    body, content, files = "", {"type": kind}, []
    if kind == "text":
        body = (message.get("text") or {}).get("body", "")
    elif kind in MEDIA_TYPES:
        media = message.get(kind) or {}
        body = media.get("caption", "")
        files.append(_whatsapp_media(account, media))
    elif kind == "location":
        place = message.get("location") or {}
        content["location"] = place
        label = ", ".join(p for p in (place.get("name"), place.get("address")) if p)
        body = f"{label} ({place.get('latitude')}, {place.get('longitude')})".strip()
    elif kind == "interactive":
        reply = message.get("interactive") or {}
        chosen = reply.get("button_reply") or reply.get("list_reply") or {}
        body, content["reply"] = chosen.get("title", ""), chosen.get("id", "")
    elif kind == "button":
        button = message.get("button") or {}
        body, content["reply"] = button.get("text", ""), button.get("payload", "")
    else:
        body = _("(a %(kind)s message this desk cannot show)") % {"kind": kind or "?"}
    return message.get("from", ""), body, content, files, {"name": item.get("name", "")}


def _read_messaging(item: dict):
    """(identity value, body, content, files, hints) of a Messenger or Instagram message."""
    from apps.connectors.services import fetch_media

    event = item["event"]
    message = event.get("message") or {}
    body, content, files = message.get("text", ""), {}, []
    if event.get("postback"):
        body = event["postback"].get("title", "")
        content["reply"] = event["postback"].get("payload", "")
    if message.get("quick_reply"):
        content["reply"] = message["quick_reply"].get("payload", "")
    for n, attachment in enumerate(message.get("attachments") or []):
        url = (attachment.get("payload") or {}).get("url")
        if url:
            data, kind = fetch_media(url)
            files.append(
                (f"{attachment.get('type', 'file')}-{n}.{kind.split('/')[-1]}", kind, data)
            )
    return (event.get("sender") or {}).get("id", ""), body, content, files, {}


def handle(event):
    from django.db import transaction

    from apps.connectors.services import Received, message_receive

    account = event.account
    if event.kind == "status":
        return _status(account, event.payload)
    if account.kind == Kind.WHATSAPP:
        who, body, content, files, hints = _read_whatsapp(account, event.payload)
        sent = event.payload["message"].get("timestamp")
    else:
        who, body, content, files, hints = _read_messaging(event.payload)
        sent = (event.payload["event"].get("timestamp") or 0) / 1000 or None
    if not body and files:
        content["files"] = len(files)
    with transaction.atomic():
        message, _created = message_receive(
            account=account,
            received=Received(
                identity_kind=account.kind,
                identity_value=who,
                provider_id=event.external_id,
                body=body,
                content=content if (content.keys() - {"type"}) or not body else {},
                files=files,
                hints=hints,
                sent_at=datetime.fromtimestamp(float(sent), tz=UTC) if sent else None,
            ),
        )
    return "ignored" if message is None else None


def _status(account, payload: dict):
    from apps.connectors.services import delivery_update
    from apps.interactions.models import Direction, Message

    if "status" in payload:  # WhatsApp
        status = payload["status"]
        value = WHATSAPP_STATUSES.get(status.get("status", ""))
        if value is None:
            return "ignored"
        errors = status.get("errors") or [{}]
        error = errors[0].get("title") or errors[0].get("message") or ""
        if delivery_update(account=account, provider_id=status["id"], status=value, error=error):
            return None
        raise LookupError(f"no message {status['id']} yet")  # retried: our send may lag
    event = payload["event"]
    if payload.get("mid"):
        status = "read" if payload.get("read") else "delivered"
        found = delivery_update(account=account, provider_id=payload["mid"], status=status)
        if found is None:
            raise LookupError(f"no message {payload['mid']} yet")
        return None
    # Read up to the watermark: every message we sent them until then.
    watermark = datetime.fromtimestamp(event["read"]["watermark"] / 1000, tz=UTC)
    sender = (event.get("sender") or {}).get("id", "")
    for provider_id in (
        Message.objects.filter(
            organization_id=account.organization_id,
            channel=account.kind,
            direction=Direction.OUTBOUND,
            interaction__identity__value=sender,
            created_at__lte=watermark,
        )
        .exclude(provider_id="")
        .values_list("provider_id", flat=True)
    ):
        delivery_update(account=account, provider_id=provider_id, status="read")
    return None


# --- Sending ---------------------------------------------------------------------------------


def whatsapp_window_open(interaction, *, now=None) -> bool:
    """Whether WhatsApp lets us write freely: the customer wrote within 24 hours."""
    from django.utils import timezone

    from apps.interactions.models import Direction, Message

    last = (
        Message.objects.filter(
            organization_id=interaction.organization_id,
            channel=Kind.WHATSAPP,
            direction=Direction.INBOUND,
            interaction__contact_id=interaction.contact_id,
        )
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    return last is not None and (now or timezone.now()) - last < WHATSAPP_WINDOW


def precheck(message) -> None:
    """Refuse at once what WhatsApp would refuse: free text outside the 24-hour window."""
    interaction = message.interaction
    if (
        interaction.channel == Kind.WHATSAPP
        and not message.content.get("template")
        and not whatsapp_window_open(interaction)
    ):
        raise ValidationError(
            {
                "body": _(
                    "The customer last wrote more than 24 hours ago: WhatsApp only lets you "
                    "send an approved template now."
                )
            }
        )


def _whatsapp_choices(message) -> dict:
    """A flow's choices as WhatsApp interactive content: reply buttons (up to 3), else a list
    (up to 10 rows). A tap comes back as ``button_reply`` or ``list_reply`` with the id."""
    buttons = message.content["buttons"]
    body = {"text": (message.body or "…")[:1024]}
    if len(buttons) <= WHATSAPP_BUTTONS_MAX:
        return {
            "type": "button",
            "body": body,
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": b["id"], "title": b["title"][:20]}}
                    for b in buttons
                ]
            },
        }
    from django.utils import translation

    language = message.interaction.language or message.organization.language
    with translation.override(language):
        label = _("Choose")
    return {
        "type": "list",
        "body": body,
        "action": {
            "button": label[:20],
            "sections": [
                {
                    "title": label[:24],
                    "rows": [
                        {"id": b["id"], "title": b["title"][:24]}
                        for b in buttons[:WHATSAPP_LIST_MAX]
                    ],
                }
            ],
        },
    }


def _payload(outbound) -> list[dict]:
    """The Graph requests for one message: text (or template), then one per attachment."""
    message, account = outbound.message, outbound.account
    if account.kind == Kind.WHATSAPP:
        # Stored in E.164 (+…); WhatsApp names people by their wa_id, the same digits.
        to = outbound.to.lstrip("+")
        base = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
        template = message.content.get("template")
        if template:
            language = message.content.get("language") or account.config.get("language") or "en"
            bodies = [
                {
                    **base,
                    "type": "template",
                    "template": {"name": template, "language": {"code": language}},
                }
            ]
        elif message.content.get("buttons"):
            bodies = [{**base, "type": "interactive", "interactive": _whatsapp_choices(message)}]
        else:
            bodies = (
                [{**base, "type": "text", "text": {"body": message.body}}] if message.body else []
            )
        for attachment in message.attachments.all():
            kind = attachment.content_type.split("/")[0]
            kind = kind if kind in ("image", "video", "audio") else "document"
            media = {"link": media_link(attachment)}
            if kind == "document":
                media["filename"] = attachment.filename
            bodies.append({**base, "type": kind, kind: media})
        return bodies
    recipient = {"recipient": {"id": outbound.to}, "messaging_type": "RESPONSE"}
    bodies = [{**recipient, "message": {"text": message.body}}] if message.body else []
    if bodies and message.content.get("buttons"):
        # Quick replies: tapped, their title comes back as text and their payload with it.
        bodies[0]["message"]["quick_replies"] = [
            {"content_type": "text", "title": b["title"][:20], "payload": b["id"]}
            for b in message.content["buttons"][:QUICK_REPLIES_MAX]
        ]
    for attachment in message.attachments.all():
        kind = attachment.content_type.split("/")[0]
        kind = kind if kind in ("image", "video", "audio") else "file"
        bodies.append(
            {
                **recipient,
                "message": {
                    "attachment": {"type": kind, "payload": {"url": media_link(attachment)}}
                },
            }
        )
    return bodies


def send(outbound) -> str:
    from apps.connectors.services import SendError

    account = outbound.account
    path = f"{account.address or 'me'}/messages"
    first_id = ""
    for body in _payload(outbound):
        try:
            response = _graph(account, "POST", path, json=body)
        except requests.RequestException as exc:
            raise SendError(f"{type(exc).__name__}: {exc}") from exc
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code >= 400 or "error" in data:
            error = data.get("error") or {}
            code = error.get("code")
            transient = response.status_code >= 500 or response.status_code == 429
            raise SendError(
                f"Graph {response.status_code} {code}: {error.get('message', response.text[:200])}",
                permanent=not transient and code not in TRANSIENT_CODES,
            )
        message_id = (data.get("messages") or [{}])[0].get("id") or data.get("message_id", "")
        first_id = first_id or message_id
    return first_id
