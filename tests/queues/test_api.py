import pytest
from django.urls import reverse
from django.utils import timezone

from apps.interactions.models import State
from apps.queues.models import Offer, PresenceStatus, Queue
from tests.factories import ContactFactory, InteractionFactory, QueueFactory, agent_in_queue

pytestmark = pytest.mark.django_db


def test_supervisor_configures_a_queue_with_members(supervisor_a, agent_a, api_client):
    api_client.force_authenticate(supervisor_a)
    response = api_client.post(
        reverse("api:queue-list"),
        {"name": "Billing", "strategy": "skills", "sla_seconds": 30, "members": [agent_a.pk]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["members"] == [agent_a.pk]
    queue = Queue.objects.get(pk=response.json()["id"])
    assert list(queue.members.all()) == [agent_a]
    duplicate = api_client.post(reverse("api:queue-list"), {"name": "Billing"}, format="json")
    assert duplicate.status_code == 400


def test_queue_members_must_be_of_the_organization(supervisor_a, admin_b, api_client):
    api_client.force_authenticate(supervisor_a)
    response = api_client.post(
        reverse("api:queue-list"), {"name": "X", "members": [admin_b.pk]}, format="json"
    )
    assert response.status_code == 400 and "members" in response.json()["errors"]


def test_agents_cannot_configure_queues(agent_a, api_client):
    api_client.force_authenticate(agent_a)
    assert (
        api_client.post(reverse("api:queue-list"), {"name": "Mine"}, format="json").status_code
        == 403
    )


def test_agent_sets_own_presence_and_gets_the_backlog(agent_a, api_client):
    queue = QueueFactory(organization=agent_a.organization)
    queue.memberships.create(organization=queue.organization, agent=agent_a)
    chat = InteractionFactory(
        contact=ContactFactory(organization=queue.organization), channel="webchat"
    )
    api_client.force_authenticate(agent_a)
    assert api_client.get(reverse("api:presence-me")).json()["status"] == "offline"
    api_client.post(
        reverse("api:interaction-enqueue", args=[chat.pk]), {"queue": queue.pk}, format="json"
    )
    response = api_client.post(reverse("api:presence-me"), {"status": "available"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "available"
    offers = api_client.get(reverse("api:offer-list"), {"status": "pending"}).json()["results"]
    assert [o["interaction"] for o in offers] == [chat.pk]
    accepted = api_client.post(reverse("api:offer-accept", args=[offers[0]["id"]]))
    assert accepted.status_code == 200
    chat.refresh_from_db()
    assert chat.state == State.ACTIVE


def test_agent_cannot_change_a_colleagues_presence(agent_a, supervisor_a, api_client):
    colleague = agent_in_queue(QueueFactory(organization=agent_a.organization))
    api_client.force_authenticate(agent_a)
    url = reverse("api:presence-set-status", args=[colleague.pk])
    assert api_client.post(url, {"status": "offline"}, format="json").status_code == 403
    api_client.force_authenticate(supervisor_a)
    assert api_client.post(url, {"status": "offline"}, format="json").status_code == 200


def test_offer_decline_and_queue_position(agent_a, api_client):
    queue = QueueFactory(organization=agent_a.organization)
    me = agent_a
    queue.memberships.create(organization=queue.organization, agent=me)
    from apps.queues.services import presence_set

    presence_set(agent=me, status=PresenceStatus.AVAILABLE)
    chat = InteractionFactory(
        contact=ContactFactory(organization=queue.organization), channel="webchat"
    )
    api_client.force_authenticate(me)
    api_client.post(
        reverse("api:interaction-enqueue", args=[chat.pk]), {"queue": queue.pk}, format="json"
    )
    offer = Offer.objects.get(interaction=chat)
    assert api_client.post(reverse("api:offer-reject", args=[offer.pk])).status_code == 200
    position = api_client.get(reverse("api:interaction-queue-position", args=[chat.pk])).json()
    assert position["position"] == 1


def test_supervisor_assigns_and_moves_through_api(supervisor_a, agent_a, api_client):
    queue = QueueFactory(organization=agent_a.organization)
    chat = InteractionFactory(
        contact=ContactFactory(organization=queue.organization), channel="webchat"
    )
    api_client.force_authenticate(supervisor_a)
    api_client.post(
        reverse("api:interaction-enqueue", args=[chat.pk]), {"queue": queue.pk}, format="json"
    )
    assigned = api_client.post(
        reverse("api:interaction-assign", args=[chat.pk]), {"agent": agent_a.pk}, format="json"
    )
    assert assigned.status_code == 200 and assigned.json()["agent"] == agent_a.pk
    other = QueueFactory(organization=agent_a.organization)
    moved = api_client.post(
        reverse("api:interaction-move", args=[chat.pk]), {"queue": other.pk}, format="json"
    )
    assert moved.status_code == 200 and moved.json()["queue"] == other.pk
    api_client.force_authenticate(agent_a)
    assert (
        api_client.post(
            reverse("api:interaction-move", args=[chat.pk]), {"queue": queue.pk}, format="json"
        ).status_code
        == 403
    )


def test_queue_stats_and_callbacks(supervisor_a, api_client):
    queue = QueueFactory(organization=supervisor_a.organization)
    contact = ContactFactory(organization=queue.organization)
    api_client.force_authenticate(supervisor_a)
    assert api_client.get(reverse("api:queue-stats", args=[queue.pk])).json()["waiting"] == 0
    response = api_client.post(
        reverse("api:callback-list"),
        {
            "contact": contact.pk,
            "queue": queue.pk,
            "number": "+1 415 555 2671",
            "scheduled_for": timezone.now().isoformat(),
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["number"] == "+14155552671"
    bad = api_client.post(
        reverse("api:callback-list"),
        {
            "contact": contact.pk,
            "queue": queue.pk,
            "number": "nope",
            "scheduled_for": timezone.now().isoformat(),
        },
        format="json",
    )
    assert bad.status_code == 400 and "number" in bad.json()["errors"]
