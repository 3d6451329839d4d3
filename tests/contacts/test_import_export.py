import csv
import io

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import load_workbook

from apps.contacts import imports, services
from apps.contacts.exports import contacts_export
from apps.contacts.imports import RowError, contacts_import
from apps.contacts.models import Contact, ContactField, Identity
from tests.factories import (
    CompanyFactory,
    ContactFactory,
    ContactFieldFactory,
    IdentityFactory,
    OrganizationFactory,
    TagFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

HEADER = "first_name,last_name,company,tier,tags,phone,mobile,email,whatsapp,external_id,cf_plan"
GOOD = (
    f"{HEADER}\n"
    "Amélie,Poulain,Café des 2 Moulins,Gold,press|vip-list,01 42 68 00 00,06 12 34 56 78,"
    "A.Poulain@Mail.FR,,crm-1,pro\n"
    "Jean,Valjean,,,,,,jv@mail.fr,33698765432,,\n"
)


@pytest.fixture
def org(org_a):
    org_a.country = "FR"
    org_a.save(update_fields=["country"])
    ContactFieldFactory(
        organization=org_a, key="plan", kind=ContactField.Kind.CHOICE, choices=["basic", "pro"]
    )
    return org_a


def _import(org, text, *, dry_run=False, skip_invalid=False):
    return contacts_import(
        organization=org, file=text.encode(), dry_run=dry_run, skip_invalid=skip_invalid
    )


def _csv(*rows: str, header: str = "first_name,last_name,phone,email,external_id") -> str:
    return "\n".join([header, *rows]) + "\n"


# --- Import -----------------------------------------------------------------------------------


def test_valid_file_creates_contacts_with_identities_tags_and_custom_fields(org):
    report = _import(org, GOOD)
    assert (report.total, report.created, report.written, report.errors) == (2, 2, True, [])
    amelie = Contact.objects.get(organization=org, last_name="Poulain")
    identities = {(i.kind, i.value, i.label, i.is_primary) for i in amelie.identities.all()}
    assert identities == {
        ("phone", "+33142680000", "", True),
        ("phone", "+33612345678", "mobile", False),
        ("email", "a.poulain@mail.fr", "", True),
    }
    assert sorted(t.name for t in amelie.tags.all()) == ["press", "vip-list"]
    assert (amelie.tier, amelie.company.name) == ("gold", "Café des 2 Moulins")
    assert (amelie.custom_fields, amelie.external_id) == ({"plan": "pro"}, "crm-1")
    jean = Contact.objects.get(organization=org, last_name="Valjean")
    assert {(i.kind, i.value) for i in jean.identities.all()} == {
        ("email", "jv@mail.fr"),
        ("whatsapp", "+33698765432"),
    }


def test_semicolon_file_with_bom_and_upper_case_header(org):
    text = "\ufeffFIRST_NAME;Last_Name;Phone;Time_Zone\nÉlodie;Brûlé;06 11 22 33 44;Europe/Paris\n"
    report = contacts_import(
        organization=org, file=text.encode("utf-8"), dry_run=False, skip_invalid=False
    )
    assert report.errors == [] and report.created == 1
    contact = Contact.objects.get(organization=org)
    assert (contact.first_name, contact.last_name, contact.time_zone) == (
        "Élodie",
        "Brûlé",
        "Europe/Paris",
    )
    assert contact.identities.get().value == "+33611223344"


def test_bad_phone_row_is_reported_and_nothing_is_written(org):
    text = _csv("Ada,Lovelace,0612345678,,", "Bad,Number,call me maybe,,", "Alan,Turing,,a@t.uk,")
    report = _import(org, text)
    assert report.errors == [RowError(3, "phone", "“call me maybe” is not a phone number.")]
    assert (report.total, report.valid, report.invalid) == (3, 2, 1)
    assert (report.created, report.written) == (0, False)
    assert not Contact.objects.exists()


def test_identity_of_an_existing_contact_is_a_duplicate(org):
    owner = ContactFactory(organization=org, first_name="Marie", last_name="Curie")
    IdentityFactory(contact=owner, kind="phone", value="+33612345678")
    report = _import(org, _csv("Pierre,Curie,06.12.34.56.78,,"))
    assert report.errors == [
        RowError(2, "phone", "duplicate: +33612345678 already belongs to Marie Curie.")
    ]
    assert Contact.objects.filter(organization=org).count() == 1


def test_existing_identity_of_another_organization_is_no_duplicate(org):
    other = OrganizationFactory(country="FR")
    IdentityFactory(contact=ContactFactory(organization=other), kind="phone", value="+33612345678")
    assert _import(org, _csv("Pierre,Curie,0612345678,,")).created == 1


def test_duplicates_inside_the_file_are_errors(org):
    ContactFactory(organization=org, external_id="crm-9", first_name="Old", last_name="Timer")
    text = _csv(
        "Ada,Lovelace,0612345678,ada@x.org,crm-1",
        "Ada,Again,+33 6 12 34 56 78,,crm-1",
        "Ada,Third,,ADA@x.org,crm-9",
    )
    report = _import(org, text)
    assert report.errors == [
        RowError(3, "phone", "duplicate: +33612345678 is also on row 2."),
        RowError(3, "external_id", "duplicate: external id crm-1 is also on row 2."),
        RowError(4, "email", "duplicate: ada@x.org is also on row 2."),
        RowError(4, "external_id", "duplicate: external id crm-9 already belongs to Old Timer."),
    ]
    assert Contact.objects.filter(organization=org).count() == 1


def test_skip_invalid_writes_the_good_rows_only(org):
    text = _csv("Ada,Lovelace,0612345678,,", "Bad,Number,12,,", ",,,,", "Alan,Turing,,a@t.uk,")
    report = _import(org, text, skip_invalid=True)
    assert (report.total, report.created, report.skipped, report.written) == (3, 2, 1, True)
    assert [e.row for e in report.errors] == [3]
    assert set(Contact.objects.values_list("last_name", flat=True)) == {"Lovelace", "Turing"}


def test_dry_run_writes_nothing_even_when_valid(org):
    report = _import(org, GOOD, dry_run=True)
    assert (report.total, report.valid, report.created, report.written) == (2, 2, 0, False)
    assert report.errors == []
    assert not Contact.objects.exists()


def test_unknown_column_is_one_file_error(org):
    report = _import(org, "first_name,shoe_size,cf_unknown\nAda,38,x\n")
    assert len(report.errors) == 1
    error = report.errors[0]
    assert (error.row, report.written) == (None, False)
    assert "shoe_size, cf_unknown" in error.message and "cf_plan" in error.message
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        ("Ada,platinum,,,", "tier", "not a tier"),
        ("Ada,,Mars/Olympus,,", "time_zone", "Mars/Olympus"),
        ("Ada,,,gold-ish,", "cf_plan", "not a valid choice for Plan"),
        ("Ada,,,,not-mail", "email", "not an e-mail address"),
        (",,,,", None, None),  # a blank row is ignored, not an error
    ],
)
def test_each_bad_value_names_its_column(org, row, column, message):
    text = _csv(row, "Alan,,,,", header="first_name,tier,time_zone,cf_plan,email")
    report = _import(org, text, dry_run=True)
    assert [(e.field, message in e.message) for e in report.errors] == (
        [(column, True)] if column else []
    )


def test_row_without_name_or_identity_is_an_error(org):
    report = _import(org, _csv(",,,,crm-2"))
    assert report.errors == [
        RowError(2, "", "A contact needs a name, a phone number or an e-mail address.")
    ]


def test_file_that_is_not_utf8_is_refused(org):
    report = contacts_import(
        organization=org,
        file="first_name\nHélène\n".encode("latin-1"),
        dry_run=False,
        skip_invalid=True,
    )
    assert "UTF-8" in report.errors[0].message and not Contact.objects.exists()


def test_too_many_rows_or_bytes_are_refused(org, monkeypatch):
    monkeypatch.setattr(imports, "MAX_ROWS", 2)
    report = _import(org, _csv("A,,,,", "B,,,,", "C,,,,"), skip_invalid=True)
    assert "more than 2 rows" in report.errors[0].message
    monkeypatch.setattr(imports, "MAX_BYTES", 10)
    report = _import(org, _csv("A,,,,"), skip_invalid=True)
    assert "larger than" in report.errors[0].message
    assert not Contact.objects.exists()


def test_a_failing_write_rolls_every_row_back(org, monkeypatch):
    """A contact saved meanwhile with the same number (a channel resolving it) wins the race."""
    real_create = services.contact_create
    calls = []

    def racing_create(**kwargs):
        calls.append(kwargs)
        if len(calls) == 2:
            services.contact_resolve(organization=org, kind="email", value="alan@t.uk")
        return real_create(**kwargs)

    monkeypatch.setattr(services, "contact_create", racing_create)
    report = _import(org, _csv("Ada,Lovelace,0612345678,,", "Alan,Turing,,alan@t.uk,"))
    assert (report.written, report.created) == (False, 0)
    assert report.errors[0].row == 3 and "already belongs" in report.errors[0].message
    assert not Contact.objects.exists()


# --- Export -----------------------------------------------------------------------------------


@pytest.fixture
def exported(org):
    """Contacts of org A with every column filled, one merged and one of another organization."""
    amelie = ContactFactory(
        organization=org,
        first_name="Amélie",
        last_name="Poulain",
        tier="gold",
        language="fr",
        time_zone="Europe/Paris",
        external_id="crm-1",
        company=CompanyFactory(organization=org, name="Café"),
        custom_fields={"plan": "pro"},
    )
    amelie.tags.set([TagFactory(organization=org, name="press"), TagFactory(organization=org)])
    IdentityFactory(contact=amelie, kind="phone", value="+33142680000", is_primary=True)
    IdentityFactory(contact=amelie, kind="phone", value="+33612345678", label="mobile")
    IdentityFactory(contact=amelie, kind="phone", value="+33611111111")
    IdentityFactory(contact=amelie, kind="whatsapp", value="+33698765432")
    IdentityFactory(contact=amelie, kind="email", value="a@p.fr")
    formula = ContactFactory(organization=org, first_name="=HYPERLINK(1)", last_name="@risk")
    IdentityFactory(contact=formula, kind="email", value="f@x.fr")
    ContactFactory(organization=org, last_name="Merged", merged_into=amelie)
    ContactFactory(organization=OrganizationFactory(), last_name="Foreign")
    return org


def _rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def _xlsx_to_csv(content: bytes) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True):
        writer.writerow(["" if v is None else str(v) for v in row])
    return buffer.getvalue()


def _other_org_with_the_same_fields():
    other = OrganizationFactory(country="FR")
    ContactFieldFactory(
        organization=other, key="plan", kind=ContactField.Kind.CHOICE, choices=["basic", "pro"]
    )
    return other


def test_csv_export_has_the_import_columns_and_live_contacts_of_the_organization(exported):
    content, content_type, filename = contacts_export(organization=exported, fmt="csv")
    assert content.startswith(b"\xef\xbb\xbf") and content_type.startswith("text/csv")
    assert filename.startswith("contacts-alpha-") and filename.endswith(".csv")
    formula, amelie = _rows(content)
    tag = amelie["tags"].removeprefix("press|")
    assert amelie == {
        "first_name": "Amélie",
        "last_name": "Poulain",
        "company": "Café",
        "tier": "gold",
        "language": "fr",
        "time_zone": "Europe/Paris",
        "external_id": "crm-1",
        "tags": f"press|{tag}",
        # Apostrophes keep spreadsheets from reading "+33…" as a number or a formula.
        "phone": "'+33142680000|+33611111111",
        "mobile": "'+33612345678",
        "email": "a@p.fr",
        "whatsapp": "'+33698765432",
        "cf_plan": "pro",
    }
    assert (formula["first_name"], formula["last_name"]) == ("'=HYPERLINK(1)", "'@risk")


def test_csv_export_reimports_into_another_organization(exported):
    content = contacts_export(organization=exported, fmt="csv").content
    other = _other_org_with_the_same_fields()
    report = contacts_import(organization=other, file=content, dry_run=False, skip_invalid=False)
    assert (report.errors, report.created) == ([], 2)
    assert _rows(contacts_export(organization=other, fmt="csv").content) == _rows(content)
    assert Contact.objects.get(organization=other, last_name="@risk").first_name == "=HYPERLINK(1)"


def test_xlsx_export_reimports_into_another_organization(exported):
    content, content_type, filename = contacts_export(organization=exported, fmt="xlsx")
    assert content_type.endswith("spreadsheetml.sheet") and filename.endswith(".xlsx")
    sheet = load_workbook(io.BytesIO(content)).active
    assert (sheet.freeze_panes, sheet["A1"].value, sheet["A1"].font.b) == ("A2", "first_name", True)
    assert sheet["A2"].value == "=HYPERLINK(1)" and sheet["A2"].data_type == "s"
    other = _other_org_with_the_same_fields()
    report = contacts_import(
        organization=other, file=_xlsx_to_csv(content), dry_run=False, skip_invalid=False
    )
    assert (report.errors, report.created) == ([], 2)
    again = contacts_export(organization=other, fmt="xlsx").content
    assert _xlsx_to_csv(again) == _xlsx_to_csv(content)


def test_export_of_a_queryset_keeps_to_the_organization(exported):
    everything = Contact.objects.all()
    rows = _rows(contacts_export(organization=exported, queryset=everything).content)
    assert {r["last_name"] for r in rows} == {"'@risk", "Poulain"}


def test_export_queries_are_bounded(org, django_assert_max_num_queries):
    for n in range(50):
        contact = ContactFactory(organization=org)
        IdentityFactory(contact=contact, kind="phone", value=f"+336123456{n:02d}")
        contact.tags.add(TagFactory(organization=org))
    with django_assert_max_num_queries(4):
        rows = _rows(contacts_export(organization=org).content)
    assert len(rows) == 50


# --- Admin ------------------------------------------------------------------------------------


def test_admin_changelist_links_the_import_page(supervisor_a, client):
    client.force_login(supervisor_a)
    page = client.get(reverse("admin:contacts_contact_changelist"))
    assert reverse("admin:contacts_contact_import") in page.content.decode()
    form = client.get(reverse("admin:contacts_contact_import"))
    assert form.status_code == 200
    assert form.context["form"]["dry_run"].initial is True


def test_admin_dry_run_shows_the_report_and_writes_nothing(supervisor_a, org, client):
    client.force_login(supervisor_a)
    upload = SimpleUploadedFile("c.csv", _csv("Ada,Lovelace,12,,").encode(), "text/csv")
    page = client.post(reverse("admin:contacts_contact_import"), {"file": upload, "dry_run": "on"})
    assert page.status_code == 200
    body = page.content.decode()
    assert "Dry run: nothing was written" in body and "is not a valid phone number" in body
    assert page.context["report"].errors[0].row == 2
    assert not Contact.objects.exists()


def test_admin_real_import_writes(supervisor_a, org, client):
    client.force_login(supervisor_a)
    upload = SimpleUploadedFile("c.csv", GOOD.encode(), "text/csv")
    page = client.post(reverse("admin:contacts_contact_import"), {"file": upload})
    assert page.context["report"].written
    assert Contact.objects.filter(organization=org).count() == 2


@pytest.mark.parametrize(("action", "kind"), [("export_csv", "text/csv"), ("export_xlsx", "sheet")])
def test_admin_export_action(supervisor_a, exported, client, action, kind):
    client.force_login(supervisor_a)
    ids = Contact.objects.filter(last_name="Poulain").values_list("pk", flat=True)
    response = client.post(
        reverse("admin:contacts_contact_changelist"),
        {"action": action, "_selected_action": list(ids)},
    )
    assert kind in response["Content-Type"]
    assert "attachment" in response["Content-Disposition"]


@pytest.fixture
def viewer_a(roles, org_a):
    """Staff who may look contacts up but not create them (no built-in role is like this)."""
    group = Group.objects.create(name="Contact viewers")
    group.permissions.add(
        Permission.objects.get(content_type__app_label="contacts", codename="view_contact")
    )
    user = UserFactory(organization=org_a, is_staff=True)
    user.groups.add(group)
    return user


def test_admin_import_needs_add_permission(viewer_a, client):
    client.force_login(viewer_a)
    assert client.get(reverse("admin:contacts_contact_import")).status_code == 403
    page = client.get(reverse("admin:contacts_contact_changelist"))
    assert reverse("admin:contacts_contact_import") not in page.content.decode()


# --- API --------------------------------------------------------------------------------------


def _upload(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("contacts.csv", text.encode(), "text/csv")


def test_api_import_writes_when_asked(supervisor_a, org, api_client):
    api_client.force_authenticate(supervisor_a)
    response = api_client.post(
        reverse("api:contact-import"),
        {"file": _upload(GOOD), "dry_run": "false"},
        format="multipart",
    )
    assert response.status_code == 200, response.json()
    assert response.json() | {"errors": []} == {
        "dry_run": False,
        "total": 2,
        "valid": 2,
        "invalid": 0,
        "created": 2,
        "skipped": 0,
        "written": True,
        "errors": [],
    }
    assert Contact.objects.filter(organization=org).count() == 2


def test_api_import_is_a_dry_run_by_default(supervisor_a, org, api_client):
    api_client.force_authenticate(supervisor_a)
    response = api_client.post(
        reverse("api:contact-import"), {"file": _upload(GOOD)}, format="multipart"
    )
    assert response.status_code == 200
    assert (response.json()["dry_run"], response.json()["valid"]) == (True, 2)
    assert not Contact.objects.exists()


def test_api_import_with_invalid_rows_is_400_and_writes_nothing(supervisor_a, org, api_client):
    api_client.force_authenticate(supervisor_a)
    response = api_client.post(
        reverse("api:contact-import"),
        {"file": _upload(_csv("Ada,Lovelace,0612345678,,", "Bad,Number,12,,")), "dry_run": "false"},
        format="multipart",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "Nothing was written. Row 3 (phone): “12” is not a valid phone number."
    assert body["errors"] == [
        {"row": 3, "field": "phone", "message": "“12” is not a valid phone number."}
    ]
    assert not Contact.objects.exists()


def test_api_import_without_a_file_is_400(supervisor_a, api_client):
    api_client.force_authenticate(supervisor_a)
    response = api_client.post(reverse("api:contact-import"), {}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()["errors"]


def test_api_import_needs_add_permission(viewer_a, api_client):
    api_client.force_authenticate(viewer_a)
    response = api_client.post(
        reverse("api:contact-import"), {"file": _upload(GOOD)}, format="multipart"
    )
    assert response.status_code == 403
    assert api_client.get(reverse("api:contact-export")).status_code == 403  # no export_contact


@pytest.mark.parametrize(("file_format", "kind"), [("csv", "text/csv"), ("xlsx", "sheet")])
def test_api_export(supervisor_a, exported, api_client, file_format, kind):
    api_client.force_authenticate(supervisor_a)
    response = api_client.get(reverse("api:contact-export"), {"file_format": file_format})
    assert response.status_code == 200
    assert kind in response["Content-Type"]
    assert f'.{file_format}"' in response["Content-Disposition"]


def test_api_export_follows_the_search_and_the_organization(supervisor_a, exported, api_client):
    api_client.force_authenticate(supervisor_a)
    response = api_client.get(reverse("api:contact-export"), {"q": "Poulain"})
    assert [r["last_name"] for r in _rows(response.content)] == ["Poulain"]
    everything = api_client.get(reverse("api:contact-export")).content.decode()
    assert "Foreign" not in everything and "Merged" not in everything


def test_api_export_refuses_an_unknown_format(supervisor_a, api_client):
    api_client.force_authenticate(supervisor_a)
    response = api_client.get(reverse("api:contact-export"), {"file_format": "pdf"})
    assert response.status_code == 400 and "file_format" in response.json()["errors"]


def test_identity_of_a_row_is_created_once_even_when_repeated(org):
    report = _import(org, _csv("Ada,Lovelace,0612345678|+33612345678,,"))
    assert report.created == 1 and Identity.objects.count() == 1


def test_agents_may_not_bulk_import_or_export(agent_a, api_client, client):
    api_client.force_authenticate(agent_a)
    assert api_client.get(reverse("api:contact-export")).status_code == 403
    upload = SimpleUploadedFile("c.csv", b"first_name\nAda\n", content_type="text/csv")
    assert api_client.post(reverse("api:contact-import"), {"file": upload}).status_code == 403


def test_managers_export_but_do_not_import(roles, org_a, api_client):
    from apps.accounts.models import Role

    manager = UserFactory(organization=org_a, roles=[Role.MANAGER])
    api_client.force_authenticate(manager)
    assert api_client.get(reverse("api:contact-export")).status_code == 200
    upload = SimpleUploadedFile("c.csv", b"first_name\nAda\n", content_type="text/csv")
    assert api_client.post(reverse("api:contact-import"), {"file": upload}).status_code == 403
