"""Faxes from a fax provider's webhook (and scans the team registers by hand).

In: ``POST /hooks/fax/<key>/`` as multipart, fields ``From`` (the sender's number), ``FaxId``
(the provider's id: a resend is stored once), optional ``Subject``, and the document in
``file`` (PDF or image). Signed like this system's own outbound webhooks: header
``X-CC-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`` with the account's
``webhook_secret``; a signature older than 5 minutes is refused (no replays).
"""

import hashlib
import io
import uuid

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http.multipartparser import MultiPartParser, MultiPartParserError


def read(request, account):
    """The items of a signed fax delivery, or None when the signature is wrong. The file is
    kept in storage until processed (the event holds its path)."""
    from apps.connectors.services import Item, document_check
    from apps.integrations.services import webhook_signature_verify

    limit = 2 * 1024 * 1024 + settings.ATTACHMENT_MAX_BYTES  # the file and the form around it
    body = request.read(limit + 1)
    secret = account.secret("webhook_secret")
    header = request.headers.get("X-CC-Signature", "")
    if (
        not secret
        or len(body) > limit
        or not webhook_signature_verify(secret=secret, header=header, body=body)
    ):
        return None
    try:
        fields, files = MultiPartParser(
            request.META, io.BytesIO(body), request.upload_handlers, request.encoding
        ).parse()
    except MultiPartParserError as exc:
        raise ValueError(str(exc)) from exc
    upload = files.get("file")
    if upload is None:
        raise ValueError("no file")
    data = upload.read()
    document_check(name=upload.name, size=len(data))
    fax_id = fields.get("FaxId") or hashlib.sha256(data).hexdigest()
    path = default_storage.save(
        f"inbound/{account.organization_id}/{uuid.uuid4().hex}/{upload.name}", ContentFile(data)
    )
    payload = {
        "path": path,
        "name": upload.name,
        "from": fields.get("From", ""),
        "subject": fields.get("Subject", ""),
        "id": fax_id,
    }
    return [Item("message", fax_id, payload)]


def handle(event):
    from apps.connectors.services import document_receive

    payload = event.payload
    with default_storage.open(payload["path"], "rb") as stored:
        data = stored.read()
    document_receive(
        organization=event.account.organization,
        channel="fax",
        name=payload["name"],
        data=data,
        sender=payload["from"],
        subject=payload["subject"],
        account=event.account,
        provider_id=f"fax:{payload['id']}",
    )
    default_storage.delete(payload["path"])
    return None
