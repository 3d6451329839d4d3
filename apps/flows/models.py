"""Self-service flows (IVR and chatbot on one engine): a flow, its versions, their nodes and edges.

A flow is edited as drafts; exactly one version is published (live) at a time. Publishing a
draft archives the previous live version, and republishing an archived one is the instant
rollback. Published and archived versions never change: editing starts a new draft from them.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.core.models import TenantModel, TimeStampedModel


class Flow(TenantModel, TimeStampedModel):
    """A self-service script a customer goes through before (or instead of) an agent."""

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="flow_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class FlowVersion(TenantModel, TimeStampedModel):
    """One numbered revision of a flow's graph: a draft being edited, the live one, or an
    archived one kept for rollback."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")
        ARCHIVED = "archived", _("Archived")

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=255, blank=True, help_text=_("What changed."))

    class Meta:
        ordering = ["flow__name", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["flow", "number"], name="flowversion_unique_number"),
            models.UniqueConstraint(
                fields=["flow"],
                condition=Q(status="published"),
                name="flowversion_one_published",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.flow} v{self.number} ({self.get_status_display()})"

    @property
    def is_editable(self) -> bool:
        return self.status == self.Status.DRAFT


class NodeKind(models.TextChoices):
    SAY = "say", _("Say a message")
    MENU = "menu", _("Menu")
    COLLECT = "collect", _("Collect input")
    CONDITION = "condition", _("Condition")
    LOOKUP = "lookup", _("Look up data")
    SET = "set", _("Set variables")
    ENQUEUE = "enqueue", _("Put in a queue")
    VOICEMAIL = "voicemail", _("Voicemail")
    CALLBACK_OFFER = "callback_offer", _("Offer a callback")
    TRANSFER = "transfer", _("Transfer")
    HANGUP = "hangup", _("Hang up / end")


class Node(TenantModel):
    """One step of a flow version: what it says or asks, what it checks, or how it ends.

    ``config`` holds the kind's settings (prompts per language, menu options, the queue…);
    :func:`apps.flows.validation.flow_validate` checks it against the kind's schema.
    """

    version = models.ForeignKey(FlowVersion, on_delete=models.CASCADE, related_name="nodes")
    key = models.SlugField(max_length=50, help_text=_("Unique in the version; edges name it."))
    kind = models.CharField(max_length=20, choices=NodeKind.choices)
    label = models.CharField(max_length=100, blank=True)
    config = models.JSONField(default=dict, blank=True)
    is_start = models.BooleanField(default=False)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["version", "key"], name="node_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.key} — {self.label}" if self.label else self.key


class Transition(TenantModel):
    """An edge: from a node, on an outcome (``next``, a key, a keyword, ``true``, ``timeout``,
    ``error``…), go to the node of this version whose key is ``target``."""

    version = models.ForeignKey(FlowVersion, on_delete=models.CASCADE, related_name="transitions")
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="transitions")
    outcome = models.CharField(max_length=50, default="next")
    target = models.SlugField(max_length=50, help_text=_("Key of the next node."))

    class Meta:
        ordering = ["node__order", "node_id", "outcome"]
        constraints = [
            models.UniqueConstraint(fields=["node", "outcome"], name="transition_unique_outcome"),
        ]

    def __str__(self) -> str:
        return f"{self.node.key} —{self.outcome}→ {self.target}"
