"""The greeting bot on social and SMS channels: name and reason before routing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.connectors import services
from apps.interactions.models import Event, Interaction, Message
from tests.connectors.conftest import channel_account
from tests.factories import agent_in_queue

pytestmark = pytest.mark.django_db


@pytest.fixture
def sms(roles):
    account = channel_account(
        "sms", address="+15005550006", config={"greeting": "Hello from Acme!"}
    )
    agent_in_queue(account.queue)
    return account


def _say(account, text, n):
    return services.message_receive(
        account=account,
        received=services.Received(
            identity_kind="phone", identity_value="+14155550123", provider_id=f"SM{n}", body=text
        ),
    )


def _bot_lines(interaction):
    return list(
        interaction.messages.filter(author_kind=Message.Author.BOT).values_list("body", flat=True)
    )


def test_the_bot_asks_name_and_reason_then_routes(sms):
    message, _ = _say(sms, "Hi", 1)
    interaction = message.interaction
    assert interaction.state == "new"  # not routed while the bot talks
    assert _bot_lines(interaction) == ["Hello from Acme!\nWhat is your name?"]
    _say(sms, "Ada Lovelace", 2)
    interaction.refresh_from_db()
    assert str(interaction.contact) == "Ada Lovelace" and interaction.state == "new"
    assert _bot_lines(interaction)[-1] == "What is it about?"
    _say(sms, "My invoice is wrong", 3)
    interaction.refresh_from_db()
    assert (
        interaction.reason == "My invoice is wrong" and interaction.subject == "My invoice is wrong"
    )
    assert interaction.state == "offered"  # routed once it knows
    assert _bot_lines(interaction)[-1] == "Thank you. An agent will answer you shortly."
    event = Event.objects.get(type="interaction.bot_collected")
    assert event.data == {"name": "Ada Lovelace", "reason": "My invoice is wrong"}
    # The bot's lines go out to the customer like any reply.
    assert Message.objects.filter(author_kind="bot", outbound__isnull=False).count() == 3


def test_a_known_customer_is_only_asked_the_reason_in_their_language(sms):
    from tests.factories import ContactFactory, IdentityFactory

    contact = ContactFactory(organization=sms.organization, first_name="Jean", language="fr")
    IdentityFactory(contact=contact, kind="phone", value="+14155550123")
    message, _ = _say(sms, "Bonjour", 1)
    assert _bot_lines(message.interaction) == ["Hello from Acme!\nDe quoi s’agit-il ?"]


def test_no_greeting_routes_at_once_and_silence_is_routed_after_the_timeout(sms, roles):
    plain = channel_account("whatsapp", address="106540352242922")
    agent_in_queue(plain.queue)
    message, _ = services.message_receive(
        account=plain,
        received=services.Received(
            identity_kind="whatsapp",
            identity_value="+16505551234",
            provider_id="wamid.1",
            body="Hi",
        ),
    )
    routed = Interaction.objects.get(pk=message.interaction_id)
    assert routed.state == "offered" and not _bot_lines(routed)

    silent, _ = _say(sms, "Hi", 9)
    assert services.bot_timeouts(now=timezone.now()) == 0
    assert services.bot_timeouts(now=timezone.now() + timedelta(minutes=11)) == 1
    interaction = Interaction.objects.get(pk=silent.interaction_id)
    assert interaction.state == "offered" and interaction.data["bot"]["timed_out"] is True
