"""E-mail: a mailbox per channel account, read over IMAP or fed by an ESP, answered over SMTP.

In, two ways, one format: ``mailbox_poll`` fetches new messages over IMAP (``BODY.PEEK[]``,
so nothing is marked read before it is stored; ``\\Seen`` is set once ``inbound_accept`` has
committed): the unread ones until caught up, then every UID above the last one taken (the
folder's UIDVALIDITY changing starts that over), and ``anymail_inbound`` receives django-anymail's
``inbound`` signal (any ESP's inbound webhook, HTTP basic auth). Both store an ``Item`` keyed
by the Message-ID (else a hash of the bytes) with the raw MIME in base64: replays, a second
poll or the same mail by both paths store one event.

``handle`` turns it into a contact (the sender's address), a message and its files. Threading:
a mail whose In-Reply-To / References name a message of an e-mail conversation joins it when
it is still open, and opens a new conversation that ``continues`` it when it is closed; other
mail opens a new conversation (an e-mail without references is a new subject, not a follow-up).
A sender joins someone else's thread only if they were among its addresses (a CC'd
colleague), so a leaked Message-ID cannot slip mail into another customer's conversation.
HTML is sanitised (nh3) before it is kept; the text part is the message body (else the HTML
made text). An auto-acknowledgement (``config.auto_ack``) answers a new conversation once,
never an automatic or bulk mail (RFC 3834 ``Auto-Submitted``, ``Precedence``, lists, bounces).

Out: ``send`` over the mailbox's SMTP server (``config.smtp_*``, secret ``smtp_password``
else ``password``), or an ESP's API through anymail (``config.esp``, secret ``esp_api_key``),
with Django's ``EmailMessage``: From the mailbox, Subject "Re: …" of the
thread, In-Reply-To / References of the customer's last mail, a generated Message-ID (stored as
the message's provider id, so the customer's reply finds its thread), the signature and the
files. ``email_send_plain`` sends one e-mail outside any conversation (a chat transcript).
"""

from __future__ import annotations

import base64
import hashlib
import html as html_lib
import logging
import re
import smtplib
import uuid
from email.utils import formataddr

from anymail.exceptions import AnymailRecipientsRefused
from anymail.inbound import AnymailInboundMessage
from anymail.signals import inbound
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
# config.esp → (anymail backend, the name it gives the credential): the secret ``esp_api_key``.
ESP_BACKENDS = {
    "brevo": ("anymail.backends.brevo.EmailBackend", "api_key"),
    "mailersend": ("anymail.backends.mailersend.EmailBackend", "api_token"),
    "mailgun": ("anymail.backends.mailgun.EmailBackend", "api_key"),
    "postmark": ("anymail.backends.postmark.EmailBackend", "server_token"),
    "resend": ("anymail.backends.resend.EmailBackend", "api_key"),
    "sendgrid": ("anymail.backends.sendgrid.EmailBackend", "api_key"),
    "sparkpost": ("anymail.backends.sparkpost.EmailBackend", "api_key"),
}
TIMEOUT = 30  # seconds for one IMAP or SMTP exchange
MESSAGE_ID = re.compile(r"<[^<>\s]+>")
REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|antw|r|réf|ref)\s*:", re.IGNORECASE)
AUTOMATIC_SENDERS = {"mailer-daemon", "postmaster", "noreply", "no-reply", "donotreply"}
BULK_PRECEDENCE = {"bulk", "list", "junk", "auto_reply"}
KEPT_TYPES = (  # received files keep their type; others are stored as opaque bytes
    "image/",
    "audio/",
    "video/",
    "application/pdf",
    "text/plain",
    "text/csv",
    "text/calendar",
    "application/msword",
    "application/vnd.",
    "application/zip",
)
THREAD_REFERENCES = 20  # the last ids of References we repeat (RFC 5322 allows trimming)


# --- Parsing --------------------------------------------------------------------------------------


def message_ids(value) -> list[str]:
    """The ``<id@host>`` tokens of a Message-ID, In-Reply-To or References header."""
    if not value:
        return []
    if isinstance(value, list | tuple):
        value = " ".join(str(v) for v in value)
    return [token[:255] for token in MESSAGE_ID.findall(str(value))]


def item_for(raw: bytes, *, source: str, **extra):
    """One stored item for a raw message: keyed by its Message-ID, else a hash of it."""
    from apps.connectors.services import Item

    parsed = AnymailInboundMessage.parse_raw_mime_bytes(raw)
    ids = message_ids(parsed.get("Message-ID"))
    external_id = ids[0] if ids else "sha256:" + hashlib.sha256(raw).hexdigest()
    payload = {"source": source, "raw": base64.b64encode(raw).decode("ascii"), **extra}
    return Item(kind="message", external_id=external_id, payload=payload)


def _address(value) -> tuple[str, str]:
    """(addr, display name) of anymail's EmailAddress (or the first of a list)."""
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if value is None:
        return "", ""
    return (value.addr_spec or "").strip(), (value.display_name or "").strip()


def _addresses(message, *names: str) -> list[str]:
    found = []
    for name in names:
        for address in getattr(message, name, None) or []:
            if address.addr_spec:
                found.append(address.addr_spec.strip().lower())
    return found


def html_to_text(markup: str) -> str:
    """Readable text from an HTML part: block ends become line breaks, tags go."""
    import nh3

    markup = re.sub(r"(?i)<br\s*/?>|</(p|div|li|tr|h[1-6]|blockquote|table)>", "\n", markup)
    text = html_lib.unescape(nh3.clean(markup, tags=set()))
    text = re.sub(r"[ \t\r\f\v]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def is_automatic(message) -> bool:
    """Mail no robot of ours should answer (RFC 3834): auto-replies, bounces, lists, bulk."""
    auto_submitted = (message.get("Auto-Submitted") or "no").strip().lower()
    precedence = (message.get("Precedence") or "").strip().lower()
    sender, _name = _address(message.from_email)
    return (
        not auto_submitted.startswith("no")
        or precedence in BULK_PRECEDENCE
        or any(message.get(h) for h in ("List-Id", "List-Unsubscribe", "X-Autoreply"))
        or bool(message.get("X-Autorespond"))
        or message.get_content_type() == "multipart/report"
        or sender.split("@")[0].lower() in AUTOMATIC_SENDERS
    )


def _files(message) -> tuple[list[tuple[str, str, bytes]], list[str]]:
    """The attached files within ATTACHMENT_MAX_BYTES, and the names of those left out."""
    limit = settings.ATTACHMENT_MAX_BYTES
    files, skipped = [], []
    for number, part in enumerate(message.attachments, start=1):
        name = part.get_filename() or f"attachment-{number}"
        try:
            if part.get_content_type() == "message/rfc822":
                data = part.get_payload(0).as_bytes()
                name = part.get_filename() or f"message-{number}.eml"
            else:
                data = part.get_content_bytes() or b""
        except Exception:  # a broken part loses itself, not the mail
            logger.warning("email.attachment_unreadable", extra={"name": name})
            skipped.append(name)
            continue
        if len(data) > limit:
            skipped.append(name)
            continue
        kind = part.get_content_type() or "application/octet-stream"
        # A type a browser would run (HTML, SVG, scripts) is never kept as such.
        if not kind.startswith(KEPT_TYPES):
            kind = "application/octet-stream"
        files.append((name, kind, data))
    return files, skipped


# --- Inbound: processing --------------------------------------------------------------------------


def handle(event):
    """A stored e-mail → contact, conversation (threaded), message, files, auto-ack."""
    raw = base64.b64decode(event.payload["raw"])
    parsed = AnymailInboundMessage.parse_raw_mime_bytes(raw)
    account = event.account
    sender, name = _address(parsed.from_email)
    if not sender or _is_ours(account, sender):
        return "ignored"  # no sender to answer, or our own mail coming back (no loops)
    ids = message_ids(parsed.get("Message-ID"))
    message_id = ids[0] if ids else event.external_id
    references = message_ids(parsed.get_all("References")) + message_ids(
        parsed.get_all("In-Reply-To")
    )
    text, markup = parsed.text or "", parsed.html or ""
    if event.payload.get("truncated"):
        text = _(
            "This e-mail is larger than %(mb)s MB: only its headers were taken. "
            "It is still in the mailbox."
        ) % {"mb": settings.EMAIL_MAX_BYTES // (1024 * 1024)}
    elif not text.strip() and markup:
        text = html_to_text(markup)
    files, skipped = _files(parsed) if not event.payload.get("truncated") else ([], [])
    subject = (parsed.subject or "").strip()
    content = {
        "email": {
            "message_id": message_id,
            "from": sender,
            "to": _addresses(parsed, "to"),
            "cc": _addresses(parsed, "cc"),
            "subject": subject,
            "references": references,
            "date": str(parsed.get("Date") or ""),
        }
    }
    if markup:
        import nh3

        content["html"] = nh3.clean(markup)  # only sanitised HTML is ever kept
    if skipped:
        content["skipped_files"] = skipped
    return _receive(
        account,
        sender=sender,
        name=name,
        message_id=message_id,
        references=references,
        subject=subject,
        body=text.strip(),
        content=content,
        files=files,
        automatic=is_automatic(parsed),
    )


def _is_ours(account, address: str) -> bool:
    """One of the organization's own mailboxes (another organization's is a customer like
    any other: loops between two are stopped by ``Auto-Submitted``)."""
    from apps.connectors.models import ChannelAccount, Kind

    return ChannelAccount.objects.filter(
        organization_id=account.organization_id, kind=Kind.EMAIL, address__iexact=address
    ).exists()


def can_send(account) -> bool:
    return bool(account.config.get("smtp_host") or account.config.get("esp"))


def _referenced(account, references: list[str]):
    """The latest message of ours (in or out) that the mail names, if any."""
    from apps.interactions.models import Message

    if not references:
        return None
    return (
        Message.objects.select_related("interaction")
        .filter(
            organization_id=account.organization_id,
            channel=account.kind,
            provider_id__in=references,
        )
        .order_by("-created_at", "-id")
        .first()
    )


def _may_join(referenced, contact, sender: str) -> bool:
    """The thread's own customer, or someone its mail was from or addressed to."""
    if referenced.interaction.contact_id == contact.pk:
        return True
    details = (referenced.content or {}).get("email", {})
    known = [details.get("from", ""), *details.get("to", []), *details.get("cc", [])]
    return sender.lower() in {address.lower() for address in known if address}


def _receive(
    account, *, sender, name, message_id, references, subject, body, content, files, automatic
):
    from apps.connectors.services import (
        THREAD_STATES,
        Received,
        conversation_start,
        message_receive,
    )
    from apps.contacts.models import Identity
    from apps.contacts.services import contact_resolve
    from apps.interactions.models import Direction, Message
    from apps.interactions.services import message_add

    with transaction.atomic():
        if Message.objects.filter(
            organization_id=account.organization_id, channel=account.kind, provider_id=message_id
        ).exists():
            return "ignored"  # the same mail, through another mailbox or path
        try:
            contact, identity, _created = contact_resolve(
                organization=account.organization,
                kind="email",
                value=sender,
                hints={"name": name} if name else {},
            )
        except ValidationError:  # a blocked sender, or an address that is not one
            logger.info("email.sender_refused", extra={"account": account.pk})
            return "ignored"
        Identity.objects.select_for_update().filter(pk=identity.pk).first()
        referenced = _referenced(account, references)
        thread = continues = None
        if referenced is not None and _may_join(referenced, contact, sender):
            if referenced.interaction.state in THREAD_STATES:
                thread = referenced.interaction
            elif referenced.interaction.contact_id == contact.pk:
                continues = referenced.interaction
        started = thread is None
        if started:
            thread = conversation_start(
                account=account,
                contact=contact,
                identity=identity,
                subject=subject,
                continues=continues,
            )
        message, created = message_receive(
            account=account,
            received=Received(
                identity_kind="email",
                identity_value=sender,
                provider_id=message_id,
                body=body,
                content=content,
                files=files,
                subject=subject,
                thread=thread,
            ),
        )
        if message is None or not created:
            transaction.set_rollback(True)  # nothing of this attempt is kept
            return "ignored"
        ack = (account.config.get("auto_ack") or "").strip()
        if started and ack and not automatic and can_send(account):
            message_add(
                interaction=thread,
                direction=Direction.OUTBOUND,
                author_kind=Message.Author.SYSTEM,
                body=ack,
            )
    return None


# --- Inbound: IMAP polling ------------------------------------------------------------------------


def _imap(account):
    from imapclient import IMAPClient

    config = account.config
    security = config.get("imap_security", "ssl")  # ssl | starttls | none
    port = int(config.get("imap_port") or (993 if security == "ssl" else 143))
    client = IMAPClient(config["imap_host"], port=port, ssl=security == "ssl", timeout=TIMEOUT)
    if security == "starttls":
        client.starttls()
    client.login(config.get("imap_username") or account.address, account.secret("password"))
    return client


def mailbox_poll(*, account, now=None) -> int:
    """Take the mailbox's new messages (by UID, without marking them read), store them, then
    mark them \\Seen. Returns how many were new. Network errors propagate (the caller logs
    them on the mailbox's state and the next poll tries again)."""
    from imapclient import SEEN

    from apps.connectors.models import MailboxState
    from apps.connectors.services import inbound_accept

    now = now or timezone.now()
    state, _created = MailboxState.objects.get_or_create(
        account=account, defaults={"organization_id": account.organization_id}
    )
    new = 0
    client = _imap(account)
    try:
        info = client.select_folder(account.config.get("imap_folder") or "INBOX")
        validity = int(info[b"UIDVALIDITY"])
        synced = state.uidvalidity == validity
        last = state.last_uid if synced else 0
        if synced:
            # "UID n:*" always matches the highest UID, even below n (RFC 3501): filter.
            uids = [uid for uid in client.search(["UID", f"{last + 1}:*"]) if uid > last]
        else:
            # First poll, or UIDVALIDITY changed: the UIDs mean nothing, take what is unread
            # (what was stored before is recognised by its Message-ID and dropped) until
            # caught up; from then on, everything above the last UID.
            if state.uidvalidity is not None:
                logger.warning("email.uidvalidity_changed", extra={"account": account.pk})
            uids = client.search(["UNSEEN"])
        everything = len(uids) <= settings.EMAIL_POLL_BATCH
        uids = sorted(uids)[: settings.EMAIL_POLL_BATCH]
        for start in range(0, len(uids), 20):
            chunk = uids[start : start + 20]
            sizes = client.fetch(chunk, ["RFC822.SIZE"])
            large = {
                uid
                for uid in chunk
                if int(sizes.get(uid, {}).get(b"RFC822.SIZE", 0)) > settings.EMAIL_MAX_BYTES
            }
            items = []
            small = [uid for uid in chunk if uid not in large]
            for uid, data in (client.fetch(small, ["BODY.PEEK[]"]) if small else {}).items():
                if b"BODY[]" in data:
                    items.append(item_for(data[b"BODY[]"], source="imap", uid=uid))
            for uid, data in (
                client.fetch(sorted(large), ["BODY.PEEK[HEADER]"]) if large else {}
            ).items():
                if b"BODY[HEADER]" in data:
                    items.append(
                        item_for(data[b"BODY[HEADER]"], source="imap", uid=uid, truncated=True)
                    )
            with transaction.atomic():
                new += inbound_accept(account=account, items=items)
                if synced:
                    MailboxState.objects.filter(pk=state.pk).update(last_uid=max(chunk))
            client.add_flags(chunk, [SEEN])  # only once the items are committed
        if uids:
            last = uids[-1]
        if everything and info.get(b"UIDNEXT"):
            last = max(last, int(info[b"UIDNEXT"]) - 1)
        fields = {"polled_at": now, "last_error": ""}
        if synced or everything:  # else: the next poll goes on with what is still unread
            fields.update(uidvalidity=validity, last_uid=last)
        MailboxState.objects.filter(pk=state.pk).update(**fields)
    finally:
        try:
            client.logout()
        except Exception:  # the connection may already be gone
            logger.debug("email.logout_failed", extra={"account": account.pk})
    return new


def mailboxes_poll(*, now=None) -> int:
    """Poll every active mailbox that has an IMAP server (one failing mailbox does not stop
    the others; its error is kept on its state). Returns how many messages were new."""
    from django.core.cache import cache

    from apps.connectors.models import ChannelAccount, Kind, MailboxState

    new = 0
    accounts = ChannelAccount.objects.select_related("organization").filter(
        kind=Kind.EMAIL, is_active=True, organization__is_active=True
    )
    for account in accounts:
        if not account.config.get("imap_host"):
            continue
        lock = f"email-poll:{account.pk}"
        if not cache.add(lock, 1, timeout=600):
            continue  # the previous poll of this mailbox is still running
        try:
            new += mailbox_poll(account=account, now=now)
        except Exception as exc:
            logger.exception("email.poll_failed", extra={"account": account.pk})
            MailboxState.objects.update_or_create(
                account=account,
                defaults={
                    "organization_id": account.organization_id,
                    "last_error": f"{type(exc).__name__}: {exc}"[:2000],
                    "polled_at": now or timezone.now(),
                },
            )
        finally:
            cache.delete(lock)
    return new


# --- Inbound: ESP webhooks (django-anymail) -------------------------------------------------------


@receiver(inbound, dispatch_uid="connectors.email.anymail_inbound")
def anymail_inbound(sender, event, esp_name, **kwargs):
    """An ESP posted a mail (anymail checked the basic auth): stored once for each of our
    mailboxes it was addressed to, processed in a task. Refused when no secret is set."""
    from django.db.models import Q

    from apps.connectors.models import ChannelAccount, Kind
    from apps.connectors.services import inbound_accept

    if not settings.ANYMAIL.get("WEBHOOK_SECRET"):
        raise PermissionDenied("ANYMAIL_WEBHOOK_SECRET is not set.")
    message = event.message
    recipients = set(_addresses(message, "to", "cc", "bcc"))
    if getattr(message, "envelope_recipient", None):
        recipients.add(str(message.envelope_recipient).strip().lower())
    try:
        raw = message.as_bytes()
    except (UnicodeError, LookupError):  # an ESP's parsed fields in a broken charset
        raw = message.as_string().encode("utf-8", "replace")
    addressed = Q()
    for recipient in recipients:
        addressed |= Q(address__iexact=recipient)
    accounts = (
        list(
            ChannelAccount.objects.select_related("organization").filter(
                addressed, kind=Kind.EMAIL, is_active=True, organization__is_active=True
            )
        )
        if recipients
        else []
    )
    if not accounts:
        logger.info("email.inbound_no_mailbox", extra={"esp": esp_name})
    for account in accounts:
        inbound_accept(account=account, items=[item_for(raw, source=f"anymail:{esp_name}")])


# --- Outbound -------------------------------------------------------------------------------------


def _domain(account) -> str:
    return account.address.rpartition("@")[2] or "localhost"


def _message_id(account, message) -> str:
    """Stable for one message (a retry after a lost answer sends the same id, so the
    recipient's server sees a duplicate), unique across mailboxes and installations."""
    token = uuid.uuid5(account.key, f"message:{message.pk}").hex
    return f"<{token}@{_domain(account)}>"


def _connection(account):
    from django.core.mail import get_connection

    config = account.config
    esp = config.get("esp", "")
    if esp:
        if esp not in ESP_BACKENDS:
            from apps.connectors.services import SendError

            raise SendError(f"Unknown ESP {esp!r}", permanent=True)
        backend, credential = ESP_BACKENDS[esp]
        options = {credential: account.secret("esp_api_key")}
        if config.get("esp_api_url"):  # a region's endpoint, a sandbox
            options["api_url"] = config["esp_api_url"]
        return get_connection(backend, fail_silently=False, **options)
    security = config.get("smtp_security", "starttls")  # starttls | ssl | none
    port = int(config.get("smtp_port") or {"ssl": 465, "starttls": 587}.get(security, 25))
    password = account.secret("smtp_password") or account.secret("password")
    return get_connection(
        SMTP_BACKEND,
        host=config.get("smtp_host", ""),
        port=port,
        username=config.get("smtp_username", account.address) if password else "",
        password=password,
        use_tls=security == "starttls",
        use_ssl=security == "ssl",
        timeout=TIMEOUT,
        fail_silently=False,
    )


def _from(account) -> str:
    return formataddr((account.config.get("from_name", ""), account.address))


def _deliver(email) -> None:
    """Send, translating SMTP answers: 5xx is final, anything else is tried again."""
    from apps.connectors.services import SendError

    try:
        email.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        answers = list(exc.recipients.values())
        reason = "; ".join(f"{code} {text.decode(errors='replace')}" for code, text in answers)
        raise SendError(
            f"SMTP refused the recipient: {reason}",
            permanent=all(500 <= code < 600 for code, _text in answers),
        ) from exc
    except smtplib.SMTPAuthenticationError as exc:  # fixable by an administrator: retried
        raise SendError(f"SMTP login refused: {exc.smtp_code}") from exc
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else ""
        raise SendError(
            f"SMTP {exc.smtp_code} {text}".strip(), permanent=500 <= exc.smtp_code < 600
        ) from exc
    except SendError:
        raise
    except AnymailRecipientsRefused as exc:  # the ESP knows them as bounced, unsubscribed…
        answer = getattr(exc.response, "text", "") or str(exc)
        raise SendError(f"The ESP refused the recipient: {answer}"[:500], permanent=True) from exc
    except Exception as exc:  # the network, TLS, an ESP outage: try again later
        status = getattr(exc, "status_code", None)  # an ESP's API answer
        permanent = status is not None and 400 <= int(status) < 500 and status not in (408, 429)
        raise SendError(f"{type(exc).__name__}: {exc}"[:500], permanent=permanent) from exc


def precheck(message) -> None:
    """A mailbox that cannot send is a clear error before anything is stored."""
    from apps.connectors.services import account_for_interaction

    account = account_for_interaction(message.interaction)
    if account is not None and not (account.config.get("smtp_host") or account.config.get("esp")):
        raise ValidationError(
            {"body": _("This mailbox has no outgoing server (SMTP or ESP) set up.")}
        )


def send(outbound) -> str:
    """An agent's (or the system's) reply in its thread; returns the Message-ID."""
    from django.core.mail import EmailMessage

    from apps.interactions.models import Direction, Message

    account, message = outbound.account, outbound.message
    interaction = message.interaction
    last_in = (
        interaction.messages.filter(direction=Direction.INBOUND)
        .exclude(provider_id="")
        .order_by("-created_at", "-id")
        .first()
    )
    subject = interaction.subject or account.config.get("subject") or account.organization.name
    headers = {"Message-ID": _message_id(account, message)}
    if last_in is not None:
        if not REPLY_PREFIX.match(subject):
            subject = f"Re: {subject}"
        earlier = (last_in.content or {}).get("email", {}).get("references", [])
        chain = [i for i in earlier if i != last_in.provider_id][-THREAD_REFERENCES:]
        headers["In-Reply-To"] = last_in.provider_id
        headers["References"] = " ".join([*chain, last_in.provider_id])
    if message.author_kind == Message.Author.SYSTEM:
        # RFC 3834: our automatic answers say so, so that robots do not answer them.
        headers["Auto-Submitted"] = "auto-replied"
        headers["X-Auto-Response-Suppress"] = "All"
    body = message.body
    signature = (account.config.get("signature") or "").strip()
    if signature:
        body = f"{body}\n\n-- \n{signature}"
    email = EmailMessage(
        subject=subject.replace("\n", " ").replace("\r", " ")[:900],
        body=body,
        from_email=_from(account),
        to=[outbound.to],
        headers=headers,
        connection=_connection(account),
    )
    for attachment in message.attachments.all():
        with attachment.file.open("rb") as handle_:
            email.attach(
                attachment.filename,
                handle_.read(),
                attachment.content_type or "application/octet-stream",
            )
    _deliver(email)
    return headers["Message-ID"]


def email_send_plain(*, organization, to: str, subject: str, body: str, account=None) -> str:
    """One plain-text e-mail from the organization's mailbox (``account``, else its first
    active e-mail account that can send), outside any conversation: a chat transcript, a
    notice. Returns the Message-ID; raises ``SendError`` (``permanent`` when retrying cannot
    help). Synchronous: call it from a task (``email_send_plain_task``), not a request."""
    from django.core.mail import EmailMessage
    from django.core.validators import validate_email

    from apps.connectors.models import ChannelAccount, Kind
    from apps.connectors.services import SendError

    try:
        validate_email(to)
    except ValidationError as exc:
        raise SendError(f"Not an e-mail address: {to!r}", permanent=True) from exc
    if account is None:
        candidates = ChannelAccount.objects.filter(
            organization=organization, kind=Kind.EMAIL, is_active=True
        ).order_by("pk")
        account = next((a for a in candidates if can_send(a)), None)
    if account is None or account.organization_id != organization.pk:
        raise SendError("The organization has no mailbox that can send.", permanent=True)
    message_id = f"<{uuid.uuid4().hex}@{_domain(account)}>"
    email = EmailMessage(
        subject=subject.replace("\n", " ").replace("\r", " ")[:900],
        body=body,
        from_email=_from(account),
        to=[to],
        headers={"Message-ID": message_id, "Auto-Submitted": "auto-generated"},
        connection=_connection(account),
    )
    _deliver(email)
    logger.info("email.plain_sent", extra={"account": account.pk})
    return message_id
