"""Tenants, plans and people: who the contact center is, what it paid for, and who works in it."""

import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.models import TenantModel, TimeStampedModel


def validate_time_zone(value: str) -> None:
    if value and value not in zoneinfo.available_timezones():
        raise ValidationError(_("“%(value)s” is not a known time zone."), params={"value": value})


class FeatureCode(models.TextChoices):
    """Everything a plan can include. Channel codes carry an allowance (numbers, mailboxes…)."""

    API = "api", _("REST API and webhooks")
    VOICE = "channel_voice", _("Voice")
    SMS = "channel_sms", _("SMS")
    EMAIL = "channel_email", _("E-mail")
    WEBCHAT = "channel_webchat", _("Web chat")
    WHATSAPP = "channel_whatsapp", _("WhatsApp")
    MESSENGER = "channel_messenger", _("Messenger")
    INSTAGRAM = "channel_instagram", _("Instagram")
    X = "channel_x", _("X (Twitter)")
    VIDEO = "channel_video", _("Video")
    FAX = "channel_fax", _("Fax and postal mail")
    IVR = "ivr", _("IVR and chatbot flows")
    SKILLS_ROUTING = "skills_routing", _("Skills-based routing")
    RECORDING = "recording", _("Call recording")
    MONITORING = "monitoring", _("Live monitoring (listen, whisper, barge)")
    PREVIEW_DIALER = "preview_dialer", _("Preview and progressive dialer")
    PREDICTIVE_DIALER = "predictive_dialer", _("Predictive dialer")
    KNOWLEDGE = "knowledge", _("Knowledge base")
    WFM = "wfm", _("Workforce management")
    QUALITY = "quality", _("Quality and surveys")
    REPORTS = "reports", _("Historical reports and exports")
    ANALYTICS = "analytics", _("Speech and text analytics")
    CRM_SYNC = "crm_sync", _("External CRM sync")


class Plan(TimeStampedModel):
    """A commercial tier (Starter, Professional…): a bundle of features, allowances and seats."""

    code = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    agent_seats = models.PositiveIntegerField(
        _("agent seats"), null=True, blank=True, help_text=_("Empty means unlimited.")
    )
    monthly_price = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    is_public = models.BooleanField(default=True)

    class Meta:
        ordering = ["monthly_price", "name"]

    def __str__(self) -> str:
        return self.name


class FeatureAllowance(models.Model):
    """A feature granted by a plan or an add-on, with its allowance when it is counted."""

    code = models.CharField(max_length=40, choices=FeatureCode.choices)
    limit = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Empty means unlimited; add-ons add theirs per unit.")
    )

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.get_code_display()


class PlanFeature(FeatureAllowance):
    """One feature of a plan (e.g. 3 WhatsApp numbers)."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="features")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["plan", "code"], name="planfeature_unique_code")
        ]


class AddOn(TimeStampedModel):
    """Something bought on top of a plan: features, more allowance, more seats."""

    code = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    extra_agent_seats = models.PositiveIntegerField(default=0)
    monthly_price = models.DecimalField(max_digits=10, decimal_places=2, default=0)

    def __str__(self) -> str:
        return self.name


class AddOnFeature(FeatureAllowance):
    addon = models.ForeignKey(AddOn, on_delete=models.CASCADE, related_name="features")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["addon", "code"], name="addonfeature_unique_code")
        ]


class Organization(TimeStampedModel):
    """A tenant: one brand, or one client of an outsourcer, isolated from every other."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    country = models.CharField(
        _("country"),
        max_length=2,
        default="US",
        help_text=_("ISO 3166 code; phone numbers written without +country are read as local."),
    )
    language = models.CharField(
        max_length=10, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE
    )
    is_active = models.BooleanField(default=True)
    default_voice_number = models.ForeignKey(
        "connectors.ChannelAccount",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        limit_choices_to={"kind": "voice"},
        verbose_name=_("default voice number"),
        help_text=_(
            "The caller ID of outbound calls (click-to-call, callbacks) when their queue names "
            "none; the browser softphone's number."
        ),
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        super().clean()
        account = self.default_voice_number
        if account is not None and (account.organization_id != self.pk or account.kind != "voice"):
            raise ValidationError(
                {"default_voice_number": _("Choose one of the organization's voice numbers.")}
            )


class Subscription(TimeStampedModel):
    """What an organization pays for now: one plan plus add-ons."""

    class Status(models.TextChoices):
        TRIALING = "trialing", _("Trialing")
        ACTIVE = "active", _("Active")
        PAST_DUE = "past_due", _("Past due")
        CANCELED = "canceled", _("Canceled")

    # Past-due subscriptions keep working (a grace period); canceled ones lose every feature.
    ENTITLED = (Status.TRIALING, Status.ACTIVE, Status.PAST_DUE)

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="subscription"
    )
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    started_at = models.DateTimeField(default=timezone.now)
    current_period_end = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.organization} — {self.plan}"


class SubscriptionAddOn(models.Model):
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="addons")
    addon = models.ForeignKey(AddOn, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "addon"], name="subscriptionaddon_unique_addon"
            ),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="subscriptionaddon_qty_pos"),
        ]

    def __str__(self) -> str:
        return f"{self.addon} × {self.quantity}"


class Role(models.TextChoices):
    """Roles are auth groups of the same name; ``apps.accounts.roles`` gives their permissions."""

    AGENT = "Agent", _("Agent")
    SUPERVISOR = "Supervisor", _("Supervisor")
    MANAGER = "Manager", _("Manager")
    ADMIN = "Admin", _("Administrator")


class User(AbstractUser):
    """A person who signs in: an agent, supervisor, manager or administrator of one organization.

    Platform operators are superusers with no organization.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, null=True, blank=True, related_name="users"
    )
    language = models.CharField(
        _("language"),
        max_length=10,
        choices=settings.LANGUAGES,
        blank=True,
        help_text=_("Empty: the organization's language."),
    )
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text=_("Empty: the organization's time zone."),
    )

    desk_pinned = models.JSONField(
        default=list,
        blank=True,
        help_text=_("The conversation panels this person keeps on top of the desk."),
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"

    @property
    def effective_language(self) -> str:
        if self.language:
            return self.language
        return self.organization.language if self.organization_id else settings.LANGUAGE_CODE

    @property
    def effective_time_zone(self) -> str:
        if self.time_zone:
            return self.time_zone
        return self.organization.time_zone if self.organization_id else settings.TIME_ZONE

    @property
    def role_names(self) -> set[str]:
        return {g.name for g in self.groups.all()}

    def has_role(self, role: "Role") -> bool:
        return role in self.role_names


class Team(TenantModel, TimeStampedModel):
    """A group of agents led by supervisors (a shift, a language desk, a client account)."""

    name = models.CharField(max_length=100)
    members = models.ManyToManyField(User, related_name="teams", blank=True)
    supervisors = models.ManyToManyField(User, related_name="supervised_teams", blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="team_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


CAPACITY_KINDS = ("voice", "chat", "email", "social", "sms", "video", "task")


def validate_capacity(value) -> None:
    if not isinstance(value, dict):
        raise ValidationError(_('Capacity is a mapping such as {"voice": 1, "chat": 3}.'))
    for kind, count in value.items():
        if kind not in CAPACITY_KINDS:
            raise ValidationError(
                _("Unknown channel kind “%(kind)s” (use %(kinds)s).")
                % {"kind": kind, "kinds": ", ".join(CAPACITY_KINDS)}
            )
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= 50:
            raise ValidationError(
                _("Capacity for %(kind)s must be a whole number from 0 to 50.") % {"kind": kind}
            )


def validate_languages(value) -> None:
    if not isinstance(value, list) or not all(
        isinstance(code, str) and 2 <= len(code) <= 10 for code in value
    ):
        raise ValidationError(_('Languages are a list of codes such as ["en", "fr"].'))


def default_voicemail_notify() -> list[str]:
    return ["desk"]


def default_capacity() -> dict[str, int]:
    return {"voice": 1, "chat": 3, "email": 5, "social": 3, "sms": 3}


class AgentProfile(TenantModel, TimeStampedModel):
    """What routing needs to know about an agent: extension, languages and capacity per channel."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="agent_profile")
    extension = models.CharField(max_length=20, blank=True)
    languages = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_languages],
        help_text=_('Languages spoken, e.g. ["en", "fr"].'),
    )
    capacity = models.JSONField(
        default=default_capacity,
        validators=[validate_capacity],
        help_text=_(
            "Maximum concurrent interactions per channel kind, e.g. {'voice': 1, 'chat': 3}."
        ),
    )
    mobile = models.CharField(
        max_length=20,
        blank=True,
        help_text=_("The agent's mobile number (E.164, e.g. +33612345678): follow-me and SMS."),
    )
    # A call for this agent rings here in turn: [{"kind": "desk", "timeout": 20},
    # {"kind": "mobile", "number": "+336…", "timeout": 20}, {"kind": "voicemail"}]; the last
    # step may instead be {"kind": "agent", "agent": <user id>}. Checked by follow_me_validate.
    follow_me = models.JSONField(
        default=list,
        blank=True,
        help_text=_("Where a call for this agent rings in turn (desk, mobile, then voicemail)."),
    )
    voicemail_notify = models.JSONField(
        default=default_voicemail_notify,
        blank=True,
        help_text=_('How the agent hears of a new voicemail: any of ["desk", "email", "sms"].'),
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "extension"],
                condition=~Q(extension=""),
                name="agentprofile_unique_extension",
            )
        ]

    def __str__(self) -> str:
        return str(self.user)


class ApiKey(TenantModel, TimeStampedModel):
    """A key an integrator's system uses to call the API for an organization, with a role.

    Only a hash is stored; the key itself is shown once when it is created.
    """

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, unique=True)
    hashed_key = models.CharField(max_length=64, unique=True)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.ADMIN)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API key")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
