"""Channels in the admin: accounts with their credentials (write-only) and webhook URLs, what
providers sent (with a retry for what failed), and the outbox."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from apps.connectors import services
from apps.connectors.models import ChannelAccount, InboundEvent, Kind, MailboxState, Outbound
from apps.connectors.providers.common import absolute
from apps.core.admin import TenantAdmin

# The credentials each kind of account needs (stored encrypted, never shown again).
SECRETS = {
    Kind.SMS: ["auth_token"],
    Kind.VOICE: ["auth_token", "api_key_secret"],
    Kind.WHATSAPP: ["app_secret", "verify_token", "access_token"],
    Kind.MESSENGER: ["app_secret", "verify_token", "access_token"],
    Kind.INSTAGRAM: ["app_secret", "verify_token", "access_token"],
    Kind.X: ["consumer_secret", "access_token"],
    Kind.EMAIL: ["password", "smtp_password", "esp_api_key"],
    Kind.FAX: ["webhook_secret"],
    Kind.WEBCHAT: [],
}
ALL_SECRETS = sorted({name for names in SECRETS.values() for name in names})


SECRET_LABELS = {
    "auth_token": _("Auth token"),
    "app_secret": _("App secret"),
    "verify_token": _("Verify token"),
    "access_token": _("Access token"),
    "consumer_secret": _("Consumer secret"),
    "password": _("Mailbox password (IMAP, and SMTP unless set below)"),
    "smtp_password": _("SMTP password"),
    "esp_api_key": _("ESP API key"),
    "webhook_secret": _("Webhook signing secret"),
    "api_key_secret": _("API key secret (browser softphone; the key's SID goes in config)"),
}


def _secret_field(name: str) -> forms.CharField:
    return forms.CharField(
        label=SECRET_LABELS.get(name, name.replace("_", " ").capitalize()),
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_(
            "Stored encrypted. Blank keeps the current one; env:NAME reads the "
            "environment variable NAME instead."
        ),
    )


class _AccountForm(forms.ModelForm):
    """The account; ``ChannelAccountForm`` adds one write-only field per credential."""

    flow = forms.ChoiceField(
        label=_("Self-service flow"),
        required=False,
        help_text=_(
            "Runs first on new calls and conversations (voice, SMS, WhatsApp, Messenger, "
            "Instagram, X, web chat) before an agent; stored as config “flow”."
        ),
    )

    class Meta:
        model = ChannelAccount
        fields = ["kind", "name", "is_active", "address", "queue", "config"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from apps.flows.models import Flow

        organization_id = self.instance.organization_id or getattr(
            self, "flow_organization_id", None
        )
        flows = Flow.objects.all()
        if organization_id:
            flows = flows.filter(organization_id=organization_id)
        names = sorted(set(flows.values_list("name", flat=True)))
        current = str((self.instance.config or {}).get("flow") or "")
        if current and current not in names:
            names.append(current)  # shown, and refused on save, rather than silently dropped
        self.fields["flow"].choices = [("", "—"), *((name, name) for name in names)]
        self.fields["flow"].initial = current

    def secrets(self) -> dict[str, str]:
        return {
            name: self.cleaned_data.get(f"secret_{name}", "")
            for name in SECRETS.get(self.cleaned_data.get("kind"), [])
        }

    def clean(self):
        cleaned = super().clean()
        account = self.instance
        for field in ("kind", "is_active", "queue"):
            if field in cleaned:
                setattr(account, field, cleaned[field])
        if isinstance(cleaned.get("config"), dict) or cleaned.get("config") is None:
            config = {k: v for k, v in (cleaned.get("config") or {}).items() if k != "flow"}
            if cleaned.get("flow"):
                config["flow"] = cleaned["flow"]
            cleaned["config"] = config
            account.config = config
        if account.organization_id:
            try:
                services.channel_account_check(account=account)
            except ValidationError as exc:
                if hasattr(exc, "error_dict") and "flow" in exc.error_dict:
                    self.add_error("flow", exc.error_dict["flow"])
                    return cleaned
                raise forms.ValidationError(exc.messages) from exc
        return cleaned


ChannelAccountForm = type(
    "ChannelAccountForm",
    (_AccountForm,),
    {"__module__": __name__, **{f"secret_{name}": _secret_field(name) for name in ALL_SECRETS}},
)


@admin.register(ChannelAccount)
class ChannelAccountAdmin(TenantAdmin):
    form = ChannelAccountForm
    list_display = ["name", "kind", "address", "queue", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "address"]
    readonly_fields = ["key", "webhook_urls", "stored_secrets"]

    def get_fieldsets(self, request, obj=None):
        secret_fields = [f"secret_{name}" for name in ALL_SECRETS]
        return [
            (
                None,
                {"fields": ["kind", "name", "is_active", "address", "queue", "flow", "config"]},
            ),
            (_("Credentials"), {"fields": ["stored_secrets", *secret_fields]}),
            (_("Provider set-up"), {"fields": ["key", "webhook_urls"]}),
        ]

    @admin.display(description=_("stored credentials"))
    def stored_secrets(self, account) -> str:
        return ", ".join(account.secret_names()) or "—"

    @admin.display(description=_("webhook URLs to give the provider"))
    def webhook_urls(self, account) -> str:
        if not account.pk:
            return "—"
        names = {
            Kind.SMS: [
                ("connectors-twilio-sms", _("incoming messages")),
                ("connectors-twilio-sms-status", _("status callback")),
            ],
            Kind.VOICE: [
                ("connectors-twilio-voice", _("incoming calls (voice URL)")),
                ("connectors-twilio-voice-status", _("call status callback")),
                ("connectors-twilio-voice-client", _("TwiML App voice URL (softphone calls)")),
            ],
            Kind.WHATSAPP: [("connectors-meta", _("callback URL"))],
            Kind.MESSENGER: [("connectors-meta", _("callback URL"))],
            Kind.INSTAGRAM: [("connectors-meta", _("callback URL"))],
            Kind.X: [("connectors-x", _("webhook URL"))],
            Kind.FAX: [("connectors-fax", _("fax webhook URL"))],
            Kind.WEBCHAT: [
                ("webchat-script", _("widget script (in a script tag on your site)")),
                ("webchat-demo", _("demo page")),
            ],
        }.get(account.kind, [])
        rows = [
            (label, absolute(path) or path)
            for name, label in names
            for path in [reverse(name, kwargs={"key": account.key})]
        ]
        if account.kind == Kind.EMAIL:  # polled over IMAP; or an ESP posts it to anymail
            path = reverse("anymail:postmark_inbound_webhook").replace("postmark", "<esp>")
            rows.append((_("ESP inbound (basic auth)"), absolute(path) or path))
        if not rows:
            return "—"
        return format_html(
            "<ul>{}</ul>", format_html_join("", "<li>{}: <code>{}</code></li>", rows)
        )

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if request.user.is_superuser:
            return form
        organization = self._org(request)

        class OrganizationFlows(form):
            # The flows offered are the organization's own (a new account has none yet).
            flow_organization_id = getattr(organization, "pk", None)

        return OrganizationFlows

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser:
            obj.organization = self._org(request)
        services.channel_account_save(account=obj, secrets=form.secrets())


@admin.register(MailboxState)
class MailboxStateAdmin(TenantAdmin):
    """Where IMAP polling of each mailbox stands, and its last error."""

    list_display = ["account", "uidvalidity", "last_uid", "polled_at", "last_error"]
    list_select_related = ["account"]
    readonly_fields = ["account", "uidvalidity", "last_uid", "polled_at", "last_error"]

    def has_add_permission(self, request):
        return False


@admin.action(description=_("Process again"), permissions=["change"])
def retry_events(modeladmin, request, queryset):
    done = [services.inbound_retry(event=event) for event in queryset]
    messages.info(request, _("%(n)s event(s) processed again.") % {"n": len(done)})


@admin.register(InboundEvent)
class InboundEventAdmin(TenantAdmin):
    """What providers sent, as received; failures show their error and can be retried."""

    list_display = ["received_at", "account", "kind", "external_id", "status", "attempts"]
    list_filter = ["status", "kind", "account"]
    search_fields = ["external_id"]
    list_select_related = ["account"]
    date_hierarchy = "received_at"
    actions = [retry_events]
    readonly_fields = [
        "account",
        "kind",
        "external_id",
        "payload",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "received_at",
        "processed_at",
    ]

    def has_add_permission(self, request):
        return False


@admin.action(description=_("Send again"), permissions=["change"])
def retry_outbound(modeladmin, request, queryset):
    count = queryset.exclude(status=Outbound.Status.SENT).update(
        status=Outbound.Status.FAILED, attempts=0
    )
    for outbound in queryset:
        services.outbound_send(outbound_id=outbound.pk)
    messages.info(request, _("%(n)s message(s) sent again.") % {"n": count})


@admin.register(Outbound)
class OutboundAdmin(TenantAdmin):
    """The outbox: every reply on its way to a provider, with its attempts and last error."""

    list_display = ["created_at", "account", "to", "status", "attempts", "last_error"]
    list_filter = ["status", "account"]
    search_fields = ["to"]
    list_select_related = ["account"]
    actions = [retry_outbound]
    readonly_fields = [
        "message",
        "account",
        "to",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "created_at",
        "sent_at",
    ]

    def has_add_permission(self, request):
        return False
