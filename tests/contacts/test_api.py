import pytest
from django.urls import reverse

from apps.contacts.models import Contact
from apps.interactions.models import Event
from tests.factories import (
    ContactFactory,
    IdentityFactory,
    InteractionFactory,
    MessageFactory,
    OrganizationFactory,
    PlanFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_api(agent_a, api_client):
    api_client.force_authenticate(agent_a)
    return api_client


def test_create_contact_with_identities(agent_api, agent_a):
    response = agent_api.post(
        reverse("api:contact-list"),
        {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "tier": "gold",
            "company": "Analytical Engines",
            "tags": ["math"],
            "identities": [
                {"kind": "phone", "value": "+44 20 7946 0958"},
                {"kind": "email", "value": "ADA@x.org"},
            ],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert {i["value"] for i in body["identities"]} == {"+442079460958", "ada@x.org"}
    assert (body["company"], body["tags"], body["tier"]) == ("Analytical Engines", ["math"], "gold")
    assert Contact.objects.get(pk=body["id"]).organization == agent_a.organization


def test_unparseable_phone_is_400_naming_the_field(agent_api):
    response = agent_api.post(
        reverse("api:contact-list"),
        {"first_name": "X", "identities": [{"kind": "phone", "value": "call me maybe"}]},
        format="json",
    )
    assert response.status_code == 400
    assert "value" in response.json()["errors"]
    assert "call me maybe" in response.json()["detail"]
    assert not Contact.objects.exists()


def test_search_by_phone_in_another_format(agent_api, agent_a):
    contact = ContactFactory(organization=agent_a.organization, last_name="Curie")
    IdentityFactory(contact=contact, kind="phone", value="+14155552671")
    ContactFactory(organization=agent_a.organization, last_name="Pasteur")
    found = agent_api.get(reverse("api:contact-list"), {"q": "(415) 555-2671"}).json()
    assert [c["id"] for c in found["results"]] == [contact.pk]


def test_update_contact_fields_and_tags(agent_api, agent_a):
    contact = ContactFactory(organization=agent_a.organization)
    response = agent_api.patch(
        reverse("api:contact-detail", args=[contact.pk]),
        {"tier": "vip", "tags": ["press"]},
        format="json",
    )
    assert response.status_code == 200
    contact.refresh_from_db()
    assert contact.tier == "vip" and [t.name for t in contact.tags.all()] == ["press"]
    assert Event.objects.filter(contact=contact, type="contact.updated").exists()


def test_timeline_is_paginated_newest_first(agent_api, agent_a):
    contact = ContactFactory(organization=agent_a.organization)
    for channel in ("voice", "sms", "email"):
        MessageFactory(interaction=InteractionFactory(contact=contact, channel=channel))
    body = agent_api.get(
        reverse("api:contact-timeline", args=[contact.pk]), {"page_size": 2}
    ).json()
    assert body["count"] == 3
    assert [i["channel"] for i in body["results"]] == ["email", "sms"]
    assert len(body["results"][0]["messages"]) == 1


def test_notes_consents_and_identities(agent_api, agent_a):
    contact = ContactFactory(organization=agent_a.organization)
    assert (
        agent_api.post(
            reverse("api:contact-notes", args=[contact.pk]), {"body": "VIP soon"}
        ).status_code
        == 201
    )
    assert (
        agent_api.get(reverse("api:contact-notes", args=[contact.pk])).json()["results"][0]["body"]
        == "VIP soon"
    )
    consent = agent_api.post(
        reverse("api:contact-consents", args=[contact.pk]),
        {"channel": "sms", "status": "opt_out"},
        format="json",
    )
    assert consent.status_code == 201 and consent.json()["source"] == "api"
    identity = agent_api.post(
        reverse("api:contact-identities", args=[contact.pk]),
        {"kind": "email", "value": "n@x.fr"},
        format="json",
    )
    assert identity.status_code == 201


def test_agents_may_not_merge(agent_api, agent_a):
    keep, dupe = ContactFactory.create_batch(2, organization=agent_a.organization)
    response = agent_api.post(
        reverse("api:contact-merge", args=[keep.pk]), {"other": dupe.pk}, format="json"
    )
    assert response.status_code == 403
    dupe.refresh_from_db()
    assert dupe.merged_into is None


def test_merge_and_duplicates(supervisor_a, api_client):
    api_client.force_authenticate(supervisor_a)
    agent_api = api_client
    org = supervisor_a.organization
    keep = ContactFactory(organization=org, first_name="Marie", last_name="Curie")
    dupe = ContactFactory(organization=org, first_name="Marie", last_name="Curie")
    suggestions = agent_api.get(reverse("api:contact-duplicates", args=[keep.pk])).json()
    assert [s["contact"]["id"] for s in suggestions] == [dupe.pk]
    merged = agent_api.post(
        reverse("api:contact-merge", args=[keep.pk]), {"other": dupe.pk}, format="json"
    )
    assert merged.status_code == 200
    assert agent_api.get(reverse("api:contact-detail", args=[dupe.pk])).status_code == 404


def test_merge_with_another_organizations_contact_is_404(supervisor_a, api_client):
    api_client.force_authenticate(supervisor_a)
    agent_api = api_client
    mine = ContactFactory(organization=supervisor_a.organization)
    theirs = ContactFactory()
    response = agent_api.post(
        reverse("api:contact-merge", args=[mine.pk]), {"other": theirs.pk}, format="json"
    )
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.merged_into is None


@pytest.fixture
def crm_org(roles):
    return OrganizationFactory(
        subscription__plan=PlanFactory(features={"api": None, "crm_sync": None})
    )


def test_crm_upsert_by_external_id(crm_org, api_client):
    from apps.accounts.models import Role

    api_client.force_authenticate(UserFactory(organization=crm_org, roles=[Role.ADMIN]))
    url = reverse("api:crm-contact-upsert", args=["sf-77"])
    created = api_client.put(
        url,
        {"first_name": "Grace", "identities": [{"kind": "email", "value": "g@navy.mil"}]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    updated = api_client.put(url, {"last_name": "Hopper"}, format="json")
    assert updated.status_code == 200
    contact = Contact.objects.get(organization=crm_org, external_id="sf-77")
    assert (contact.first_name, contact.last_name) == ("Grace", "Hopper")


def test_crm_upsert_never_touches_another_organizations_contact(crm_org, api_client, org_a):
    from apps.accounts.models import Role

    theirs = ContactFactory(organization=org_a, external_id="sf-1", first_name="Alpha")
    api_client.force_authenticate(UserFactory(organization=crm_org, roles=[Role.ADMIN]))
    response = api_client.put(
        reverse("api:crm-contact-upsert", args=["sf-1"]), {"first_name": "Beta"}, format="json"
    )
    assert response.status_code == 201
    theirs.refresh_from_db()
    assert theirs.first_name == "Alpha"


def test_crm_upsert_needs_the_crm_sync_feature(admin_a, api_client):
    api_client.force_authenticate(admin_a)
    response = api_client.put(reverse("api:crm-contact-upsert", args=["x"]), {}, format="json")
    assert response.status_code == 403
    assert "External CRM sync" in response.json()["detail"]
