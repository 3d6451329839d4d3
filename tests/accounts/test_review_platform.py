"""Platform holes found in review: deactivated tenants, proxies, redirects, sockets, 404s."""

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse

from apps.accounts.services import user_set_active
from contactcenter.asgi import application
from tests.factories import (
    PASSWORD,
    NotificationFactory,
    OrganizationFactory,
    PlanFactory,
    UserFactory,
)


@pytest.fixture
def sleeping_org_agent(agent_a):
    return agent_a


@pytest.mark.django_db
def test_deactivated_organization_loses_sessions_logins_and_api(agent_a, client, api_client):
    client.force_login(agent_a)
    assert client.get(reverse("home")).status_code == 200
    agent_a.organization.is_active = False
    agent_a.organization.save()
    assert client.get(reverse("home")).status_code == 302  # the session no longer holds
    login = Client().post(reverse("login"), {"username": agent_a.username, "password": PASSWORD})
    assert login.status_code == 200 and "didn't match" in login.content.decode()
    api_client.force_authenticate(agent_a)
    response = api_client.get(reverse("api:team-list"))
    assert response.status_code == 403 and "no active organization" in response.json()["detail"]


@pytest.mark.django_db
def test_without_a_proxy_forwarded_for_cannot_dodge_the_lockout(agent_a):
    client = Client()
    for i in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            reverse("login"),
            {"username": agent_a.username, "password": "x"},
            HTTP_X_FORWARDED_FOR=f"10.9.9.{i}",
        )
    response = client.post(
        reverse("login"),
        {"username": agent_a.username, "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="10.9.9.200",
    )
    assert response.status_code == 429


@pytest.mark.django_db
@override_settings(
    AXES_IPWARE_PROXY_COUNT=1,
    AXES_IPWARE_META_PRECEDENCE_ORDER=["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"],
)
def test_behind_a_proxy_lockout_is_per_client_address(agent_a):
    attacker, user = Client(), Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attacker.post(
            reverse("login"),
            {"username": agent_a.username, "password": "x"},
            HTTP_X_FORWARDED_FOR="203.0.113.7, 10.0.0.1",
        )
    blocked = attacker.post(
        reverse("login"),
        {"username": agent_a.username, "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="203.0.113.7, 10.0.0.1",
    )
    assert blocked.status_code == 429
    allowed = user.post(
        reverse("login"),
        {"username": agent_a.username, "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="198.51.100.20, 10.0.0.1",
    )
    assert allowed.status_code == 302


@pytest.mark.django_db
def test_notification_link_to_another_site_is_not_followed(agent_a, client):
    n = NotificationFactory(recipient=agent_a, url="https://evil.example/phish")
    client.force_login(agent_a)
    response = client.post(reverse("notification-read", args=[n.pk]))
    assert response["Location"] == reverse("notification-list")
    inside = NotificationFactory(recipient=agent_a, url="/notifications/")
    assert (
        client.post(reverse("notification-read", args=[inside.pk]))["Location"] == "/notifications/"
    )


@pytest.mark.django_db
def test_unknown_api_url_is_json_404(agent_a, api_client):
    api_client.force_authenticate(agent_a)
    response = api_client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


@pytest.mark.django_db
def test_schema_belongs_to_plans_with_the_api(roles, api_client):
    org = OrganizationFactory(subscription__plan=PlanFactory(features={}))
    api_client.force_authenticate(UserFactory(organization=org))
    assert api_client.get(reverse("api-schema")).status_code == 403


async def _closed_after(headers, action):
    from channels.db import database_sync_to_async

    communicator = WebsocketCommunicator(application, "/ws/live/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    await database_sync_to_async(action)()
    output = await communicator.receive_output(timeout=5)
    await communicator.wait()
    return output


def _socket_headers(client):
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    return [(b"host", b"localhost"), (b"origin", b"http://localhost"), (b"cookie", cookie.encode())]


@pytest.mark.django_db(transaction=True)
def test_logout_closes_that_sessions_socket():
    user = UserFactory()
    client = Client()
    client.force_login(user)
    output = async_to_sync(_closed_after)(
        _socket_headers(client), lambda: client.post(reverse("logout"))
    )
    assert output["type"] == "websocket.close"


@pytest.mark.django_db(transaction=True)
def test_deactivation_closes_every_socket_of_the_user():
    user = UserFactory()
    client = Client()
    client.force_login(user)
    output = async_to_sync(_closed_after)(
        _socket_headers(client), lambda: user_set_active(user=user, active=False)
    )
    assert output["type"] == "websocket.close"
