import pytest
from django.urls import reverse

from apps.notifications.models import Notification
from tests.factories import NotificationFactory

pytestmark = pytest.mark.django_db


def test_list_page_and_htmx_fragment(agent_a, client):
    NotificationFactory(recipient=agent_a, title="Callback at 15:00")
    client.force_login(agent_a)
    page = client.get(reverse("notification-list")).content.decode()
    assert "Callback at 15:00" in page
    assert "<html" in page
    fragment = client.get(reverse("notification-list"), HTTP_HX_REQUEST="true").content.decode()
    assert "Callback at 15:00" in fragment
    assert "<html" not in fragment


def test_list_page_queries_are_bounded(agent_a, client, django_assert_max_num_queries):
    NotificationFactory.create_batch(30, recipient=agent_a)
    client.force_login(agent_a)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("notification-list")).status_code == 200


def test_read_via_htmx_returns_the_row(agent_a, client):
    n = NotificationFactory(recipient=agent_a)
    client.force_login(agent_a)
    response = client.post(reverse("notification-read", args=[n.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert f'id="notification-{n.pk}"' in response.content.decode()
    n.refresh_from_db()
    assert n.read_at is not None


def test_read_needs_post(agent_a, client):
    n = NotificationFactory(recipient=agent_a)
    client.force_login(agent_a)
    assert client.get(reverse("notification-read", args=[n.pk])).status_code == 405


def test_colleague_cannot_read_my_notification(agent_a, supervisor_a, client):
    n = NotificationFactory(recipient=agent_a)
    client.force_login(supervisor_a)
    assert client.get(reverse("notification-detail", args=[n.pk])).status_code == 404


def test_test_button_queues_a_notification(agent_a, client, django_capture_on_commit_callbacks):
    client.force_login(agent_a)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("notification-test"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert Notification.objects.get(recipient=agent_a).title.startswith("Test notification")


def test_api_read_action(agent_a, api_client):
    n = NotificationFactory(recipient=agent_a)
    api_client.force_authenticate(agent_a)
    response = api_client.post(reverse("api:notification-read", args=[n.pk]))
    assert response.status_code == 200
    assert response.json()["read_at"]
    unread = api_client.get(reverse("api:notification-list"), {"read_at__isnull": "true"}).json()
    assert unread["count"] == 0
