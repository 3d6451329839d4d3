"""Reads of contacts, always scoped to an organization."""

import difflib
import unicodedata
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from apps.contacts.models import (
    Consent,
    ConsentChannel,
    Contact,
    ContactField,
    Identity,
    IdentityKind,
)
from apps.contacts.services import PHONE_KINDS, phone_normalize


def contact_list(*, organization) -> QuerySet[Contact]:
    """Live (not merged) contacts, with what lists show."""
    return (
        Contact.objects.for_organization(organization)
        .live()
        .select_related("company")
        .prefetch_related("identities", "tags")
    )


def contact_get(*, organization, contact_id: int) -> Contact:
    return get_object_or_404(contact_list(organization=organization), pk=contact_id)


def contact_search(*, organization, q: str) -> QuerySet[Contact]:
    """Contacts by name, phone in any format, e-mail, handle or external id."""
    q = (q or "").strip()
    contacts = contact_list(organization=organization)
    if not q:
        return contacts
    matches = Q(external_id=q) | Q(identities__value__icontains=q.lower().lstrip("@"))
    for word in q.split():
        matches |= Q(first_name__icontains=word) | Q(last_name__icontains=word)
    if len(q.split()) > 1:
        first, _sep, last = q.partition(" ")
        matches |= Q(first_name__icontains=first, last_name__icontains=last.strip())
    try:
        phone = phone_normalize(q, country=organization.country)
    except ValidationError:
        phone = None
    if phone:
        matches |= Q(identities__kind__in=PHONE_KINDS, identities__value=phone)
    return contacts.filter(matches).distinct()


def contact_can_be_contacted(*, contact: Contact, channel: str) -> bool:
    """False when the contact asked not to be contacted on this channel (or at all)."""
    if contact.do_not_contact:
        return False
    latest = (
        Consent.objects.filter(contact=contact, channel__in=[channel, ConsentChannel.ALL])
        .order_by("-recorded_at", "-id")
        .first()
    )
    return latest is None or latest.status == Consent.Status.OPT_IN


def contact_consent_state(*, contact: Contact) -> dict[str, str]:
    """The latest choice per channel, e.g. ``{"sms": "opt_out"}``."""
    state: dict[str, str] = {}
    for consent in Consent.objects.filter(contact=contact).order_by("recorded_at", "id"):
        state[consent.channel] = consent.status
    return state


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text or "")
    return "".join(c for c in text if not unicodedata.combining(c)).casefold().strip()


@dataclass
class DuplicateSuggestion:
    contact: Contact
    reasons: list[str] = field(default_factory=list)


def contact_duplicates(*, contact: Contact, limit: int = 10) -> list[DuplicateSuggestion]:
    """Other contacts that are probably the same person: the same number on another channel
    (a phone and a WhatsApp number), the same e-mail user at the same domain, or a similar name.
    """
    others = contact_list(organization=contact.organization).exclude(pk=contact.pk)
    found: dict[int, DuplicateSuggestion] = {}

    def suggest(other: Contact, reason: str) -> None:
        found.setdefault(other.pk, DuplicateSuggestion(other)).reasons.append(reason)

    identities = list(contact.identities.all())
    numbers = {i.value for i in identities if i.kind in PHONE_KINDS}
    if numbers:
        for other in others.filter(identities__kind__in=PHONE_KINDS, identities__value__in=numbers):
            suggest(other, "same phone number")
    emails = {i.value for i in identities if i.kind == IdentityKind.EMAIL}
    # john.doe+shop@x.com and john.doe@x.com are one mailbox.
    bases = {e.split("+")[0].split("@")[0] + "@" + e.split("@")[1] for e in emails if "@" in e}
    for base in bases:
        local, _at, domain = base.partition("@")
        same_mailbox = Q(identities__value__iexact=base) | Q(
            identities__value__istartswith=f"{local}+", identities__value__iendswith=f"@{domain}"
        )
        for other in others.filter(same_mailbox, identities__kind=IdentityKind.EMAIL):
            suggest(other, "same e-mail address")
    if contact.last_name:
        first = _fold(contact.first_name)
        for other in others.filter(last_name__iexact=contact.last_name)[:200]:
            ratio = difflib.SequenceMatcher(None, first, _fold(other.first_name)).ratio()
            if ratio >= 0.8:
                suggest(other, "similar name")
    return sorted(found.values(), key=lambda s: (-len(s.reasons), s.contact.pk))[:limit]


def contact_fields(*, organization) -> QuerySet[ContactField]:
    return ContactField.objects.for_organization(organization)


def identity_get(*, organization, kind: str, value: str) -> Identity | None:
    return Identity.objects.filter(organization=organization, kind=kind, value=value).first()
