from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from apps.core.admin import TenantAdmin
from apps.interactions.models import (
    CannedResponse,
    Disposition,
    Event,
    Interaction,
    InteractionNote,
    Message,
    Participant,
    Recording,
    RecordingPolicy,
    Transcript,
)
from apps.queues.models import Offer


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class MessageInline(ReadOnlyInline):
    model = Message
    fields = ["created_at", "direction", "author_kind", "author", "body", "delivery_status"]
    readonly_fields = fields


class NoteInline(ReadOnlyInline):
    model = InteractionNote
    fields = ["created_at", "author", "body"]
    readonly_fields = fields


class EventInline(ReadOnlyInline):
    """The interaction's log: state changes, offers (with why), transfers, messages."""

    model = Event
    fk_name = "interaction"
    fields = ["at", "type", "actor_kind", "actor", "data"]
    readonly_fields = fields


class OfferInline(ReadOnlyInline):
    """Who it was offered to, and why (strategy, candidates and their scores)."""

    model = Offer
    fields = ["created_at", "agent", "status", "responded_at", "why"]
    readonly_fields = fields


class ParticipantInline(ReadOnlyInline):
    """Colleagues consulted or in conference, and warm transfers."""

    model = Participant
    fk_name = "interaction"
    fields = ["invited_at", "agent", "invited_by", "mode", "for_transfer", "status", "ended_at"]
    readonly_fields = fields


@admin.register(Interaction)
class InteractionAdmin(TenantAdmin):
    """Interactions are changed through the desk and the API (services keep the log right);
    here supervisors search and read them."""

    list_display = [
        "id",
        "channel",
        "direction",
        "state",
        "contact",
        "queue",
        "assigned_agent",
        "disposition",
        "created_at",
    ]
    list_filter = ["channel", "direction", "state", "queue", "disposition"]
    search_fields = [
        "subject",
        "provider_ref",
        "contact__first_name",
        "contact__last_name",
        "contact__identities__value",
    ]
    list_select_related = ["contact", "queue", "assigned_agent", "disposition"]
    date_hierarchy = "created_at"
    # Every stored fact of the interaction, read-only (services keep the log consistent).
    readonly_fields = [
        f.name
        for f in Interaction._meta.concrete_fields
        if f.name not in ("id", "organization", "updated_at")
    ]
    exclude = ["tags"]
    inlines = [MessageInline, NoteInline, OfferInline, ParticipantInline, EventInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Disposition)
class DispositionAdmin(TenantAdmin):
    list_display = ["name", "code", "outcome", "requires_note", "is_active", "order"]
    list_editable = ["is_active", "order"]
    list_filter = ["outcome", "is_active"]
    prepopulated_fields = {"code": ["name"]}


@admin.register(CannedResponse)
class CannedResponseAdmin(TenantAdmin):
    list_display = ["title", "shortcut", "language", "is_active"]
    list_editable = ["is_active"]
    list_filter = ["language", "is_active"]
    search_fields = ["title", "shortcut", "body"]
    prepopulated_fields = {"shortcut": ["title"]}


@admin.register(Event)
class EventAdmin(TenantAdmin):
    list_display = ["at", "type", "interaction", "contact", "actor_kind", "actor"]
    list_filter = ["type", "actor_kind"]
    search_fields = ["type"]
    list_select_related = ["interaction", "contact", "actor"]
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TranscriptInline(ReadOnlyInline):
    model = Transcript
    fields = ["created_at", "language", "text"]
    readonly_fields = fields


@admin.register(Recording)
class RecordingAdmin(TenantAdmin):
    """Recordings are made by calls; supervisors listen (the desk's access-checked player),
    tag them and put them on legal hold (never purged)."""

    list_display = ["started_at", "interaction", "source", "status", "duration", "keep"]
    list_filter = ["status", "source", "keep", "tags"]
    search_fields = ["provider_sid", "call_sid", "transcripts__text"]
    list_select_related = ["interaction"]
    date_hierarchy = "started_at"
    fields = [
        "interaction",
        "player",
        "status",
        "source",
        "started_by",
        "started_at",
        "ended_at",
        "duration",
        "provider_sid",
        "call_sid",
        "purged_at",
        "tags",
        "keep",
    ]
    readonly_fields = [f for f in fields if f not in ("tags", "keep")]
    filter_horizontal = ["tags"]
    inlines = [TranscriptInline]

    @admin.display(description=_("audio"))
    def player(self, obj):
        if not obj.file:
            return "—"
        url = reverse("desk-recording-audio", kwargs={"pk": obj.pk})
        return format_html('<audio controls preload="none" src="{}"></audio>', url)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # purged by the retention (the row stays, with its events)


@admin.register(RecordingPolicy)
class RecordingPolicyAdmin(TenantAdmin):
    """Whether queues record calls by default, the consent announcement by language, and how
    many days recordings are kept."""

    list_display = ["__str__", "mode", "retention_days"]
