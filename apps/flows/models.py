"""Self-service flows (IVR and chatbot on one engine). The flow engine extends these models."""

from django.db import models

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
