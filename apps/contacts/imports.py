"""Contact import from a CSV file: every row is checked first, then all are written or none.

The file is UTF-8 (with or without the BOM Excel's "CSV UTF-8" writes), delimited by ``,`` or
``;`` (French Excel), with a header row. Columns, in any order, any case, all optional:

- ``first_name``, ``last_name``, ``company`` (created when new), ``tier`` (standard, silver,
  gold, vip), ``language``, ``time_zone`` (e.g. ``Europe/Paris``), ``external_id``
- ``tags``: several separated by ``|`` (``vip|press``)
- ``phone``, ``mobile`` (a phone labelled "mobile"), ``email``, ``whatsapp``: each may hold
  several values separated by ``|``; phones written without ``+country`` are read in the
  organization's country
- ``cf_<key>`` for each custom field defined for contacts (``cf_account_number``)

A column outside this list is an error of the whole file. A row needs a name or an identity.
An identity that already belongs to a contact, or that two rows share, is a duplicate; so is
an external id. Cells that an export escaped against spreadsheet formulas (``'=…``) are read
back unescaped.

Row numbers are those a spreadsheet shows: the header is row 1, the first contact row 2.
"""

import csv
import io
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from apps.contacts import services
from apps.contacts.models import (
    Company,
    Contact,
    ContactField,
    Identity,
    IdentityKind,
    Tag,
    Tier,
)

logger = logging.getLogger(__name__)

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 50_000

# Column → (identity kind, label). Several phone columns make several phone identities.
IDENTITY_COLUMNS: dict[str, tuple[str, str]] = {
    "phone": (IdentityKind.PHONE, ""),
    "mobile": (IdentityKind.PHONE, "mobile"),
    "email": (IdentityKind.EMAIL, ""),
    "whatsapp": (IdentityKind.WHATSAPP, ""),
}
PLAIN_COLUMNS = ("first_name", "last_name", "company", "tier", "language", "time_zone")
COLUMNS = (*PLAIN_COLUMNS, "external_id", "tags", *IDENTITY_COLUMNS)
CUSTOM_PREFIX = "cf_"
LIST_SEPARATOR = "|"
# An export writes these with a leading apostrophe so that spreadsheets never run them.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_QUERY_CHUNK = 500
COMPANY_MAX_LENGTH = Company._meta.get_field("name").max_length
TAG_MAX_LENGTH = Tag._meta.get_field("name").max_length


@dataclass(frozen=True)
class RowError:
    """One problem: ``row`` as a spreadsheet numbers it (None: the whole file), the column."""

    row: int | None
    field: str
    message: str


@dataclass
class ImportReport:
    """What an import found and did.

    ``skipped`` counts the invalid rows left out of a write (``skip_invalid``); ``written`` is
    true only when contacts were committed.
    """

    dry_run: bool
    total: int = 0
    valid: int = 0
    invalid: int = 0
    created: int = 0
    skipped: int = 0
    written: bool = False
    errors: list[RowError] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Row:
    number: int
    values: dict[str, Any]
    identities: list[dict[str, Any]]
    errors: list[RowError] = field(default_factory=list)


class _WriteFailed(Exception):
    def __init__(self, row: _Row, message: str):
        super().__init__(message)
        self.row, self.message = row, message


# --- Reading the file ---------------------------------------------------------------------


class _FileError(Exception):
    pass


def _read_text(file: bytes | str | IO) -> str:
    # A stream is read one byte past the limit: enough to refuse it without loading more.
    data = file if isinstance(file, bytes | str) else file.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise _FileError(
            _("The file is larger than %(size)s MB: split it.") % {"size": MAX_BYTES // 2**20}
        )
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _FileError(
            _("The file is not UTF-8 text: in Excel, save it as “CSV UTF-8”.")
        ) from exc


def _delimiter(text: str) -> str:
    header = text.split("\n", 1)[0]
    return ";" if header.count(";") > header.count(",") else ","


def _unescape(value: str) -> str:
    value = value.strip()
    if len(value) > 1 and value[0] == "'" and value[1] in FORMULA_STARTS:
        return value[1:]
    return value


def _records(text: str) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header's column names and ``(row number, cells)`` of each non-blank row."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        header = next(reader)
    except StopIteration:
        raise _FileError(_("The file is empty.")) from None
    except csv.Error as exc:
        raise _FileError(_("The header row cannot be read: %(e)s") % {"e": exc}) from exc

    def rows():
        number = 1
        try:
            for cells in reader:
                number += 1
                if any(cell.strip() for cell in cells):
                    yield number, cells
        except csv.Error as exc:
            raise _FileError(
                _("Row %(row)s cannot be read: %(e)s") % {"row": number + 1, "e": exc}
            ) from exc

    return [name.strip().lower() for name in header], rows()


def _check_header(header: list[str], fields: dict[str, ContactField]) -> None:
    known = set(COLUMNS) | {CUSTOM_PREFIX + key for key in fields}
    unknown = [name for name in header if name and name not in known]
    if unknown:
        expected = ", ".join([*COLUMNS, *(CUSTOM_PREFIX + key for key in fields)])
        raise _FileError(
            ngettext(
                "Unknown column: %(columns)s. Columns are: %(expected)s.",
                "Unknown columns: %(columns)s. Columns are: %(expected)s.",
                len(unknown),
            )
            % {"columns": ", ".join(unknown), "expected": expected}
        )
    repeated = sorted({name for name in header if name and header.count(name) > 1})
    if repeated:
        raise _FileError(_("Columns appear twice: %(columns)s.") % {"columns": ", ".join(repeated)})
    if not any(header):
        raise _FileError(_("The first row must name the columns."))


# --- Checking rows ------------------------------------------------------------------------


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(LIST_SEPARATOR) if part.strip()]


def _messages(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return " ".join(m for messages in exc.message_dict.values() for m in messages)
    return " ".join(exc.messages)


class _CustomFieldChecker:
    """``services.custom_fields_clean`` once per distinct (field, value): choices, yes/no and
    numbers repeat on most rows of a large file."""

    def __init__(self, organization):
        self.organization = organization
        self.cache: dict[tuple[str, str], tuple[Any, str | None]] = {}

    def clean(self, key: str, raw: str) -> tuple[Any, str | None]:
        if (key, raw) not in self.cache:
            try:
                cleaned = services.custom_fields_clean(
                    organization=self.organization, values={key: raw}
                )
                self.cache[key, raw] = (cleaned[key], None)
            except ValidationError as exc:
                message = _messages(exc).removeprefix(f"{key}: ")
                self.cache[key, raw] = (None, message)
        return self.cache[key, raw]


def _check_row(
    number: int, cells: dict[str, str], organization, custom: _CustomFieldChecker
) -> _Row:
    errors: list[RowError] = []

    def fail(column: str, message: str) -> None:
        errors.append(RowError(number, column, message))

    values: dict[str, Any] = {name: cells.get(name, "") for name in PLAIN_COLUMNS}
    values["external_id"] = cells.get("external_id", "")
    tier = values["tier"].lower()
    if tier and tier not in Tier.values:
        fail(
            "tier",
            _("“%(v)s” is not a tier: %(tiers)s.")
            % {"v": values["tier"], "tiers": ", ".join(Tier.values)},
        )
    values["tier"] = tier or Tier.STANDARD
    if len(values["company"]) > COMPANY_MAX_LENGTH:
        fail(
            "company",
            _("A company name has at most %(n)s characters.") % {"n": COMPANY_MAX_LENGTH},
        )
    probe = Contact(
        organization=organization,
        **{k: v for k, v in values.items() if k not in ("company", "tier")},
    )
    try:
        probe.clean_fields(
            exclude=["organization", "company", "merged_into", "tags", "custom_fields", "tier"]
        )
    except ValidationError as exc:
        for column, messages in exc.message_dict.items():
            fail(column, " ".join(messages))

    tags = _split(cells.get("tags", ""))
    long_tags = [t for t in tags if len(t) > TAG_MAX_LENGTH]
    if long_tags:
        fail(
            "tags",
            _("A tag has at most %(n)s characters: %(t)s.")
            % {"n": TAG_MAX_LENGTH, "t": long_tags[0]},
        )
    values["tags"] = list(dict.fromkeys(tags))

    custom_fields = {}
    for column, raw in cells.items():
        if column.startswith(CUSTOM_PREFIX) and raw:
            key = column.removeprefix(CUSTOM_PREFIX)
            cleaned, message = custom.clean(key, raw)
            if message:
                fail(column, message)
            else:
                custom_fields[key] = cleaned
    values["custom_fields"] = custom_fields

    identities: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for column, (kind, label) in IDENTITY_COLUMNS.items():
        for raw in _split(cells.get(column, "")):
            try:
                value = services.identity_normalize(
                    kind=kind, value=raw, country=organization.country
                )
            except ValidationError as exc:
                fail(column, _messages(exc))
                continue
            if (kind, value) in seen:
                continue  # the same number twice on one row is one identity
            seen.add((kind, value))
            primary = not any(i["kind"] == kind for i in identities)
            identities.append({"kind": kind, "value": value, "label": label, "is_primary": primary})

    has_identity_cell = any(cells.get(column) for column in IDENTITY_COLUMNS)
    if not (values["first_name"] or values["last_name"] or has_identity_cell):
        fail("", _("A contact needs a name, a phone number or an e-mail address."))
    return _Row(number, values, identities, errors)


def _chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), _QUERY_CHUNK):
        yield values[start : start + _QUERY_CHUNK]


def _check_duplicates(rows: list[_Row], organization) -> None:
    """Identities and external ids that the file repeats or that a contact already has."""
    first_row: dict[tuple[str, str], int] = {}
    for row in rows:
        for identity in row.identities:
            key = (identity["kind"], identity["value"])
            if key in first_row:
                row.errors.append(
                    RowError(
                        row.number,
                        _column_of(identity),
                        _("duplicate: %(v)s is also on row %(r)s.")
                        % {"v": identity["value"], "r": first_row[key]},
                    )
                )
            else:
                first_row[key] = row.number
        external_id = row.values["external_id"]
        if external_id:
            key = ("external_id", external_id)
            if key in first_row:
                row.errors.append(
                    RowError(
                        row.number,
                        "external_id",
                        _("duplicate: external id %(v)s is also on row %(r)s.")
                        % {"v": external_id, "r": first_row[key]},
                    )
                )
            else:
                first_row[key] = row.number

    owners = _existing_owners(organization, first_row)
    for row in rows:
        for identity in row.identities:
            owner = owners.get((identity["kind"], identity["value"]))
            if owner is not None:
                row.errors.append(
                    RowError(
                        row.number,
                        _column_of(identity),
                        _("duplicate: %(v)s already belongs to %(c)s.")
                        % {"v": identity["value"], "c": owner},
                    )
                )
        owner = owners.get(("external_id", row.values["external_id"]))
        if row.values["external_id"] and owner is not None:
            row.errors.append(
                RowError(
                    row.number,
                    "external_id",
                    _("duplicate: external id %(v)s already belongs to %(c)s.")
                    % {"v": row.values["external_id"], "c": owner},
                )
            )


def _column_of(identity: dict[str, Any]) -> str:
    for column, (kind, label) in IDENTITY_COLUMNS.items():
        if (kind, label) == (identity["kind"], identity["label"]):
            return column
    return identity["kind"]


def _existing_owners(organization, keys) -> dict[tuple[str, str], Contact]:
    """The contacts of the organization that already hold these (kind, value) pairs."""
    by_kind: dict[str, list[str]] = {}
    for kind, value in keys:
        by_kind.setdefault(kind, []).append(value)
    owners: dict[tuple[str, str], Contact] = {}
    external_ids = by_kind.pop("external_id", [])
    for chunk in _chunks(external_ids):
        for contact in Contact.objects.for_organization(organization).filter(external_id__in=chunk):
            owners["external_id", contact.external_id] = contact
    for kind, values in by_kind.items():
        for chunk in _chunks(values):
            identities = Identity.objects.filter(
                organization=organization, kind=kind, value__in=chunk
            ).select_related("contact")
            for identity in identities:
                owners[kind, identity.value] = identity.contact
    return owners


# --- Writing ------------------------------------------------------------------------------


def _write(rows: list[_Row], organization, actor) -> int:
    """Create every row in one transaction; the first failure undoes them all."""
    with transaction.atomic():
        for row in rows:
            values = row.values
            try:
                services.contact_create(
                    organization=organization,
                    first_name=values["first_name"],
                    last_name=values["last_name"],
                    company_name=values["company"],
                    tier=values["tier"],
                    language=values["language"],
                    time_zone=values["time_zone"],
                    external_id=values["external_id"],
                    custom_fields=values["custom_fields"],
                    tags=values["tags"],
                    identities=row.identities,
                    actor=actor,
                )
            except ValidationError as exc:
                raise _WriteFailed(row, _messages(exc)) from exc
            except IntegrityError as exc:
                raise _WriteFailed(
                    row, _("This row conflicts with a contact saved meanwhile.")
                ) from exc
    return len(rows)


def contacts_import(
    *,
    organization,
    file: bytes | str | IO,
    dry_run: bool,
    skip_invalid: bool,
    actor=None,
) -> ImportReport:
    """Check every row of a CSV file of contacts, then create them in one transaction.

    Nothing is written on a dry run, when the file itself is wrong, or when a row is invalid
    and ``skip_invalid`` is false; with it, the valid rows are created and the others reported.
    """
    report = ImportReport(dry_run=dry_run)
    fields = {f.key: f for f in ContactField.objects.for_organization(organization)}
    custom = _CustomFieldChecker(organization)
    rows: list[_Row] = []
    try:
        header, records = _records(_read_text(file))
        _check_header(header, fields)
        for number, cells in records:
            if len(rows) >= MAX_ROWS:
                raise _FileError(
                    _("The file has more than %(n)s rows: split it.") % {"n": f"{MAX_ROWS:,}"}
                )
            if any(cell.strip() for cell in cells[len(header) :]):
                rows.append(
                    _Row(
                        number,
                        {},
                        [],
                        [
                            RowError(
                                number,
                                "",
                                _("This row has more cells than the header has columns."),
                            )
                        ],
                    )
                )
                continue
            named = {
                name: _unescape(cell) for name, cell in zip(header, cells, strict=False) if name
            }
            rows.append(_check_row(number, named, organization, custom))
        if not rows:
            raise _FileError(_("The file has no contact rows."))
    except _FileError as exc:
        report.errors.append(RowError(None, "", str(exc)))
        report.total = len(rows)
        _log(organization, report)
        return report

    _check_duplicates([row for row in rows if row.values], organization)
    valid = [row for row in rows if not row.errors]
    report.total, report.valid = len(rows), len(valid)
    report.invalid = report.total - report.valid
    report.errors = [error for row in rows for error in row.errors]

    if dry_run or not valid or (report.invalid and not skip_invalid):
        _log(organization, report)
        return report
    try:
        report.created = _write(valid, organization, actor)
    except _WriteFailed as failure:
        report.errors.append(RowError(failure.row.number, "", failure.message))
        report.errors.sort(key=lambda e: e.row or 0)
        report.valid -= 1
        report.invalid += 1
    else:
        report.written = True
        report.skipped = report.invalid
    _log(organization, report)
    return report


def _log(organization, report: ImportReport) -> None:
    logger.info(
        "contacts.imported",
        extra={
            "organization": organization.pk,
            "dry_run": report.dry_run,
            "rows": report.total,
            "contacts_created": report.created,
            "invalid_rows": report.invalid,
            "written": report.written,
        },
    )
