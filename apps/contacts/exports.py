"""Contact export to CSV or XLSX, in the columns the import reads: an export re-imports.

Phones labelled "mobile" go to ``mobile``, other phones to ``phone``; several values of one
column, and tags, are joined by ``|``. Identities of other kinds (Messenger, X…) are not
exported. Every custom field defined for contacts gets a ``cf_<key>`` column. In CSV, a cell
starting with ``=``, ``+``, ``-`` or ``@`` is written behind an apostrophe so that a spreadsheet
shows it instead of running it as a formula (names come from customers); the import removes it.
"""

import csv
import io
from typing import Any, Literal, NamedTuple

from django.db.models import QuerySet
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from apps.contacts import selectors
from apps.contacts.imports import COLUMNS, CUSTOM_PREFIX, FORMULA_STARTS, LIST_SEPARATOR
from apps.contacts.models import Contact, IdentityKind

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = ("csv", "xlsx")
_CHUNK = 2000


class ExportFile(NamedTuple):
    content: bytes
    content_type: str
    filename: str


def _identity_column(kind: str, label: str) -> str | None:
    if kind == IdentityKind.PHONE:
        return "mobile" if label == "mobile" else "phone"
    if kind == IdentityKind.EMAIL:
        return "email"
    if kind == IdentityKind.WHATSAPP:
        return "whatsapp"
    return None


def _row(contact: Contact, field_keys: list[str]) -> list[Any]:
    identities: dict[str, list[str]] = {}
    for identity in contact.identities.all():
        column = _identity_column(identity.kind, identity.label)
        if column:
            identities.setdefault(column, []).append(identity.value)
    values = {
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "company": contact.company.name if contact.company_id else "",
        "tier": contact.tier,
        "language": contact.language,
        "time_zone": contact.time_zone,
        "external_id": contact.external_id,
        "tags": LIST_SEPARATOR.join(t.name for t in contact.tags.all()),
        **{column: LIST_SEPARATOR.join(found) for column, found in identities.items()},
    }
    row: list[Any] = [values.get(column, "") for column in COLUMNS]
    row += [contact.custom_fields.get(key) for key in field_keys]
    return row


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _contacts(organization, queryset: QuerySet[Contact] | None):
    contacts = selectors.contact_list(organization=organization)
    if queryset is not None:
        # Whatever the caller passes, only this organization's live contacts come out.
        contacts = contacts.filter(pk__in=queryset.order_by().values("pk"))
    return contacts.iterator(chunk_size=_CHUNK)


def _to_csv(header: list[str], rows) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_csv_cell(value) for value in row])
    # The BOM makes Excel read UTF-8; the import accepts it.
    return buffer.getvalue().encode("utf-8-sig")


def _to_xlsx(header: list[str], rows) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Contacts")
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)

    def cell(value: Any, **style) -> WriteOnlyCell:
        if isinstance(value, str):
            value = ILLEGAL_CHARACTERS_RE.sub("", value)
        written = WriteOnlyCell(sheet, value=value)
        if isinstance(value, str):
            written.data_type = "s"  # never a formula, whatever the text starts with
        for name, style_value in style.items():
            setattr(written, name, style_value)
        return written

    sheet.append([cell(name, font=bold) for name in header])
    for row in rows:
        sheet.append([cell(value) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def contacts_export(
    *,
    organization,
    queryset: QuerySet[Contact] | None = None,
    fmt: Literal["csv", "xlsx"] = "csv",
) -> ExportFile:
    """The organization's live contacts (those of ``queryset`` when given) as a file."""
    if fmt not in FORMATS:
        raise ValueError(f"Unknown export format: {fmt!r}")
    field_keys = list(
        selectors.contact_fields(organization=organization).values_list("key", flat=True)
    )
    header = [*COLUMNS, *(CUSTOM_PREFIX + key for key in field_keys)]
    rows = (_row(contact, field_keys) for contact in _contacts(organization, queryset))
    content = _to_csv(header, rows) if fmt == "csv" else _to_xlsx(header, rows)
    filename = f"contacts-{organization.slug}-{timezone.localdate():%Y%m%d}.{fmt}"
    return ExportFile(content, CSV_TYPE if fmt == "csv" else XLSX_TYPE, filename)
