"""Every change to contacts: identities, resolution, merges, notes, consents, CRM upserts."""

import datetime
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.contacts.models import (
    Company,
    Consent,
    Contact,
    ContactField,
    ContactNote,
    Identity,
    IdentityKind,
    Tag,
    Tier,
)

logger = logging.getLogger(__name__)

PHONE_KINDS = {IdentityKind.PHONE, IdentityKind.WHATSAPP, IdentityKind.FAX}
HANDLE_KINDS = {IdentityKind.X, IdentityKind.INSTAGRAM}
# Fields of a contact that its editors (agents, API, import) may set directly.
CONTACT_FIELDS = ("first_name", "last_name", "tier", "language", "time_zone", "do_not_contact")


# --- Normalisation ----------------------------------------------------------------------------


def phone_normalize(value: str, *, country: str = "US") -> str:
    """E.164 form of a phone number written in any format; ValidationError when it is none."""
    text = (value or "").strip()
    # WhatsApp and some providers send international numbers without the leading +.
    if text.isdigit() and len(text) > 10:
        text = "+" + text
    try:
        number = phonenumbers.parse(text, country or None)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(_("“%(value)s” is not a phone number.") % {"value": value}) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(_("“%(value)s” is not a valid phone number.") % {"value": value})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def identity_normalize(*, kind: str, value: str, country: str = "US") -> str:
    """The one spelling of an identity's value, so that one value is one contact."""
    if kind not in IdentityKind.values:
        raise ValidationError({"kind": _("Unknown identity kind: %(kind)s") % {"kind": kind}})
    value = (value or "").strip()
    if not value:
        raise ValidationError({"value": _("This identity has no value.")})
    if kind in PHONE_KINDS:
        try:
            return phone_normalize(value, country=country)
        except ValidationError as exc:
            raise ValidationError({"value": exc.messages}) from exc
    if kind == IdentityKind.EMAIL:
        value = value.lower()
        try:
            validate_email(value)
        except ValidationError as exc:
            raise ValidationError(
                {"value": _("“%(value)s” is not an e-mail address.") % {"value": value}}
            ) from exc
        return value
    if kind in HANDLE_KINDS:
        return value.lstrip("@").lower()
    return value


# --- Custom fields --------------------------------------------------------------------------


def _clean_field(field: ContactField, raw: Any) -> Any:
    if raw in (None, ""):
        return None
    kind = ContactField.Kind
    try:
        if field.kind == kind.NUMBER:
            number = float(raw)
            return int(number) if number.is_integer() else number
        if field.kind == kind.BOOLEAN:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "y", "oui", "o"):
                return True
            if text in ("0", "false", "no", "n", "non"):
                return False
            raise ValueError(text)
        if field.kind == kind.DATE:
            return datetime.date.fromisoformat(str(raw)).isoformat()
        if field.kind == kind.CHOICE:
            if str(raw) not in [str(c) for c in field.choices]:
                raise ValueError(raw)
            return str(raw)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            _("“%(value)s” is not a valid %(kind)s for %(field)s.")
            % {"value": raw, "kind": field.get_kind_display().lower(), "field": field.label}
        ) from exc
    return str(raw)


def custom_fields_clean(
    *, organization, values: Mapping[str, Any], allow_crm_owned: bool = False
) -> dict[str, Any]:
    """Check values against the organization's field definitions; errors name the field."""
    fields = {f.key: f for f in ContactField.objects.for_organization(organization)}
    cleaned, errors = {}, {}
    for key, raw in values.items():
        field = fields.get(key)
        if field is None:
            errors[key] = _("Unknown field.")
        elif field.crm_owned and not allow_crm_owned:
            errors[key] = _("This field belongs to the external CRM.")
        else:
            try:
                cleaned[key] = _clean_field(field, raw)
            except ValidationError as exc:
                errors[key] = exc.messages[0]
    if errors:
        raise ValidationError({"custom_fields": [f"{k}: {v}" for k, v in errors.items()]})
    return cleaned


# --- Contacts and identities -----------------------------------------------------------------


def _emit(contact: Contact, event_type: str, *, actor=None, data: dict | None = None) -> None:
    from apps.integrations.services import webhook_emit
    from apps.interactions.services import event_record

    event_record(
        organization=contact.organization,
        type=event_type,
        contact=contact,
        actor=actor,
        data=data or {},
    )
    webhook_emit(
        organization=contact.organization,
        event_type=event_type,
        data=contact_payload(contact),
    )


def contact_payload(contact: Contact) -> dict[str, Any]:
    """The contact as integrators see it (webhooks, CRM sync)."""
    return {
        "id": contact.pk,
        "external_id": contact.external_id,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "tier": contact.tier,
        "language": contact.language,
        "time_zone": contact.time_zone,
        "company": contact.company.name if contact.company_id else None,
        "custom_fields": contact.custom_fields,
        "do_not_contact": contact.do_not_contact,
        "identities": [
            {"kind": i.kind, "value": i.value, "is_primary": i.is_primary}
            for i in contact.identities.all()
        ],
        "tags": [t.name for t in contact.tags.all()],
    }


def _identity_create(contact: Contact, kind: str, value: str, **extra) -> Identity:
    normalized = identity_normalize(kind=kind, value=value, country=contact.organization.country)
    try:
        with transaction.atomic():
            return Identity.objects.create(
                organization=contact.organization,
                contact=contact,
                kind=kind,
                value=normalized,
                **extra,
            )
    except IntegrityError as exc:
        owner = (
            Identity.objects.filter(organization=contact.organization, kind=kind, value=normalized)
            .select_related("contact")
            .first()
        )
        raise ValidationError(
            {
                "identities": _("%(value)s already belongs to %(contact)s.")
                % {"value": normalized, "contact": owner.contact if owner else "?"}
            }
        ) from exc


def tags_get_or_create(organization, names: Iterable[str]) -> list[Tag]:
    """The tags of these names, created when new."""
    return [
        Tag.objects.get_or_create(organization=organization, name=name.strip())[0]
        for name in names
        if name.strip()
    ]


@transaction.atomic
def contact_create(
    *,
    organization,
    first_name: str = "",
    last_name: str = "",
    identities: Iterable[Mapping[str, Any]] = (),
    tier: str = Tier.STANDARD,
    language: str = "",
    time_zone: str = "",
    company_name: str = "",
    custom_fields: Mapping[str, Any] | None = None,
    tags: Iterable[str] = (),
    external_id: str = "",
    actor=None,
    allow_crm_owned: bool = False,
) -> Contact:
    """Create a contact with its identities (each ``{"kind", "value", ...}``)."""
    contact = Contact(
        organization=organization,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        tier=tier,
        language=language,
        time_zone=time_zone,
        external_id=external_id,
        custom_fields=custom_fields_clean(
            organization=organization, values=custom_fields or {}, allow_crm_owned=allow_crm_owned
        ),
    )
    if company_name:
        contact.company, _created = Company.objects.get_or_create(
            organization=organization, name=company_name.strip()
        )
    contact.full_clean(exclude=["company", "merged_into", "tags"], validate_unique=False)
    try:
        with transaction.atomic():
            contact.save()
    except IntegrityError as exc:
        raise ValidationError({"external_id": _("Another contact has this external id.")}) from exc
    for identity in identities:
        _identity_create(
            contact,
            identity["kind"],
            identity["value"],
            label=identity.get("label", ""),
            is_primary=identity.get("is_primary", False),
        )
    if tags:
        contact.tags.set(tags_get_or_create(organization, tags))
    _emit(contact, "contact.created", actor=actor)
    logger.info("contacts.created", extra={"contact": contact.pk})
    return contact


@transaction.atomic
def contact_update(
    *,
    contact: Contact,
    actor=None,
    custom_fields: Mapping[str, Any] | None = None,
    tags: Iterable[str] | None = None,
    company_name: str | None = None,
    allow_crm_owned: bool = False,
    **fields: Any,
) -> Contact:
    """Change a contact's fields; custom fields given are merged into the existing ones (an
    empty value, or None, clears that field)."""
    unknown = set(fields) - set(CONTACT_FIELDS) - {"external_id"}
    if unknown:
        raise ValidationError({k: _("This field cannot be changed here.") for k in unknown})
    for name, value in fields.items():
        setattr(contact, name, value)
    if custom_fields is not None:
        cleaned = custom_fields_clean(
            organization=contact.organization, values=custom_fields, allow_crm_owned=allow_crm_owned
        )
        merged = {**contact.custom_fields, **cleaned}
        contact.custom_fields = {k: v for k, v in merged.items() if v is not None}
    if company_name is not None:
        contact.company = (
            Company.objects.get_or_create(organization=contact.organization, name=company_name)[0]
            if company_name.strip()
            else None
        )
    contact.full_clean(exclude=["company", "merged_into", "tags"], validate_unique=False)
    contact.save()
    if tags is not None:
        contact.tags.set(tags_get_or_create(contact.organization, tags))
    _emit(contact, "contact.updated", actor=actor, data={"fields": sorted(fields)})
    return contact


@transaction.atomic
def identity_add(
    *,
    contact: Contact,
    kind: str,
    value: str,
    label: str = "",
    is_primary: bool = False,
    actor=None,
) -> Identity:
    identity = _identity_create(contact, kind, value, label=label, is_primary=is_primary)
    _emit(contact, "contact.updated", actor=actor, data={"identity_added": identity.value})
    return identity


@transaction.atomic
def identity_remove(*, identity: Identity, actor=None) -> None:
    contact = identity.contact
    identity.delete()
    _emit(contact, "contact.updated", actor=actor, data={"identity_removed": identity.value})


def _find_by_identity(organization, kind: str, value: str) -> Contact | None:
    identity = (
        Identity.objects.select_related("contact")
        .filter(organization=organization, kind=kind, value=value)
        .first()
    )
    return identity.contact if identity else None


HINT_KINDS = {"email": IdentityKind.EMAIL, "phone": IdentityKind.PHONE}


class IdentityBlocked(ValidationError):
    """An agent blocked this number or address: channels refuse what comes from it."""


@transaction.atomic
def identity_block(*, identity: Identity, actor=None, reason: str = "") -> Identity:
    """Block a sender (spam, abuse): channels refuse it from now on; an event says who."""
    identity.blocked_at = timezone.now()
    identity.blocked_reason = reason.strip()[:200]
    identity.save(update_fields=["blocked_at", "blocked_reason"])
    _emit(
        identity.contact,
        "identity.blocked",
        actor=actor,
        data={"kind": identity.kind, "value": identity.value, "reason": identity.blocked_reason},
    )
    return identity


@transaction.atomic
def identity_unblock(*, identity: Identity, actor=None) -> Identity:
    identity.blocked_at = None
    identity.blocked_reason = ""
    identity.save(update_fields=["blocked_at", "blocked_reason"])
    _emit(identity.contact, "identity.unblocked", actor=actor, data={"value": identity.value})
    return identity


@transaction.atomic
def contact_resolve(
    *, organization, kind: str, value: str, hints: Mapping[str, Any] | None = None
) -> tuple[Contact, Identity, bool]:
    """The contact behind an identity seen on a channel, created when new: ``(contact,
    identity, created)``.

    Used by every channel. ``hints`` (``first_name``, ``last_name``, ``name``, ``email``,
    ``phone``) name a new contact, and an ``email``/``phone`` hint that matches a known contact
    attaches the new identity to that contact instead of creating a duplicate.
    """
    hints = dict(hints or {})
    normalized = identity_normalize(kind=kind, value=value, country=organization.country)
    identity = (
        Identity.objects.select_related("contact")
        .filter(organization=organization, kind=kind, value=normalized)
        .first()
    )
    if identity is not None:
        if identity.blocked_at is not None:
            raise IdentityBlocked(
                {"identity": _("This sender is blocked.")}, code="identity_blocked"
            )
        return identity.contact, identity, False

    contact = None
    for hint, hint_kind in HINT_KINDS.items():
        if hints.get(hint) and contact is None:
            try:
                hint_value = identity_normalize(
                    kind=hint_kind, value=hints[hint], country=organization.country
                )
            except ValidationError:
                continue  # a bad hint is no reason to lose the conversation
            contact = _find_by_identity(organization, hint_kind, hint_value)
    created = contact is None
    if created:
        first, last = hints.get("first_name", ""), hints.get("last_name", "")
        if not (first or last) and hints.get("name"):
            first, _sep, last = str(hints["name"]).strip().partition(" ")
        contact = Contact.objects.create(
            organization=organization, first_name=first[:100], last_name=last[:100]
        )
    try:
        with transaction.atomic():
            identity = Identity.objects.create(
                organization=organization, contact=contact, kind=kind, value=normalized
            )
    except IntegrityError:
        # Another process resolved the same identity first: use its contact, drop ours.
        if created:
            contact.delete()
        identity = Identity.objects.select_related("contact").get(
            organization=organization, kind=kind, value=normalized
        )
        return identity.contact, identity, False
    if created:
        for hint, hint_kind in HINT_KINDS.items():
            if hints.get(hint):
                try:
                    _identity_create(contact, hint_kind, hints[hint])
                except ValidationError:
                    logger.info("contacts.hint_skipped", extra={"hint": hint})
        _emit(contact, "contact.created", data={"via": kind})
    return contact, identity, created


@transaction.atomic
def contact_merge(*, winner: Contact, loser: Contact, actor=None) -> Contact:
    """Join ``loser`` into ``winner``: identities, interactions, notes, consents and tags move;
    the winner's own values win, its blanks take the loser's. The loser stays, pointing at the
    winner, and the merge is an event."""
    from apps.interactions.models import Event, Interaction

    if winner.pk == loser.pk:
        raise ValidationError(_("A contact cannot be merged into itself."))
    if winner.organization_id != loser.organization_id:
        raise ValidationError(_("Contacts of different organizations cannot be merged."))
    if loser.merged_into_id or winner.merged_into_id:
        raise ValidationError(_("This contact was already merged."))
    moved = {
        "identities": Identity.objects.filter(contact=loser).update(contact=winner),
        "interactions": Interaction.objects.filter(contact=loser).update(contact=winner),
        "notes": ContactNote.objects.filter(contact=loser).update(contact=winner),
        "consents": Consent.objects.filter(contact=loser).update(contact=winner),
        "events": Event.objects.filter(contact=loser).update(contact=winner),
    }
    for name in ("first_name", "last_name", "language", "time_zone"):
        if not getattr(winner, name):
            setattr(winner, name, getattr(loser, name))
    if not winner.company_id:
        winner.company_id = loser.company_id
    if Tier.values.index(loser.tier) > Tier.values.index(winner.tier):
        winner.tier = loser.tier  # never demote a customer by merging
    winner.do_not_contact = winner.do_not_contact or loser.do_not_contact
    winner.custom_fields = {**loser.custom_fields, **winner.custom_fields}
    if not winner.external_id and loser.external_id:
        winner.external_id, loser.external_id = loser.external_id, ""
    loser.merged_into = winner
    loser.save(update_fields=["merged_into", "external_id", "updated_at"])
    winner.save()
    winner.tags.add(*loser.tags.all())
    _emit(winner, "contact.merged", actor=actor, data={"merged_contact": loser.pk, **moved})
    logger.info("contacts.merged", extra={"winner": winner.pk, "loser": loser.pk, **moved})
    return winner


def contact_note_add(*, contact: Contact, body: str, author=None) -> ContactNote:
    if not body.strip():
        raise ValidationError({"body": _("A note needs some text.")})
    return ContactNote.objects.create(
        organization=contact.organization, contact=contact, author=author, body=body.strip()
    )


@transaction.atomic
def consent_record(
    *,
    contact: Contact,
    channel: str,
    status: str,
    source: str,
    actor=None,
    note: str = "",
) -> Consent:
    """Record an opt-in or opt-out; the history is kept, the latest record decides."""
    from apps.interactions.services import event_record

    consent = Consent(
        organization=contact.organization,
        contact=contact,
        channel=channel,
        status=status,
        source=source,
        recorded_by=actor if getattr(actor, "pk", None) else None,
        note=note,
    )
    consent.full_clean(exclude=["recorded_by"])
    consent.save()
    event_record(
        organization=contact.organization,
        type=f"consent.{status}",
        contact=contact,
        actor=actor,
        data={"channel": channel, "source": source},
    )
    return consent


@transaction.atomic
def contact_upsert_external(
    *,
    organization,
    external_id: str,
    data: Mapping[str, Any],
    actor=None,
) -> tuple[Contact, bool]:
    """Create or update the contact an external CRM knows as ``external_id``.

    The CRM is master for what it sends: plain fields, CRM-owned custom fields, tags and
    company. Identities it sends are added (never removed: channels learn identities too).
    """
    if not external_id:
        raise ValidationError({"external_id": _("An external id is required.")})
    fields = {k: data[k] for k in CONTACT_FIELDS if k in data}
    identities = list(data.get("identities", []))
    contact = (
        Contact.objects.select_for_update()
        .filter(organization=organization, external_id=external_id)
        .first()
    )
    if contact is None:
        contact = contact_create(
            organization=organization,
            external_id=external_id,
            identities=[],
            custom_fields=data.get("custom_fields"),
            tags=data.get("tags", ()),
            company_name=data.get("company", "") or "",
            actor=actor,
            allow_crm_owned=True,
            **fields,
        )
        created = True
    else:
        contact = contact_update(
            contact=contact,
            actor=actor,
            custom_fields=data.get("custom_fields"),
            tags=data.get("tags"),
            company_name=data.get("company"),
            allow_crm_owned=True,
            **fields,
        )
        created = False
    known = {(i.kind, i.value) for i in contact.identities.all()}
    for identity in identities:
        normalized = identity_normalize(
            kind=identity["kind"], value=identity["value"], country=organization.country
        )
        if (identity["kind"], normalized) not in known:
            _identity_create(contact, identity["kind"], identity["value"])
    return contact, created
