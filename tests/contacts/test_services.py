import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from apps.contacts import services
from apps.contacts.models import Consent, ConsentChannel, Contact, ContactField, Identity, Tier
from apps.contacts.selectors import (
    contact_can_be_contacted,
    contact_duplicates,
    contact_search,
)
from apps.interactions.models import Event
from tests.factories import (
    ContactFactory,
    ContactFieldFactory,
    ContactNoteFactory,
    IdentityFactory,
    InteractionFactory,
    OrganizationFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def org(db):
    return OrganizationFactory(country="FR")


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("06 12 34 56 78", "+33612345678"),
        ("+33 6 12 34 56 78", "+33612345678"),
        ("0033612345678", "+33612345678"),
        ("33612345678", "+33612345678"),  # WhatsApp ids carry no +
        ("+1 (415) 555-2671", "+14155552671"),
    ],
)
def test_phones_are_normalised_to_e164(written, expected):
    assert services.phone_normalize(written, country="FR") == expected


@pytest.mark.parametrize("bad", ["hello", "123", "+33 1", ""])
def test_unparseable_phone_names_the_field(bad):
    with pytest.raises(ValidationError) as exc:
        services.identity_normalize(kind="phone", value=bad, country="FR")
    assert "value" in exc.value.message_dict


def test_emails_and_handles_are_normalised():
    assert services.identity_normalize(kind="email", value=" Jo@Example.COM ") == "jo@example.com"
    assert services.identity_normalize(kind="x", value="@AcmeHelp") == "acmehelp"
    with pytest.raises(ValidationError):
        services.identity_normalize(kind="email", value="not-an-email")


def test_create_contact_with_identities_tags_company_and_fields(org):
    ContactFieldFactory(organization=org, key="account", kind=ContactField.Kind.NUMBER)
    contact = services.contact_create(
        organization=org,
        first_name="Amélie",
        last_name="Poulain",
        identities=[
            {"kind": "phone", "value": "06 12 34 56 78"},
            {"kind": "email", "value": "A@P.fr"},
        ],
        tier=Tier.GOLD,
        company_name="Café des 2 Moulins",
        custom_fields={"account": "1234"},
        tags=["vip-list", "press"],
    )
    assert sorted(contact.identities.values_list("value", flat=True)) == ["+33612345678", "a@p.fr"]
    assert contact.custom_fields == {"account": 1234}
    assert contact.company.name == "Café des 2 Moulins"
    assert sorted(t.name for t in contact.tags.all()) == ["press", "vip-list"]
    assert Event.objects.filter(contact=contact, type="contact.created").count() == 1


def test_identity_is_unique_per_organization(org):
    services.contact_create(organization=org, identities=[{"kind": "phone", "value": "0612345678"}])
    with pytest.raises(ValidationError, match="already belongs"):
        services.contact_create(
            organization=org, identities=[{"kind": "phone", "value": "+33612345678"}]
        )
    other_org = OrganizationFactory(country="FR")
    services.contact_create(
        organization=other_org, identities=[{"kind": "phone", "value": "0612345678"}]
    )
    assert Contact.objects.filter(organization=org).count() == 1


def test_bad_custom_fields_are_refused(org):
    ContactFieldFactory(
        organization=org, key="plan", kind=ContactField.Kind.CHOICE, choices=["basic", "pro"]
    )
    ContactFieldFactory(organization=org, key="crm_score", crm_owned=True)
    with pytest.raises(ValidationError, match="plan"):
        services.contact_create(organization=org, custom_fields={"plan": "platinum"})
    with pytest.raises(ValidationError, match="Unknown field"):
        services.contact_create(organization=org, custom_fields={"shoe_size": 42})
    with pytest.raises(ValidationError, match="external CRM"):
        services.contact_create(organization=org, custom_fields={"crm_score": "9"})
    assert not Contact.objects.exists()


def test_resolve_finds_or_creates_once(org):
    first, identity, created = services.contact_resolve(
        organization=org, kind="phone", value="06 12 34 56 78", hints={"name": "Jean Valjean"}
    )
    assert created and (first.first_name, first.last_name) == ("Jean", "Valjean")
    again, same_identity, created_again = services.contact_resolve(
        organization=org, kind="phone", value="+33612345678"
    )
    assert (again, same_identity, created_again) == (first, identity, False)


def test_resolve_attaches_new_identity_to_contact_known_by_email_hint(org):
    known = services.contact_create(
        organization=org, identities=[{"kind": "email", "value": "jv@mail.fr"}]
    )
    contact, identity, created = services.contact_resolve(
        organization=org, kind="webchat", value="visitor-123", hints={"email": "JV@mail.fr"}
    )
    assert (contact, created) == (known, False)
    assert identity.contact == known


def test_resolve_with_bad_hint_still_creates(org):
    contact, _identity, created = services.contact_resolve(
        organization=org,
        kind="whatsapp",
        value="33612345678",
        hints={"email": "nope", "name": "Zoé"},
    )
    assert created
    assert contact.identities.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
def test_concurrent_resolves_of_one_identity_make_one_contact():
    org = OrganizationFactory(country="FR")
    barrier = threading.Barrier(5)
    results = []

    def resolve():
        barrier.wait()
        try:
            results.append(
                services.contact_resolve(organization=org, kind="phone", value="0612345678")[0].pk
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=resolve) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1
    assert Contact.objects.filter(organization=org).count() == 1


def test_merge_moves_everything_and_keeps_an_audit_event(org, admin_a):
    winner = ContactFactory(organization=org, first_name="Jean", last_name="", tier=Tier.STANDARD)
    loser = ContactFactory(
        organization=org,
        first_name="J.",
        last_name="Valjean",
        tier=Tier.VIP,
        external_id="crm-9",
        custom_fields={"a": 1},
    )
    IdentityFactory(contact=loser, value="jv@mail.fr")
    interaction = InteractionFactory(contact=loser)
    ContactNoteFactory(contact=loser)
    services.consent_record(contact=loser, channel="sms", status="opt_out", source="keyword")
    loser.tags.add(*services.tags_get_or_create(org, ["vip"]))

    services.contact_merge(winner=winner, loser=loser, actor=admin_a)

    winner.refresh_from_db()
    loser.refresh_from_db()
    interaction.refresh_from_db()
    assert interaction.contact == winner
    assert winner.identities.get().value == "jv@mail.fr"
    assert winner.notes.count() == 1
    assert not contact_can_be_contacted(contact=winner, channel="sms")
    assert (winner.first_name, winner.last_name, winner.tier) == ("Jean", "Valjean", Tier.VIP)
    assert winner.external_id == "crm-9" and loser.external_id == ""
    assert winner.custom_fields == {"a": 1}
    assert [t.name for t in winner.tags.all()] == ["vip"]
    assert loser.merged_into == winner
    event = Event.objects.get(type="contact.merged")
    assert event.contact == winner and event.actor == admin_a
    assert event.data["merged_contact"] == loser.pk and event.data["interactions"] == 1
    assert list(Contact.objects.live().filter(organization=org)) == [winner]


def test_merge_refuses_self_other_org_and_twice(org):
    a, b = ContactFactory(organization=org), ContactFactory(organization=org)
    with pytest.raises(ValidationError):
        services.contact_merge(winner=a, loser=a)
    with pytest.raises(ValidationError):
        services.contact_merge(winner=a, loser=ContactFactory())
    services.contact_merge(winner=a, loser=b)
    with pytest.raises(ValidationError, match="already merged"):
        services.contact_merge(winner=a, loser=b)


def test_consent_latest_choice_wins_and_all_channels_count(org):
    contact = ContactFactory(organization=org)
    assert contact_can_be_contacted(contact=contact, channel="sms")
    services.consent_record(contact=contact, channel="sms", status="opt_out", source="keyword")
    assert not contact_can_be_contacted(contact=contact, channel="sms")
    assert contact_can_be_contacted(contact=contact, channel="email")
    services.consent_record(contact=contact, channel="sms", status="opt_in", source="keyword")
    assert contact_can_be_contacted(contact=contact, channel="sms")
    services.consent_record(
        contact=contact, channel=ConsentChannel.ALL, status="opt_out", source="agent"
    )
    assert not contact_can_be_contacted(contact=contact, channel="email")
    assert Consent.objects.filter(contact=contact).count() == 3  # history kept
    contact.do_not_contact = True
    assert not contact_can_be_contacted(contact=contact, channel="voice")


def test_duplicates_by_number_across_channels_email_and_name(org):
    contact = services.contact_create(
        organization=org,
        first_name="Jonathan",
        last_name="Harker",
        identities=[
            {"kind": "phone", "value": "0612345678"},
            {"kind": "email", "value": "jon@h.uk"},
        ],
    )
    same_number = services.contact_create(
        organization=org, identities=[{"kind": "whatsapp", "value": "33612345678"}]
    )
    same_mailbox = services.contact_create(
        organization=org, identities=[{"kind": "email", "value": "jon+shop@h.uk"}]
    )
    similar_name = ContactFactory(organization=org, first_name="Jonathon", last_name="harker")
    stranger = services.contact_create(
        organization=org,
        first_name="Jon",
        last_name="Snow",
        identities=[{"kind": "email", "value": "jonny@h.uk"}],
    )
    found = {s.contact.pk: s.reasons for s in contact_duplicates(contact=contact)}
    assert found == {
        same_number.pk: ["same phone number"],
        same_mailbox.pk: ["same e-mail address"],
        similar_name.pk: ["similar name"],
    }
    assert stranger.pk not in found


def test_search_by_name_phone_in_any_format_email_and_external_id(org):
    amelie = services.contact_create(
        organization=org,
        first_name="Amélie",
        last_name="Poulain",
        external_id="C-42",
        identities=[
            {"kind": "phone", "value": "06 12 34 56 78"},
            {"kind": "email", "value": "amelie@cafe.fr"},
        ],
    )
    ContactFactory(organization=org, first_name="Nino", last_name="Quincampoix")
    for q in (
        "poulain",
        "Amélie Poulain",
        "+33 6 12 34 56 78",
        "0612345678",
        "amelie@cafe",
        "C-42",
    ):
        assert list(contact_search(organization=org, q=q)) == [amelie], q
    assert not contact_search(organization=OrganizationFactory(), q="poulain").exists()


def test_crm_upsert_creates_then_updates_and_owns_its_fields(org):
    ContactFieldFactory(organization=org, key="ltv", kind=ContactField.Kind.NUMBER, crm_owned=True)
    contact, created = services.contact_upsert_external(
        organization=org,
        external_id="sf-001",
        data={
            "first_name": "Ada",
            "last_name": "Lovelace",
            "tier": "gold",
            "custom_fields": {"ltv": "1200.5"},
            "identities": [{"kind": "email", "value": "ada@x.org"}],
        },
    )
    assert created and contact.custom_fields == {"ltv": 1200.5}
    again, created_again = services.contact_upsert_external(
        organization=org,
        external_id="sf-001",
        data={
            "tier": "vip",
            "identities": [
                {"kind": "email", "value": "ADA@x.org"},
                {"kind": "phone", "value": "0612345678"},
            ],
        },
    )
    assert (again.pk, created_again, again.tier) == (contact.pk, False, "vip")
    assert again.identities.count() == 2
    with pytest.raises(ValidationError, match="external CRM"):
        services.contact_update(contact=again, custom_fields={"ltv": 1})


def test_update_refuses_unknown_fields(org):
    contact = ContactFactory(organization=org)
    with pytest.raises(ValidationError):
        services.contact_update(contact=contact, organization_id=999)


def test_identity_remove(org):
    identity = IdentityFactory(contact=ContactFactory(organization=org))
    services.identity_remove(identity=identity)
    assert not Identity.objects.exists()
