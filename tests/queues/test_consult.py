"""Consult a colleague, bring them into a conference, and warm transfers (to an agent or a
queue): the agent keeps the customer until the colleague has joined and takes over."""

import pytest
from django.core.exceptions import ValidationError

from apps.interactions.models import Event, Participant, State
from apps.interactions.services import interaction_close
from apps.queues import services
from apps.queues.models import Offer, PresenceStatus
from tests.factories import (
    ContactFactory,
    DispositionFactory,
    InteractionFactory,
    QueueFactory,
    UserFactory,
    agent_in_queue,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def live(roles):
    """A chat answered by ``first``; ``second`` is another available agent of its queue."""
    queue = QueueFactory()
    first = agent_in_queue(queue, idle_minutes=30)
    second = agent_in_queue(queue, idle_minutes=1)
    contact = ContactFactory(organization=queue.organization)
    interaction = InteractionFactory(contact=contact, channel="webchat")
    services.interaction_enqueue(interaction=interaction, queue=queue)
    services.offer_accept(offer=Offer.objects.get(interaction=interaction), agent=first)
    interaction.refresh_from_db()
    return queue, first, second, interaction


def test_a_warm_transfer_keeps_the_customer_with_their_agent_until_the_colleague_takes_over(live):
    queue, first, second, interaction = live
    invitation = services.participant_invite(
        interaction=interaction,
        actor=first,
        agent=second,
        note="Refund over 500 €",
        for_transfer=True,
    )
    interaction.refresh_from_db()
    # Nothing moved yet: still live with the first agent, no offer to anyone.
    assert (interaction.state, interaction.assigned_agent_id) == (State.ACTIVE, first.pk)
    assert not Offer.objects.filter(interaction=interaction, status=Offer.Status.PENDING).exists()
    assert interaction.notes.get().body == "Refund over 500 €"

    services.participant_answer(participant=invitation, agent=second, accept=True)
    invitation.refresh_from_db()
    assert invitation.status == Participant.Status.JOINED and invitation.joined_at

    services.participant_take_over(participant=invitation, actor=first)
    interaction.refresh_from_db()
    invitation.refresh_from_db()
    assert (interaction.state, interaction.assigned_agent_id) == (State.ACTIVE, second.pk)
    assert invitation.status == Participant.Status.TOOK_OVER
    transferred = Event.objects.get(type="interaction.transferred")
    assert transferred.data == {
        "from_agent": first.pk,
        "to_agent": second.pk,
        "to_queue": None,
        "warm": True,
        "note": "Refund over 500 €",
    }
    # The former agent is free for new work; the new one holds it.
    assert services.engine.loads_of([first.pk])[first.pk, "chat"] == 0
    assert services.engine.loads_of([second.pk])[second.pk, "chat"] == 1


def test_no_take_over_before_the_colleague_has_joined(live):
    queue, first, second, interaction = live
    invitation = services.participant_invite(
        interaction=interaction, actor=first, agent=second, for_transfer=True
    )
    with pytest.raises(ValidationError, match="not joined"):
        services.participant_take_over(participant=invitation, actor=first)
    interaction.refresh_from_db()
    assert interaction.assigned_agent_id == first.pk


def test_a_declined_consult_leaves_the_interaction_with_its_agent(live):
    queue, first, second, interaction = live
    invitation = services.participant_invite(interaction=interaction, actor=first, agent=second)
    services.participant_answer(participant=invitation, agent=second, accept=False)
    invitation.refresh_from_db()
    interaction.refresh_from_db()
    assert invitation.status == Participant.Status.DECLINED
    assert (interaction.state, interaction.assigned_agent_id) == (State.ACTIVE, first.pk)
    assert Event.objects.filter(type="interaction.participant_declined").count() == 1
    # Asked again: a new invitation (the declined one is history).
    again = services.participant_invite(interaction=interaction, actor=first, agent=second)
    assert again.pk != invitation.pk


def test_a_consult_becomes_a_conference_and_both_stay(live):
    queue, first, second, interaction = live
    invitation = services.participant_invite(interaction=interaction, actor=first, agent=second)
    assert invitation.mode == Participant.Mode.CONSULT
    services.participant_answer(participant=invitation, agent=second, accept=True)
    services.participant_conference(participant=invitation, actor=first)
    invitation.refresh_from_db()
    interaction.refresh_from_db()
    assert invitation.mode == Participant.Mode.CONFERENCE
    assert interaction.assigned_agent_id == first.pk
    assert Event.objects.filter(type="interaction.conference_started").count() == 1


def test_one_invitation_per_colleague_at_a_time_and_never_to_its_own_agent(live):
    queue, first, second, interaction = live
    services.participant_invite(interaction=interaction, actor=first, agent=second)
    with pytest.raises(ValidationError, match="already invited"):
        services.participant_invite(interaction=interaction, actor=first, agent=second)
    with pytest.raises(ValidationError, match="already theirs"):
        services.participant_invite(interaction=interaction, actor=first, agent=first)
    assert Participant.objects.filter(interaction=interaction).count() == 1


def test_only_its_agent_or_a_supervisor_invites_and_only_the_invited_answers(live):
    queue, first, second, interaction = live
    third = agent_in_queue(queue)
    with pytest.raises(ValidationError, match="Only its agent"):
        services.participant_invite(interaction=interaction, actor=second, agent=third)
    invitation = services.participant_invite(interaction=interaction, actor=first, agent=second)
    with pytest.raises(ValidationError, match="someone else"):
        services.participant_answer(participant=invitation, agent=third, accept=True)
    with pytest.raises(ValidationError, match="Only its agent"):
        services.participant_end(participant=invitation, actor=third)


def test_a_colleague_of_another_organization_cannot_be_invited(live):
    queue, first, second, interaction = live
    stranger = UserFactory()
    with pytest.raises(ValidationError, match="Not found"):
        services.participant_invite(interaction=interaction, actor=first, agent=stranger)
    assert not Participant.objects.exists()


def test_closing_the_interaction_ends_every_consult_and_cancels_invitations(live):
    queue, first, second, interaction = live
    third = agent_in_queue(queue)
    joined = services.participant_invite(interaction=interaction, actor=first, agent=second)
    services.participant_answer(participant=joined, agent=second, accept=True)
    ringing = services.participant_invite(interaction=interaction, actor=first, agent=third)
    interaction_close(
        interaction=interaction,
        actor=first,
        disposition=DispositionFactory(organization=interaction.organization),
    )
    joined.refresh_from_db()
    ringing.refresh_from_db()
    assert (joined.status, ringing.status) == (
        Participant.Status.LEFT,
        Participant.Status.CANCELLED,
    )
    with pytest.raises(ValidationError, match="no longer open"):
        services.participant_answer(participant=ringing, agent=third, accept=True)


def test_an_invitation_to_a_conversation_that_ended_cannot_be_accepted(live):
    queue, first, second, interaction = live
    invitation = services.participant_invite(interaction=interaction, actor=first, agent=second)
    # The customer hung up (the row is changed directly, as an abandon from a provider would).
    interaction.state = State.WRAP_UP
    interaction.save(update_fields=["state"])
    with pytest.raises(ValidationError, match="is over"):
        services.participant_answer(participant=invitation, agent=second, accept=True)
    invitation.refresh_from_db()
    assert invitation.status == Participant.Status.CANCELLED


def test_a_participant_leaves_or_its_agent_withdraws_the_invitation(live):
    queue, first, second, interaction = live
    invitation = services.participant_invite(interaction=interaction, actor=first, agent=second)
    services.participant_end(participant=invitation, actor=first)
    invitation.refresh_from_db()
    assert invitation.status == Participant.Status.CANCELLED
    joined = services.participant_invite(interaction=interaction, actor=first, agent=second)
    services.participant_answer(participant=joined, agent=second, accept=True)
    services.participant_end(participant=joined, actor=second)
    joined.refresh_from_db()
    assert joined.status == Participant.Status.LEFT
    with pytest.raises(ValidationError, match="no longer"):
        services.participant_end(participant=joined, actor=first)


def test_a_blind_transfer_ends_the_consults(live):
    queue, first, second, interaction = live
    third = agent_in_queue(queue)
    invitation = services.participant_invite(interaction=interaction, actor=first, agent=third)
    services.interaction_transfer(interaction=interaction, actor=first, agent=second)
    invitation.refresh_from_db()
    assert invitation.status == Participant.Status.CANCELLED


def test_a_warm_transfer_to_a_queue_consults_its_longest_idle_free_member(live):
    queue, first, second, interaction = live
    sales = QueueFactory(organization=queue.organization)
    busy = agent_in_queue(sales, idle_minutes=60, capacity={"chat": 0})
    away = agent_in_queue(sales, idle_minutes=50)
    services.presence_set(agent=away, status=PresenceStatus.AWAY)
    recent = agent_in_queue(sales, idle_minutes=2)
    longest = agent_in_queue(sales, idle_minutes=20)
    assert busy and recent
    invitation = services.participant_invite_from_queue(
        interaction=interaction, actor=first, queue=sales, note="Wants to buy"
    )
    assert (invitation.agent_id, invitation.for_transfer) == (longest.pk, True)


def test_a_warm_transfer_to_a_queue_with_nobody_free_says_so_and_changes_nothing(live):
    queue, first, second, interaction = live
    empty = QueueFactory(organization=queue.organization)
    with pytest.raises(ValidationError, match="Nobody in"):
        services.participant_invite_from_queue(interaction=interaction, actor=first, queue=empty)
    assert not Participant.objects.exists()
    interaction.refresh_from_db()
    assert interaction.assigned_agent_id == first.pk
