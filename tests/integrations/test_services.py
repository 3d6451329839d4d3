import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from apps.core.exceptions import FeatureNotAvailable
from apps.integrations import services
from apps.integrations.models import WebhookDelivery, WebhookEndpoint
from apps.integrations.tasks import webhook_deliver_task, webhook_sweep_task
from tests.factories import OrganizationFactory
from tests.integrations.factories import WebhookDeliveryFactory, WebhookEndpointFactory

pytestmark = pytest.mark.django_db

Status = WebhookDelivery.Status


def _make_due(delivery: WebhookDelivery) -> None:
    """Time passes until the next attempt is due."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


# --- Endpoints ------------------------------------------------------------------------------


def test_endpoint_create_generates_a_secret(org_a, admin_a):
    endpoint = services.webhook_endpoint_create(
        organization=org_a,
        name="CRM",
        url="https://crm.example.com/hooks",
        event_types=["contact.created"],
        created_by=admin_a,
    )
    other = services.webhook_endpoint_create(
        organization=org_a, name="Warehouse", url="https://dw.example.com/in"
    )
    assert len(endpoint.secret) >= 40
    assert endpoint.secret != other.secret
    assert endpoint.organization == org_a
    assert endpoint.created_by == admin_a
    assert endpoint.event_types == ["contact.created"]
    assert other.event_types == []


def test_endpoint_create_needs_the_api_feature(no_api_org):
    with pytest.raises(FeatureNotAvailable):
        services.webhook_endpoint_create(
            organization=no_api_org, name="CRM", url="https://crm.example.com/hooks"
        )
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    ("url", "event_types", "field"),
    [
        ("not a url", [], "url"),
        ("ftp://crm.example.com/hooks", [], "url"),
        ("https://crm.example.com/hooks", ["Contact Created"], "event_types"),
        ("https://crm.example.com/hooks", [42], "event_types"),
    ],
)
def test_endpoint_create_rejects_bad_input(org_a, url, event_types, field):
    with pytest.raises(ValidationError) as excinfo:
        services.webhook_endpoint_create(
            organization=org_a, name="CRM", url=url, event_types=event_types
        )
    assert field in excinfo.value.message_dict
    assert not WebhookEndpoint.objects.exists()


def test_endpoint_update_changes_only_what_is_given(org_a):
    endpoint = WebhookEndpointFactory(organization=org_a, event_types=["contact.created"])
    secret = endpoint.secret
    services.webhook_endpoint_update(endpoint=endpoint, is_active=False)
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert endpoint.event_types == ["contact.created"]
    assert endpoint.secret == secret


# --- Emitting -------------------------------------------------------------------------------


def test_emit_writes_one_delivery_per_subscribed_endpoint(org_a, org_b):
    subscribed = WebhookEndpointFactory(organization=org_a, event_types=["contact.created"])
    everything = WebhookEndpointFactory(organization=org_a, event_types=[])
    WebhookEndpointFactory(organization=org_a, event_types=["interaction.closed"])
    WebhookEndpointFactory(organization=org_a, event_types=["contact.created"], is_active=False)
    WebhookEndpointFactory(organization=org_b, event_types=[])

    deliveries = services.webhook_emit(
        organization=org_a,
        event_type="contact.created",
        data={"contact": {"id": 7, "name": "Ada", "since": timezone.now(), "ref": uuid.uuid4()}},
    )

    assert {d.endpoint for d in deliveries} == {subscribed, everything}
    assert WebhookDelivery.objects.count() == 2
    assert len({d.event_id for d in deliveries}) == 1
    delivery = WebhookDelivery.objects.get(endpoint=subscribed)
    assert delivery.status == Status.PENDING
    assert delivery.organization == org_a
    assert delivery.next_attempt_at <= timezone.now()
    body = delivery.payload
    assert set(body) == {"id", "type", "created_at", "organization", "data"}
    assert body["id"] == str(delivery.event_id)
    assert body["type"] == "contact.created"
    assert body["organization"] == "alpha"
    assert body["data"]["contact"]["name"] == "Ada"
    assert isinstance(body["data"]["contact"]["since"], str)  # DjangoJSONEncoder


def test_emit_writes_nothing_without_the_api_feature(no_api_org):
    WebhookEndpointFactory(organization=no_api_org)
    assert (
        services.webhook_emit(organization=no_api_org, event_type="contact.created", data={}) == []
    )
    assert not WebhookDelivery.objects.exists()


def test_emit_rejects_a_malformed_event_type(org_a):
    with pytest.raises(ValueError, match="event type"):
        services.webhook_emit(organization=org_a, event_type="Contact Created", data={})


def test_emit_delivers_after_commit(org_a, receiver, django_capture_on_commit_callbacks):
    endpoint = WebhookEndpointFactory(organization=org_a, url=f"{receiver.url}/hooks")
    with django_capture_on_commit_callbacks(execute=True):
        (delivery,) = services.webhook_emit(
            organization=org_a, event_type="contact.updated", data={"id": 1}
        )
        assert receiver.requests == []  # nothing leaves before the commit
    delivery.refresh_from_db()
    assert delivery.status == Status.DELIVERED
    assert len(receiver.requests) == 1
    assert receiver.requests[0].path == "/hooks"
    assert receiver.requests[0].json()["data"] == {"id": 1}
    assert endpoint.deliveries.get() == delivery


def test_rolled_back_change_delivers_nothing(org_a, receiver, django_capture_on_commit_callbacks):
    WebhookEndpointFactory(organization=org_a, url=receiver.url)
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.webhook_emit(organization=org_a, event_type="contact.created", data={})
        raise RuntimeError("the caller's change failed")
    assert callbacks == []
    assert not WebhookDelivery.objects.exists()
    assert receiver.requests == []


@pytest.mark.django_db(transaction=True)
def test_real_commit_delivers_and_real_rollback_does_not(receiver):
    org = OrganizationFactory()
    WebhookEndpointFactory(organization=org, url=receiver.url)
    with transaction.atomic():
        services.webhook_emit(organization=org, event_type="contact.created", data={"n": 1})
    with pytest.raises(RuntimeError), transaction.atomic():
        services.webhook_emit(organization=org, event_type="contact.created", data={"n": 2})
        raise RuntimeError
    assert [r.json()["data"] for r in receiver.requests] == [{"n": 1}]
    assert WebhookDelivery.objects.get().status == Status.DELIVERED


# --- Delivering and signatures -------------------------------------------------------------


def test_delivery_body_headers_and_signature(org_a, receiver):
    endpoint = WebhookEndpointFactory(organization=org_a, url=f"{receiver.url}/in")
    delivery = WebhookDeliveryFactory(endpoint=endpoint)

    assert webhook_deliver_task(delivery.pk) == Status.DELIVERED

    (request,) = receiver.requests
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "ContactCenter-Webhooks/1"
    assert headers["x-cc-event"] == "contact.created"
    assert headers["x-cc-delivery"] == str(delivery.pk)
    assert request.json() == delivery.payload
    signature = headers["x-cc-signature"]
    assert signature.startswith("t=")
    assert services.webhook_signature_verify(
        secret=endpoint.secret, header=signature, body=request.body
    )
    delivery.refresh_from_db()
    assert delivery.status == Status.DELIVERED
    assert delivery.attempts == 1
    assert delivery.last_status_code == 200
    assert delivery.delivered_at is not None
    assert delivery.next_attempt_at is None
    assert delivery.locked_until is None


def test_signature_fails_for_a_tampered_body_a_wrong_secret_or_an_old_timestamp(org_a, receiver):
    endpoint = WebhookEndpointFactory(organization=org_a, url=receiver.url)
    webhook_deliver_task(WebhookDeliveryFactory(endpoint=endpoint).pk)
    (request,) = receiver.requests
    header = request.headers["X-CC-Signature"]
    verify = services.webhook_signature_verify

    assert verify(secret=endpoint.secret, header=header, body=request.body)
    assert not verify(secret=endpoint.secret, header=header, body=request.body + b" ")
    assert not verify(
        secret=endpoint.secret, header=header, body=request.body.replace(b"Ada", b"Eve")
    )
    assert not verify(secret="another-secret", header=header, body=request.body)
    later = time.time() + 301
    assert not verify(secret=endpoint.secret, header=header, body=request.body, now=later)
    assert verify(
        secret=endpoint.secret, header=header, body=request.body, now=later, tolerance_seconds=600
    )


def test_signature_verify_parses_the_header_strictly():
    body = b'{"id":"x"}'
    now = int(time.time())
    good = services.webhook_signature(secret="s", timestamp=now, body=body)
    verify = services.webhook_signature_verify
    assert verify(secret="s", header=f"t={now},v1={good}", body=body)
    assert verify(secret="s", header=f"t={now},v1={'0' * 64},v1={good}", body=body)  # rotation
    assert verify(secret="s", header=f"t={now},v1={good}", body=body, now=timezone.now())
    for header in ("", f"v1={good}", f"t={now}", f"t=soon,v1={good}", f"t={now},v1=é", "junk"):
        assert not verify(secret="s", header=header, body=body), header


def test_server_error_schedules_a_retry_with_backoff_then_succeeds(org_a, receiver):
    receiver.answer(500)
    delivery = WebhookDeliveryFactory(endpoint__organization=org_a, endpoint__url=receiver.url)

    before = timezone.now()
    assert webhook_deliver_task(delivery.pk) == Status.PENDING
    delivery.refresh_from_db()
    assert delivery.attempts == 1
    assert delivery.last_status_code == 500
    assert "500" in delivery.last_error
    wait = delivery.next_attempt_at - before
    assert timedelta(seconds=30) <= wait <= timedelta(seconds=34)

    assert webhook_deliver_task(delivery.pk) == "skipped"  # not due yet
    assert len(receiver.requests) == 1

    _make_due(delivery)
    assert webhook_deliver_task(delivery.pk) == Status.DELIVERED
    delivery.refresh_from_db()
    assert delivery.attempts == 2
    assert delivery.last_status_code == 200
    assert delivery.last_error == ""
    assert len(receiver.requests) == 2
    # Every attempt sends the same event, signed afresh.
    assert receiver.requests[0].body == receiver.requests[1].body


def test_backoff_doubles_from_30_seconds_and_is_capped_at_6_hours():
    for attempts in range(1, 11):
        base = 30 * 2 ** (attempts - 1)
        delay = services.webhook_retry_delay(attempts=attempts).total_seconds()
        assert base <= delay <= base * 1.1
    capped = services.webhook_retry_delay(attempts=30).total_seconds()
    assert 6 * 3600 <= capped <= 6 * 3600 * 1.1


def test_ten_failures_give_up(org_a, receiver):
    receiver.default_status = 503
    delivery = WebhookDeliveryFactory(endpoint__organization=org_a, endpoint__url=receiver.url)
    for _attempt in range(10):
        _make_due(delivery)
        webhook_deliver_task(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Status.FAILED
    assert delivery.attempts == 10
    assert delivery.next_attempt_at is None
    assert delivery.last_status_code == 503
    _make_due(delivery)
    assert webhook_deliver_task(delivery.pk) == "skipped"
    assert webhook_sweep_task() == 0
    assert len(receiver.requests) == 10


def test_connection_refused_schedules_a_retry(org_a, refused_url):
    delivery = WebhookDeliveryFactory(endpoint__organization=org_a, endpoint__url=refused_url)
    assert webhook_deliver_task(delivery.pk) == Status.PENDING
    delivery.refresh_from_db()
    assert delivery.attempts == 1
    assert delivery.last_status_code is None
    assert "ConnectionError" in delivery.last_error
    assert delivery.next_attempt_at > timezone.now()


def test_timeout_schedules_a_retry(org_a, receiver, monkeypatch):
    monkeypatch.setattr(services, "TIMEOUT_SECONDS", 0.2)
    receiver.delay = 1.0
    delivery = WebhookDeliveryFactory(endpoint__organization=org_a, endpoint__url=receiver.url)
    assert webhook_deliver_task(delivery.pk) == Status.PENDING
    delivery.refresh_from_db()
    assert "Timeout" in delivery.last_error
    assert delivery.attempts == 1


def test_redirect_is_not_followed_and_counts_as_a_failure(org_a, receiver):
    receiver.answer(302)
    delivery = WebhookDeliveryFactory(endpoint__organization=org_a, endpoint__url=receiver.url)
    assert webhook_deliver_task(delivery.pk) == Status.PENDING
    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert delivery.last_status_code == 302


def test_long_errors_are_truncated(org_a):
    delivery = WebhookDeliveryFactory(endpoint__organization=org_a)
    services._attempt_record(delivery=delivery, status_code=None, error="x" * 5000)
    delivery.refresh_from_db()
    assert len(delivery.last_error) == services.LAST_ERROR_MAX_LENGTH


def test_task_is_idempotent(org_a, receiver):
    delivery = WebhookDeliveryFactory(endpoint__organization=org_a, endpoint__url=receiver.url)
    assert webhook_deliver_task(delivery.pk) == Status.DELIVERED
    assert webhook_deliver_task(delivery.pk) == "skipped"
    assert webhook_deliver_task(123456789) == "skipped"  # deleted meanwhile
    assert len(receiver.requests) == 1


def test_a_claimed_delivery_cannot_be_claimed_nor_retried_until_it_is_recorded(org_a, receiver):
    delivery = WebhookDeliveryFactory(endpoint__organization=org_a, endpoint__url=receiver.url)
    claimed = services.webhook_delivery_claim(delivery_id=delivery.pk)
    assert claimed is not None
    assert services.webhook_delivery_claim(delivery_id=delivery.pk) is None
    assert webhook_deliver_task(delivery.pk) == "skipped"
    assert webhook_sweep_task() == 0
    with pytest.raises(ValidationError, match="in progress"):
        services.webhook_delivery_retry(delivery=delivery)
    services.webhook_deliver(delivery=claimed)
    assert len(receiver.requests) == 1


def test_a_worker_that_died_mid_attempt_is_taken_over_after_the_lease(org_a, receiver):
    delivery = WebhookDeliveryFactory(endpoint__organization=org_a, endpoint__url=receiver.url)
    services.webhook_delivery_claim(delivery_id=delivery.pk)  # …and the worker dies
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        locked_until=timezone.now() - timedelta(seconds=1)
    )
    assert webhook_sweep_task() == 1
    delivery.refresh_from_db()
    assert delivery.status == Status.DELIVERED


def test_disabled_endpoint_gets_nothing(org_a, receiver):
    delivery = WebhookDeliveryFactory(
        endpoint__organization=org_a, endpoint__url=receiver.url, endpoint__is_active=False
    )
    assert webhook_deliver_task(delivery.pk) == "skipped"
    delivery.refresh_from_db()
    assert delivery.status == Status.FAILED
    assert "disabled" in delivery.last_error
    assert receiver.requests == []


def test_sweep_sends_due_pending_deliveries_only(org_a, org_b, receiver):
    due = WebhookDeliveryFactory(endpoint__organization=org_a, endpoint__url=receiver.url)
    other_org_due = WebhookDeliveryFactory(endpoint__organization=org_b, endpoint__url=receiver.url)
    later = WebhookDeliveryFactory(
        endpoint__organization=org_a,
        endpoint__url=receiver.url,
        next_attempt_at=timezone.now() + timedelta(minutes=5),
    )
    WebhookDeliveryFactory(
        endpoint__organization=org_a,
        endpoint__url=receiver.url,
        status=Status.DELIVERED,
        delivered_at=timezone.now(),
    )
    WebhookDeliveryFactory(
        endpoint__organization=org_a, endpoint__url=receiver.url, status=Status.FAILED
    )

    assert webhook_sweep_task() == 2

    sent = {r.headers["X-CC-Delivery"] for r in receiver.requests}
    assert sent == {str(due.pk), str(other_org_due.pk)}
    later.refresh_from_db()
    assert later.status == Status.PENDING
    assert webhook_sweep_task() == 0


def test_retry_sends_a_given_up_delivery_again(org_a, receiver, django_capture_on_commit_callbacks):
    delivery = WebhookDeliveryFactory(
        endpoint__organization=org_a,
        endpoint__url=receiver.url,
        status=Status.FAILED,
        attempts=10,
        next_attempt_at=None,
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.webhook_delivery_retry(delivery=delivery)
    delivery.refresh_from_db()
    assert delivery.status == Status.DELIVERED
    assert delivery.attempts == 11
    assert len(receiver.requests) == 1


def test_retry_of_a_failing_given_up_delivery_gives_up_again(
    org_a, receiver, django_capture_on_commit_callbacks
):
    receiver.default_status = 500
    delivery = WebhookDeliveryFactory(
        endpoint__organization=org_a,
        endpoint__url=receiver.url,
        status=Status.FAILED,
        attempts=10,
        next_attempt_at=None,
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.webhook_delivery_retry(delivery=delivery)
    delivery.refresh_from_db()
    assert delivery.status == Status.FAILED
    assert delivery.attempts == 11


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_concurrent_workers_deliver_once(receiver):
    receiver.delay = 0.2
    delivery = WebhookDeliveryFactory(endpoint__url=receiver.url)
    barrier = threading.Barrier(6)

    def work():
        barrier.wait()
        try:
            webhook_deliver_task(delivery.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert delivery.status == Status.DELIVERED


@pytest.mark.django_db
def test_private_targets_are_refused_when_not_allowed(settings):
    from apps.integrations.services import _private_target

    settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = False
    for url in (
        "http://127.0.0.1:8000/x",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
    ):
        assert "non-public" in _private_target(url), url
    settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True
    assert _private_target("http://127.0.0.1:8000/x") == ""
