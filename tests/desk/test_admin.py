"""The admin's follow-ups and team chat: supervisors reassign, read and moderate."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Role
from apps.desk.models import ChatMessage, FollowUp
from apps.desk.services import chat_direct_room, chat_post
from tests.factories import InteractionFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def follow_up(org_a, agent_a):
    interaction = InteractionFactory(contact__organization=org_a)
    return FollowUp.objects.create(
        organization=org_a,
        contact=interaction.contact,
        interaction=interaction,
        assignee=agent_a,
        title="Send the contract",
        due_at=timezone.now() + timedelta(days=1),
    )


def test_a_supervisor_gives_a_follow_up_to_someone_else(client, supervisor_a, follow_up, org_a):
    colleague = UserFactory(organization=org_a, roles=[Role.AGENT])
    client.force_login(supervisor_a)
    listing = client.get(reverse("admin:desk_followup_changelist")).content.decode()
    assert "Send the contract" in listing
    url = reverse("admin:desk_followup_change", args=[follow_up.pk])
    due = timezone.localtime(follow_up.due_at)
    response = client.post(
        url,
        {
            "title": "Send the signed contract",
            "assignee": colleague.pk,
            "due_at_0": due.strftime("%Y-%m-%d"),
            "due_at_1": due.strftime("%H:%M:%S"),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    follow_up.refresh_from_db()
    assert (follow_up.assignee_id, follow_up.title) == (colleague.pk, "Send the signed contract")


def test_an_agent_does_not_see_the_admin_of_follow_ups(client, agent_a, follow_up):
    client.force_login(agent_a)
    response = client.get(reverse("admin:desk_followup_changelist"))
    assert response.status_code in (302, 403)


def test_a_supervisor_reads_and_deletes_a_chat_message(client, supervisor_a, agent_a, org_a):
    room = chat_direct_room(user=agent_a, other=supervisor_a)
    message = chat_post(room=room, author=agent_a, body="Anyone for lunch?")
    client.force_login(supervisor_a)
    assert (
        "Anyone for lunch?"
        in client.get(reverse("admin:desk_chatroom_change", args=[room.pk])).content.decode()
    )
    response = client.post(
        reverse("admin:desk_chatmessage_delete", args=[message.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not ChatMessage.objects.filter(pk=message.pk).exists()
