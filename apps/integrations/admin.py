import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.core.admin import TenantAdmin
from apps.integrations import services
from apps.integrations.models import WebhookDelivery, WebhookEndpoint

RECENT_DELIVERIES = 10


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(TenantAdmin):
    """Endpoints are created through the service, which generates the signing secret."""

    required_feature = "api"
    list_display = ["name", "url", "subscribed_to", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "url"]
    fields = [
        "name",
        "url",
        "event_types",
        "is_active",
        "secret",
        "created_by",
        "created_at",
        "updated_at",
        "recent_deliveries",
    ]
    readonly_fields = ["secret", "created_by", "created_at", "updated_at", "recent_deliveries"]
    list_select_related = ["created_by"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description=_("events"))
    def subscribed_to(self, obj):
        return ", ".join(obj.event_types) or _("all")

    @admin.display(description=_("recent deliveries"))
    def recent_deliveries(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        changelist = reverse("admin:integrations_webhookdelivery_changelist")
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:integrations_webhookdelivery_change", args=[d.pk]),
                    d.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    d.event_type,
                    d.get_status_display(),
                    d.attempts,
                    d.last_status_code or d.last_error[:80] or "",
                )
                for d in obj.deliveries.all()[:RECENT_DELIVERIES]
            ),
        )
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>"
            '</thead><tbody>{}</tbody></table><p><a href="{}?endpoint__id__exact={}">{}</a></p>',
            _("created"),
            _("event"),
            _("status"),
            _("attempts"),
            _("last result"),
            rows,
            changelist,
            obj.pk,
            _("All deliveries of this endpoint"),
        )

    def get_fields(self, request, obj=None):
        if obj is not None:
            return super().get_fields(request, obj)
        fields = ["name", "url", "event_types", "is_active"]
        return ["organization", *fields] if request.user.is_superuser else fields

    def save_model(self, request, obj, form, change):
        if change:
            services.webhook_endpoint_update(
                endpoint=obj,
                name=obj.name,
                url=obj.url,
                event_types=obj.event_types,
                is_active=obj.is_active,
            )
            return
        organization = request.user.organization if not request.user.is_superuser else None
        organization = organization or form.cleaned_data.get("organization")
        if organization is None:
            raise PermissionDenied
        endpoint = services.webhook_endpoint_create(
            organization=organization,
            name=obj.name,
            url=obj.url,
            event_types=obj.event_types,
            created_by=request.user,
            is_active=obj.is_active,
        )
        obj.pk = endpoint.pk
        obj.__dict__.update({k: v for k, v in endpoint.__dict__.items() if not k.startswith("_")})

    def delete_model(self, request, obj):
        services.webhook_endpoint_delete(endpoint=obj)

    def delete_queryset(self, request, queryset):
        for endpoint in queryset:
            services.webhook_endpoint_delete(endpoint=endpoint)

    def response_add(self, request, obj, post_url_continue=None):
        response = super().response_add(request, obj, post_url_continue)
        if "_addanother" in request.POST or "_popup" in request.POST:
            return response
        # Straight to the new endpoint: the integrator needs its signing secret now.
        return HttpResponseRedirect(
            reverse("admin:integrations_webhookendpoint_change", args=[obj.pk])
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(TenantAdmin):
    """The delivery log, read-only; "Retry now" sends chosen deliveries again."""

    required_feature = "api"
    list_display = [
        "created_at",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "delivered_at",
    ]
    list_filter = ["status", "event_type", ("endpoint", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["event_type", "endpoint__name", "endpoint__url", "=event_id"]
    date_hierarchy = "created_at"
    list_select_related = ["endpoint"]
    fields = [
        "endpoint",
        "event_id",
        "event_type",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "delivered_at",
        "created_at",
        "body",
    ]
    readonly_fields = fields
    actions = ["retry_now"]

    @admin.display(description=_("body"))
    def body(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, ensure_ascii=False))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_retry_permission(self, request):
        return self._gate_ok(request) and request.user.has_perm(
            "integrations.change_webhookdelivery"
        )

    @admin.action(description=_("Retry now"), permissions=["retry"])
    def retry_now(self, request, queryset):
        retried = 0
        for delivery in queryset.select_related("organization"):
            try:
                services.webhook_delivery_retry(delivery=delivery)
            except ValidationError as exc:
                self.message_user(request, f"{delivery}: {exc.messages[0]}", messages.WARNING)
            else:
                retried += 1
        if retried:
            self.message_user(
                request,
                ngettext("%(count)d delivery queued.", "%(count)d deliveries queued.", retried)
                % {"count": retried},
                messages.SUCCESS,
            )
