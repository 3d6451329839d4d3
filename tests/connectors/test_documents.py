"""Faxes and scanned letters: from a fax provider's signed webhook, the desk or the API, they
become inbound interactions routed like any other."""

import json
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import reverse

from apps.accounts.models import PlanFeature
from apps.connectors.models import InboundEvent
from apps.integrations.services import webhook_signature_header
from apps.interactions.models import Interaction
from tests.connectors.conftest import channel_account
from tests.factories import QueueFactory, agent_in_queue

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def fax_line(roles):
    account = channel_account(
        "fax", address="+33140000000", secrets={"webhook_secret": "fax-secret"}
    )
    agent_in_queue(account.queue)
    return account


def _deliver(client, account, fields, *, secret="fax-secret", when=None):
    body = encode_multipart(BOUNDARY, fields)
    header = webhook_signature_header(secret=secret, body=body, timestamp=when)
    return client.generic(
        "POST",
        reverse("connectors-fax", kwargs={"key": account.key}),
        body,
        content_type=MULTIPART_CONTENT,
        HTTP_X_CC_SIGNATURE=header,
    )


def _fax(name="order.pdf", data=PDF, **extra):
    return {
        "From": "+33 1 44 55 66 77",
        "FaxId": "FX123",
        "Subject": "Order form",
        "file": SimpleUploadedFile(name, data),
        **extra,
    }


def test_a_signed_fax_becomes_a_routed_interaction_with_the_document(
    client, fax_line, django_capture_on_commit_callbacks
):
    for _ in range(2):  # a resend is stored once
        with django_capture_on_commit_callbacks(execute=True):
            assert _deliver(client, fax_line, _fax()).status_code == 200
    interaction = Interaction.objects.get()
    assert (interaction.channel, interaction.direction, interaction.state) == (
        "fax",
        "inbound",
        "offered",
    )
    assert interaction.identity.value == "+33144556677" and interaction.subject == "Order form"
    attachment = interaction.messages.get().attachments.get()
    assert attachment.content_type == "application/pdf" and attachment.file.read() == PDF
    assert InboundEvent.objects.get().status == "done"


def test_a_bad_or_old_signature_or_a_wrong_file_stores_nothing(client, fax_line):
    assert _deliver(client, fax_line, _fax(), secret="wrong").status_code == 403
    old = int(time.time()) - 3600
    assert _deliver(client, fax_line, _fax(), when=old).status_code == 403  # a replay
    response = _deliver(client, fax_line, _fax(name="run.exe", data=b"MZ"))
    assert response.status_code == 400 and b"PDF or an image" in response.content
    assert not InboundEvent.objects.exists() and not Interaction.objects.exists()


def test_the_desk_registers_a_scanned_letter(client, roles, org_a, agent_a):
    PlanFeature.objects.create(plan=org_a.subscription.plan, code="channel_fax")
    queue = QueueFactory(organization=org_a, name="Back office")
    client.force_login(agent_a)
    page = client.get(reverse("desk-document-new"))
    assert page.status_code == 200 and "Back office" in page.content.decode()
    response = client.post(
        reverse("desk-document-new"),
        {
            "channel": "mail",
            "sender_name": "Marie Curie",
            "subject": "Complaint letter",
            "queue": queue.pk,
            "file": SimpleUploadedFile("letter.png", b"\x89PNG\r\n"),
        },
    )
    assert response.status_code == 302
    interaction = Interaction.objects.get()
    assert (interaction.channel, interaction.queue_id, interaction.state) == (
        "mail",
        queue.pk,
        "queued",
    )
    assert str(interaction.contact) == "Marie Curie"
    missing = client.post(
        reverse("desk-document-new"), {"channel": "mail", "file": SimpleUploadedFile("l.png", b"x")}
    )
    assert missing.status_code == 400 and "Say who sent it" in missing.content.decode()


def test_the_api_registers_a_fax_and_the_plan_gates_it(api_client, roles, admin_a, org_a):
    api_client.force_authenticate(admin_a)
    url = reverse("api:document-create")
    upload = {"channel": "fax", "sender": "+14155550100", "file": SimpleUploadedFile("f.pdf", PDF)}
    refused = api_client.post(url, upload, format="multipart")
    assert refused.status_code == 400 and "does not include" in json.dumps(refused.json())
    PlanFeature.objects.create(plan=org_a.subscription.plan, code="channel_fax")
    api_client.force_authenticate(type(admin_a).objects.get(pk=admin_a.pk))
    upload["file"] = SimpleUploadedFile("f.pdf", PDF)
    response = api_client.post(url, upload, format="multipart")
    assert response.status_code == 201, response.content
    assert response.json()["channel"] == "fax"
    assert Interaction.objects.get().identity.value == "+14155550100"
