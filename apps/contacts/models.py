"""The CRM: who the customers are, every way to reach them, and what they agreed to."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import validate_time_zone
from apps.core.models import TenantModel, TimeStampedModel


class Tier(models.TextChoices):
    """Customer value tier; routing gives higher tiers priority."""

    STANDARD = "standard", _("Standard")
    SILVER = "silver", _("Silver")
    GOLD = "gold", _("Gold")
    VIP = "vip", _("VIP")


class IdentityKind(models.TextChoices):
    """How a customer can be reached or recognised; one per channel family."""

    PHONE = "phone", _("Phone")
    EMAIL = "email", _("E-mail")
    WHATSAPP = "whatsapp", _("WhatsApp")
    MESSENGER = "messenger", _("Messenger")
    INSTAGRAM = "instagram", _("Instagram")
    X = "x", _("X (Twitter)")
    WEBCHAT = "webchat", _("Web chat visitor")
    FAX = "fax", _("Fax")


class ConsentChannel(models.TextChoices):
    """What a consent or opt-out covers."""

    ALL = "all", _("Every channel")
    VOICE = "voice", _("Calls")
    SMS = "sms", _("SMS")
    EMAIL = "email", _("E-mail")
    WHATSAPP = "whatsapp", _("WhatsApp")
    MESSENGER = "messenger", _("Messenger")
    INSTAGRAM = "instagram", _("Instagram")
    X = "x", _("X (Twitter)")


class Tag(TenantModel):
    """A label on contacts and interactions ("refund", "complaint", "press")."""

    name = models.CharField(max_length=50)
    color = models.CharField(max_length=7, default="#5b6475")

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="tag_unique")]

    def __str__(self) -> str:
        return self.name


class Company(TenantModel, TimeStampedModel):
    """An organization the contact works for (B2B support, account management)."""

    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=200, blank=True)
    external_id = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = _("companies")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "external_id"],
                condition=~Q(external_id=""),
                name="company_unique_external_id",
            )
        ]

    def __str__(self) -> str:
        return self.name


class ContactField(TenantModel):
    """An admin-defined custom field of contacts (account number, plan, birthday…)."""

    class Kind(models.TextChoices):
        TEXT = "text", _("Text")
        NUMBER = "number", _("Number")
        DATE = "date", _("Date")
        BOOLEAN = "boolean", _("Yes/no")
        CHOICE = "choice", _("Choice")

    key = models.SlugField(max_length=50, help_text=_("Used in the API and imports."))
    label = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TEXT)
    choices = models.JSONField(default=list, blank=True, help_text=_("For choice fields."))
    crm_owned = models.BooleanField(
        default=False, help_text=_("The external CRM is master: agents cannot edit it.")
    )
    show_in_screen_pop = models.BooleanField(default=True)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "label"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "key"], name="contactfield_unique_key")
        ]

    def __str__(self) -> str:
        return self.label


class ContactQuerySet(models.QuerySet):
    def for_organization(self, organization):
        if organization is None:
            return self.none()
        return self.filter(organization=organization)

    def live(self):
        """Contacts not merged into another."""
        return self.filter(merged_into__isnull=True)


class Contact(TenantModel, TimeStampedModel):
    """A customer (or prospect): one person however many channels they use.

    A contact merged into another keeps its row, pointing at the survivor, for the audit trail.
    """

    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    company = models.ForeignKey(
        Company, on_delete=models.SET_NULL, null=True, blank=True, related_name="contacts"
    )
    tier = models.CharField(max_length=10, choices=Tier.choices, default=Tier.STANDARD)
    language = models.CharField(max_length=10, blank=True)
    time_zone = models.CharField(max_length=64, blank=True, validators=[validate_time_zone])
    custom_fields = models.JSONField(default=dict, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="contacts")
    external_id = models.CharField(
        max_length=100, blank=True, help_text=_("The contact's id in the external CRM.")
    )
    do_not_contact = models.BooleanField(
        default=False, help_text=_("Never contact on any channel (overrides consents).")
    )
    merged_into = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="merged_contacts"
    )

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "external_id"],
                condition=~Q(external_id=""),
                name="contact_unique_external_id",
            )
        ]
        indexes = [models.Index(fields=["organization", "last_name", "first_name"])]
        permissions = [
            ("merge_contact", "Can merge duplicate contacts"),
            ("import_contact", "Can import contacts in bulk"),
            ("export_contact", "Can export contacts in bulk"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return name or _("Contact #%(id)s") % {"id": self.pk}


class Identity(TenantModel, TimeStampedModel):
    """One way to reach or recognise a contact: a phone number, an e-mail address, a handle.

    Values are normalised (E.164 phones, lower-case e-mails) so that one value is one contact.
    """

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=12, choices=IdentityKind.choices)
    value = models.CharField(max_length=255)
    label = models.CharField(max_length=50, blank=True, help_text=_("mobile, work, home…"))
    is_primary = models.BooleanField(default=False)
    verified = models.BooleanField(default=False)
    blocked_at = models.DateTimeField(
        null=True, blank=True, help_text=_("Set: nothing from this sender is taken in.")
    )
    blocked_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name_plural = _("identities")
        ordering = ["kind", "-is_primary", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "kind", "value"], name="identity_unique_value"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.value}"


class ContactNote(TenantModel):
    """A note about the customer that every agent sees on the contact's record."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.body[:50]


class Consent(TenantModel):
    """A recorded opt-in or opt-out of a contact for a channel: the history is kept whole.

    The latest record per channel is the contact's current choice.
    """

    class Status(models.TextChoices):
        OPT_IN = "opt_in", _("Opted in")
        OPT_OUT = "opt_out", _("Opted out")

    class Source(models.TextChoices):
        KEYWORD = "keyword", _("Keyword (STOP/START)")
        AGENT = "agent", _("Agent")
        WEB_FORM = "web_form", _("Web form")
        IMPORT = "import", _("Import")
        API = "api", _("API")
        IVR = "ivr", _("IVR")
        CRM = "crm", _("External CRM")

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(max_length=12, choices=ConsentChannel.choices)
    status = models.CharField(max_length=8, choices=Status.choices)
    source = models.CharField(max_length=10, choices=Source.choices)
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-recorded_at", "-id"]
        indexes = [models.Index(fields=["contact", "channel", "-recorded_at"])]

    def __str__(self) -> str:
        return f"{self.contact} {self.get_channel_display()}: {self.get_status_display()}"
