"""Supervisors oversee follow-ups (reassign one when its agent is away) and team chat."""

from django.contrib import admin
from django.db.models import Count

from apps.core.admin import TenantAdmin
from apps.desk.models import ChatMessage, ChatRoom, FollowUp


@admin.register(FollowUp)
class FollowUpAdmin(TenantAdmin):
    """Follow-ups are created from a conversation on the desk; here they are found, given
    to someone else, rescheduled or marked done."""

    list_display = ["title", "contact", "assignee", "due_at", "done_at", "created_by"]
    list_filter = ["assignee", ("done_at", admin.EmptyFieldListFilter)]
    search_fields = ["title", "contact__first_name", "contact__last_name"]
    list_select_related = ["contact", "assignee", "created_by"]
    date_hierarchy = "due_at"
    fields = ["title", "contact", "interaction", "assignee", "due_at", "done_at", "created_by"]
    readonly_fields = ["contact", "interaction", "created_by"]

    def has_add_permission(self, request):
        return False


class ChatMessageInline(admin.TabularInline):
    model = ChatMessage
    extra = 0
    fields = ["created_at", "author", "body", "filename"]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ChatRoom)
class ChatRoomAdmin(TenantAdmin):
    """Team rooms come with their team, direct rooms with the first message: read here."""

    list_display = ["__str__", "kind", "team", "messages_count", "created_at"]
    list_filter = ["kind"]
    list_select_related = ["team"]
    fields = ["kind", "team", "people", "created_at"]
    readonly_fields = fields
    inlines = [ChatMessageInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(messages_count=Count("messages"))

    @admin.display(description="messages", ordering="messages_count")
    def messages_count(self, room) -> int:
        return room.messages_count

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ChatMessage)
class ChatMessageAdmin(TenantAdmin):
    """Team chat messages, searchable; a supervisor may delete one (moderation)."""

    list_display = ["created_at", "room", "author", "body", "filename"]
    list_filter = ["room__kind"]
    search_fields = ["body", "filename", "author__username"]
    list_select_related = ["room__team", "author"]
    date_hierarchy = "created_at"
    fields = ["created_at", "room", "author", "body", "file", "filename"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
