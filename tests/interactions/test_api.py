import pytest
from django.urls import reverse

from apps.interactions.models import Interaction, State
from tests.factories import (
    ContactFactory,
    DispositionFactory,
    InteractionFactory,
    QueueFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_api(agent_a, api_client):
    api_client.force_authenticate(agent_a)
    return api_client


def test_create_from_an_identity_resolves_the_contact(agent_api, agent_a):
    queue = QueueFactory(organization=agent_a.organization)
    response = agent_api.post(
        reverse("api:interaction-list"),
        {
            "channel": "sms",
            "direction": "inbound",
            "identity_kind": "phone",
            "identity_value": "+1 415 555 2671",
            "name": "Lin Chen",
            "queue": queue.pk,
            "first_message": "Where is my order?",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    interaction = Interaction.objects.get(pk=response.json()["id"])
    assert interaction.contact.first_name == "Lin"
    assert interaction.identity.value == "+14155552671"
    assert interaction.messages.get().body == "Where is my order?"


def test_create_with_another_organizations_contact_or_queue_is_400(agent_api, agent_a):
    foreign_contact = ContactFactory()
    response = agent_api.post(
        reverse("api:interaction-list"),
        {"channel": "sms", "direction": "inbound", "contact": foreign_contact.pk},
        format="json",
    )
    assert response.status_code == 400 and "contact" in response.json()["errors"]
    mine = ContactFactory(organization=agent_a.organization)
    response = agent_api.post(
        reverse("api:interaction-list"),
        {"channel": "sms", "direction": "inbound", "contact": mine.pk, "queue": QueueFactory().pk},
        format="json",
    )
    assert response.status_code == 400 and "queue" in response.json()["errors"]
    assert not Interaction.objects.exists()


def test_list_filters(agent_api, agent_a):
    contact = ContactFactory(organization=agent_a.organization)
    voice = InteractionFactory(
        contact=contact, channel="voice", state=State.ACTIVE, assigned_agent=agent_a
    )
    InteractionFactory(contact=contact, channel="email", state=State.CLOSED)
    url = reverse("api:interaction-list")
    assert [i["id"] for i in agent_api.get(url, {"channel": "voice"}).json()["results"]] == [
        voice.pk
    ]
    assert [
        i["id"]
        for i in agent_api.get(url, {"state": "active", "agent": agent_a.pk}).json()["results"]
    ] == [voice.pk]
    assert agent_api.get(url, {"created_after": "2999-01-01T00:00:00Z"}).json()["count"] == 0


def test_closed_to_active_is_a_clear_400(agent_api, agent_a):
    interaction = InteractionFactory(
        contact=ContactFactory(organization=agent_a.organization), state=State.CLOSED
    )
    response = agent_api.post(
        reverse("api:interaction-transition", args=[interaction.pk]), {"state": "active"}
    )
    assert response.status_code == 400
    assert "cannot go from Closed to Active" in response.json()["detail"]
    interaction.refresh_from_db()
    assert interaction.state == State.CLOSED


def test_close_with_disposition_code(agent_api, agent_a):
    interaction = InteractionFactory(
        contact=ContactFactory(organization=agent_a.organization), state=State.ACTIVE
    )
    DispositionFactory(organization=agent_a.organization, code="resolved")
    response = agent_api.post(
        reverse("api:interaction-close", args=[interaction.pk]),
        {"disposition": "resolved", "notes": "ok"},
    )
    assert response.status_code == 200 and response.json()["state"] == "closed"
    assert response.json()["disposition"] == "resolved"
    bad = InteractionFactory(contact=interaction.contact, state=State.ACTIVE)
    assert (
        agent_api.post(
            reverse("api:interaction-close", args=[bad.pk]), {"disposition": "nope"}
        ).status_code
        == 400
    )


def test_messages_notes_and_screen_pop(agent_api, agent_a):
    interaction = InteractionFactory(
        contact=ContactFactory(organization=agent_a.organization), state=State.ACTIVE
    )
    sent = agent_api.post(
        reverse("api:interaction-messages", args=[interaction.pk]), {"body": "On it!"}
    )
    assert sent.status_code == 201 and sent.json()["author_kind"] == "agent"
    assert (
        agent_api.post(
            reverse("api:interaction-notes", args=[interaction.pk]), {"body": "angry"}
        ).status_code
        == 201
    )
    pop = agent_api.get(reverse("api:interaction-screen-pop", args=[interaction.pk])).json()
    assert pop["contact"]["id"] == interaction.contact_id
    assert pop["interaction"]["id"] == interaction.pk


def test_agents_cannot_manage_dispositions(agent_api):
    assert agent_api.get(reverse("api:disposition-list")).status_code == 200
    assert (
        agent_api.post(reverse("api:disposition-list"), {"code": "x", "name": "X"}).status_code
        == 403
    )


def test_supervisors_manage_dispositions(supervisor_a, api_client):
    api_client.force_authenticate(supervisor_a)
    response = api_client.post(
        reverse("api:disposition-list"), {"code": "sale", "name": "Sale", "outcome": "sale"}
    )
    assert response.status_code == 201
    duplicate = api_client.post(reverse("api:disposition-list"), {"code": "sale", "name": "Again"})
    assert duplicate.status_code == 400
