"""Self-service flows on written channels: the same flows as phone calls, on SMS, WhatsApp,
Messenger and the web chat (signed webhooks in, the providers' own formats out)."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.connectors import services
from apps.connectors.chatflow import chat_flow_timeouts, choice_labels, shape
from apps.connectors.models import InboundEvent, Outbound
from apps.interactions.models import Event, Interaction, Message, State
from apps.queues.models import Callback
from tests.connectors.conftest import channel_account
from tests.connectors.test_meta import SECRETS, _whatsapp
from tests.connectors.test_meta import _post as meta_post
from tests.connectors.test_meta import _text as wa_text
from tests.connectors.test_sms import ACCOUNT_SID, TOKEN, _sms
from tests.connectors.test_sms import _post as sms_post
from tests.factories import ContactFactory, IdentityFactory, agent_in_queue
from tests.flows.factories import build_version

pytestmark = pytest.mark.django_db


def chat_spec(queue_name: str) -> dict:
    """A chat menu: Billing (looks the contact's plan up, then the queue), Support, a person,
    a callback, a goodbye; a silence asks again once, then says goodbye."""
    return {
        "hello": (
            "say",
            {"prompt": {"en": "Hello {{ contact.first_name }}!", "fr": "Bonjour !"}},
            {"next": "menu"},
        ),
        "menu": (
            "menu",
            {
                "prompt": {"en": "How can we help?", "fr": "Comment vous aider ?"},
                "options": [
                    {"key": "1", "title": {"en": "Billing", "fr": "Facturation"}},
                    {"key": "2", "title": "Support", "keywords": ["help"]},
                    {"outcome": "person", "title": "Talk to a person", "keywords": ["agent"]},
                    {"outcome": "call", "title": "Call me back", "keywords": ["call"]},
                    {"outcome": "bye", "title": "Nothing, thanks", "keywords": ["bye"]},
                ],
                "timeout": 5,
                "retries": 1,
            },
            {
                "1": "plan",
                "2": "support",
                "person": "person",
                "call": "call",
                "bye": "bye",
                "timeout": "bye",
                "invalid": "bye",
            },
        ),
        "plan": (
            "lookup",
            {"source": "contact", "field": "plan", "variable": "plan"},
            {"next": "plan_say", "error": "billing"},
        ),
        "plan_say": ("say", {"prompt": "Your plan: {{ plan }}."}, {"next": "billing"}),
        "billing": ("enqueue", {"queue": queue_name, "priority": 7, "skills": []}, {}),
        "support": ("enqueue", {"queue": queue_name}, {}),
        "person": ("transfer", {"agent": "ada"}, {}),
        "call": (
            "callback_offer",
            {"prompt": "Shall we call you back?", "queue": queue_name},
            {"accepted": "thanks", "declined": "support"},
        ),
        "thanks": ("hangup", {"prompt": "We will call you."}, {}),
        "bye": ("hangup", {"prompt": "Goodbye."}, {}),
    }


def _publish(account, name="Chat menu"):
    """The chat menu, published and named by ``account``; the agent and the contact field
    it names exist (and ada, available, is the queue's only agent)."""
    from apps.flows.models import Flow
    from apps.flows.services import flow_version_publish
    from tests.factories import ContactFieldFactory

    ContactFieldFactory(organization=account.organization, key="plan", label="Plan")
    agent_in_queue(account.queue, username="ada")

    flow = Flow.objects.create(organization=account.organization, name=name)
    version = build_version(account.organization, chat_spec(account.queue.name), flow=flow)
    flow_version_publish(version=version)
    account.config = {**account.config, "flow": name}
    account.save(update_fields=["config"])
    return flow


@pytest.fixture
def sms(roles):
    account = channel_account(
        "sms",
        address="+15005550006",
        secrets={"auth_token": TOKEN},
        config={"account_sid": ACCOUNT_SID, "greeting": "Hello from Acme!"},
    )
    _publish(account)
    return account


def _bot(interaction):
    return list(
        interaction.messages.filter(author_kind=Message.Author.BOT).values_list("body", flat=True)
    )


def _receive(account, body, n, *, kind="phone", who="+14155550123", content=None):
    return services.message_receive(
        account=account,
        received=services.Received(
            identity_kind=kind,
            identity_value=who,
            provider_id=str(n) if str(n).startswith("SM") else f"M{n}",
            body=body,
            content=content or {},
        ),
    )


# --- SMS: numbered text, answers by number or word, enqueue ------------------------------------


def test_an_sms_walks_the_menu_to_a_queue_through_signed_webhooks(
    client, sms, django_capture_on_commit_callbacks
):
    contact = ContactFactory(
        organization=sms.organization, first_name="Ada", custom_fields={"plan": "Gold"}
    )
    IdentityFactory(contact=contact, kind="phone", value="+14155550123")
    with django_capture_on_commit_callbacks(execute=True):
        assert sms_post(client, sms, _sms(body="Hi")).status_code == 200
    interaction = Interaction.objects.get()
    assert interaction.state == State.NEW  # the flow talks; nobody is offered it yet
    assert _bot(interaction) == [
        "Hello Ada!",
        "How can we help?\n1. Billing\n2. Support\n3. Talk to a person\n4. Call me back\n"
        "5. Nothing, thanks",
    ]
    assert interaction.messages.filter(author_kind="bot", content={}).count() == 2  # no buttons
    assert Outbound.objects.count() == 2  # the bot's lines go out like any reply

    with django_capture_on_commit_callbacks(execute=True):
        sms_post(client, sms, _sms(sid="SM" + "2" * 32, body=" 1 "))
    interaction.refresh_from_db()
    assert _bot(interaction)[-1] == "Your plan: Gold."  # the lookup read the contact's field
    assert interaction.state == State.OFFERED and interaction.queue_id == sms.queue_id
    finished = Event.objects.get(type="flow.finished", interaction=interaction)
    assert finished.data["decision"]["action"] == "enqueue"
    assert finished.data["path"][-1] == "billing"

    # Once routed, the customer's messages are the agent's, not the flow's.
    with django_capture_on_commit_callbacks(execute=True):
        sms_post(client, sms, _sms(sid="SM" + "3" * 32, body="2"))
    interaction.refresh_from_db()
    assert interaction.data["flow"]["inputs"] == [{"node": "menu", "input": "1"}]
    assert Event.objects.filter(type="flow.finished").count() == 1


def test_a_replayed_webhook_advances_the_flow_once(client, sms, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sms_post(client, sms, _sms(body="Hi"))
    answer = _sms(sid="SM" + "9" * 32, body="nonsense")
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            assert sms_post(client, sms, answer).status_code == 200
    interaction = Interaction.objects.get()
    assert InboundEvent.objects.count() == 2
    # One "not understood" (retries: 1), not three (which would have ended in goodbye).
    assert interaction.data["flow"]["inputs"] == [{"node": "menu", "input": "nonsense"}]
    assert (
        interaction.state == State.NEW and _bot(interaction)[-2] == "Sorry, I did not understand."
    )
    # The message replayed to the service itself (a retry of the task) is stored once too.
    _receive(sms, "nonsense", "SM" + "9" * 32)
    interaction.refresh_from_db()
    assert len(interaction.data["flow"]["inputs"]) == 1


def test_keywords_and_words_choose_too_and_hang_up_closes(sms):
    message, _ = _receive(sms, "Hello", 1)
    interaction = message.interaction
    _receive(sms, "Nothing, thanks", 2)  # the option's title, typed
    interaction.refresh_from_db()
    assert _bot(interaction)[-1] == "Goodbye."
    assert interaction.state == State.CLOSED
    # A new message is a new conversation, and the flow greets again.
    message, _ = _receive(sms, "Me again", 3)
    assert message.interaction_id != interaction.pk and message.interaction.state == State.NEW
    _receive(sms, "I need help", 4)  # a keyword of Support
    assert Interaction.objects.get(pk=message.interaction_id).state == State.OFFERED


def test_a_person_means_the_preferred_agent(sms):
    message, _ = _receive(sms, "Hi", 1)
    _receive(sms, "agent", 2)
    interaction = Interaction.objects.get(pk=message.interaction_id)
    assert interaction.preferred_agent.username == "ada"
    assert interaction.state == State.OFFERED


def test_a_callback_is_booked_for_the_phone_number(sms):
    message, _ = _receive(sms, "Hi", 1)
    _receive(sms, "4", 2)
    _receive(sms, "yes", 3)
    interaction = Interaction.objects.get(pk=message.interaction_id)
    callback = Callback.objects.get()
    assert callback.number == "+14155550123" and callback.queue_id == sms.queue_id
    assert callback.origin_id == interaction.pk
    assert interaction.state == State.CALLBACK_SCHEDULED
    assert _bot(interaction)[-1] == "We will call you."


def test_a_callback_without_a_phone_number_says_so_and_an_agent_answers(roles):
    account = channel_account("messenger", address="1234567890", secrets=SECRETS)
    _publish(account)
    message, _ = _receive(account, "Hi", 1, kind="messenger", who="PSID1")
    _receive(account, "x", 2, kind="messenger", who="PSID1", content={"reply": "call"})
    _receive(account, "y", 3, kind="messenger", who="PSID1", content={"reply": "accepted"})
    interaction = Interaction.objects.get(pk=message.interaction_id)
    assert not Callback.objects.exists()
    assert _bot(interaction)[-1] == (
        "We have no phone number to call you back: an agent will answer you here."
    )
    assert interaction.state == State.OFFERED


def test_an_unanswered_question_applies_the_timeout_rule(sms):
    message, _ = _receive(sms, "Hi", 1)
    interaction = message.interaction
    assert chat_flow_timeouts(now=timezone.now()) == 0  # not yet
    later = timezone.now() + timedelta(minutes=11)
    assert chat_flow_timeouts(now=later) == 1
    interaction.refresh_from_db()
    assert _bot(interaction)[-2:][0] == "Sorry, I did not get an answer."  # asked again
    assert interaction.state == State.NEW
    assert chat_flow_timeouts(now=later + timedelta(minutes=11)) == 1
    interaction.refresh_from_db()
    assert _bot(interaction)[-1] == "Goodbye." and interaction.state == State.CLOSED
    assert chat_flow_timeouts(now=later + timedelta(hours=1)) == 0


def test_an_unpublished_flow_routes_to_the_queue_with_a_log_line(roles, caplog):
    account = channel_account("sms", address="+15005550007", config={"flow": "Draft only"})
    agent_in_queue(account.queue)
    from apps.flows.models import Flow

    flow = Flow.objects.create(organization=account.organization, name="Draft only")
    build_version(account.organization, chat_spec(account.queue.name), flow=flow)
    message, _ = _receive(account, "Hi", 1)
    interaction = Interaction.objects.get(pk=message.interaction_id)
    assert interaction.state == State.OFFERED
    assert not interaction.messages.filter(author_kind="bot").exists()
    assert "chatflow.flow_unavailable" in caplog.text


def test_without_a_flow_the_greeting_bot_is_unchanged(roles):
    account = channel_account("sms", address="+15005550008", config={"greeting": "Hello!"})
    agent_in_queue(account.queue)
    message, _ = _receive(account, "Hi", 1)
    assert _bot(message.interaction) == ["Hello!\nWhat is your name?"]
    assert "flow" not in message.interaction.data


# --- WhatsApp and Messenger: their own buttons out, the tapped id back -------------------------


def test_whatsapp_sends_reply_buttons_or_a_list_and_takes_the_tapped_id(
    client, roles, provider, django_capture_on_commit_callbacks
):
    account = channel_account("whatsapp", address="106540352242922", secrets=SECRETS)
    _publish(account)
    provider.on(
        "POST",
        "/graph/106540352242922/messages",
        (200, {"messages": [{"id": "wamid.OUT"}]}),
    )
    with django_capture_on_commit_callbacks(execute=True):
        meta_post(client, account, _whatsapp([wa_text(body="Hello")]))
    sent = [c.json() for c in provider.made("POST", "/graph/106540352242922/messages")]
    assert sent[0]["type"] == "text" and sent[0]["text"]["body"] == "Hello Sheena!"
    menu = sent[-1]
    assert menu["type"] == "interactive" and menu["interactive"]["type"] == "list"  # 5 > 3
    rows = menu["interactive"]["action"]["sections"][0]["rows"]
    assert [r["id"] for r in rows] == ["1", "2", "person", "call", "bye"]
    assert menu["interactive"]["body"]["text"] == "How can we help?"

    tapped = {
        "from": "16505551234",
        "id": "wamid.TAP",
        "timestamp": str(int(timezone.now().timestamp())),
        "type": "interactive",
        "interactive": {"type": "list_reply", "list_reply": {"id": "2", "title": "Support"}},
    }
    with django_capture_on_commit_callbacks(execute=True):
        meta_post(client, account, _whatsapp([tapped]))
    interaction = Interaction.objects.get()
    assert interaction.state == State.OFFERED
    assert interaction.data["flow"]["inputs"] == [{"node": "menu", "input": "2"}]


def test_whatsapp_up_to_three_choices_are_reply_buttons():
    message = Message(body="Shall we call you back?", content={})
    message.content = {
        "buttons": [
            {"id": "accepted", "title": "Yes, call me back"},
            {"id": "declined", "title": "No"},
        ]
    }
    from apps.connectors.providers.meta import _whatsapp_choices

    interactive = _whatsapp_choices(message)
    assert interactive["type"] == "button"
    assert interactive["action"]["buttons"][0] == {
        "type": "reply",
        "reply": {"id": "accepted", "title": "Yes, call me back"},
    }


def test_messenger_quick_replies_go_out_in_the_send_api_payload(
    client, roles, provider, django_capture_on_commit_callbacks
):
    account = channel_account("messenger", address="1234567890", secrets=SECRETS)
    _publish(account)
    provider.on("POST", "/graph/1234567890/messages", (200, {"message_id": "m_OUT"}))
    ts = int(timezone.now().timestamp() * 1000)

    def event(mid, text, quick_reply=None):
        message = {"mid": mid, "text": text}
        if quick_reply:
            message["quick_reply"] = {"payload": quick_reply}
        return {
            "object": "page",
            "entry": [
                {
                    "id": "1234567890",
                    "time": ts,
                    "messaging": [
                        {
                            "sender": {"id": "PSID1"},
                            "recipient": {"id": "1234567890"},
                            "timestamp": ts,
                            "message": message,
                        }
                    ],
                }
            ],
        }

    with django_capture_on_commit_callbacks(execute=True):
        meta_post(client, account, event("m_1", "Hello"))
    menu = provider.made("POST", "/graph/1234567890/messages")[-1].json()
    assert menu["message"]["text"] == "How can we help?"
    assert menu["message"]["quick_replies"][:2] == [
        {"content_type": "text", "title": "Billing", "payload": "1"},
        {"content_type": "text", "title": "Support", "payload": "2"},
    ]
    with django_capture_on_commit_callbacks(execute=True):
        meta_post(client, account, event("m_2", "Talk to a person", quick_reply="person"))
    interaction = Interaction.objects.get()
    assert interaction.data["flow"]["inputs"] == [{"node": "menu", "input": "person"}]
    assert interaction.state == State.OFFERED


# --- Rendering rules ---------------------------------------------------------------------------


def test_numbered_text_uses_keys_and_free_numbers():
    choices = [
        {"id": "9", "key": "9", "title": "Nine"},
        {"id": "agent", "key": "", "title": "A person"},
        {"id": "1", "key": "1", "title": "One"},
    ]
    labels = choice_labels(choices)
    assert labels == {"9": "9", "2": "agent", "1": "1"}
    buttons = [{"id": c["id"], "title": c["title"]} for c in choices]
    assert shape("sms", "Choose", buttons, labels) == ("Choose\n9. Nine\n2. A person\n1. One", {})
    assert shape("webchat", "Choose", buttons, labels) == ("Choose", {"buttons": buttons})
    assert json.dumps(shape("x", "", buttons, labels)[0]).startswith('"9. Nine')


# --- Settings: the Channels admin offers the organization's flows, and checks the choice ------


def test_the_admin_offers_the_organizations_flows_and_refuses_another_ones(
    client, admin_a, org_a, org_b
):
    from django.urls import reverse

    from apps.accounts.models import PlanFeature
    from apps.connectors.models import ChannelAccount
    from apps.flows.models import Flow
    from tests.factories import QueueFactory

    PlanFeature.objects.create(plan=org_a.subscription.plan, code="channel_whatsapp", limit=2)
    Flow.objects.create(organization=org_a, name="Chat assistant")
    Flow.objects.create(organization=org_b, name="Their secret flow")
    queue = QueueFactory(organization=org_a)
    client.force_login(admin_a)
    url = reverse("admin:connectors_channelaccount_add")
    page = client.get(url).content.decode()
    assert '<option value="Chat assistant">' in page and "Their secret flow" not in page
    form = {
        "kind": "whatsapp",
        "name": "WhatsApp",
        "is_active": "on",
        "address": "106540352242922",
        "queue": queue.pk,
        "config": '{"language": "en"}',
    }
    refused = client.post(url, {**form, "flow": "Their secret flow"})
    assert refused.status_code == 200 and not ChannelAccount.objects.exists()
    assert client.post(url, {**form, "flow": "Chat assistant"}).status_code == 302
    account = ChannelAccount.objects.get()
    assert account.config == {"language": "en", "flow": "Chat assistant"}
    # The service refuses a flow of another organization whoever asks (API, import…).
    from django.core.exceptions import ValidationError

    account.config["flow"] = "Their secret flow"
    with pytest.raises(ValidationError):
        services.channel_account_check(account=account)


# --- Other endings: a message left, a number to call; STOP is not an answer ------------------


def _endings(account):
    from apps.flows.models import Flow
    from apps.flows.services import flow_version_publish

    spec = {
        "menu": (
            "menu",
            {
                "prompt": "Leave a message (1) or call our shop (2)?",
                "options": [{"key": "1", "title": "Message"}, {"key": "2", "title": "Shop"}],
            },
            {"1": "message", "2": "shop"},
        ),
        "message": ("voicemail", {"queue": account.queue.name}, {}),
        "shop": ("transfer", {"number": "+33142000000"}, {}),
    }
    flow = Flow.objects.create(organization=account.organization, name="Endings")
    flow_version_publish(version=build_version(account.organization, spec, flow=flow))
    account.config = {**account.config, "flow": "Endings"}
    account.save(update_fields=["config"])


def test_leaving_a_message_routes_the_conversation_marked_as_such(roles):
    account = channel_account("sms", address="+15005550009")
    agent_in_queue(account.queue)
    _endings(account)
    message, _ = _receive(account, "Hi", 1)
    _receive(account, "1", 2)
    interaction = Interaction.objects.get(pk=message.interaction_id)
    assert _bot(interaction)[-1] == (
        "Please leave your message here: we will answer you as soon as we can."
    )
    assert interaction.data["left_message"] is True
    assert interaction.state == State.OFFERED and interaction.queue_id == account.queue_id


def test_a_transfer_to_a_number_tells_it_and_closes(roles):
    account = channel_account("sms", address="+15005550010")
    _endings(account)
    message, _ = _receive(account, "Hi", 1)
    _receive(account, "2", 2)
    interaction = Interaction.objects.get(pk=message.interaction_id)
    assert _bot(interaction)[-1] == (
        "Please call us at +33142000000. This conversation is now closed."
    )
    assert interaction.state == State.CLOSED


def test_stop_on_sms_is_an_opt_out_not_an_answer(client, sms, django_capture_on_commit_callbacks):
    from apps.contacts.models import Consent

    with django_capture_on_commit_callbacks(execute=True):
        sms_post(client, sms, _sms(body="Hi"))
    with django_capture_on_commit_callbacks(execute=True):
        sms_post(client, sms, _sms(sid="SM" + "5" * 32, body="STOP"))
    interaction = Interaction.objects.get()
    assert interaction.data["flow"]["inputs"] == []
    assert Consent.objects.get().status == Consent.Status.OPT_OUT
    assert interaction.messages.filter(author_kind="system").count() == 1  # the confirmation


def test_the_timeout_sweep_is_a_registered_beat_task(settings, sms):
    from celery import current_app

    from apps.connectors.tasks import chat_flow_timeouts_task

    entry = settings.CELERY_BEAT_SCHEDULE["chat-flow-timeouts"]
    assert entry["task"] == chat_flow_timeouts_task.name
    assert entry["task"] in current_app.tasks
    message, _ = _receive(sms, "Hi", 1)
    Interaction.objects.filter(pk=message.interaction_id).update(
        data={
            **message.interaction.data,
            "flow_chat": {"asked_at": "2000-01-01T00:00:00+00:00", "labels": {}},
        }
    )
    chat_flow_timeouts_task()  # the task itself: the overdue question is answered by silence
    assert _bot(message.interaction)[-2] == "Sorry, I did not get an answer."
