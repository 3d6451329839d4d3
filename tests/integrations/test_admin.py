import pytest
from django.urls import reverse

from apps.integrations.models import WebhookDelivery, WebhookEndpoint
from tests.integrations.factories import WebhookDeliveryFactory, WebhookEndpointFactory

pytestmark = pytest.mark.django_db

Status = WebhookDelivery.Status


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:integrations_webhookendpoint_changelist",
        "admin:integrations_webhookendpoint_add",
        "admin:integrations_webhookdelivery_changelist",
    ],
)
def test_pages_render_for_a_tenant_admin_with_the_feature(url_name, hooks_admin_a, client):
    WebhookDeliveryFactory(endpoint__organization=hooks_admin_a.organization)
    client.force_login(hooks_admin_a)
    assert client.get(reverse(url_name)).status_code == 200


def test_admin_index_lists_webhooks_only_with_the_feature(hooks_admin_a, no_api_admin, client):
    client.force_login(hooks_admin_a)
    assert "Webhook endpoints" in client.get(reverse("admin:index")).content.decode()
    client.force_login(no_api_admin)
    assert "Webhook endpoints" not in client.get(reverse("admin:index")).content.decode()
    assert client.get(reverse("admin:integrations_webhookendpoint_add")).status_code == 403
    assert client.get(reverse("admin:integrations_webhookdelivery_changelist")).status_code == 403


def test_endpoint_created_in_admin_gets_a_secret_shown_on_its_page(hooks_admin_a, client):
    client.force_login(hooks_admin_a)
    response = client.post(
        reverse("admin:integrations_webhookendpoint_add"),
        {
            "name": "CRM",
            "url": "https://crm.example.com/in",
            "event_types": '["contact.created"]',
            "is_active": "on",
        },
    )
    endpoint = WebhookEndpoint.objects.get(name="CRM")
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "admin:integrations_webhookendpoint_change", args=[endpoint.pk]
    )
    assert endpoint.organization == hooks_admin_a.organization
    assert endpoint.created_by == hooks_admin_a
    assert endpoint.event_types == ["contact.created"]
    assert endpoint.secret
    page = client.get(response["Location"]).content.decode()
    assert endpoint.secret in page


def test_bad_event_types_are_a_form_error(hooks_admin_a, client):
    client.force_login(hooks_admin_a)
    response = client.post(
        reverse("admin:integrations_webhookendpoint_add"),
        {"name": "CRM", "url": "https://crm.example.com/in", "event_types": '["Not valid"]'},
    )
    assert response.status_code == 200
    assert "event_types" in response.context["adminform"].form.errors
    assert not WebhookEndpoint.objects.exists()


def test_secret_cannot_be_changed_in_admin(hooks_admin_a, client):
    endpoint = WebhookEndpointFactory(organization=hooks_admin_a.organization)
    secret = endpoint.secret
    client.force_login(hooks_admin_a)
    response = client.post(
        reverse("admin:integrations_webhookendpoint_change", args=[endpoint.pk]),
        {"name": "Renamed", "url": endpoint.url, "event_types": "[]", "secret": "mine"},
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.name == "Renamed"
    assert not endpoint.is_active  # unchecked box
    assert endpoint.secret == secret


def test_endpoint_page_shows_recent_deliveries(hooks_admin_a, client):
    delivery = WebhookDeliveryFactory(
        endpoint__organization=hooks_admin_a.organization, event_type="interaction.closed"
    )
    client.force_login(hooks_admin_a)
    page = client.get(
        reverse("admin:integrations_webhookendpoint_change", args=[delivery.endpoint_id])
    ).content.decode()
    assert "interaction.closed" in page
    assert reverse("admin:integrations_webhookdelivery_change", args=[delivery.pk]) in page
    all_link = f"?endpoint__id__exact={delivery.endpoint_id}"
    assert all_link in page
    listing = client.get(reverse("admin:integrations_webhookdelivery_changelist") + all_link)
    assert listing.status_code == 200
    assert list(listing.context["cl"].queryset) == [delivery]


def test_delivery_log_is_read_only(hooks_admin_a, client):
    delivery = WebhookDeliveryFactory(endpoint__organization=hooks_admin_a.organization)
    client.force_login(hooks_admin_a)
    url = reverse("admin:integrations_webhookdelivery_change", args=[delivery.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert delivery.payload["data"]["contact"]["name"] in page.content.decode()
    assert client.post(url, {"status": "delivered"}).status_code == 403
    assert client.get(reverse("admin:integrations_webhookdelivery_add")).status_code == 403
    delivery.refresh_from_db()
    assert delivery.status == Status.PENDING


def test_delivery_list_filters_and_search(hooks_admin_a, client):
    org = hooks_admin_a.organization
    closed = WebhookDeliveryFactory(endpoint__organization=org, event_type="interaction.closed")
    created = WebhookDeliveryFactory(
        endpoint__organization=org, status=Status.FAILED, next_attempt_at=None
    )
    client.force_login(hooks_admin_a)
    url = reverse("admin:integrations_webhookdelivery_changelist")

    def shown(**params):
        response = client.get(url, params)
        assert response.status_code == 200
        return set(response.context["cl"].queryset)

    assert shown(status__exact="failed") == {created}
    assert shown(event_type="interaction.closed") == {closed}
    assert shown(q=str(closed.event_id)) == {closed}
    assert shown(q="interaction") == {closed}
    assert shown(q="not-a-uuid") == set()


def test_retry_now_action(hooks_admin_a, receiver, client, django_capture_on_commit_callbacks):
    delivery = WebhookDeliveryFactory(
        endpoint__organization=hooks_admin_a.organization,
        endpoint__url=receiver.url,
        status=Status.FAILED,
        attempts=10,
        next_attempt_at=None,
    )
    client.force_login(hooks_admin_a)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:integrations_webhookdelivery_changelist"),
            {"action": "retry_now", "_selected_action": [delivery.pk]},
            follow=True,
        )
    assert response.status_code == 200
    assert any("1 delivery queued" in str(m) for m in response.context["messages"])
    delivery.refresh_from_db()
    assert delivery.status == Status.DELIVERED
    assert len(receiver.requests) == 1


def test_retry_now_is_not_offered_without_the_change_permission(supervisor_a, client):
    from django.contrib.auth.models import Permission

    supervisor_a.user_permissions.add(Permission.objects.get(codename="view_webhookdelivery"))
    WebhookDeliveryFactory(endpoint__organization=supervisor_a.organization)
    client.force_login(supervisor_a)
    response = client.get(reverse("admin:integrations_webhookdelivery_changelist"))
    assert response.status_code == 200
    assert "retry_now" not in response.content.decode()


def test_other_organization_rows_stay_hidden(hooks_admin_a, hooks_admin_b, client):
    delivery = WebhookDeliveryFactory(endpoint__organization=hooks_admin_a.organization)
    client.force_login(hooks_admin_b)
    for model, obj in (("webhookendpoint", delivery.endpoint), ("webhookdelivery", delivery)):
        change = client.get(reverse(f"admin:integrations_{model}_change", args=[obj.pk]))
        assert change.status_code == 302
        listing = client.get(reverse(f"admin:integrations_{model}_changelist"))
        assert not listing.context["cl"].queryset.filter(pk=obj.pk).exists()


def test_platform_operator_creates_an_endpoint_for_an_organization(org_a, client):
    from tests.factories import UserFactory

    operator = UserFactory(organization=None, is_superuser=True, is_staff=True)
    client.force_login(operator)
    response = client.post(
        reverse("admin:integrations_webhookendpoint_add"),
        {
            "organization": org_a.pk,
            "name": "CRM",
            "url": "https://crm.example.com/in",
            "event_types": "[]",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get(name="CRM")
    assert endpoint.organization == org_a
    assert endpoint.created_by == operator
