import pytest
from django.urls import reverse

from apps.contacts.models import Contact, Identity
from tests.factories import ContactFactory, IdentityFactory

pytestmark = pytest.mark.django_db

INLINES = {
    "identities-TOTAL_FORMS": "0",
    "identities-INITIAL_FORMS": "0",
    "notes-TOTAL_FORMS": "0",
    "notes-INITIAL_FORMS": "0",
    "consents-TOTAL_FORMS": "0",
    "consents-INITIAL_FORMS": "0",
}


def _contact_form(**extra):
    return {
        "first_name": "Jean",
        "last_name": "Moulin",
        "tier": "standard",
        "custom_fields": "{}",
        "language": "",
        "time_zone": "",
        "external_id": "",
        **INLINES,
        **extra,
    }


def test_supervisor_adds_contact_with_normalised_identity_and_note(supervisor_a, client):
    supervisor_a.organization.country = "FR"
    supervisor_a.organization.save()
    client.force_login(supervisor_a)
    response = client.post(
        reverse("admin:contacts_contact_add"),
        _contact_form(
            **{
                "identities-TOTAL_FORMS": "1",
                "identities-0-kind": "phone",
                "identities-0-value": "06 12 34 56 78",
                "notes-TOTAL_FORMS": "1",
                "notes-0-body": "Met at the fair",
            }
        ),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    contact = Contact.objects.get(last_name="Moulin")
    assert contact.organization == supervisor_a.organization
    assert contact.identities.get().value == "+33612345678"
    note = contact.notes.get()
    assert (note.organization, note.author) == (supervisor_a.organization, supervisor_a)


def test_identity_taken_by_another_contact_is_a_form_error(supervisor_a, client):
    IdentityFactory(contact=ContactFactory(organization=supervisor_a.organization), value="x@y.fr")
    client.force_login(supervisor_a)
    response = client.post(
        reverse("admin:contacts_contact_add"),
        _contact_form(
            **{
                "identities-TOTAL_FORMS": "1",
                "identities-0-kind": "email",
                "identities-0-value": "X@Y.fr",
            }
        ),
    )
    assert response.status_code == 200
    assert "already belongs" in response.content.decode()
    assert Identity.objects.count() == 1


def test_contact_page_suggests_duplicates_and_merge_confirms(supervisor_a, client):
    org = supervisor_a.organization
    keep = ContactFactory(organization=org, first_name="Marie", last_name="Curie")
    dupe = ContactFactory(organization=org, first_name="Marie", last_name="Curie")
    client.force_login(supervisor_a)
    page = client.get(reverse("admin:contacts_contact_change", args=[keep.pk])).content.decode()
    assert f"ids={keep.pk},{dupe.pk}" in page
    confirm = client.get(reverse("admin:contacts_contact_merge"), {"ids": f"{keep.pk},{dupe.pk}"})
    assert (
        confirm.status_code == 200 and "Choose the contact that stays" in confirm.content.decode()
    )
    done = client.post(
        reverse("admin:contacts_contact_merge"), {"ids": f"{keep.pk},{dupe.pk}", "winner": dupe.pk}
    )
    assert done.status_code == 302
    keep.refresh_from_db()
    assert keep.merged_into_id == dupe.pk


def test_merge_view_ignores_other_organizations_contacts(supervisor_a, client):
    mine = ContactFactory(organization=supervisor_a.organization)
    theirs = ContactFactory()
    client.force_login(supervisor_a)
    response = client.post(
        reverse("admin:contacts_contact_merge"),
        {"ids": f"{mine.pk},{theirs.pk}", "winner": mine.pk},
    )
    assert response.status_code == 302
    theirs.refresh_from_db()
    assert theirs.merged_into is None


def test_agents_cannot_merge_in_admin(admin_a, agent_a, client):
    client.force_login(agent_a)
    assert client.get(reverse("admin:contacts_contact_merge")).status_code == 302  # not staff


def test_interaction_admin_shows_the_event_log(supervisor_a, client):
    from apps.interactions.services import interaction_transition
    from tests.factories import InteractionFactory

    interaction = InteractionFactory(contact=ContactFactory(organization=supervisor_a.organization))
    interaction_transition(interaction=interaction, to="queued")
    client.force_login(supervisor_a)
    page = client.get(reverse("admin:interactions_interaction_change", args=[interaction.pk]))
    assert page.status_code == 200
    assert "interaction.state_changed" in page.content.decode()
