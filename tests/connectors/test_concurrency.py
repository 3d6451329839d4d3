"""Twenty deliveries at once (PostgreSQL): one stored message, one conversation."""

import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from twilio.request_validator import RequestValidator

from apps.connectors import services
from apps.connectors.models import InboundEvent
from apps.contacts.models import Contact
from apps.interactions.models import Interaction, Message
from tests.connectors.conftest import channel_account

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrency needs PostgreSQL"),
]

TOKEN = "twilio-auth-token"


def _at_once(n, work):
    barrier = threading.Barrier(n)
    errors = []

    def run(i):
        barrier.wait()
        try:
            work(i)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_twenty_concurrent_deliveries_of_one_sms_store_one_message(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    account = channel_account("sms", address="+15005550006", secrets={"auth_token": TOKEN})
    url = reverse("connectors-twilio-sms", kwargs={"key": account.key})
    params = {
        "MessageSid": "SM" + "1" * 32,
        "From": "+14155550123",
        "To": "+15005550006",
        "Body": "Hello",
        "NumMedia": "0",
    }
    signature = RequestValidator(TOKEN).compute_signature(f"http://testserver{url}", params)
    statuses = []
    _at_once(
        20,
        lambda i: statuses.append(
            Client().post(url, params, HTTP_X_TWILIO_SIGNATURE=signature).status_code
        ),
    )
    assert statuses == [200] * 20
    assert InboundEvent.objects.count() == 1
    services.inbound_retry_due()
    assert Message.objects.count() == 1


def test_a_new_customers_messages_processed_at_once_make_one_contact_and_one_conversation():
    account = channel_account("sms", address="+15005550006", secrets={"auth_token": TOKEN})
    items = [
        services.Item(
            "message",
            f"SM{i:032d}",
            {
                "MessageSid": f"SM{i:032d}",
                "From": "+14155550199",
                "Body": f"part {i}",
                "NumMedia": "0",
            },
        )
        for i in range(10)
    ]
    services.inbound_accept(account=account, items=items)
    ids = list(InboundEvent.objects.values_list("pk", flat=True))
    _at_once(10, lambda i: services.inbound_process(event_id=ids[i]))
    assert InboundEvent.objects.filter(status="done").count() == 10
    assert Contact.objects.count() == 1
    assert Interaction.objects.count() == 1
    assert Message.objects.count() == 10
