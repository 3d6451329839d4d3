"""factory_boy factories for webhook endpoints and deliveries."""

import secrets
import uuid

import factory
from django.utils import timezone

from apps.integrations.models import WebhookDelivery, WebhookEndpoint
from tests.factories import OrganizationFactory


class WebhookEndpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookEndpoint

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"CRM hook {n}")
    url = factory.Sequence(lambda n: f"https://crm.example.com/hooks/{n}")
    secret = factory.LazyFunction(lambda: secrets.token_urlsafe(32))
    event_types = factory.LazyFunction(list)
    is_active = True


class WebhookDeliveryFactory(factory.django.DjangoModelFactory):
    """A pending delivery, due now, with the body ``webhook_emit`` would have written."""

    class Meta:
        model = WebhookDelivery

    endpoint = factory.SubFactory(WebhookEndpointFactory)
    organization = factory.LazyAttribute(lambda o: o.endpoint.organization)
    event_id = factory.LazyFunction(uuid.uuid4)
    event_type = "contact.created"
    payload = factory.LazyAttribute(
        lambda o: {
            "id": str(o.event_id),
            "type": o.event_type,
            "created_at": timezone.now().isoformat(),
            "organization": o.organization.slug,
            "data": {"contact": {"id": 1, "name": "Ada Lovelace"}},
        }
    )
    status = WebhookDelivery.Status.PENDING
    next_attempt_at = factory.LazyFunction(timezone.now)
