"""The wallboard's socket: supervisors' boards follow queues and presence live (coalesced),
agents and strangers cannot join, another organization's traffic never reaches a board."""

import re

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from apps.accounts.models import Role
from apps.notifications.services import notification_send
from apps.queues import services
from apps.queues.models import PresenceStatus
from apps.reports.live import wallboards_tick
from contactcenter.asgi import application
from tests.desk.test_live import _headers
from tests.factories import (
    ContactFactory,
    InteractionFactory,
    OrganizationFactory,
    QueueFactory,
    UserFactory,
    agent_in_queue,
)

pytestmark = pytest.mark.django_db(transaction=True)

PATH = "/ws/wallboard/"


def _waiting(html: str, queue) -> int:
    row = re.search(rf'data-row="queue-{queue.pk}">.*?data-metric="waiting">(\d+)<', html, re.S)
    return int(row.group(1))


def _enqueue(queue, n=1):
    for _ in range(n):
        contact = ContactFactory(organization=queue.organization)
        interaction = InteractionFactory(contact=contact, channel="webchat")
        services.interaction_enqueue(interaction=interaction, queue=queue)


async def _connect(headers):
    communicator = WebsocketCommunicator(application, PATH, headers=headers)
    connected, code = await communicator.connect()
    return communicator, connected, code


@pytest.fixture
def queue(roles):
    return QueueFactory(organization=OrganizationFactory(), name="Billing")


def test_a_supervisors_board_updates_when_an_interaction_is_queued(queue):
    supervisor = UserFactory(organization=queue.organization, roles=[Role.SUPERVISOR])

    headers = _headers(supervisor)

    async def scenario():
        board, connected, _ = await _connect(headers)
        assert connected
        try:
            first = await board.receive_from(timeout=10)  # the board as it is, at once
            assert 'id="wallboard" class="wallboard" hx-swap-oob="true"' in first
            assert _waiting(first, queue) == 0
            await database_sync_to_async(_enqueue)(queue)
            html = await board.receive_from(timeout=10)
            assert _waiting(html, queue) == 1
        finally:
            await board.disconnect()

    async_to_sync(scenario)()


def test_a_burst_of_events_makes_one_update(queue):
    manager = UserFactory(organization=queue.organization, roles=[Role.MANAGER])

    headers = _headers(manager)

    async def scenario():
        board, connected, _ = await _connect(headers)
        assert connected
        try:
            await board.receive_from(timeout=10)
            await database_sync_to_async(_enqueue)(queue, 8)
            html = await board.receive_from(timeout=10)
            assert _waiting(html, queue) == 8
            assert await board.receive_nothing(timeout=1.5)
        finally:
            await board.disconnect()

    async_to_sync(scenario)()


def test_presence_changes_and_beat_ticks_update_the_board(queue):
    supervisor = UserFactory(organization=queue.organization, roles=[Role.SUPERVISOR])
    agent = agent_in_queue(queue, status=PresenceStatus.OFFLINE)
    headers = _headers(supervisor)

    async def scenario():
        board, connected, _ = await _connect(headers)
        assert connected
        try:
            assert "Available" not in await board.receive_from(timeout=10)
            await database_sync_to_async(services.presence_set)(
                agent=agent, status=PresenceStatus.AVAILABLE
            )
            assert "Available" in await board.receive_from(timeout=10)
            await database_sync_to_async(wallboards_tick)()
            assert 'id="wallboard"' in await board.receive_from(timeout=10)
        finally:
            await board.disconnect()

    async_to_sync(scenario)()


def test_agents_cannot_join(queue):
    agent = UserFactory(organization=queue.organization, roles=[Role.AGENT])

    headers = _headers(agent)

    async def scenario():
        board, connected, code = await _connect(headers)
        assert not connected
        assert code == 4403

    async_to_sync(scenario)()


def test_anonymous_cannot_join():
    async def scenario():
        board, connected, code = await _connect(
            [(b"host", b"localhost"), (b"origin", b"http://localhost")]
        )
        assert (connected, code) == (False, 4401)

    async_to_sync(scenario)()


def test_another_organizations_supervisor_hears_nothing_of_it(queue):
    outsider = UserFactory(organization=OrganizationFactory(), roles=[Role.SUPERVISOR])
    QueueFactory(organization=outsider.organization)

    headers = _headers(outsider)

    async def scenario():
        board, connected, _ = await _connect(headers)
        assert connected
        try:
            first = await board.receive_from(timeout=10)
            assert "Billing" not in first
            await database_sync_to_async(_enqueue)(queue)
            assert await board.receive_nothing(timeout=1.5)
        finally:
            await board.disconnect()

    async_to_sync(scenario)()


def test_notifications_still_arrive_on_the_wallboard(queue):
    supervisor = UserFactory(organization=queue.organization, roles=[Role.SUPERVISOR])

    headers = _headers(supervisor)

    async def scenario():
        board, connected, _ = await _connect(headers)
        assert connected
        try:
            await board.receive_from(timeout=10)
            await database_sync_to_async(notification_send)(recipient=supervisor, title="Hello")
            assert "Hello" in await board.receive_from(timeout=10)
        finally:
            await board.disconnect()

    async_to_sync(scenario)()


def test_the_supervisor_page_ignores_wallboard_ticks(queue):
    supervisor = UserFactory(organization=queue.organization, roles=[Role.SUPERVISOR])

    headers = _headers(supervisor)

    async def scenario():
        communicator = WebsocketCommunicator(application, "/ws/live/?supervisor=1", headers=headers)
        connected, _ = await communicator.connect()
        assert connected
        try:
            await communicator.receive_from(timeout=10)  # the panels
            await database_sync_to_async(wallboards_tick)()
            assert await communicator.receive_nothing(timeout=0.5)
            # Still alive: an event it handles still comes through.
            await database_sync_to_async(notification_send)(recipient=supervisor, title="Still")
            assert "Still" in await communicator.receive_from(timeout=10)
        finally:
            await communicator.disconnect()

    async_to_sync(scenario)()


def test_the_board_comes_in_the_users_language(queue):
    supervisor = UserFactory(
        organization=queue.organization, roles=[Role.SUPERVISOR], language="fr"
    )
    InteractionFactory(contact__organization=queue.organization, queue=queue, channel="email")
    _enqueue(queue)
    headers = _headers(supervisor)

    async def scenario():
        board, connected, _ = await _connect(headers)
        assert connected
        try:
            html = await board.receive_from(timeout=10)
            assert "Chat web" in html  # the channel's name, from the model's choices
        finally:
            await board.disconnect()

    async_to_sync(scenario)()


def test_an_alert_opening_shows_on_open_boards(queue):
    from apps.reports.alerts import alerts_evaluate
    from apps.reports.models import AlertRule

    supervisor = UserFactory(organization=queue.organization, roles=[Role.SUPERVISOR])
    AlertRule.objects.create(
        organization=queue.organization, name="Line too long", metric="waiting", threshold=0
    )
    headers = _headers(supervisor)

    def breach():
        # Queued without a socket event of its own: only the alert tells the board.
        InteractionFactory(
            contact__organization=queue.organization,
            queue=queue,
            state="queued",
            queued_at=timezone.now(),
        )
        alerts_evaluate()

    async def scenario():
        board, connected, _ = await _connect(headers)
        assert connected
        try:
            assert "Line too long" not in await board.receive_from(timeout=10)
            await database_sync_to_async(breach)()
            # The supervisor's notification (count, toast) comes too, then the board.
            received = [await board.receive_from(timeout=10) for _ in range(2)]
            (html,) = [h for h in received if 'id="wallboard"' in h]
            assert 'data-testid="incidents"' in html and "Line too long" in html
            assert any('id="notification-badge"' in h for h in received)
        finally:
            await board.disconnect()

    async_to_sync(scenario)()
