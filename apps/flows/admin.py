"""Flows in the admin: drafts edited with inlines, publishing and rollback, the simulator."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.contacts.models import Contact
from apps.core.admin import TenantAdmin
from apps.flows import services
from apps.flows.engine import FlowContext, flow_advance, flow_start
from apps.flows.models import Flow, FlowVersion, Node, Transition
from apps.flows.renderers import render_chat, render_voice

SIMULATOR_KEY = "flows.simulator.%s"
SIMULATOR_MAX_LOG = 60


class _VersionInline(admin.TabularInline):
    """Rows of a draft; a published or archived version shows them read-only."""

    extra = 0
    exclude = ["organization"]

    def _editable(self, obj) -> bool:
        return obj is None or obj.is_editable

    def has_add_permission(self, request, obj=None):
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(obj) and super().has_delete_permission(request, obj)


class NodeForm(forms.ModelForm):
    class Meta:
        model = Node
        fields = ["order", "key", "kind", "label", "is_start", "config"]
        widgets = {
            "order": forms.NumberInput(attrs={"style": "width: 4em"}),
            "key": forms.TextInput(attrs={"size": 14}),
            "label": forms.TextInput(attrs={"size": 18}),
            "config": forms.Textarea(attrs={"rows": 4, "cols": 48}),
        }


class NodeInline(_VersionInline):
    model = Node
    form = NodeForm
    fields = ["order", "key", "kind", "label", "is_start", "config"]
    extra = 1


class TransitionInline(_VersionInline):
    model = Transition
    fields = ["node", "outcome", "target"]
    verbose_name = gettext_lazy("edge")
    verbose_name_plural = gettext_lazy("edges (from a node, on an outcome, to a node key)")

    def get_formset(self, request, obj=None, **kwargs):
        self._version = obj
        return super().get_formset(request, obj, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "node":
            version = getattr(self, "_version", None)
            kwargs["queryset"] = (
                Node.objects.filter(version=version) if version else Node.objects.none()
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class FlowVersionListInline(admin.TabularInline):
    """A flow's versions, newest first, each opening its own page (editor, simulator)."""

    model = FlowVersion
    fields = ["number", "status", "published_at", "note", "created_by"]
    readonly_fields = fields
    ordering = ["-number"]
    show_change_link = True
    extra = 0
    verbose_name_plural = gettext_lazy("versions")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Flow)
class FlowAdmin(TenantAdmin):
    required_feature = "ivr"
    list_display = ["name", "is_active", "live_version"]
    search_fields = ["name"]
    inlines = [FlowVersionListInline]
    actions = ["new_draft"]

    @admin.action(
        description=gettext_lazy("New draft of the selected flows (from the live version)"),
        permissions=["add"],
    )
    def new_draft(self, request, queryset):
        for flow in queryset:
            live = flow.versions.filter(status=FlowVersion.Status.PUBLISHED).first()
            draft = services.flow_version_create(flow=flow, actor=request.user, from_version=live)
            self.message_user(
                request,
                _("Draft %(number)s of %(flow)s created.") % {"number": draft.number, "flow": flow},
                messages.SUCCESS,
            )

    @admin.display(description=gettext_lazy("live version"))
    def live_version(self, obj):
        live = obj.versions.filter(status=FlowVersion.Status.PUBLISHED).first()
        return live.number if live else "—"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("versions")


@admin.register(FlowVersion)
class FlowVersionAdmin(TenantAdmin):
    required_feature = "ivr"
    list_display = ["__str__", "status", "published_at", "created_by", "simulate_link"]
    list_filter = ["status", "flow"]
    list_select_related = ["flow", "created_by"]
    search_fields = ["flow__name", "note"]
    readonly_fields = ["number", "status", "created_by", "published_at", "problems"]
    inlines = [NodeInline, TransitionInline]
    actions = ["publish", "new_draft"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["flow", "note"]
        return ["flow", "number", "status", "note", "created_by", "published_at", "problems"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [*self.readonly_fields, "flow"]

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def has_change_permission(self, request, obj=None):
        if obj is not None and not obj.is_editable:
            return False  # published and archived versions never change: make a new draft
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.status == FlowVersion.Status.PUBLISHED:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.number = services.flow_version_next_number(flow=obj.flow)
            obj.created_by = request.user
            # A version belongs to its flow's organization (a platform operator picks no other).
            obj.organization_id = obj.flow.organization_id
        super().save_model(request, obj, form, change)

    @admin.display(description=gettext_lazy("problems"))
    def problems(self, obj):
        from apps.flows.validation import flow_validate

        errors = flow_validate(obj)
        if not errors:
            return _("None: this version can be published.")
        return format_html(
            "<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((error,) for error in errors))
        )

    @admin.display(description=gettext_lazy("simulator"))
    def simulate_link(self, obj):
        url = reverse("admin:flows_flowversion_simulate", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Simulate"))

    # Publishing ------------------------------------------------------------------------------
    def _publish(self, request, version) -> bool:
        was_archived = version.status == FlowVersion.Status.ARCHIVED
        try:
            services.flow_version_publish(version=version, actor=request.user)
        except services.FlowInvalid as invalid:
            self.message_user(
                request,
                _("%(version)s cannot be published:") % {"version": version},
                messages.ERROR,
            )
            for error in invalid.errors:
                self.message_user(request, error, messages.ERROR)
            return False
        message = (
            _("Rolled back: version %(number)s of %(flow)s is live again.")
            if was_archived
            else _("Version %(number)s of %(flow)s is live.")
        )
        self.message_user(
            request, message % {"number": version.number, "flow": version.flow}, messages.SUCCESS
        )
        return True

    @admin.action(
        description=gettext_lazy("Publish (or roll back to) the selected version"),
        permissions=["change"],
    )
    def publish(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Select exactly one version."), messages.ERROR)
            return
        self._publish(request, queryset.get())

    @admin.action(
        description=gettext_lazy("New draft from the selected version"), permissions=["add"]
    )
    def new_draft(self, request, queryset):
        for version in queryset.select_related("flow"):
            draft = services.flow_version_create(
                flow=version.flow, actor=request.user, from_version=version
            )
            self.message_user(
                request,
                _("Draft %(number)s of %(flow)s created from version %(source)s.")
                % {"number": draft.number, "flow": draft.flow, "source": version.number},
                messages.SUCCESS,
            )

    def get_urls(self):
        return [
            path(
                "<int:object_id>/simulate/",
                self.admin_site.admin_view(self.simulate_view),
                name="flows_flowversion_simulate",
            ),
            path(
                "<int:object_id>/publish/",
                self.admin_site.admin_view(self.publish_view),
                name="flows_flowversion_publish",
            ),
            path(
                "<int:object_id>/new-draft/",
                self.admin_site.admin_view(self.new_draft_view),
                name="flows_flowversion_new_draft",
            ),
            *super().get_urls(),
        ]

    def _version_or_404(self, request, object_id) -> FlowVersion:
        self._explain_gate(request)
        version = self.get_object(request, str(object_id))  # scoped to the organization
        if version is None or not self.has_view_permission(request, version):
            raise Http404
        return version

    def publish_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        version = self._version_or_404(request, object_id)
        if not super().has_change_permission(request):
            raise PermissionDenied
        self._publish(request, version)
        return redirect("admin:flows_flowversion_change", version.pk)

    def new_draft_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        version = self._version_or_404(request, object_id)
        if not self.has_add_permission(request):
            raise PermissionDenied
        self.new_draft(request, FlowVersion.objects.filter(pk=version.pk))
        draft = version.flow.versions.order_by("-number").first()
        return redirect("admin:flows_flowversion_change", draft.pk)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        from apps.flows.models import NodeKind
        from apps.flows.validation import KIND_EXAMPLES

        extra_context = {
            "kind_examples": [(label, KIND_EXAMPLES[kind]) for kind, label in NodeKind.choices],
            **(extra_context or {}),
            "can_publish": super().has_change_permission(request),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    # Simulator -------------------------------------------------------------------------------
    def simulate_view(self, request, object_id):
        version = self._version_or_404(request, object_id)
        organization = version.organization
        key = SIMULATOR_KEY % version.pk
        state = request.session.get(key) or {}
        form = SimulatorForm(
            request.POST or None, organization=organization, initial=state.get("start")
        )
        if request.method == "POST":
            action = request.POST.get("action") or ("send" if "choice" in request.POST else "")
            if action == "reset":
                request.session.pop(key, None)
                return redirect("admin:flows_flowversion_simulate", version.pk)
            if action == "start":
                if not form.is_valid():
                    return self._simulate_page(request, version, form, state)
                state = self._simulate_start(request, version, form.cleaned_data)
            elif action in ("send", "timeout") and state.get("session"):
                text = (
                    None
                    if action == "timeout"
                    else request.POST.get("choice") or request.POST.get("input", "")
                )
                state = self._simulate_answer(request, state, text)
            request.session[key] = state
            return redirect("admin:flows_flowversion_simulate", version.pk)
        return self._simulate_page(request, version, form, state)

    def _simulate_page(self, request, version, form, state):
        from apps.flows.validation import flow_validate

        last = (state.get("log") or [{}])[-1]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Simulate %(version)s") % {"version": version},
            "version": version,
            "form": form,
            "state": state,
            "log": state.get("log") or [],
            "last": last,
            "flow_session": state.get("session") or {},
            "problems": flow_validate(version),
        }
        return TemplateResponse(request, "admin/flows/flowversion/simulate.html", context)

    def _simulate_log(self, state: dict, step, said: str | None) -> dict:
        action_url = "/voice/flows/{call}/answer"  # the voice part decides the real URL
        rendered = render_voice(step, action_url=action_url)
        entry = {
            "said": said,
            "prompts": step.prompts,
            "question": step.question,
            "decision": step.decision,
            "chat": render_chat(step),
            "twiml": rendered if isinstance(rendered, str) else "",
            "path": step.session["path"][len((state.get("session") or {}).get("path") or []) :],
        }
        log = [*(state.get("log") or []), entry][-SIMULATOR_MAX_LOG:]
        return {**state, "session": step.session, "log": log}

    def _simulate_start(self, request, version, data) -> dict:
        context = FlowContext(
            organization=version.organization,
            contact=data.get("contact"),
            channel=data["channel"],
            language=data.get("language") or "",
            caller=data.get("caller") or "",
        )
        step = flow_start(version, context)
        start = {
            "channel": data["channel"],
            "contact": data["contact"].pk if data.get("contact") else None,
            "language": data.get("language") or "",
            "caller": data.get("caller") or "",
        }
        return self._simulate_log({"start": start}, step, None)

    def _simulate_answer(self, request, state, text) -> dict:
        step = flow_advance(state["session"], text)
        said = _("(no answer)") if text in (None, "") else text
        return self._simulate_log(state, step, said)


class SimulatorForm(forms.Form):
    channel = forms.ChoiceField(
        label=gettext_lazy("Channel"),
        choices=[("voice", gettext_lazy("Voice")), ("chat", gettext_lazy("Chat"))],
    )
    contact = forms.ModelChoiceField(
        label=gettext_lazy("Impersonate contact"),
        queryset=Contact.objects.none(),
        required=False,
    )
    caller = forms.CharField(label=gettext_lazy("Caller number"), required=False, max_length=32)
    language = forms.RegexField(
        label=gettext_lazy("Language"),
        regex=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$",
        required=False,
        max_length=10,
        help_text=gettext_lazy("Empty: the contact's, else the organization's."),
    )

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contact"].queryset = Contact.objects.for_organization(organization).live()
