"""Reads of interactions: lists, the contact's timeline and the screen pop."""

import re
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.shortcuts import get_object_or_404

from apps.contacts.models import Contact, ContactNote
from apps.contacts.selectors import contact_consent_state
from apps.interactions.models import OPEN_STATES, Interaction, InteractionNote, Message


def interaction_list(*, organization) -> QuerySet[Interaction]:
    return Interaction.objects.for_organization(organization).select_related(
        "contact", "queue", "assigned_agent", "disposition"
    )


def interaction_get(*, organization, interaction_id: int) -> Interaction:
    return get_object_or_404(interaction_list(organization=organization), pk=interaction_id)


def _with_history(queryset: QuerySet[Interaction]) -> QuerySet[Interaction]:
    """Interactions with their messages, notes and tags in a fixed number of queries."""
    return queryset.select_related("queue", "assigned_agent", "disposition").prefetch_related(
        Prefetch(
            "messages",
            queryset=Message.objects.select_related("author").order_by("created_at", "id"),
        ),
        Prefetch("notes", queryset=InteractionNote.objects.select_related("author")),
        "tags",
    )


def contact_timeline(*, contact: Contact) -> QuerySet[Interaction]:
    """Every interaction of the contact on every channel, newest first, with its messages.

    Paginate the queryset: the prefetches run once per page, whatever its size.
    """
    return _with_history(
        Interaction.objects.filter(organization=contact.organization, contact=contact)
    ).order_by("-created_at", "-id")


@dataclass
class ScreenPop:
    """What an agent sees as an interaction is offered or answered."""

    interaction: Interaction
    contact: Contact
    custom_fields: list[tuple[str, Any]]
    open_interactions: list[Interaction]
    recent_interactions: list[Interaction]
    contact_notes: list[ContactNote]
    consents: dict[str, str]


def screen_pop(*, interaction: Interaction, recent: int = 5) -> ScreenPop:
    """The contact, tier, custom fields, open items and the last interactions across channels
    with their dispositions and notes."""
    from apps.contacts.selectors import contact_fields

    contact = (
        Contact.objects.select_related("company")
        .prefetch_related("identities", "tags")
        .get(pk=interaction.contact_id)
    )
    others = Interaction.objects.filter(
        organization=interaction.organization, contact=contact
    ).exclude(pk=interaction.pk)
    definitions = contact_fields(organization=interaction.organization).filter(
        show_in_screen_pop=True
    )
    return ScreenPop(
        interaction=interaction,
        contact=contact,
        custom_fields=[
            (d.label, contact.custom_fields.get(d.key))
            for d in definitions
            if contact.custom_fields.get(d.key) is not None
        ],
        open_interactions=list(
            others.filter(state__in=OPEN_STATES).select_related("assigned_agent", "queue")
        ),
        recent_interactions=list(_with_history(others).order_by("-created_at", "-id")[:recent]),
        contact_notes=list(contact.notes.select_related("author")[:recent]),
        consents=contact_consent_state(contact=contact),
    )


_CANNED_VARIABLE = re.compile(r"\{\{\s*(contact|agent|organization)\.(\w+)\s*\}\}")
_CANNED_ALLOWED = {
    "contact": ("first_name", "last_name"),
    "agent": ("first_name", "last_name"),
    "organization": ("name",),
}


def canned_responses(*, organization, language: str = ""):
    from apps.interactions.models import CannedResponse

    responses = CannedResponse.objects.filter(organization=organization, is_active=True)
    if language:
        responses = responses.filter(Q(language="") | Q(language=language))
    return responses.order_by("title")


def canned_render(*, body: str, interaction: Interaction, agent) -> str:
    """The reply with its variables filled in. Only the listed names are known (a plain
    substitution, not a template engine: an admin's text cannot reach anything else);
    unknown ones stay as written."""
    sources = {
        "contact": interaction.contact,
        "agent": agent,
        "organization": interaction.organization,
    }

    def fill(match: re.Match) -> str:
        source, name = match.group(1), match.group(2)
        if name not in _CANNED_ALLOWED[source]:
            return match.group(0)
        return str(getattr(sources[source], name, "") or "")

    return _CANNED_VARIABLE.sub(fill, body)


# --- Call recordings ----------------------------------------------------------------------------


def recordings_for_interaction(*, interaction: Interaction):
    """The recordings of one call, oldest first, with their transcripts and tags."""
    from apps.interactions.models import Recording

    return (
        Recording.objects.filter(
            organization_id=interaction.organization_id, interaction_id=interaction.pk
        )
        .prefetch_related("tags", "transcripts")
        .order_by("started_at", "id")
    )


def recording_search(
    *,
    organization,
    since=None,
    until=None,
    agent_id: int | None = None,
    queue_id: int | None = None,
    tag: str = "",
    text: str = "",
):
    """The organization's recordings for the supervisors' search: started in [since, until),
    of calls an agent handled or a queue took, with a tag, whose transcript contains ``text``."""
    from apps.interactions.models import Recording

    recordings = Recording.objects.filter(organization=organization)
    if since is not None:
        recordings = recordings.filter(started_at__gte=since)
    if until is not None:
        recordings = recordings.filter(started_at__lt=until)
    if agent_id:
        recordings = recordings.filter(interaction__assigned_agent_id=agent_id)
    if queue_id:
        recordings = recordings.filter(interaction__queue_id=queue_id)
    if tag:
        recordings = recordings.filter(tags__name__iexact=tag)
    if text:
        recordings = recordings.filter(transcripts__text__icontains=text)
    return (
        recordings.distinct()
        .select_related("interaction__contact", "interaction__queue", "interaction__assigned_agent")
        .prefetch_related("tags", "transcripts")
        .order_by("-started_at", "-id")
    )
