"""Channel accounts in the admin: within the plan, credentials encrypted and write-only, webhook
URLs shown; failed events retried; signed media links."""

import pytest
from django.core import signing
from django.core.files.base import ContentFile
from django.urls import reverse

from apps.accounts.models import PlanFeature
from apps.connectors import secrets
from apps.connectors.models import ChannelAccount, InboundEvent
from apps.connectors.providers.common import media_link
from tests.connectors.conftest import channel_account

pytestmark = pytest.mark.django_db


def _form(queue, **extra):
    return {
        "kind": "sms",
        "name": "Support line",
        "is_active": "on",
        "address": "+15005550006",
        "queue": queue.pk if queue else "",
        "config": '{"account_sid": "AC123"}',
        **extra,
    }


def test_an_admin_adds_an_sms_number_with_an_encrypted_token(client, admin_a, org_a):
    from tests.factories import QueueFactory

    PlanFeature.objects.create(plan=org_a.subscription.plan, code="channel_sms", limit=1)
    queue = QueueFactory(organization=org_a)
    client.force_login(admin_a)
    response = client.post(
        reverse("admin:connectors_channelaccount_add"), _form(queue, secret_auth_token="tok-123")
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    account = ChannelAccount.objects.get()
    assert account.organization_id == org_a.pk
    assert "tok-123" not in account.sealed_secrets  # encrypted at rest
    assert account.secret("auth_token") == "tok-123"
    page = client.get(reverse("admin:connectors_channelaccount_change", args=[account.pk]))
    body = page.content.decode()
    assert f"/hooks/twilio/sms/{account.key}/" in body and "tok-123" not in body
    # Saving again with the field blank keeps the token; env:NAME reads the environment.
    client.post(reverse("admin:connectors_channelaccount_change", args=[account.pk]), _form(queue))
    account.refresh_from_db()
    assert account.secret("auth_token") == "tok-123"


def test_the_plan_decides_which_channels_and_how_many(client, admin_a, org_a):
    client.force_login(admin_a)
    response = client.post(reverse("admin:connectors_channelaccount_add"), _form(None))
    assert response.status_code == 200 and "does not include SMS" in response.content.decode()
    PlanFeature.objects.create(plan=org_a.subscription.plan, code="channel_sms", limit=1)
    assert (
        client.post(reverse("admin:connectors_channelaccount_add"), _form(None)).status_code == 302
    )
    second = _form(None, address="+15005550007", name="Second")
    response = client.post(reverse("admin:connectors_channelaccount_add"), second)
    assert response.status_code == 200 and "allows 1 active SMS" in response.content.decode()
    assert ChannelAccount.objects.count() == 1


def test_a_secret_can_name_an_environment_variable(monkeypatch, roles):
    account = channel_account("sms", secrets={"auth_token": "env:CC_TEST_TWILIO_TOKEN"})
    monkeypatch.setenv("CC_TEST_TWILIO_TOKEN", "from-the-environment")
    assert account.secret("auth_token") == "from-the-environment"
    assert "from-the-environment" not in account.sealed_secrets


def test_rotated_keys_still_decrypt_old_secrets(settings, roles):
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.CHANNEL_SECRET_KEYS = [old]
    token = secrets.seal({"auth_token": "abc"})
    settings.CHANNEL_SECRET_KEYS = [new, old]
    assert secrets.unseal(token) == {"auth_token": "abc"}
    settings.CHANNEL_SECRET_KEYS = [new]
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        secrets.unseal(token)


def test_an_administrator_retries_a_failed_event(client, admin_a, org_a, roles):
    account = channel_account("sms", organization=org_a, address="+15005550006")
    event = InboundEvent.objects.create(
        organization=org_a,
        account=account,
        kind="message",
        external_id="SM1",
        payload={"MessageSid": "SM1", "From": "+14155550123", "Body": "Hi", "NumMedia": "0"},
        status=InboundEvent.Status.DEAD,
        attempts=8,
        last_error="boom",
    )
    client.force_login(admin_a)
    response = client.post(
        reverse("admin:connectors_inboundevent_changelist"),
        {"action": "retry_events", "_selected_action": [event.pk]},
    )
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.status == InboundEvent.Status.DONE


def test_media_links_are_signed_and_expire(client, settings, roles, tmp_path):
    from apps.interactions.models import Attachment, Message
    from tests.factories import InteractionFactory

    settings.PUBLIC_BASE_URL = "https://cc.example.com"
    interaction = InteractionFactory(channel="sms")
    message = Message.objects.create(
        organization=interaction.organization,
        interaction=interaction,
        channel="sms",
        direction="outbound",
        author_kind="agent",
        delivery_status="queued",
    )
    attachment = Attachment(
        organization=interaction.organization,
        message=message,
        filename="a.pdf",
        content_type="application/pdf",
        size=3,
    )
    attachment.file.save("a.pdf", ContentFile(b"pdf"), save=False)
    attachment.save()
    link = media_link(attachment)
    assert link.startswith("https://cc.example.com/hooks/media/")
    path = link.removeprefix("https://cc.example.com")
    response = client.get(path)
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"pdf"
    forged = signing.dumps({"a": attachment.pk}, salt="another-salt")
    assert client.get(reverse("connectors-media", kwargs={"token": forged})).status_code == 404
    settings.PUBLIC_BASE_URL = ""
    assert media_link(attachment) == ""
