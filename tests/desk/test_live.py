"""The desk's live socket: offers and presence changes re-render the panels in every desk tab."""

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from apps.queues import services
from apps.queues.models import PresenceStatus
from contactcenter.asgi import application
from tests.factories import ContactFactory, InteractionFactory, QueueFactory, agent_in_queue

pytestmark = pytest.mark.django_db(transaction=True)


def _headers(user):
    client = Client()
    client.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    return [(b"host", b"localhost"), (b"origin", b"http://localhost"), (b"cookie", cookie.encode())]


async def _open(path, headers):
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _code = await communicator.connect()
    assert connected
    return communicator


def test_an_offer_reaches_every_desk_tab_and_not_other_pages(roles):
    queue = QueueFactory()
    agent = agent_in_queue(queue, status=PresenceStatus.OFFLINE)
    headers = _headers(agent)

    async def scenario():
        desk_one = await _open("/ws/live/?desk=1", headers)
        desk_two = await _open("/ws/live/?desk=1", headers)
        other_page = await _open("/ws/live/", headers)
        try:
            # A desk socket starts with the current state (a reconnect resynchronises).
            for tab in (desk_one, desk_two):
                html = await tab.receive_from(timeout=5)
                assert 'id="desk-work"' in html and "Offline" in html
            from channels.db import database_sync_to_async

            await database_sync_to_async(services.presence_set)(
                agent=agent, status=PresenceStatus.AVAILABLE
            )
            for tab in (desk_one, desk_two):
                html = await tab.receive_from(timeout=5)
                assert 'id="desk-presence"' in html and 'hx-swap-oob="true"' in html
                assert "Available" in html

            def enqueue():
                contact = ContactFactory(organization=queue.organization, first_name="Grace")
                interaction = InteractionFactory(contact=contact, channel="webchat")
                services.interaction_enqueue(interaction=interaction, queue=queue)

            await database_sync_to_async(enqueue)()
            for tab in (desk_one, desk_two):
                html = await tab.receive_from(timeout=5)
                while "Grace" not in html:  # the queue's own events may come first
                    html = await tab.receive_from(timeout=5)
                assert 'data-testid="accept"' in html
            assert await other_page.receive_nothing(timeout=0.3)
        finally:
            for tab in (desk_one, desk_two, other_page):
                await tab.disconnect()

    async_to_sync(scenario)()
