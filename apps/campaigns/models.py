"""Outbound campaigns. The dialers extend these models."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.core.models import TenantModel, TimeStampedModel


class Campaign(TenantModel, TimeStampedModel):
    """An outbound effort over a list of contacts (sales, collections, reminders, surveys)."""

    class Mode(models.TextChoices):
        PREVIEW = "preview", _("Preview")
        PROGRESSIVE = "progressive", _("Progressive")
        PREDICTIVE = "predictive", _("Predictive")
        POWER = "power", _("Power / agentless")
        SMS = "sms", _("SMS")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        RUNNING = "running", _("Running")
        PAUSED = "paused", _("Paused")
        FINISHED = "finished", _("Finished")

    name = models.CharField(max_length=100)
    mode = models.CharField(max_length=12, choices=Mode.choices, default=Mode.PREVIEW)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="campaign_unique_name")
        ]

    def __str__(self) -> str:
        return self.name
