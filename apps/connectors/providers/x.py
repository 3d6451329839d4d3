"""X (Twitter) direct messages through the Account Activity API.

In: X checks the webhook with a GET carrying ``crc_token``, answered with
``{"response_token": "sha256=" + base64(HMAC-SHA256(consumer secret, crc_token))}``, and POSTs
JSON signed with ``x-twitter-webhooks-signature`` (the same HMAC of the raw body).
``direct_message_events`` holds ``message_create`` events; ours come back too and are skipped.

Out: ``POST {X_API_URL}/dm_conversations/with/{participant id}/messages`` with a user-context
OAuth 2.0 token (``dm.write``).
"""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import requests
from django.conf import settings
from django.http import JsonResponse


def _digest(secret: str, data: bytes) -> str:
    return (
        "sha256="
        + base64.b64encode(hmac.new(secret.encode(), data, hashlib.sha256).digest()).decode()
    )


def crc_response(request, account):
    token = request.GET.get("crc_token", "")
    if not token:
        return None
    return JsonResponse(
        {"response_token": _digest(account.secret("consumer_secret"), token.encode())}
    )


def verify(request, account) -> bool:
    secret = account.secret("consumer_secret")
    given = request.headers.get("X-Twitter-Webhooks-Signature", "")
    return bool(secret and given) and hmac.compare_digest(given, _digest(secret, request.body))


def items(body: bytes, account) -> list:
    from apps.connectors.services import Item

    payload = json.loads(body)
    if not isinstance(payload, dict):
        raise ValueError("not an object")
    ours = str(payload.get("for_user_id") or account.address)
    users = payload.get("users") or {}
    found = []
    for event in payload.get("direct_message_events") or []:
        create = event.get("message_create") or {}
        if event.get("type") != "message_create" or str(create.get("sender_id")) == ours:
            continue
        sender = users.get(str(create.get("sender_id"))) or {}
        found.append(Item("message", str(event.get("id", "")), {"event": event, "sender": sender}))
    return [i for i in found if i.external_id]


def handle(event):
    from django.db import transaction

    from apps.connectors.services import Received, message_receive

    dm = event.payload["event"]
    create = dm.get("message_create") or {}
    data = create.get("message_data") or {}
    sender = event.payload.get("sender") or {}
    sent = dm.get("created_timestamp")
    with transaction.atomic():
        message, _created = message_receive(
            account=event.account,
            received=Received(
                identity_kind="x",
                identity_value=str(create.get("sender_id", "")),
                provider_id=event.external_id,
                body=data.get("text", ""),
                content={"attachment": data["attachment"]} if data.get("attachment") else {},
                hints={"name": sender.get("name", "")},
                sent_at=datetime.fromtimestamp(int(sent) / 1000, tz=UTC) if sent else None,
            ),
        )
    return "ignored" if message is None else None


def send(outbound) -> str:
    from apps.connectors.services import SendError

    account = outbound.account
    url = f"{settings.X_API_URL}/dm_conversations/with/{outbound.to}/messages"
    try:
        response = requests.post(
            url,
            json={"text": outbound.message.body},
            headers={"Authorization": f"Bearer {account.secret('access_token')}"},
            timeout=20,
        )
    except requests.RequestException as exc:
        raise SendError(f"{type(exc).__name__}: {exc}") from exc
    if response.status_code >= 400:
        raise SendError(
            f"X {response.status_code}: {response.text[:200]}",
            permanent=response.status_code < 500 and response.status_code != 429,
        )
    return str((response.json().get("data") or {}).get("dm_event_id", ""))
