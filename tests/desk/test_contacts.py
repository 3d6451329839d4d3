"""The desk's contact directory and contact page."""

import pytest
from django.urls import reverse

from apps.contacts.models import ContactField
from tests.factories import ContactFactory, IdentityFactory, InteractionFactory, MessageFactory

pytestmark = pytest.mark.django_db


def test_search_by_name_and_by_phone_in_any_format(login, agent_a, org_a):
    ada = ContactFactory(organization=org_a, first_name="Ada", last_name="Lovelace")
    IdentityFactory(contact=ada, kind="phone", value="+14155552671")
    ContactFactory(organization=org_a, first_name="Alan", last_name="Turing")
    client = login(agent_a)
    body = client.get(reverse("desk-contacts"), {"q": "lovelace"}).content.decode()
    assert "Ada Lovelace" in body and "Turing" not in body
    body = client.get(
        reverse("desk-contacts"), {"q": "(415) 555-2671"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "Ada Lovelace" in body and "<html" not in body  # the rows only, for htmx


def test_contact_page_shows_every_channel_with_bounded_queries(
    login, agent_a, org_a, django_assert_max_num_queries
):
    contact = ContactFactory(organization=org_a, first_name="Grace", last_name="Hopper")
    for channel in ("voice", "email", "whatsapp", "webchat"):
        interaction = InteractionFactory(contact=contact, channel=channel, subject=f"On {channel}")
        MessageFactory(interaction=interaction, body=f"hello by {channel}")
    client = login(agent_a)
    with django_assert_max_num_queries(25):
        body = client.get(reverse("desk-contact", args=[contact.pk])).content.decode()
    assert all(f"On {c}" in body for c in ("voice", "email", "whatsapp", "webchat"))
    assert "hello by whatsapp" in body


def test_editing_a_contact_validates_and_keeps_crm_owned_fields(login, agent_a, org_a):
    ContactField.objects.create(organization=org_a, key="plan", label="Plan")
    ContactField.objects.create(organization=org_a, key="account", label="Account", crm_owned=True)
    contact = ContactFactory(
        organization=org_a, first_name="Ada", custom_fields={"account": "AC-1"}
    )
    client = login(agent_a)
    url = reverse("desk-contact", args=[contact.pk])
    response = client.post(url, {"first_name": "Ada", "time_zone": "Mars/Olympus"})
    assert response.status_code == 400
    contact.refresh_from_db()
    assert contact.time_zone == ""
    response = client.post(
        url,
        {
            "first_name": "Augusta Ada",
            "last_name": "King",
            "company": "Analytical Engines",
            "time_zone": "Europe/London",
            "cf_plan": "Gold",
            "cf_account": "HACKED",
        },
    )
    assert response.status_code == 302
    contact.refresh_from_db()
    assert (contact.first_name, contact.last_name, contact.time_zone) == (
        "Augusta Ada",
        "King",
        "Europe/London",
    )
    assert contact.company.name == "Analytical Engines"
    assert contact.custom_fields == {"account": "AC-1", "plan": "Gold"}


def test_an_agent_clears_a_custom_field(login, agent_a, org_a):
    from django.urls import reverse

    from apps.contacts.models import Contact, ContactField

    ContactField.objects.create(organization=org_a, key="plan", label="Plan")
    contact = Contact.objects.create(
        organization=org_a, first_name="Ada", custom_fields={"plan": "gold"}
    )
    client = login(agent_a)
    response = client.post(
        reverse("desk-contact", args=[contact.pk]),
        {"first_name": "Ada", "last_name": "", "cf_plan": ""},
    )
    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.custom_fields == {}
