import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from apps.interactions import services
from apps.interactions.models import AppendOnly, Event, Interaction, Message, State
from apps.interactions.selectors import contact_timeline, screen_pop
from apps.interactions.services import TRANSITIONS, IllegalTransition
from tests.factories import (
    ContactFactory,
    ContactNoteFactory,
    DispositionFactory,
    InteractionFactory,
    MessageFactory,
    OrganizationFactory,
    QueueFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

ALL_MOVES = [(a, b) for a in State.values for b in State.values if a != b]


@pytest.mark.parametrize(("source", "target"), ALL_MOVES)
def test_state_machine_allows_exactly_its_table(source, target):
    interaction = InteractionFactory(state=source)
    if target in TRANSITIONS[source]:
        services.interaction_transition(interaction=interaction, to=target)
        interaction.refresh_from_db()
        assert interaction.state == target
        event = Event.objects.get(interaction=interaction, type="interaction.state_changed")
        assert event.data == {"from": source, "to": target}
    else:
        with pytest.raises(IllegalTransition):
            services.interaction_transition(interaction=interaction, to=target)
        interaction.refresh_from_db()
        assert interaction.state == source
        assert not Event.objects.filter(interaction=interaction).exists()


def test_closed_to_active_is_a_clear_error_and_changes_nothing():
    interaction = InteractionFactory(state=State.CLOSED)
    with pytest.raises(IllegalTransition, match="cannot go from Closed to Active"):
        services.interaction_transition(interaction=interaction, to=State.ACTIVE)
    interaction.refresh_from_db()
    assert interaction.state == State.CLOSED


def test_transition_uses_the_current_state_not_a_stale_copy():
    interaction = InteractionFactory(state=State.QUEUED)
    stale = Interaction.objects.get(pk=interaction.pk)
    services.interaction_transition(interaction=interaction, to=State.ABANDONED)
    with pytest.raises(IllegalTransition):
        services.interaction_transition(interaction=stale, to=State.OFFERED)


def test_milestones_are_stamped_once():
    interaction = InteractionFactory()
    for state in (State.QUEUED, State.OFFERED, State.ACTIVE, State.ON_HOLD, State.ACTIVE):
        services.interaction_transition(interaction=interaction, to=state)
    answered = interaction.answered_at
    assert interaction.queued_at <= answered
    assert interaction.ended_at is None
    services.interaction_transition(interaction=interaction, to=State.WRAP_UP)
    services.interaction_transition(interaction=interaction, to=State.CLOSED)
    interaction.refresh_from_db()
    assert interaction.answered_at == answered
    assert interaction.ended_at <= interaction.closed_at


def test_close_goes_through_wrap_up_with_disposition_and_notes(django_capture_on_commit_callbacks):
    interaction = InteractionFactory(state=State.ACTIVE)
    disposition = DispositionFactory(organization=interaction.organization)
    services.interaction_close(interaction=interaction, disposition=disposition, notes=" Refunded ")
    interaction.refresh_from_db()
    assert (interaction.state, interaction.disposition, interaction.wrap_up_notes) == (
        State.CLOSED,
        disposition,
        "Refunded",
    )
    moves = [
        e.data["to"]
        for e in Event.objects.filter(interaction=interaction, type="interaction.state_changed")
    ]
    assert moves == [State.WRAP_UP, State.CLOSED]


def test_close_refuses_foreign_inactive_or_noteless_disposition():
    interaction = InteractionFactory(state=State.ACTIVE)
    with pytest.raises(ValidationError):
        services.interaction_close(interaction=interaction, disposition=DispositionFactory())
    needs_note = DispositionFactory(organization=interaction.organization, requires_note=True)
    with pytest.raises(ValidationError, match="wrap-up note"):
        services.interaction_close(interaction=interaction, disposition=needs_note)
    interaction.refresh_from_db()
    assert interaction.state == State.ACTIVE


def test_channel_switch_links_the_new_interaction():
    chat = InteractionFactory(channel="webchat")
    call = services.interaction_create(
        organization=chat.organization,
        channel="voice",
        direction="outbound",
        contact=chat.contact,
        continues=chat,
    )
    assert list(chat.continuations.all()) == [call]
    with pytest.raises(ValidationError):
        services.interaction_create(
            organization=chat.organization,
            channel="voice",
            direction="outbound",
            contact=ContactFactory(organization=chat.organization),
            continues=chat,
        )


def test_create_refuses_rows_of_another_organization():
    contact = ContactFactory()
    with pytest.raises(ValidationError, match="queue"):
        services.interaction_create(
            organization=contact.organization,
            channel="sms",
            direction="inbound",
            contact=contact,
            queue=QueueFactory(),
        )
    with pytest.raises(ValidationError, match="contact"):
        services.interaction_create(
            organization=OrganizationFactory(), channel="sms", direction="inbound", contact=contact
        )


def test_assign_refuses_agents_of_another_organization():
    interaction = InteractionFactory()
    with pytest.raises(ValidationError):
        services.interaction_assign(interaction=interaction, agent=UserFactory())
    agent = UserFactory(organization=interaction.organization)
    services.interaction_assign(interaction=interaction, agent=agent)
    assert Event.objects.get(type="interaction.assigned").data["agent"] == agent.pk


def test_same_provider_message_twice_is_stored_once():
    interaction = InteractionFactory(channel="sms")
    first, created = services.message_add(
        interaction=interaction,
        direction="inbound",
        author_kind="contact",
        body="Hi",
        provider_id="SM1",
    )
    again, created_again = services.message_add(
        interaction=interaction,
        direction="inbound",
        author_kind="contact",
        body="Hi",
        provider_id="SM1",
    )
    assert created and not created_again and first == again
    assert Message.objects.count() == 1
    assert Event.objects.filter(type="message.received").count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
def test_twenty_concurrent_deliveries_store_one_message():
    interaction = InteractionFactory(channel="whatsapp")
    barrier = threading.Barrier(20)
    outcomes = []

    def deliver():
        barrier.wait()
        try:
            _message, created = services.message_add(
                interaction=interaction,
                direction="inbound",
                author_kind="contact",
                body="Hello",
                provider_id="wamid.1",
            )
            outcomes.append(created)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == [False] * 19 + [True]
    assert Message.objects.filter(provider_id="wamid.1").count() == 1


def test_empty_message_is_refused():
    with pytest.raises(ValidationError):
        services.message_add(
            interaction=InteractionFactory(), direction="inbound", author_kind="contact"
        )


def test_delivery_status_only_moves_forward():
    message = MessageFactory(
        direction="outbound",
        author_kind="agent",
        provider_id="m1",
        delivery_status=Message.Delivery.SENT,
    )
    args = {"organization": message.organization, "channel": message.channel, "provider_id": "m1"}
    services.message_status_update(**args, status=Message.Delivery.READ)
    services.message_status_update(**args, status=Message.Delivery.DELIVERED)
    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.READ
    assert services.message_status_update(**{**args, "provider_id": "nope"}, status="read") is None


def test_events_are_append_only():
    event = services.event_record(organization=OrganizationFactory(), type="test.thing")
    event.data = {"changed": True}
    with pytest.raises(AppendOnly):
        event.save()
    with pytest.raises(AppendOnly):
        event.delete()


def test_timeline_spans_channels_newest_first_with_bounded_queries(django_assert_num_queries):
    contact = ContactFactory()
    for channel in ("voice", "email", "whatsapp", "webchat"):
        interaction = InteractionFactory(contact=contact, channel=channel)
        MessageFactory.create_batch(3, interaction=interaction)
    InteractionFactory(organization=contact.organization)  # someone else's
    with django_assert_num_queries(4):  # interactions, messages, notes, tags
        page = list(contact_timeline(contact=contact)[:10])
        bodies = [[m.body for m in i.messages.all()] for i in page]
    assert [i.channel for i in page] == ["webchat", "whatsapp", "email", "voice"]
    assert all(len(b) == 3 for b in bodies)


def test_screen_pop_has_contact_open_items_recent_history_and_notes(django_assert_max_num_queries):
    from apps.contacts.models import ContactField

    contact = ContactFactory(custom_fields={"account": "A-1", "hidden": "x"})
    org = contact.organization
    ContactField.objects.create(organization=org, key="account", label="Account")
    ContactField.objects.create(
        organization=org, key="hidden", label="Hidden", show_in_screen_pop=False
    )
    disposition = DispositionFactory(organization=org)
    past = [
        InteractionFactory(contact=contact, state=State.CLOSED, disposition=disposition)
        for _ in range(6)
    ]
    still_open = InteractionFactory(contact=contact, state=State.QUEUED)
    ContactNoteFactory(contact=contact, body="Deaf in one ear: speak clearly.")
    current = InteractionFactory(contact=contact, state=State.OFFERED)
    with django_assert_max_num_queries(12):
        pop = screen_pop(interaction=current)
        recent_dispositions = [i.disposition.name for i in pop.recent_interactions if i.disposition]
    assert pop.contact == contact
    assert pop.custom_fields == [("Account", "A-1")]
    assert pop.open_interactions == [still_open]
    assert len(pop.recent_interactions) == 5 and current not in pop.recent_interactions
    assert pop.recent_interactions[0] == still_open and past[-1] in pop.recent_interactions
    assert recent_dispositions.count(disposition.name) == 4
    assert pop.contact_notes[0].body.startswith("Deaf")
