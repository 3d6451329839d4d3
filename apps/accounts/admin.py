from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from apps.accounts import services
from apps.accounts.models import (
    AddOn,
    AddOnFeature,
    AgentProfile,
    ApiKey,
    Organization,
    Plan,
    PlanFeature,
    Role,
    Subscription,
    SubscriptionAddOn,
    Team,
    User,
)
from apps.core.admin import TenantAdmin

# --- Platform configuration: plans and add-ons (platform operators) -------------------------


class PlanFeatureInline(admin.TabularInline):
    model = PlanFeature
    extra = 0


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "agent_seats", "monthly_price", "is_public"]
    prepopulated_fields = {"code": ["name"]}
    inlines = [PlanFeatureInline]


class AddOnFeatureInline(admin.TabularInline):
    model = AddOnFeature
    extra = 0


@admin.register(AddOn)
class AddOnAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "extra_agent_seats", "monthly_price"]
    prepopulated_fields = {"code": ["name"]}
    inlines = [AddOnFeatureInline]


class SubscriptionAddOnInline(admin.TabularInline):
    model = SubscriptionAddOn
    extra = 0


class SubscriptionInline(admin.StackedInline):
    model = Subscription
    can_delete = False


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    """Platform operators manage every tenant; a tenant's admin edits only its own settings."""

    list_display = ["name", "slug", "time_zone", "language", "is_active"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}

    def get_inlines(self, request, obj):
        return [SubscriptionInline] if request.user.is_superuser else []

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else qs.filter(pk=request.user.organization_id)

    def get_readonly_fields(self, request, obj=None):
        return [] if request.user.is_superuser else ["slug", "is_active"]

    def get_prepopulated_fields(self, request, obj=None):
        # A read-only slug cannot be prepopulated (the page would fail).
        return self.prepopulated_fields if request.user.is_superuser else {}

    def has_add_permission(self, request):
        return request.user.is_superuser

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "default_voice_number":
            # Only this organization's numbers (the model's clean() checks it again).
            from apps.connectors.models import ChannelAccount, Kind

            organization_id = request.resolver_match.kwargs.get("object_id")
            kwargs["queryset"] = ChannelAccount.objects.filter(
                kind=Kind.VOICE, organization_id=organization_id or 0
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Subscription)
class SubscriptionAdmin(TenantAdmin):
    list_display = ["organization", "plan", "status", "current_period_end"]
    list_filter = ["plan", "status"]
    inlines = [SubscriptionAddOnInline]

    # Changing what a tenant pays for is the platform's business, never the tenant's own.
    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


# --- Tenant people ----------------------------------------------------------------------------


class AgentProfileForm(forms.ModelForm):
    organization_id = None

    class Meta:
        model = AgentProfile
        fields = ["extension", "languages", "capacity", "mobile", "follow_me", "voicemail_notify"]

    def clean(self):
        from apps.connectors.followme import follow_me_validate

        cleaned = super().clean()
        agent = getattr(self.instance, "user", None) if self.instance.user_id else None
        if agent is not None and "follow_me" in cleaned:
            try:
                cleaned["follow_me"] = follow_me_validate(
                    agent=agent, steps=cleaned["follow_me"], mobile=cleaned.get("mobile", "")
                )
            except ValidationError as exc:
                self.add_error("follow_me", exc)
        notify = cleaned.get("voicemail_notify")
        if notify is not None and (
            not isinstance(notify, list) or not set(notify) <= {"desk", "email", "sms"}
        ):
            self.add_error(
                "voicemail_notify", _('Choose among "desk", "email" and "sms", e.g. ["desk"].')
            )
        return cleaned

    def clean_mobile(self):
        from apps.connectors.followme import E164

        mobile = (self.cleaned_data.get("mobile") or "").replace(" ", "")
        if mobile and not E164.match(mobile):
            raise ValidationError(_("Give an international number, e.g. +33612345678."))
        return mobile

    def clean_extension(self):
        extension = self.cleaned_data["extension"]
        taken = AgentProfile.objects.filter(
            organization_id=self.organization_id or self.instance.organization_id,
            extension=extension,
        ).exclude(pk=self.instance.pk)
        if extension and taken.exists():
            raise ValidationError(_("Another agent has this extension."))
        return extension


class AgentProfileInline(admin.StackedInline):
    model = AgentProfile
    form = AgentProfileForm
    can_delete = False

    def get_formset(self, request, obj=None, **kwargs):
        organization_id = getattr(obj, "organization_id", None) or request.user.organization_id
        kwargs["form"] = type(
            "AgentProfileForm", (AgentProfileForm,), {"organization_id": organization_id}
        )
        return super().get_formset(request, obj, **kwargs)


class UserRolesForm(forms.ModelForm):
    """Checks the agent-seat limit before the roles are saved."""

    def clean(self):
        cleaned = super().clean()
        groups = cleaned.get("groups")
        organization = cleaned.get("organization") or getattr(self.instance, "organization", None)
        organization = organization or getattr(self, "acting_organization", None)
        if groups is not None:
            roles = {g.name for g in groups}
            current = self.instance.role_names if self.instance.pk else set()
            try:
                services.user_roles_check(actor=self.acting_user, roles=roles, current=current)
            except PermissionDenied as exc:
                raise ValidationError({"groups": str(exc)}) from exc
        if groups and organization is None:
            raise ValidationError({"organization": _("A user with a role needs an organization.")})
        becomes_agent = groups is not None and groups.filter(name=Role.AGENT).exists()
        was_agent = self.instance.pk and self.instance.groups.filter(name=Role.AGENT).exists()
        # (clean() runs before the form writes to the instance: these are the stored values.)
        was_active = self.instance.pk is None or self.instance.is_active
        active = cleaned.get("is_active", self.instance.is_active)
        takes_a_seat = not was_agent or not was_active
        if organization and becomes_agent and active and takes_a_seat:
            try:
                services.agent_seats_check(organization=organization)
            except ValidationError as exc:
                raise ValidationError({"groups": exc.messages}) from exc
        return cleaned


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Users of the acting organization; nobody but a platform operator grants superpowers."""

    form = type("UserChangeForm", (UserRolesForm, DjangoUserAdmin.form), {})
    add_form = type("UserCreationForm", (UserRolesForm, DjangoUserAdmin.add_form), {})
    list_display = ["username", "get_full_name", "email", "organization", "roles", "is_active"]
    list_filter = ["is_active", "groups", "organization"]
    search_fields = ["username", "first_name", "last_name", "email"]
    inlines = [AgentProfileInline]
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Person"), {"fields": ("first_name", "last_name", "email", "language", "time_zone")}),
        (_("Organization and roles"), {"fields": ("organization", "groups", "is_active")}),
        (_("Platform"), {"fields": ("is_staff", "is_superuser", "user_permissions")}),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"fields": ("username", "password1", "password2")}),
        (_("Person"), {"fields": ("first_name", "last_name", "email")}),
        (_("Organization and roles"), {"fields": ("organization", "groups")}),
    )

    @admin.display(description=_("roles"))
    def roles(self, obj):
        return ", ".join(sorted(obj.role_names))

    def get_queryset(self, request):
        qs = super().get_queryset(request).prefetch_related("groups").select_related("organization")
        if request.user.is_superuser:
            return qs
        return qs.filter(organization=request.user.organization_id or -1, is_superuser=False)

    def has_change_permission(self, request, obj=None):
        # Also guards the password form: a supervisor cannot take over an admin's account.
        allowed = super().has_change_permission(request, obj)
        return allowed and self._may_edit(request, obj)

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and self._may_edit(request, obj)

    def _may_edit(self, request, obj) -> bool:
        return obj is None or services.user_edit_allowed(actor=request.user, target=obj)

    def get_readonly_fields(self, request, obj=None):
        fields = ["last_login", "date_joined"]
        if obj is not None:
            # Moving a person between tenants would strand their profile and teams.
            fields.append("organization")
        return fields

    def get_list_filter(self, request):
        return self.list_filter if request.user.is_superuser else ["is_active", "groups"]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            return fieldsets
        hidden = {"organization", "is_staff", "is_superuser", "user_permissions"}
        return [
            (name, {**opts, "fields": [f for f in opts["fields"] if f not in hidden]})
            for name, opts in fieldsets
            if any(f not in hidden for f in opts["fields"])
        ]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.acting_organization = request.user.organization
        form.acting_user = request.user
        return form

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups" and not request.user.is_superuser:
            # Roles only; the check in the form also refuses removing a role one may not grant.
            kwargs["queryset"] = Group.objects.filter(name__in=Role.values)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser:
            if request.user.organization is None:
                raise PermissionDenied
            obj.organization = request.user.organization
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data:
            services.user_activity_record(user=obj, active=obj.is_active, actor=request.user)
        if change and "is_active" in form.changed_data and not obj.is_active:
            services.user_sockets_close(user=obj)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # Roles decide staff access and the agent profile: the service applies those rules.
        # (The form already checked that the acting user may grant these roles.)
        services.user_set_roles(user=form.instance, roles=form.instance.role_names)

    def save_formset(self, request, form, formset, change):
        for obj in formset.save(commit=False):
            if hasattr(obj, "organization_id") and not obj.organization_id:
                obj.organization = form.instance.organization
            obj.save()
        formset.save_m2m()
        for obj in formset.deleted_objects:
            obj.delete()


class TeamForm(forms.ModelForm):
    def clean(self):
        cleaned = super().clean()
        organization = cleaned.get("organization") or self.instance.organization
        for name in ("members", "supervisors"):
            strangers = [u for u in cleaned.get(name) or [] if u.organization_id != organization.pk]
            if strangers:
                self.add_error(name, _("Only people of the team's organization can join it."))
        return cleaned


@admin.register(Team)
class TeamAdmin(TenantAdmin):
    form = TeamForm
    list_display = ["name", "member_count"]
    search_fields = ["name"]
    filter_horizontal = ["members", "supervisors"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(members_total=Count("members"))

    @admin.display(description=_("members"), ordering="members_total")
    def member_count(self, obj):
        return obj.members_total


@admin.register(ApiKey)
class ApiKeyAdmin(TenantAdmin):
    """Keys are created through the service, which shows the secret once."""

    required_feature = "api"
    list_display = ["name", "prefix", "role", "created_by", "created_at", "last_used_at", "revoked"]
    list_select_related = ["created_by"]
    fields = ["name", "role", "prefix", "created_by", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_by", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    @admin.display(boolean=True, description=_("revoked"))
    def revoked(self, obj):
        return obj.revoked_at is not None

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        organization = request.user.organization if not request.user.is_superuser else None
        organization = organization or form.cleaned_data.get("organization")
        if organization is None:
            raise PermissionDenied
        api_key, raw_key = services.api_key_create(
            organization=organization,
            name=obj.name,
            role=obj.role,
            created_by=request.user,
        )
        obj.pk = api_key.pk
        obj.__dict__.update({k: v for k, v in api_key.__dict__.items() if not k.startswith("_")})
        messages.warning(
            request,
            _("Copy the key now, it is not shown again: %(key)s") % {"key": raw_key},
        )

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        return ["organization", *fields] if request.user.is_superuser and obj is None else fields

    @admin.action(description=_("Revoke selected keys"))
    def revoke(self, request, queryset):
        for api_key in queryset.filter(revoked_at__isnull=True):
            services.api_key_revoke(api_key=api_key)
