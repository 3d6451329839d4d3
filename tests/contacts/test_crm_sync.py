"""The external-CRM hook: contact and interaction changes land in the webhook outbox."""

import pytest

from apps.contacts import services as contacts
from apps.integrations.models import WebhookDelivery
from apps.interactions import services as interactions
from apps.interactions.models import State
from tests.factories import DispositionFactory, InteractionFactory, OrganizationFactory
from tests.integrations.factories import WebhookEndpointFactory

pytestmark = pytest.mark.django_db


def _deliveries(event_type):
    return list(WebhookDelivery.objects.filter(event_type=event_type))


def test_contact_created_and_updated_are_sent_to_subscribers():
    org = OrganizationFactory(country="FR")
    WebhookEndpointFactory(organization=org, event_types=["contact.created", "contact.updated"])
    contact = contacts.contact_create(
        organization=org,
        first_name="Ada",
        external_id="crm-1",
        identities=[{"kind": "phone", "value": "0612345678"}],
    )
    [created] = _deliveries("contact.created")
    assert created.payload["data"]["external_id"] == "crm-1"
    assert created.payload["data"]["identities"] == [
        {"kind": "phone", "value": "+33612345678", "is_primary": False}
    ]
    contacts.contact_update(contact=contact, tier="vip")
    [updated] = _deliveries("contact.updated")
    assert updated.payload["data"]["tier"] == "vip"


def test_interaction_closed_carries_the_outcome():
    interaction = InteractionFactory(state=State.ACTIVE)
    WebhookEndpointFactory(
        organization=interaction.organization, event_types=["interaction.closed"]
    )
    disposition = DispositionFactory(organization=interaction.organization, code="sale")
    interactions.interaction_close(
        interaction=interaction, disposition=disposition, notes="2 seats"
    )
    [delivery] = _deliveries("interaction.closed")
    data = delivery.payload["data"]
    assert (data["id"], data["disposition"], data["wrap_up_notes"], data["state"]) == (
        interaction.pk,
        "sale",
        "2 seats",
        "closed",
    )
    assert not _deliveries("interaction.created")  # not subscribed


def test_no_delivery_for_other_organizations_endpoints():
    WebhookEndpointFactory(event_types=[])  # another organization, every event
    contacts.contact_create(organization=OrganizationFactory(), first_name="Solo")
    assert not WebhookDelivery.objects.exists()
