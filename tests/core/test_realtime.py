"""WebSocket plumbing: who may connect, and that services' events reach the right sockets.

On SQLite the channel layer is in memory and Celery eager; ``make test`` runs this again with
``REDIS_URL`` set, where events cross channels-redis and tasks run in a real Celery worker.
"""

import contextlib

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import transaction
from django.test import Client

from apps.notifications.services import notification_send
from apps.notifications.tasks import notification_send_task
from contactcenter.asgi import application
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _headers(user=None, origin=b"http://localhost"):
    headers = [(b"host", b"localhost")]
    if origin:
        headers.append((b"origin", origin))
    if user is not None:
        client = Client()
        client.force_login(user)
        cookie = (
            f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        )
        headers.append((b"cookie", cookie.encode()))
    return headers


def _run(coro_fn, *args):
    return async_to_sync(coro_fn)(*args)


async def _try_connect(headers):
    communicator = WebsocketCommunicator(application, "/ws/live/", headers=headers)
    connected, code = await communicator.connect()
    await communicator.disconnect()
    return connected, code


def test_anonymous_socket_is_refused():
    connected, code = _run(_try_connect, _headers())
    assert not connected
    assert code == 4401


def test_foreign_origin_is_refused_even_when_signed_in():
    user = UserFactory()
    connected, _ = _run(_try_connect, _headers(user, origin=b"http://evil.example"))
    assert not connected


def test_missing_origin_is_refused():
    user = UserFactory()
    connected, _ = _run(_try_connect, _headers(user, origin=None))
    assert not connected


def test_inactive_user_is_refused():
    user = UserFactory()
    headers = _headers(user)
    user.is_active = False
    user.save()
    connected, _ = _run(_try_connect, headers)
    assert not connected


async def _receive_after(headers, action, timeout=5):
    communicator = WebsocketCommunicator(application, "/ws/live/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    try:
        await database_sync_to_async(action)()
        return await communicator.receive_from(timeout=timeout)
    finally:
        await communicator.disconnect()


async def _nothing_after(headers, action):
    communicator = WebsocketCommunicator(application, "/ws/live/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    try:
        await database_sync_to_async(action)()
        return await communicator.receive_nothing(timeout=0.5)
    finally:
        await communicator.disconnect()


def test_signed_in_user_receives_own_notification_as_html():
    user = UserFactory()
    html = _run(
        _receive_after,
        _headers(user),
        lambda: notification_send(recipient=user, title="Callback due"),
    )
    assert 'id="notification-badge"' in html
    assert 'hx-swap-oob="true"' in html
    assert "Callback due" in html
    assert 'data-count="1"' in html


def test_other_users_do_not_receive_it():
    user, other = UserFactory(), UserFactory()
    assert _run(
        _nothing_after, _headers(other), lambda: notification_send(recipient=user, title="Private")
    )


class _Rollback(Exception):
    pass


def test_rolled_back_change_broadcasts_nothing():
    user = UserFactory()

    def send_then_fail():
        with contextlib.suppress(_Rollback), transaction.atomic():
            notification_send(recipient=user, title="Never happened")
            raise _Rollback

    assert _run(_nothing_after, _headers(user), send_then_fail)
    assert not user.notifications.exists()


def test_fragment_is_rendered_in_the_users_language():
    user = UserFactory(language="fr")
    html = _run(
        _receive_after, _headers(user), lambda: notification_send(recipient=user, title="x")
    )
    assert "1 non lue" in html


def test_event_from_celery_task_reaches_socket(celery_worker_when_brokered):
    user = UserFactory()
    html = _run(
        _receive_after,
        _headers(user),
        lambda: notification_send_task.delay(user.pk, "From the worker"),
        15,
    )
    assert "From the worker" in html


async def _idle_then_receive(headers, action):
    communicator = WebsocketCommunicator(application, "/ws/live/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    try:
        # Longer than channels-redis's 5 s blocking read: a too-short socket timeout would
        # crash the consumer here (redis-py 8's default did).
        assert await communicator.receive_nothing(timeout=7)
        await database_sync_to_async(action)()
        return await communicator.receive_from(timeout=5)
    finally:
        await communicator.disconnect()


def test_idle_socket_survives_and_still_receives():
    user = UserFactory()
    html = _run(
        _idle_then_receive, _headers(user), lambda: notification_send(recipient=user, title="Late")
    )
    assert "Late" in html
