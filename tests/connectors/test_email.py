"""E-mail: a real Dovecot polled over IMAP, ESP inbound webhooks (django-anymail), threading,
auto-acknowledgements, replies to a real SMTP server (aiosmtpd), retries and refusals."""

import base64
import json
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from imapclient import IMAPClient

from apps.connectors import services
from apps.connectors.models import InboundEvent, MailboxState, Outbound
from apps.connectors.providers.email import email_send_plain, mailboxes_poll
from apps.contacts.models import Identity
from apps.interactions.models import Interaction, Message, State
from apps.interactions.services import message_add, message_add_with_files
from tests.connectors.conftest import channel_account
from tests.connectors.mailservers import dovecot_fixture, smtp_fixture  # noqa: F401 (fixtures)
from tests.factories import agent_in_queue

pytestmark = pytest.mark.django_db

CUSTOMER = "jane.doe@customer.example"
SIGNATURE = "Acme Support\nhttps://acme.example"
WEBHOOK_SECRET = "anymail-user:anymail-password"


def mail(
    *,
    sender=f"Jane Doe <{CUSTOMER}>",
    to="support@example.com",
    subject="My order is late",
    body="Hello, where is my order 1234?",
    html=None,
    in_reply_to=None,
    message_id=None,
    headers=None,
    attachment=None,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain="customer.example")
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    if html:
        message.add_alternative(html, subtype="html")
    if attachment:
        name, kind, data = attachment
        maintype, subtype = kind.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return bytes(message)


@pytest.fixture
def mailbox(roles, dovecot, smtp):
    address, password = dovecot.add_user()
    account = channel_account(
        "email",
        address=address,
        secrets={"password": password},
        config={
            "imap_host": "127.0.0.1",
            "imap_port": dovecot.port,
            "imap_security": "none",
            "imap_username": address,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "smtp_security": "none",
            "from_name": "Acme Support",
            "signature": SIGNATURE,
        },
    )
    agent_in_queue(account.queue)
    return account


def imap(account, dovecot) -> IMAPClient:
    client = IMAPClient("127.0.0.1", port=dovecot.port, ssl=False)
    client.login(account.address, account.secret("password"))
    client.select_folder("INBOX")
    return client


def deliver(account, dovecot, raw: bytes) -> None:
    """A mail arriving in the mailbox (unread)."""
    client = imap(account, dovecot)
    client.append("INBOX", raw)
    client.logout()


def poll(capture) -> int:
    with capture(execute=True):
        return mailboxes_poll()


def test_polled_mail_becomes_a_threaded_conversation_and_replies_go_out_by_smtp(
    mailbox,
    dovecot,
    smtp,
    django_capture_on_commit_callbacks,
):
    first_id = make_msgid(domain="customer.example")
    deliver(
        mailbox,
        dovecot,
        mail(
            to=mailbox.address,
            message_id=first_id,
            attachment=("invoice.pdf", "application/pdf", b"%PDF-1.4 invoice"),
        ),
    )
    assert poll(django_capture_on_commit_callbacks) == 1
    message = Message.objects.get()
    interaction = message.interaction
    assert (interaction.channel, interaction.subject) == ("email", "My order is late")
    assert interaction.state == State.OFFERED and interaction.channel_account_id == mailbox.pk
    assert interaction.identity.kind == "email" and interaction.identity.value == CUSTOMER
    assert interaction.contact.first_name == "Jane" and interaction.contact.last_name == "Doe"
    assert message.body == "Hello, where is my order 1234?" and message.provider_id == first_id
    attachment = message.attachments.get()
    assert (attachment.filename, attachment.content_type) == ("invoice.pdf", "application/pdf")
    assert attachment.file.read() == b"%PDF-1.4 invoice"
    # Marked read once stored; polling again stores nothing new.
    client = imap(mailbox, dovecot)
    assert client.search(["UNSEEN"]) == []
    client.logout()
    assert poll(django_capture_on_commit_callbacks) == 0
    assert InboundEvent.objects.count() == 1 and Message.objects.count() == 1

    # The agent answers with a file: it leaves by SMTP, threaded, signed.
    upload = SimpleUploadedFile("label.pdf", b"%PDF-1.4 label", content_type="application/pdf")
    with django_capture_on_commit_callbacks(execute=True):
        reply = message_add_with_files(
            interaction=interaction, author=None, body="It ships today.", files=[upload]
        )
    (mail_from, rcpt_tos, sent), *_ = smtp.received
    assert rcpt_tos == [CUSTOMER] and mail_from == mailbox.address
    assert sent["From"] == f"Acme Support <{mailbox.address}>" and sent["To"] == CUSTOMER
    assert sent["Subject"] == "Re: My order is late"
    assert sent["In-Reply-To"] == first_id and sent["References"] == first_id
    text = sent.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.startswith("It ships today.") and text.rstrip().endswith(SIGNATURE)
    assert "\n-- \n" in text
    (sent_file,) = list(sent.iter_attachments())
    assert sent_file.get_filename() == "label.pdf"
    assert sent_file.get_content() == b"%PDF-1.4 label"
    assert smtp.logins == [(mailbox.address, mailbox.secret("password"))]
    reply.refresh_from_db()
    assert reply.delivery_status == "sent" and reply.provider_id == sent["Message-ID"]

    # The customer's answer names our Message-ID: it joins the same conversation.
    deliver(
        mailbox,
        dovecot,
        mail(
            to=mailbox.address,
            subject="Re: My order is late",
            body="Thanks!",
            in_reply_to=reply.provider_id,
        ),
    )
    assert poll(django_capture_on_commit_callbacks) == 1
    assert Interaction.objects.count() == 1
    assert list(interaction.messages.values_list("body", flat=True)) == [
        "Hello, where is my order 1234?",
        "It ships today.",
        "Thanks!",
    ]
    state = MailboxState.objects.get(account=mailbox)
    assert state.last_uid == 2 and state.last_error == ""


def test_a_new_uidvalidity_takes_unread_mail_again_without_duplicates(
    mailbox,
    dovecot,
    django_capture_on_commit_callbacks,
):
    deliver(mailbox, dovecot, mail(to=mailbox.address))
    assert poll(django_capture_on_commit_callbacks) == 1
    before = MailboxState.objects.get(account=mailbox).uidvalidity
    # The server rebuilt the mailbox: new UIDVALIDITY, and the flags were lost too.
    dovecot.doveadm(
        "mailbox", "update", "-u", mailbox.address, "--uid-validity", str(before + 1000), "INBOX"
    )
    client = imap(mailbox, dovecot)
    client.remove_flags(client.search(["ALL"]), [b"\\Seen"])
    client.logout()
    assert poll(django_capture_on_commit_callbacks) == 0  # known by its Message-ID
    state = MailboxState.objects.get(account=mailbox)
    assert state.uidvalidity == before + 1000
    deliver(mailbox, dovecot, mail(to=mailbox.address, subject="Another thing", body="Also…"))
    assert poll(django_capture_on_commit_callbacks) == 1
    assert Message.objects.count() == 2 and InboundEvent.objects.count() == 2


def test_a_mailbox_that_cannot_be_reached_keeps_its_error_and_others_are_polled(
    mailbox,
    dovecot,
    django_capture_on_commit_callbacks,
):
    broken = channel_account(
        "email",
        organization=mailbox.organization,
        address="other@example.com",
        secrets={"password": "wrong"},
        config={**mailbox.config, "imap_username": "other@example.com"},
    )
    deliver(mailbox, dovecot, mail(to=mailbox.address))
    assert poll(django_capture_on_commit_callbacks) == 1
    assert "LoginError" in MailboxState.objects.get(account=broken).last_error


def test_a_closed_thread_answered_opens_a_new_conversation_that_continues_it(
    mailbox,
    dovecot,
    django_capture_on_commit_callbacks,
):
    first_id = make_msgid(domain="customer.example")
    deliver(mailbox, dovecot, mail(to=mailbox.address, message_id=first_id))
    poll(django_capture_on_commit_callbacks)
    old = Interaction.objects.get()
    Interaction.objects.filter(pk=old.pk).update(state=State.CLOSED)
    deliver(mailbox, dovecot, mail(to=mailbox.address, body="Still late!", in_reply_to=first_id))
    poll(django_capture_on_commit_callbacks)
    new = Interaction.objects.exclude(pk=old.pk).get()
    assert new.continues_id == old.pk and new.messages.get().body == "Still late!"


def test_a_stranger_naming_someone_elses_message_id_gets_a_conversation_of_their_own(
    mailbox,
    dovecot,
    django_capture_on_commit_callbacks,
):
    first_id = make_msgid(domain="customer.example")
    deliver(mailbox, dovecot, mail(to=mailbox.address, message_id=first_id))
    poll(django_capture_on_commit_callbacks)
    deliver(
        mailbox,
        dovecot,
        mail(sender="mallory@evil.example", to=mailbox.address, in_reply_to=first_id),
    )
    poll(django_capture_on_commit_callbacks)
    assert Interaction.objects.count() == 2
    assert Interaction.objects.get(identity__value="mallory@evil.example").messages.count() == 1


# --- Anymail inbound webhook ----------------------------------------------------------------------


def _postmark(client, raw: bytes, *, auth: str | None = WEBHOOK_SECRET):
    headers = {}
    if auth is not None:
        headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(auth.encode()).decode()
    return client.post(
        reverse("anymail:postmark_inbound_webhook"),
        data=json.dumps({"RawEmail": raw.decode(), "Headers": []}),
        content_type="application/json",
        **headers,
    )


@pytest.fixture
def webhook_mailbox(roles, settings, smtp):
    settings.ANYMAIL = {"WEBHOOK_SECRET": [WEBHOOK_SECRET]}
    account = channel_account(
        "email",
        address="help@acme.example",
        config={
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "smtp_security": "none",
            "auto_ack": "We received your message and will answer within a day.",
        },
    )
    agent_in_queue(account.queue)
    return account


@pytest.mark.parametrize("auth", [None, "anymail-user:wrong", "someone:else"])
def test_the_inbound_webhook_refuses_a_bad_or_missing_password_and_stores_nothing(
    client, webhook_mailbox, auth
):
    response = _postmark(client, mail(to=webhook_mailbox.address), auth=auth)
    assert response.status_code in (400, 403)
    assert not InboundEvent.objects.exists() and not Message.objects.exists()


def test_the_inbound_webhook_refuses_everything_when_no_secret_is_set(
    client, webhook_mailbox, settings
):
    settings.ANYMAIL = {"WEBHOOK_SECRET": []}
    response = _postmark(client, mail(to=webhook_mailbox.address), auth=None)
    assert response.status_code == 403
    assert not InboundEvent.objects.exists()


def test_a_mail_posted_twice_by_the_esp_is_stored_once_and_acknowledged_once(
    client,
    webhook_mailbox,
    smtp,
    django_capture_on_commit_callbacks,
):
    raw = mail(to=f"Acme Help <{webhook_mailbox.address}>")
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            assert _postmark(client, raw).status_code == 200
    assert InboundEvent.objects.count() == 1
    inbound = Message.objects.get(direction="inbound")
    ack = Message.objects.get(direction="outbound")
    assert ack.author_kind == Message.Author.SYSTEM and ack.delivery_status == "sent"
    (_from, rcpt_tos, sent), *_ = smtp.received
    assert len(smtp.received) == 1 and rcpt_tos == [CUSTOMER]
    assert sent["Auto-Submitted"] == "auto-replied"
    assert sent["In-Reply-To"] == inbound.provider_id
    # The customer's follow-up in the thread gets no second acknowledgement.
    with django_capture_on_commit_callbacks(execute=True):
        _postmark(
            client,
            mail(to=webhook_mailbox.address, body="One more detail", in_reply_to=ack.provider_id),
        )
    assert Interaction.objects.count() == 1 and len(smtp.received) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"Auto-Submitted": "auto-generated"},
        {"Precedence": "bulk"},
        {"Precedence": "list", "List-Id": "<news.customer.example>"},
    ],
)
def test_automatic_and_bulk_mail_gets_no_acknowledgement(
    client,
    webhook_mailbox,
    smtp,
    headers,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        _postmark(client, mail(to=webhook_mailbox.address, headers=headers))
    assert Message.objects.get().direction == "inbound"  # stored, not answered
    assert smtp.received == [] and not Outbound.objects.exists()


def test_html_mail_is_kept_sanitised_and_read_as_text(
    client, webhook_mailbox, settings, django_capture_on_commit_callbacks
):
    settings.ATTACHMENT_MAX_BYTES = 10
    message = EmailMessage()
    message["From"] = CUSTOMER
    message["To"] = webhook_mailbox.address
    message["Subject"] = "HTML only"
    message["Message-ID"] = make_msgid(domain="customer.example")
    message.set_content(
        '<p>Hello <b>team</b>,</p><script>alert("x")</script>'
        '<p onclick="steal()">Line two &amp; more</p>',
        subtype="html",
    )
    message.add_attachment(b"x" * 100, maintype="image", subtype="png", filename="big.png")
    with django_capture_on_commit_callbacks(execute=True):
        _postmark(client, bytes(message))
    stored = Message.objects.get(direction="inbound")
    assert stored.body == "Hello team,\nLine two & more"
    assert "<script" not in stored.content["html"] and "onclick" not in stored.content["html"]
    assert "<b>team</b>" in stored.content["html"]
    assert stored.content["skipped_files"] == ["big.png"] and not stored.attachments.exists()


def test_mail_to_an_address_we_do_not_serve_is_not_stored(client, webhook_mailbox):
    assert _postmark(client, mail(to="nobody@elsewhere.example")).status_code == 200
    assert not InboundEvent.objects.exists()


# --- Outbound: retries and refusals ---------------------------------------------------------------


def _conversation(client, capture, account):
    with capture(execute=True):
        _postmark(client, mail(to=account.address))
    return Interaction.objects.get()


def test_a_temporary_smtp_refusal_is_retried_and_a_permanent_one_fails_the_message(
    client,
    webhook_mailbox,
    smtp,
    django_capture_on_commit_callbacks,
):
    webhook_mailbox.config["auto_ack"] = ""
    webhook_mailbox.save()
    interaction = _conversation(client, django_capture_on_commit_callbacks, webhook_mailbox)
    smtp.rcpt_answers.append("451 4.7.1 Greylisted, try again later")
    with django_capture_on_commit_callbacks(execute=True):
        message, _ = message_add(
            interaction=interaction, direction="outbound", author_kind="agent", body="Hello"
        )
    outbound = message.outbound
    outbound.refresh_from_db()
    assert outbound.status == Outbound.Status.FAILED and "451" in outbound.last_error
    assert smtp.received == []
    assert services.outbound_retry_due(now=timezone.now() + timedelta(minutes=5)) == 1
    outbound.refresh_from_db()
    assert outbound.status == Outbound.Status.SENT and len(smtp.received) == 1

    smtp.data_answers.append("554 5.7.1 Message rejected as spam")
    with django_capture_on_commit_callbacks(execute=True):
        refused, _ = message_add(
            interaction=interaction, direction="outbound", author_kind="agent", body="Buy now"
        )
    refused.refresh_from_db()
    assert refused.outbound.status == Outbound.Status.DEAD
    assert refused.delivery_status == "failed" and "554" in refused.error
    assert "rejected as spam" in refused.error


def test_a_mailbox_without_an_outgoing_server_refuses_a_reply_clearly(
    client, webhook_mailbox, django_capture_on_commit_callbacks
):
    from django.core.exceptions import ValidationError

    webhook_mailbox.config = {}
    webhook_mailbox.save()
    interaction = _conversation(client, django_capture_on_commit_callbacks, webhook_mailbox)
    with pytest.raises(ValidationError, match="no outgoing server"):
        message_add(interaction=interaction, direction="outbound", author_kind="agent", body="Hi")
    assert not Message.objects.filter(direction="outbound").exists()


def test_email_send_plain_sends_from_the_organizations_mailbox(webhook_mailbox, smtp):
    message_id = email_send_plain(
        organization=webhook_mailbox.organization,
        to="visitor@customer.example",
        subject="Your chat transcript",
        body="Visitor: hi\nAgent: hello",
    )
    (_from, rcpt_tos, sent), *_ = smtp.received
    assert rcpt_tos == ["visitor@customer.example"] and sent["Message-ID"] == message_id
    assert sent["Subject"] == "Your chat transcript"
    assert sent.get_content().startswith("Visitor: hi")
    with pytest.raises(services.SendError) as refused:
        email_send_plain(
            organization=webhook_mailbox.organization, to="not an address", subject="x", body="y"
        )
    assert refused.value.permanent


def test_another_organizations_thread_is_never_joined(
    client, webhook_mailbox, django_capture_on_commit_callbacks
):
    other = channel_account("email", address="desk@other.example", config={"smtp_host": "x"})
    first_id = make_msgid(domain="customer.example")
    with django_capture_on_commit_callbacks(execute=True):
        _postmark(client, mail(to=webhook_mailbox.address, message_id=first_id))
    with django_capture_on_commit_callbacks(execute=True):
        _postmark(client, mail(to=other.address, in_reply_to=first_id))
    assert Interaction.objects.filter(organization=other.organization).count() == 1
    assert Identity.objects.filter(value=CUSTOMER).count() == 2


def test_a_mail_too_large_is_taken_with_its_headers_only(
    mailbox, dovecot, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_MAX_BYTES = 2000
    big = mail(to=mailbox.address, attachment=("photo.png", "image/png", b"\x89PNG" * 2000))
    deliver(mailbox, dovecot, big)
    assert poll(django_capture_on_commit_callbacks) == 1
    message = Message.objects.get()
    assert "only its headers" in message.body and not message.attachments.exists()
    assert message.interaction.subject == "My order is late"


def test_mail_from_our_own_mailbox_is_ignored_and_no_ack_without_an_outgoing_server(
    client, webhook_mailbox, smtp, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _postmark(client, mail(sender=webhook_mailbox.address, to=webhook_mailbox.address))
    assert InboundEvent.objects.get().status == InboundEvent.Status.IGNORED
    assert not Message.objects.exists()
    webhook_mailbox.config = {"auto_ack": "Thanks!"}  # nothing to send it with
    webhook_mailbox.save()
    with django_capture_on_commit_callbacks(execute=True):
        _postmark(client, mail(to=webhook_mailbox.address))
    assert Message.objects.get().direction == "inbound" and smtp.received == []


def test_replies_can_leave_through_an_esp_api_with_anymail(
    client, webhook_mailbox, provider, django_capture_on_commit_callbacks
):
    webhook_mailbox.config = {
        "esp": "postmark",
        "esp_api_url": f"{provider.url}/postmark/",
        "from_name": "Acme",
    }
    webhook_mailbox.set_secrets({"esp_api_key": "postmark-server-token"})
    webhook_mailbox.save()
    accepted = {"To": CUSTOMER, "SubmittedAt": "2026-01-01T00:00:00Z", "ErrorCode": 0}
    provider.on(
        "POST",
        "/postmark/email",
        (200, {**accepted, "MessageID": "0a129aee-e1cd-480d-b08d-4f48548ff48d", "Message": "OK"}),
        (
            422,
            {
                "ErrorCode": 406,
                "Message": "You tried to send to a recipient that has been marked as inactive.\n"
                f"Found inactive addresses: {CUSTOMER}.\nInactive recipients are ones that "
                "have generated a hard bounce or a spam complaint.",
            },
        ),
    )
    interaction = _conversation(client, django_capture_on_commit_callbacks, webhook_mailbox)
    inbound = interaction.messages.get()
    with django_capture_on_commit_callbacks(execute=True):
        reply, _ = message_add(
            interaction=interaction, direction="outbound", author_kind="agent", body="Hello!"
        )
    call = provider.made("POST", "/postmark/email")[0]
    assert call.headers["X-Postmark-Server-Token"] == "postmark-server-token"
    sent = call.json()
    assert sent["From"] == f"Acme <{webhook_mailbox.address}>" and sent["To"] == CUSTOMER
    assert sent["Subject"] == "Re: My order is late" and sent["TextBody"] == "Hello!"
    headers = {h["Name"]: h["Value"] for h in sent["Headers"]}
    assert headers["In-Reply-To"] == inbound.provider_id
    reply.refresh_from_db()
    assert reply.delivery_status == "sent" and reply.provider_id == headers["Message-ID"]
    # A refusal by the ESP's API (4xx) fails the message with its reason.
    with django_capture_on_commit_callbacks(execute=True):
        refused, _ = message_add(
            interaction=interaction, direction="outbound", author_kind="agent", body="Again"
        )
    refused.refresh_from_db()
    assert refused.delivery_status == "failed" and "marked as inactive" in refused.error


def test_email_send_plain_task_retries_a_temporary_refusal(webhook_mailbox, smtp):
    from apps.connectors.tasks import email_send_plain_task

    smtp.rcpt_answers.append("421 4.7.0 Too busy, try again")
    # Run as a worker would (a retry is run again, here at once, instead of raised).
    result = email_send_plain_task.apply(
        args=[webhook_mailbox.organization_id, "visitor@customer.example", "Transcript", "Hi"],
        throw=False,
    )
    assert result.successful()
    assert [rcpt for _from, rcpt, _mail in smtp.received] == [["visitor@customer.example"]]


def test_once_caught_up_mail_already_read_in_another_client_is_taken_too(
    mailbox, dovecot, django_capture_on_commit_callbacks
):
    assert poll(django_capture_on_commit_callbacks) == 0  # an empty mailbox: caught up
    client = imap(mailbox, dovecot)
    client.append("INBOX", mail(to=mailbox.address), flags=[b"\\Seen"])
    client.logout()
    assert poll(django_capture_on_commit_callbacks) == 1
    assert MailboxState.objects.get(account=mailbox).last_uid == 1


def test_a_first_poll_takes_unread_mail_in_batches_and_leaves_mail_read_before(
    mailbox, dovecot, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_POLL_BATCH = 1
    client = imap(mailbox, dovecot)
    client.append("INBOX", mail(to=mailbox.address, subject="Old, read"), flags=[b"\\Seen"])
    client.append("INBOX", mail(to=mailbox.address, subject="First"))
    client.append("INBOX", mail(to=mailbox.address, subject="Second"))
    client.logout()
    assert [poll(django_capture_on_commit_callbacks) for _ in range(3)] == [1, 1, 0]
    assert set(Interaction.objects.values_list("subject", flat=True)) == {"First", "Second"}
    assert MailboxState.objects.get(account=mailbox).last_uid == 3


def test_a_mail_to_two_organizations_mailboxes_reaches_each_once(
    client, webhook_mailbox, django_capture_on_commit_callbacks
):
    other = channel_account("email", address="Desk@Other.example", config={"smtp_host": "x"})
    raw = mail(to=webhook_mailbox.address.upper(), headers={"Cc": "desk@other.example"})
    with django_capture_on_commit_callbacks(execute=True):
        assert _postmark(client, raw).status_code == 200
    inbound = Message.objects.filter(direction="inbound")
    assert sorted(inbound.values_list("organization_id", flat=True)) == sorted(
        [webhook_mailbox.organization_id, other.organization_id]
    )
