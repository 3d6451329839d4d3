"""Admin mechanics: organization scoping for non-superusers and the plan gate."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied

from apps.core.features import feature_enabled, require_feature
from apps.core.models import TenantModel


def _is_tenant_model(model) -> bool:
    return issubclass(model, TenantModel)


class TenantAdmin(admin.ModelAdmin):
    """A ModelAdmin whose rows, choices and new objects stay inside the user's organization.

    Superusers (platform operators) see every organization; everybody else sees only their own,
    never picks an organization, and may only choose related rows of their own organization.
    ``required_feature`` hides the model when the organization's plan lacks that feature.
    """

    required_feature: str | None = None

    def _org(self, request):
        return getattr(request.user, "organization", None)

    def _gate_ok(self, request) -> bool:
        if request.user.is_superuser or not self.required_feature:
            return True
        return feature_enabled(self._org(request), self.required_feature)

    def has_module_permission(self, request):
        return self._gate_ok(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return self._gate_ok(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return self._gate_ok(request) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return self._gate_ok(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._gate_ok(request) and super().has_delete_permission(request, obj)

    def _explain_gate(self, request) -> None:
        # A model the plan lacks: explain why (the feature page) rather than a bare 403.
        if not request.user.is_superuser and self.required_feature:
            require_feature(self._org(request), self.required_feature)

    def changelist_view(self, request, extra_context=None):
        self._explain_gate(request)
        return super().changelist_view(request, extra_context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        self._explain_gate(request)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, **kwargs):
        """Forms validate unique constraints that include the organization (else a 500)."""
        form = super().get_form(request, obj, **kwargs)
        if request.user.is_superuser:
            return form
        organization = self._org(request)

        class TenantForm(form):
            def __init__(self, *args, **kw):
                super().__init__(*args, **kw)
                if not self.instance.organization_id:
                    self.instance.organization = organization

            def _get_validation_exclusions(self):
                exclude = super()._get_validation_exclusions()
                exclude.discard("organization")
                return exclude

        return TenantForm

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        org = self._org(request)
        return qs.filter(organization=org) if org else qs.none()

    def get_list_filter(self, request):
        filters = tuple(super().get_list_filter(request))
        return ("organization", *filters) if request.user.is_superuser else filters

    def get_exclude(self, request, obj=None):
        exclude = tuple(super().get_exclude(request, obj) or ())
        return exclude if request.user.is_superuser else (*exclude, "organization")

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser:
            org = self._org(request)
            if org is None:
                raise PermissionDenied
            obj.organization = org
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        """New inline rows belong to the parent's organization (and a note to its writer)."""
        for obj in formset.save(commit=False):
            if isinstance(obj, TenantModel) and not obj.organization_id:
                obj.organization_id = form.instance.organization_id
            if hasattr(obj, "author_id") and obj._state.adding and not obj.author_id:
                obj.author = request.user
            obj.save()
        formset.save_m2m()
        for obj in formset.deleted_objects:
            obj.delete()

    def _scope_related(self, request, db_field, kwargs):
        if request.user.is_superuser:
            return kwargs
        model = db_field.related_model
        org = self._org(request)
        base = kwargs.get("queryset", model._default_manager.all())
        # Tenant rows and users both carry an organization: offer only the acting one's.
        if _is_tenant_model(model) or model._meta.label == "accounts.User":
            kwargs["queryset"] = base.filter(organization=org)
        return kwargs

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        kwargs = self._scope_related(request, db_field, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        kwargs = self._scope_related(request, db_field, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)
