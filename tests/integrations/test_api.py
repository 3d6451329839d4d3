import pytest
from django.urls import reverse

from apps.integrations.models import WebhookDelivery, WebhookEndpoint
from tests.integrations.factories import WebhookDeliveryFactory, WebhookEndpointFactory

pytestmark = pytest.mark.django_db

Status = WebhookDelivery.Status


def test_endpoint_crud_goes_through_the_service(hooks_admin_a, api_client):
    api_client.force_authenticate(hooks_admin_a)
    created = api_client.post(
        reverse("api:webhook-list"),
        {"name": "CRM", "url": "https://crm.example.com/in", "event_types": ["contact.created"]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    assert endpoint.organization == hooks_admin_a.organization
    assert endpoint.created_by == hooks_admin_a
    assert body["secret"] == endpoint.secret
    assert body["event_types"] == ["contact.created"]
    assert body["is_active"] is True

    url = reverse("api:webhook-detail", args=[endpoint.pk])
    changed = api_client.patch(
        url, {"event_types": [], "is_active": False, "secret": "mine"}, format="json"
    )
    assert changed.status_code == 200, changed.json()
    endpoint.refresh_from_db()
    assert endpoint.event_types == []
    assert not endpoint.is_active
    assert endpoint.secret == body["secret"]  # read-only

    listed = api_client.get(reverse("api:webhook-list")).json()
    assert [e["id"] for e in listed["results"]] == [endpoint.pk]

    assert api_client.delete(url).status_code == 204
    assert not WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "CRM", "url": "nope"}, "url"),
        (
            {"name": "CRM", "url": "https://x.example.com", "event_types": ["Bad Type"]},
            "event_types",
        ),
        ({"url": "https://x.example.com"}, "name"),
    ],
)
def test_bad_endpoint_input_is_a_clear_400(hooks_admin_a, api_client, payload, field):
    api_client.force_authenticate(hooks_admin_a)
    response = api_client.post(reverse("api:webhook-list"), payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert response.json()["detail"]
    assert not WebhookEndpoint.objects.exists()


def test_other_organization_cannot_see_or_touch_endpoints(hooks_admin_a, hooks_admin_b, api_client):
    theirs = WebhookEndpointFactory(organization=hooks_admin_a.organization)
    mine = WebhookEndpointFactory(organization=hooks_admin_b.organization)
    api_client.force_authenticate(hooks_admin_b)
    url = reverse("api:webhook-detail", args=[theirs.pk])
    assert api_client.get(url).status_code == 404
    assert api_client.patch(url, {"name": "x"}, format="json").status_code == 404
    assert api_client.delete(url).status_code == 404
    listed = api_client.get(reverse("api:webhook-list")).json()
    assert [e["id"] for e in listed["results"]] == [mine.pk]
    theirs.refresh_from_db()
    assert theirs.name != "x"


def test_delivery_log_is_scoped_and_filtered(hooks_admin_a, org_b, api_client):
    org = hooks_admin_a.organization
    crm = WebhookEndpointFactory(organization=org)
    dw = WebhookEndpointFactory(organization=org)
    delivered = WebhookDeliveryFactory(
        endpoint=crm, status=Status.DELIVERED, delivered_at="2026-01-01T00:00:00Z"
    )
    pending = WebhookDeliveryFactory(endpoint=dw, event_type="interaction.closed")
    foreign = WebhookDeliveryFactory(endpoint__organization=org_b)
    api_client.force_authenticate(hooks_admin_a)
    url = reverse("api:webhook-delivery-list")

    def ids(**params):
        response = api_client.get(url, params)
        assert response.status_code == 200, response.json()
        return {d["id"] for d in response.json()["results"]}

    assert ids() == {delivered.pk, pending.pk}
    assert ids(status="delivered") == {delivered.pk}
    assert ids(event_type="interaction.closed") == {pending.pk}
    assert ids(endpoint=crm.pk) == {delivered.pk}
    assert ids(endpoint=foreign.endpoint_id) == set()  # another organization's id: nothing
    assert ids(event_id=str(pending.event_id)) == {pending.pk}
    detail = api_client.get(reverse("api:webhook-delivery-detail", args=[pending.pk])).json()
    assert detail["payload"] == pending.payload
    assert detail["status"] == "pending"
    assert (
        api_client.get(reverse("api:webhook-delivery-detail", args=[foreign.pk])).status_code == 404
    )


def test_deliveries_are_read_only(hooks_admin_a, api_client):
    delivery = WebhookDeliveryFactory(endpoint__organization=hooks_admin_a.organization)
    api_client.force_authenticate(hooks_admin_a)
    url = reverse("api:webhook-delivery-detail", args=[delivery.pk])
    assert api_client.patch(url, {"status": "delivered"}, format="json").status_code == 405
    assert api_client.delete(url).status_code == 405
    assert api_client.post(reverse("api:webhook-delivery-list"), {}).status_code == 405


def test_retry_sends_again(hooks_admin_a, receiver, api_client, django_capture_on_commit_callbacks):
    delivery = WebhookDeliveryFactory(
        endpoint__organization=hooks_admin_a.organization,
        endpoint__url=receiver.url,
        status=Status.FAILED,
        attempts=10,
        next_attempt_at=None,
    )
    api_client.force_authenticate(hooks_admin_a)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(reverse("api:webhook-delivery-retry", args=[delivery.pk]))
    assert response.status_code == 202
    assert response.json()["status"] in ("pending", "delivered")
    delivery.refresh_from_db()
    assert delivery.status == Status.DELIVERED
    assert len(receiver.requests) == 1


def test_retry_of_another_organizations_delivery_is_404(hooks_admin_a, hooks_admin_b, api_client):
    delivery = WebhookDeliveryFactory(
        endpoint__organization=hooks_admin_a.organization, status=Status.FAILED
    )
    api_client.force_authenticate(hooks_admin_b)
    response = api_client.post(reverse("api:webhook-delivery-retry", args=[delivery.pk]))
    assert response.status_code == 404
    delivery.refresh_from_db()
    assert delivery.status == Status.FAILED


def test_retry_needs_the_change_permission(agent_a, api_client):
    delivery = WebhookDeliveryFactory(endpoint__organization=agent_a.organization)
    api_client.force_authenticate(agent_a)
    assert (
        api_client.post(reverse("api:webhook-delivery-retry", args=[delivery.pk])).status_code
        == 403
    )
    assert api_client.get(reverse("api:webhook-list")).status_code == 403


def test_api_needs_the_api_feature(no_api_admin, api_client):
    api_client.force_authenticate(no_api_admin)
    response = api_client.get(reverse("api:webhook-list"))
    assert response.status_code == 403
    assert "does not include" in response.json()["detail"]


def test_schema_describes_the_webhook_endpoints(hooks_admin_a, api_client):
    api_client.force_authenticate(hooks_admin_a)
    schema = api_client.get(reverse("api-schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "/api/v1/webhooks/" in text
    assert "/api/v1/webhook-deliveries/{id}/retry/" in text
