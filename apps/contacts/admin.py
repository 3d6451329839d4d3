from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from apps.contacts import exports, imports, selectors, services
from apps.contacts.models import (
    Company,
    Consent,
    Contact,
    ContactField,
    ContactNote,
    Identity,
    Tag,
)
from apps.core.admin import TenantAdmin


class TenantInline(admin.TabularInline):
    """Inline rows take the parent's organization."""

    extra = 0
    exclude = ["organization"]


class IdentityForm(forms.ModelForm):
    """Values typed in the admin are normalised like every channel's (E.164, lower case)."""

    country = "US"
    organization_id = None

    class Meta:
        model = Identity
        fields = ["kind", "value", "label", "is_primary", "verified"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("kind") and cleaned.get("value"):
            cleaned["value"] = services.identity_normalize(
                kind=cleaned["kind"], value=cleaned["value"], country=self.country
            )
            self.instance.value = cleaned["value"]
            # A friendly message; the unique constraint stays the real guard against races.
            taken = Identity.objects.filter(
                organization_id=self.organization_id, kind=cleaned["kind"], value=cleaned["value"]
            ).exclude(pk=self.instance.pk)
            owner = taken.select_related("contact").first()
            if owner is not None:
                raise ValidationError(
                    {
                        "value": _("%(value)s already belongs to %(contact)s.")
                        % {"value": cleaned["value"], "contact": owner.contact}
                    }
                )
        return cleaned


class IdentityInline(TenantInline):
    model = Identity
    form = IdentityForm
    fields = ["kind", "value", "label", "is_primary", "verified"]

    def get_formset(self, request, obj=None, **kwargs):
        organization = getattr(obj, "organization", None) or request.user.organization
        country = getattr(organization, "country", "US")
        kwargs["form"] = type(
            "IdentityForm",
            (IdentityForm,),
            {"country": country, "organization_id": getattr(organization, "pk", None)},
        )
        return super().get_formset(request, obj, **kwargs)


class ContactNoteInline(TenantInline):
    model = ContactNote
    fields = ["body", "author", "created_at"]
    readonly_fields = ["author", "created_at"]


class ConsentInline(TenantInline):
    model = Consent
    fields = ["channel", "status", "source", "recorded_at", "recorded_by", "note"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False  # consents are recorded through the service, which keeps the history


class MergedFilter(admin.SimpleListFilter):
    title = _("merged")
    parameter_name = "merged"

    def lookups(self, request, model_admin):
        return [("no", _("Live contacts")), ("yes", _("Merged into another"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(merged_into__isnull=False)
        if self.value() == "no":
            return queryset.filter(merged_into__isnull=True)
        return queryset


class ContactImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"), help_text=_("UTF-8, comma or semicolon separated, with a header row.")
    )
    dry_run = forms.BooleanField(
        label=_("Dry run"),
        required=False,
        initial=True,
        help_text=_("Check every row and report; write nothing."),
    )
    skip_invalid = forms.BooleanField(
        label=_("Skip invalid rows"),
        required=False,
        help_text=_("Import the valid rows even when others have errors."),
    )


@admin.register(Contact)
class ContactAdmin(TenantAdmin):
    list_display = ["display_name", "tier", "company", "identity_list", "external_id", "updated_at"]
    list_filter = [MergedFilter, "tier", "do_not_contact", "tags"]
    search_fields = ["first_name", "last_name", "external_id", "identities__value", "company__name"]
    list_select_related = ["company"]
    autocomplete_fields = ["company"]
    filter_horizontal = ["tags"]
    readonly_fields = ["merged_into", "possible_duplicates", "created_at", "updated_at"]
    fieldsets = (
        (None, {"fields": ("first_name", "last_name", "company", "tier", "tags")}),
        (_("Preferences"), {"fields": ("language", "time_zone", "do_not_contact")}),
        (_("Data"), {"fields": ("custom_fields", "external_id")}),
        (_("Duplicates"), {"fields": ("possible_duplicates", "merged_into")}),
        (_("Dates"), {"fields": ("created_at", "updated_at")}),
    )
    inlines = [IdentityInline, ContactNoteInline, ConsentInline]
    actions = ["merge_selected", "export_csv", "export_xlsx"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("identities")

    @admin.display(description=_("identities"))
    def identity_list(self, obj):
        return ", ".join(i.value for i in obj.identities.all()[:3])

    @admin.display(description=_("possible duplicates"))
    def possible_duplicates(self, obj):
        if obj.pk is None or obj.merged_into_id:
            return "—"
        suggestions = selectors.contact_duplicates(contact=obj)
        if not suggestions:
            return _("None found.")
        return format_html_join(
            mark_safe("<br>"),  # noqa: S308 (a constant)
            '<a href="{}">{}</a> ({}) — <a href="{}?ids={},{}">{}</a>',
            (
                (
                    reverse("admin:contacts_contact_change", args=[s.contact.pk]),
                    s.contact,
                    ", ".join(s.reasons),
                    reverse("admin:contacts_contact_merge"),
                    obj.pk,
                    s.contact.pk,
                    _("merge"),
                )
                for s in suggestions
            ),
        )

    def get_urls(self):
        from django.urls import path

        return [
            path(
                "merge/", self.admin_site.admin_view(self.merge_view), name="contacts_contact_merge"
            ),
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="contacts_contact_import",
            ),
            *super().get_urls(),
        ]

    @admin.action(description=_("Merge the selected contacts"), permissions=["merge"])
    def merge_selected(self, request, queryset):
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        return redirect(f"{reverse('admin:contacts_contact_merge')}?ids={ids}")

    @admin.action(description=_("Export the selected contacts as CSV"), permissions=["export"])
    def export_csv(self, request, queryset):
        return self._export(request, queryset, "csv")

    @admin.action(description=_("Export the selected contacts as XLSX"), permissions=["export"])
    def export_xlsx(self, request, queryset):
        return self._export(request, queryset, "xlsx")

    def _export(self, request, queryset, fmt):
        organization = self._org(request)
        if request.user.is_superuser:
            # Platform operators see every organization: one file is one organization's.
            ids = set(queryset.values_list("organization_id", flat=True).distinct())
            if len(ids) != 1:
                self.message_user(
                    request, _("Select contacts of one organization."), messages.WARNING
                )
                return None
            organization = queryset.first().organization
        export = exports.contacts_export(organization=organization, queryset=queryset, fmt=fmt)
        response = HttpResponse(export.content, content_type=export.content_type)
        response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        return response

    def import_view(self, request):
        """Upload a CSV file of contacts: a dry run reports row by row, a real run writes."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        organization = self._org(request)
        if organization is None:
            self.message_user(
                request,
                _("Contacts are imported into your organization: you have none."),
                messages.ERROR,
            )
            return redirect("admin:contacts_contact_changelist")
        report = None
        form = ContactImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            report = imports.contacts_import(
                organization=organization,
                file=form.cleaned_data["file"],
                dry_run=form.cleaned_data["dry_run"],
                skip_invalid=form.cleaned_data["skip_invalid"],
                actor=request.user,
            )
            if report.written:
                self.message_user(
                    request,
                    _("%(n)s contacts imported.") % {"n": report.created},
                    messages.SUCCESS,
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Import contacts"),
            "form": form,
            "report": report,
            "columns": imports.COLUMNS,
            "custom_columns": [
                imports.CUSTOM_PREFIX + f.key
                for f in selectors.contact_fields(organization=organization)
            ],
        }
        return TemplateResponse(request, "admin/contacts/contact/import.html", context)

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "has_import_permission": self.has_import_permission(request),
        }
        return super().changelist_view(request, extra_context)

    def has_import_permission(self, request):
        return self.has_add_permission(request) and request.user.has_perm("contacts.import_contact")

    def has_export_permission(self, request):
        return request.user.has_perm("contacts.export_contact")

    def has_merge_permission(self, request):
        return request.user.has_perm("contacts.merge_contact")

    def merge_view(self, request):
        """Confirm which contact survives, then merge the others into it through the service."""
        if not self.has_merge_permission(request):
            raise PermissionDenied
        raw_ids = request.POST.get("ids") or request.GET.get("ids", "")
        ids = [int(pk) for pk in raw_ids.split(",") if pk.strip().isdigit()]
        contacts = list(self.get_queryset(request).filter(pk__in=ids, merged_into__isnull=True))
        if len(contacts) < 2:
            self.message_user(request, _("Choose at least two live contacts."), messages.WARNING)
            return redirect("admin:contacts_contact_changelist")
        if request.method == "POST" and "winner" in request.POST:
            winner = next((c for c in contacts if str(c.pk) == request.POST["winner"]), None)
            if winner is None:
                raise PermissionDenied
            try:
                for loser in contacts:
                    if loser.pk != winner.pk:
                        services.contact_merge(winner=winner, loser=loser, actor=request.user)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
            else:
                self.message_user(request, _("Contacts merged into %(c)s.") % {"c": winner})
            return redirect("admin:contacts_contact_change", winner.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Merge contacts"),
            "contacts": contacts,
            "ids": ",".join(str(c.pk) for c in contacts),
        }
        return TemplateResponse(request, "admin/contacts/contact/merge.html", context)


@admin.register(Company)
class CompanyAdmin(TenantAdmin):
    list_display = ["name", "domain", "external_id"]
    search_fields = ["name", "domain", "external_id"]


@admin.register(Tag)
class TagAdmin(TenantAdmin):
    list_display = ["name", "color"]
    search_fields = ["name"]


@admin.register(ContactField)
class ContactFieldAdmin(TenantAdmin):
    list_display = ["label", "key", "kind", "crm_owned", "show_in_screen_pop", "order"]
    list_editable = ["order"]
    prepopulated_fields = {"key": ["label"]}


@admin.register(Identity)
class IdentityAdmin(TenantAdmin):
    list_display = ["value", "kind", "contact", "is_primary", "verified"]
    list_filter = ["kind", "verified"]
    search_fields = ["value", "contact__first_name", "contact__last_name"]
    list_select_related = ["contact"]
    autocomplete_fields = ["contact"]
