"""Web chat over HTTP: pre-chat, history, uploads, offline forms, transcripts, limits, origins."""

import json
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from apps.connectors import webchat
from apps.contacts.models import Identity
from apps.interactions.models import Attachment, Interaction, Message, State
from apps.interactions.services import message_add, message_add_with_files
from apps.queues.models import BusinessHours, Callback
from tests.connectors.conftest import channel_account
from tests.factories import QueueFactory, agent_in_queue

pytestmark = pytest.mark.django_db

TOKEN = "v" * 43
OTHER_TOKEN = "w" * 43
SITE = "https://shop.example.com"


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    # Limits count in the cache: each test gets its own, empty (a local-memory one, so that
    # clearing it never flushes a shared Redis).
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "webchat-tests",
        }
    }
    cache.clear()


@pytest.fixture
def account():
    return channel_account(
        "webchat",
        config={
            "allowed_origins": [SITE],
            "title": "Shop help",
            "required_fields": ["name", "email"],
        },
    )


def _post(client, account, name, data, token=TOKEN, origin=SITE):
    headers = {"HTTP_ORIGIN": origin, "HTTP_X_VISITOR_TOKEN": token} if origin else {}
    if not origin:
        headers["HTTP_X_VISITOR_TOKEN"] = token
    return client.post(
        reverse(name, kwargs={"key": account.key}),
        data=json.dumps(data),
        content_type="application/json",
        **headers,
    )


def _start(client, account, token=TOKEN, **fields):
    data = {"name": "Ada Lovelace", "email": "ada@example.com", "subject": "Order 42", **fields}
    return _post(client, account, "webchat-start", data, token=token)


def test_config_speaks_cors_to_an_allowed_origin_only(client, account):
    url = reverse("webchat-config", kwargs={"key": account.key})
    allowed = client.get(url, HTTP_ORIGIN=SITE)
    assert allowed.status_code == 200
    assert allowed["Access-Control-Allow-Origin"] == SITE
    assert allowed.json()["title"] == "Shop help"
    assert allowed.json()["required"] == ["name", "email"]
    assert allowed.json()["open"] is True

    refused = client.get(url, HTTP_ORIGIN="https://evil.example.net")
    assert refused.status_code == 403
    assert "may not use this chat" in refused.json()["detail"]
    preflight = client.options(
        reverse("webchat-start", kwargs={"key": account.key}), HTTP_ORIGIN=SITE
    )
    assert preflight.status_code == 204
    assert "X-Visitor-Token" in preflight["Access-Control-Allow-Headers"]


def test_the_server_own_origin_is_allowed_for_the_demo_page(client, account):
    response = client.get(
        reverse("webchat-config", kwargs={"key": account.key}), HTTP_ORIGIN="http://testserver"
    )
    assert response.status_code == 200
    demo = client.get(reverse("webchat-demo", kwargs={"key": account.key}))
    assert demo.status_code == 200
    assert reverse("webchat-script", kwargs={"key": account.key}) in demo.content.decode()
    assert "<script>" not in demo.content.decode()  # no inline script (CSP)


def test_widget_script_is_served_for_a_known_key_only(client, account):
    response = client.get(reverse("webchat-script", kwargs={"key": account.key}))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert b"attachShadow" in response.content
    unknown = client.get("/widget/00000000-0000-0000-0000-000000000000.js")
    assert unknown.status_code == 404


def test_prechat_creates_contact_and_interaction_once_per_visitor_session(client, account):
    first = _start(client, account, message="Where is my parcel?")
    assert first.status_code == 201, first.content
    again = _start(client, account)  # a double click, a retry, a second tab
    assert again.status_code == 201
    assert again.json()["interaction"] == first.json()["interaction"]

    interaction = Interaction.objects.get()
    assert interaction.channel == "webchat"
    assert interaction.channel_account == account
    assert interaction.state == State.QUEUED and interaction.queue == account.queue
    assert interaction.subject == "Order 42"
    assert interaction.data["webchat"]["email"] == "ada@example.com"
    contact = interaction.contact
    assert (contact.first_name, contact.last_name) == ("Ada", "Lovelace")
    kinds = set(Identity.objects.filter(contact=contact).values_list("kind", flat=True))
    assert kinds == {"webchat", "email"}
    # Only the digest of the token is stored, never the token.
    assert not Identity.objects.filter(value__contains=TOKEN).exists()
    assert [m.body for m in interaction.messages.all()] == ["Where is my parcel?"]
    assert first.json()["status"]["position"] == 1


def test_prechat_required_fields_come_from_the_account(client, account):
    response = _post(client, account, "webchat-start", {"name": "Ada"})
    assert response.status_code == 400
    assert "email" in response.json()["errors"]
    assert not Interaction.objects.exists()


def test_a_known_email_attaches_the_visitor_to_that_contact(client, account):
    from apps.contacts.services import contact_resolve

    known, _identity, _created = contact_resolve(
        organization=account.organization, kind="email", value="ada@example.com"
    )
    _start(client, account)
    assert Interaction.objects.get().contact == known


def test_history_resumes_the_conversation_without_duplicates(client, account):
    _start(client, account, message="Hello")
    interaction = Interaction.objects.get()
    agent = agent_in_queue(account.queue)
    message_add(
        interaction=interaction,
        direction="outbound",
        author_kind=Message.Author.AGENT,
        author=agent,
        body="Hi Ada",
    )
    url = reverse("webchat-history", kwargs={"key": account.key})
    history = client.get(url, HTTP_ORIGIN=SITE, HTTP_X_VISITOR_TOKEN=TOKEN).json()
    assert [(m["mine"], m["body"]) for m in history["messages"]] == [
        (True, "Hello"),
        (False, "Hi Ada"),
    ]
    assert history["messages"][1]["status"] == "sent"
    other = client.get(url, HTTP_ORIGIN=SITE, HTTP_X_VISITOR_TOKEN=OTHER_TOKEN).json()
    assert other["messages"] == []  # another visitor sees nothing of it


def test_a_resent_message_is_stored_once(account):
    webchat.webchat_start(account=account, token=TOKEN, fields={"name": "A", "email": "a@b.co"})
    for _attempt in range(3):
        webchat.webchat_visitor_message(account=account, token=TOKEN, body="Hi", client_id="c1")
    assert Message.objects.filter(body="Hi").count() == 1


def test_rate_limit_refuses_with_a_clear_error_and_stores_nothing_more(settings, account):
    settings.WEBCHAT_MESSAGES_PER_MINUTE = 3
    webchat.webchat_start(account=account, token=TOKEN, fields={"name": "A", "email": "a@b.co"})
    for n in range(3):
        webchat.webchat_visitor_message(
            account=account, token=TOKEN, body=f"m{n}", client_id=f"c{n}"
        )
    with pytest.raises(webchat.RateLimited, match="too quickly"):
        webchat.webchat_visitor_message(account=account, token=TOKEN, body="m3", client_id="c3")
    assert Message.objects.count() == 3


def test_new_conversations_per_address_are_limited(client, settings, account):
    settings.WEBCHAT_CONVERSATIONS_PER_HOUR_PER_IP = 2
    for n in range(2):
        assert _start(client, account, token=f"{n}" * 40).status_code == 201
    refused = _start(client, account, token="z" * 40)
    assert refused.status_code == 429
    assert "Too many conversations" in refused.json()["detail"]
    assert Interaction.objects.count() == 2


def test_message_length_is_limited(settings, account):
    settings.WEBCHAT_MESSAGE_MAX_CHARS = 10
    webchat.webchat_start(account=account, token=TOKEN, fields={"name": "A", "email": "a@b.co"})
    with pytest.raises(Exception, match="At most 10 characters"):
        webchat.webchat_visitor_message(account=account, token=TOKEN, body="x" * 11, client_id="c1")
    assert not Message.objects.exists()


def test_html_from_a_visitor_is_shown_escaped_on_the_desk(client, account):
    webchat.webchat_start(account=account, token=TOKEN, fields={"name": "A", "email": "a@b.co"})
    webchat.webchat_visitor_message(
        account=account, token=TOKEN, body="<script>alert(1)</script><b>hi</b>", client_id="x1"
    )
    interaction = Interaction.objects.get()
    supervisor = _supervisor(account.organization)
    client.force_login(supervisor)
    page = client.get(reverse("desk-interaction", kwargs={"pk": interaction.pk})).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;hi&lt;/b&gt;" in page
    assert "<script>alert(1)" not in page
    assert 'id="visitor-typing"' in page


def _supervisor(organization):
    from apps.accounts.models import Role
    from apps.accounts.services import roles_sync
    from tests.factories import UserFactory

    roles_sync()
    return UserFactory(organization=organization, roles=[Role.SUPERVISOR, Role.AGENT])


def test_visitor_upload_and_agent_file_by_signed_link(client, account, settings):
    _start(client, account)
    upload = SimpleUploadedFile("photo.png", b"\x89PNG fake", content_type="image/png")
    response = client.post(
        reverse("webchat-upload", kwargs={"key": account.key}),
        {"file": upload},
        HTTP_ORIGIN=SITE,
        HTTP_X_VISITOR_TOKEN=TOKEN,
    )
    assert response.status_code == 201, response.content
    assert Attachment.objects.get().filename == "photo.png"

    bad = client.post(
        reverse("webchat-upload", kwargs={"key": account.key}),
        {"file": SimpleUploadedFile("run.exe", b"MZ")},
        HTTP_ORIGIN=SITE,
        HTTP_X_VISITOR_TOKEN=TOKEN,
    )
    assert bad.status_code == 400 and "cannot be attached" in bad.json()["detail"]

    interaction = Interaction.objects.get()
    agent = agent_in_queue(account.queue)
    message_add_with_files(
        interaction=interaction,
        author=agent,
        body="Here is the invoice",
        files=[SimpleUploadedFile("invoice.pdf", b"%PDF-1.4", content_type="application/pdf")],
    )
    history = client.get(
        reverse("webchat-history", kwargs={"key": account.key}),
        HTTP_ORIGIN=SITE,
        HTTP_X_VISITOR_TOKEN=TOKEN,
    ).json()
    link = history["messages"][-1]["files"][0]["url"]
    download = client.get(link)
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"%PDF-1.4"
    assert client.get(link[:-6] + "forged/").status_code == 404


def test_offline_leave_a_message_creates_an_email_interaction(client, account):
    account.queue.business_hours = BusinessHours.objects.create(
        organization=account.organization, name="Never open"
    )
    account.queue.save()
    config = client.get(reverse("webchat-config", kwargs={"key": account.key}), HTTP_ORIGIN=SITE)
    assert config.json()["open"] is False
    refused = _start(client, account)
    assert refused.status_code == 400 and refused.json()["code"] == "closed"

    response = _post(
        client,
        account,
        "webchat-offline",
        {"mode": "message", "name": "Ada", "email": "Ada@Example.com", "message": "Call me?"},
    )
    assert response.status_code == 201, response.content
    interaction = Interaction.objects.get()
    assert interaction.channel == "email" and interaction.direction == "inbound"
    assert interaction.identity.kind == "email" and interaction.identity.value == "ada@example.com"
    assert interaction.queue == account.queue and interaction.state == State.QUEUED
    assert [m.body for m in interaction.messages.all()] == ["Call me?"]


def test_web_callback_is_scheduled_at_the_chosen_time_in_its_time_zone(client, account):
    at = (timezone.now() + timedelta(days=1)).astimezone(UTC).replace(microsecond=0)
    paris = at.astimezone(ZoneInfo("Europe/Paris")).isoformat()  # written with its offset
    response = _post(
        client,
        account,
        "webchat-offline",
        {"mode": "callback", "name": "Ada", "phone": "+44 20 7946 0958", "at": paris},
    )
    assert response.status_code == 201, response.content
    callback = Callback.objects.get()
    assert callback.scheduled_for == at
    assert callback.number == "+442079460958"
    assert callback.queue == account.queue

    naive = _post(
        client,
        account,
        "webchat-offline",
        {"mode": "callback", "phone": "+44 20 7946 0958", "at": "2030-01-01T10:00"},
    )
    assert naive.status_code == 400 and "time zone" in naive.json()["detail"]


def test_transcript_is_emailed_to_the_prechat_address_only(client, account):
    _start(client, account, message="Hello there")
    interaction = Interaction.objects.get()
    agent = agent_in_queue(account.queue, first_name="Grace")
    message_add(
        interaction=interaction,
        direction="outbound",
        author_kind=Message.Author.AGENT,
        author=agent,
        body="Hi Ada, how can I help?",
    )
    response = _post(client, account, "webchat-transcript", {"email": "attacker@example.net"})
    assert response.status_code == 200, response.content
    assert response.json()["email"] == "ada@example.com"
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["ada@example.com"]
    assert "Shop help" in sent.subject
    assert "Hello there" in sent.body and "Grace: Hi Ada, how can I help?" in sent.body


def test_unknown_or_inactive_key_is_404(client, account):
    account.is_active = False
    account.save()
    response = client.get(reverse("webchat-config", kwargs={"key": account.key}))
    assert response.status_code == 404


def test_internal_notes_never_reach_the_visitor_history(client, account):
    from apps.interactions.services import interaction_note_add

    _start(client, account)
    interaction_note_add(interaction=Interaction.objects.get(), body="Secret note")
    history = client.get(
        reverse("webchat-history", kwargs={"key": account.key}),
        HTTP_ORIGIN=SITE,
        HTTP_X_VISITOR_TOKEN=TOKEN,
    )
    assert "Secret note" not in history.content.decode()


def test_a_queue_without_business_hours_is_open(account):
    assert webchat.webchat_is_open(account=account)
    other = QueueFactory(organization=account.organization)
    assert other.business_hours_id is None


def test_another_organization_widget_shows_nothing_of_this_visitor(client, account):
    other = channel_account("webchat", config={"allowed_origins": [SITE]})
    assert other.organization_id != account.organization_id
    _start(client, account, message="Mine")
    agent = agent_in_queue(account.queue)
    message_add_with_files(
        interaction=Interaction.objects.get(),
        author=agent,
        body="File",
        files=[SimpleUploadedFile("a.pdf", b"%PDF", content_type="application/pdf")],
    )
    history = client.get(
        reverse("webchat-history", kwargs={"key": account.key}),
        HTTP_ORIGIN=SITE,
        HTTP_X_VISITOR_TOKEN=TOKEN,
    ).json()
    link = history["messages"][-1]["files"][0]["url"]
    through_other = client.get(
        reverse("webchat-history", kwargs={"key": other.key}),
        HTTP_ORIGIN=SITE,
        HTTP_X_VISITOR_TOKEN=TOKEN,
    ).json()
    assert through_other["messages"] == [] and through_other["status"]["state"] == "none"
    forged = link.replace(str(account.key), str(other.key))
    assert client.get(forged).status_code == 404
    with pytest.raises(Exception, match="ended"):
        webchat.webchat_visitor_message(account=other, token=TOKEN, body="x", client_id="c1")


def test_nobody_available_counts_as_offline_when_the_account_says_so(account):
    account.config = {**account.config, "offline_when_no_agents": True}
    account.save()
    assert not webchat.webchat_is_open(account=account)
    agent_in_queue(account.queue)
    assert webchat.webchat_is_open(account=account)


def test_the_demo_organization_gets_a_chat_widget_once():
    from apps.accounts.demo import demo_load
    from apps.connectors.models import ChannelAccount

    demo_load()
    demo_load()
    account = ChannelAccount.objects.get(kind="webchat")
    assert account.organization.slug == "acme"
    assert account.queue.name == "Technical support"
    assert webchat.required_fields(account) == ["name", "email"]


def test_a_blocked_visitor_can_store_nothing_more(account):
    from apps.contacts.services import identity_block

    interaction = webchat.webchat_start(
        account=account, token=TOKEN, fields={"name": "A", "email": "a@b.co"}
    )
    identity_block(identity=interaction.identity)
    with pytest.raises(Exception, match="not available"):
        webchat.webchat_visitor_message(account=account, token=TOKEN, body="x", client_id="c1")
    assert not Message.objects.exists()


def test_the_browser_language_takes_part_in_routing(account):
    from apps.queues.models import RoutingRule, RoutingTarget

    french = QueueFactory(organization=account.organization)
    rule = RoutingRule.objects.create(
        organization=account.organization, name="French", order=0, languages=["fr"]
    )
    RoutingTarget.objects.create(rule=rule, order=0, queue=french)
    interaction = webchat.webchat_start(
        account=account,
        token=TOKEN,
        fields={"name": "Élodie", "email": "e@x.fr", "language": "fr-CA"},
    )
    assert interaction.language == "fr"
    assert interaction.queue == french
