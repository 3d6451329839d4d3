from datetime import UTC, datetime

import pytest

from apps.accounts.demo import demo_load
from apps.accounts.models import Organization
from apps.contacts.models import Contact
from apps.flows.engine import FlowContext, flow_advance, flow_start
from apps.flows.models import Flow, FlowVersion

pytestmark = pytest.mark.django_db

TUESDAY_NOON = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
SUNDAY_NOON = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)


@pytest.fixture
def demo(roles):
    demo_load()
    acme = Organization.objects.get(slug="acme")
    return acme, Flow.objects.get(organization=acme, name="Main line")


def test_the_demo_ivr_is_published_once(demo):
    acme, flow = demo
    demo_load()
    assert flow.versions.get().status == FlowVersion.Status.PUBLISHED
    assert not Flow.objects.filter(organization__slug="globex").exists()


def test_the_demo_ivr_greets_a_vip_and_reads_the_balance(demo):
    acme, flow = demo
    camille = Contact.objects.get(organization=acme, external_id="demo-1")
    step = flow_start(
        flow.versions.get(), FlowContext(organization=acme, contact=camille, now=TUESDAY_NOON)
    )
    assert [p["text"] for p in step.prompts] == [
        "Bienvenue chez Acme Support.",
        "Bon retour Camille : vous passez en priorité.",
        step.prompts[2]["text"],
    ]
    balance = flow_advance(step.session, "solde", now=TUESDAY_NOON)
    assert balance.prompts[0]["text"] == "Votre solde est de 42.5 euros."
    billing = flow_advance(balance.session, "1", now=TUESDAY_NOON)
    assert billing.decision["action"] == "enqueue" and billing.decision["queue"] == "Billing"


def test_the_demo_ivr_offers_a_callback_when_closed(demo):
    acme, flow = demo
    step = flow_start(flow.versions.get(), FlowContext(organization=acme, now=SUNDAY_NOON))
    assert step.question["kind"] == "callback_offer"
    assert flow_advance(step.session, "1").decision["action"] == "callback"
    assert flow_advance(step.session, "2").decision["action"] == "voicemail"


def test_the_demo_web_chat_runs_the_chat_assistant_in_the_visitors_language(demo):
    """The demo widget names the chat assistant: a French visitor known to the CRM gets its
    prompts in French with the subscription read from their record, and buttons."""
    from apps.connectors import webchat
    from apps.connectors.models import ChannelAccount
    from apps.interactions.models import Message

    acme, _flow = demo
    assert Flow.objects.get(organization=acme, name="Chat assistant").versions.get().status == (
        FlowVersion.Status.PUBLISHED
    )
    account = ChannelAccount.objects.get(organization=acme, kind="webchat")
    assert account.config["flow"] == "Chat assistant"
    interaction = webchat.webchat_start(
        account=account,
        token="v" * 43,
        fields={"name": "Camille Laurent", "email": "camille@laurent-fils.fr", "language": "fr"},
    )
    bot = list(interaction.messages.filter(author_kind=Message.Author.BOT).order_by("id"))
    assert [m.body for m in bot] == [
        "Bonjour Camille, bienvenue chez Acme Support !",
        "Je vois votre abonnement Premium.",
        "Comment pouvons-nous vous aider ?",
    ]
    assert [b["title"] for b in bot[-1].content["buttons"]] == [
        "Facturation",
        "Assistance",
        "Parler à un conseiller",
    ]
    webchat.webchat_visitor_message(
        account=account, token="v" * 43, body="Facturation", client_id="c1", reply="1"
    )
    interaction.refresh_from_db()
    assert interaction.queue.name == "Billing" and interaction.state != "new"


def test_the_chat_assistant_greets_a_stranger_without_a_name(demo):
    acme, _flow = demo
    version = Flow.objects.get(organization=acme, name="Chat assistant").versions.get()
    stranger = Contact.objects.create(organization=acme)
    step = flow_start(version, FlowContext(organization=acme, contact=stranger, channel="sms"))
    assert [p["text"] for p in step.prompts] == [
        "Hello, welcome to Acme Support!",
        "How can we help you?",
    ]
    assert [c["key"] for c in step.question["choices"]] == ["1", "2", "3"]
    assert flow_advance(step.session, "conseiller").decision["queue"] == "Technical support"
