"""The supervisor view: agents by state, queues with their line and service level, live."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.urls import reverse

from apps.interactions.models import State
from apps.queues import services
from apps.queues.models import Offer, Presence, PresenceStatus
from contactcenter.asgi import application
from tests.desk.test_live import _headers
from tests.factories import InteractionFactory, QueueFactory, agent_in_queue

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def center(org_a):
    queue = QueueFactory(organization=org_a, name="Billing", sla_seconds=20)
    busy = agent_in_queue(queue, status=PresenceStatus.OFFLINE, first_name="Busy")
    waiting = [InteractionFactory(contact__organization=org_a, channel="webchat") for _ in range(3)]
    for interaction in waiting:
        services.interaction_enqueue(interaction=interaction, queue=queue)
    return queue, busy, waiting


@pytest.mark.django_db
def test_agents_may_not_supervise(login, agent_a):
    assert login(agent_a).get(reverse("desk-supervisor")).status_code == 403


@pytest.mark.django_db
def test_supervisor_sees_queues_agents_and_the_waiting_line(
    login, supervisor_a, center, django_assert_max_num_queries
):
    queue, busy, waiting = center
    client = login(supervisor_a)
    with django_assert_max_num_queries(20):
        body = client.get(reverse("desk-supervisor")).content.decode()
    assert f'data-queue="{queue.pk}"' in body and "Billing" in body
    assert '<td class="waiting">3</td>' in body
    assert f'data-agent="{busy.pk}"' in body and "Offline" in body
    assert all(f'data-interaction="{i.pk}"' in body for i in waiting)
    assert "/ws/live/?supervisor=1" in body


@pytest.mark.django_db
def test_supervisor_sets_an_agents_status_and_assigns_a_waiting_interaction(
    login, supervisor_a, center
):
    queue, busy, waiting = center
    client = login(supervisor_a)
    response = client.post(
        reverse("desk-supervisor-presence", args=[busy.pk]), {"status": "away"}, **HTMX
    )
    assert response.status_code == 200
    assert Presence.objects.get(agent=busy).status == PresenceStatus.AWAY
    response = client.post(
        reverse("desk-supervisor-assign", args=[waiting[0].pk]), {"agent": busy.pk}, **HTMX
    )
    assert response.status_code == 200
    offer = Offer.objects.get(interaction=waiting[0])
    assert offer.agent_id == busy.pk and offer.why["forced_by"] == supervisor_a.pk
    waiting[0].refresh_from_db()
    assert waiting[0].state == State.OFFERED
    response = client.post(
        reverse("desk-supervisor-assign", args=[waiting[1].pk]), {"agent": ""}, **HTMX
    )
    assert response.status_code == 400 and "Choose an agent" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_supervisor_page_follows_presence_changes_live(roles, supervisor_a, org_a):
    queue = QueueFactory(organization=org_a)
    agent = agent_in_queue(queue, status=PresenceStatus.OFFLINE, first_name="Zoe")
    headers = _headers(supervisor_a)

    async def scenario():
        page = WebsocketCommunicator(application, "/ws/live/?supervisor=1", headers=headers)
        connected, _code = await page.connect()
        assert connected
        try:
            first = await page.receive_from(timeout=5)  # the state at (re)connection
            assert 'id="supervisor-panels"' in first and "Zoe" in first
            await database_sync_to_async(services.presence_set)(
                agent=agent, status=PresenceStatus.AVAILABLE
            )
            html = await page.receive_from(timeout=5)
            row = html.split(f'data-agent="{agent.pk}"')[1].split("</tr>")[0]
            assert "Available" in row
        finally:
            await page.disconnect()

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_an_agent_cannot_open_a_supervisor_socket_stream(roles, agent_a, org_a):
    QueueFactory(organization=org_a)
    headers = _headers(agent_a)

    async def scenario():
        page = WebsocketCommunicator(application, "/ws/live/?supervisor=1", headers=headers)
        connected, _code = await page.connect()
        assert connected  # the ordinary live socket, without the supervisor's streams
        try:
            assert await page.receive_nothing(timeout=0.3)
        finally:
            await page.disconnect()

    async_to_sync(scenario)()


def _live_call(queue, agent):
    return InteractionFactory(
        contact__organization=queue.organization,
        channel="voice",
        state=State.ACTIVE,
        assigned_agent=agent,
        queue=queue,
        data={"voice": {"call": "CA1", "in_conference": True, "legs": {str(agent.pk): "CA2"}}},
    )


@pytest.mark.django_db
def test_live_calls_to_monitor_are_those_of_the_supervisors_teams(
    login, supervisor_a, admin_a, org_a
):
    from tests.factories import TeamFactory

    queue = QueueFactory(organization=org_a)
    mine = agent_in_queue(queue, first_name="Mine")
    other = agent_in_queue(queue, first_name="Other")
    team = TeamFactory(organization=org_a)
    team.members.add(mine)
    team.supervisors.add(supervisor_a)
    call, elsewhere = _live_call(queue, mine), _live_call(queue, other)
    InteractionFactory(contact__organization=org_a, channel="webchat", state=State.ACTIVE)

    page = login(supervisor_a).get(reverse("desk-supervisor")).content.decode()
    assert f'data-call="{call.pk}"' in page and f'data-call="{elsewhere.pk}"' not in page
    assert 'name="mode" value="listen"' in page
    page = login(admin_a).get(reverse("desk-supervisor")).content.decode()
    assert f'data-call="{call.pk}"' in page and f'data-call="{elsewhere.pk}"' in page
    # Another team's call: not found for this supervisor, whatever the mode.
    response = login(supervisor_a).post(
        reverse("desk-supervisor-monitor", kwargs={"pk": elsewhere.pk}), {"mode": "listen"}
    )
    assert response.status_code == 404
