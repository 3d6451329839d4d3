from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

import apps.queues.admin_hours  # noqa: F401  (registers BusinessHoursAdmin)
from apps.core.admin import TenantAdmin
from apps.queues import selectors, services
from apps.queues.models import (
    AgentSkill,
    Callback,
    Offer,
    Presence,
    PresenceStatus,
    Queue,
    QueueMember,
    QueueSkill,
    ReasonCode,
    RoutingRule,
    RoutingTarget,
    Skill,
)


class QueueMemberInline(admin.TabularInline):
    model = QueueMember
    extra = 0
    fields = ["agent", "order"]
    autocomplete_fields = ["agent"]


class QueueSkillInline(admin.TabularInline):
    model = QueueSkill
    extra = 0


@admin.register(Queue)
class QueueAdmin(TenantAdmin):
    list_display = ["name", "strategy", "is_active", "waiting", "sla_seconds", "sla_target_percent"]
    list_filter = ["strategy", "is_active"]
    search_fields = ["name"]
    inlines = [QueueMemberInline, QueueSkillInline]
    fieldsets = (
        (None, {"fields": ("name", "description", "is_active", "strategy", "base_priority")}),
        (_("Service level"), {"fields": ("sla_seconds", "sla_target_percent")}),
        (
            _("Offers"),
            {
                "fields": (
                    "offer_timeout_seconds",
                    "wrap_up_seconds",
                    "preferred_agent_seconds",
                    "relax_skills_after_seconds",
                    "no_reply_requeue_minutes",
                )
            },
        ),
        (
            _("Hours and overflow"),
            {"fields": ("business_hours", "when_closed", "max_wait_seconds", "overflow_queue")},
        ),
        (_("Call recording"), {"fields": ("record_calls", "recording_consent")}),
        (
            _("Voicemail"),
            {"fields": ("voicemail_notify", "voicemail_email", "voicemail_sms")},
        ),
        (
            _("Outbound calls"),
            {"fields": ("caller_id", "callback_attempts", "callback_retry_minutes")},
        ),
    )

    @admin.display(description=_("waiting now"))
    def waiting(self, obj):
        return selectors.queue_waiting(queue=obj).count()


@admin.register(Skill)
class SkillAdmin(TenantAdmin):
    search_fields = ["name"]


@admin.register(AgentSkill)
class AgentSkillAdmin(TenantAdmin):
    list_display = ["agent", "skill", "level"]
    list_filter = ["skill"]
    list_select_related = ["agent", "skill"]
    autocomplete_fields = ["agent", "skill"]


@admin.register(ReasonCode)
class ReasonCodeAdmin(TenantAdmin):
    list_display = ["name", "status", "is_active"]
    list_filter = ["status", "is_active"]


@admin.register(Presence)
class PresenceAdmin(TenantAdmin):
    """Agents' status now; supervisors set it through the service (every change an event)."""

    list_display = ["agent", "status", "reason", "since"]
    list_filter = ["status"]
    list_select_related = ["agent", "reason"]
    readonly_fields = ["agent", "status", "reason", "since", "idle_since", "last_offer_at"]
    actions = ["make_available", "make_away", "make_offline"]

    def has_add_permission(self, request):
        return False

    def _set(self, request, queryset, status):
        for presence in queryset.select_related("agent"):
            services.presence_set(agent=presence.agent, status=status, actor=request.user)
        self.message_user(request, _("Status changed."), messages.SUCCESS)

    @admin.action(description=_("Set available"), permissions=["change"])
    def make_available(self, request, queryset):
        self._set(request, queryset, PresenceStatus.AVAILABLE)

    @admin.action(description=_("Set away"), permissions=["change"])
    def make_away(self, request, queryset):
        self._set(request, queryset, PresenceStatus.AWAY)

    @admin.action(description=_("Set offline"), permissions=["change"])
    def make_offline(self, request, queryset):
        self._set(request, queryset, PresenceStatus.OFFLINE)


@admin.register(Offer)
class OfferAdmin(TenantAdmin):
    """Every offer with why the agent was chosen (strategy, candidates, scores)."""

    list_display = ["interaction", "agent", "queue", "status", "created_at", "responded_at"]
    list_filter = ["status", "queue"]
    list_select_related = ["interaction", "agent", "queue"]
    readonly_fields = [
        "interaction",
        "agent",
        "queue",
        "status",
        "created_at",
        "expires_at",
        "responded_at",
        "why",
    ]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Callback)
class CallbackAdmin(TenantAdmin):
    list_display = ["number", "contact", "queue", "scheduled_for", "status", "attempts"]
    list_filter = ["status", "queue"]
    list_select_related = ["contact", "queue"]
    readonly_fields = [
        "keep_place_since",
        "origin",
        "interaction",
        "status",
        "attempts",
        "last_outcome",
    ]
    autocomplete_fields = ["contact"]


class RoutingTargetInline(admin.TabularInline):
    model = RoutingTarget
    extra = 1
    fields = ["order", "queue", "priority", "timeout_seconds"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "queue" and not request.user.is_superuser:
            kwargs["queryset"] = Queue.objects.filter(organization=request.user.organization)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(RoutingRule)
class RoutingRuleAdmin(TenantAdmin):
    """Ordered filters: the first matching rule sends the interaction through its targets."""

    list_display = ["name", "order", "is_active", "channels", "tiers", "languages"]
    list_editable = ["order", "is_active"]
    inlines = [RoutingTargetInline]
