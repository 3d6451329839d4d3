"""Queues: where interactions wait for an agent. The routing engine extends these models."""

from django.db import models

from apps.core.models import TenantModel, TimeStampedModel


class Queue(TenantModel, TimeStampedModel):
    """A line customers wait in for one kind of service (billing, sales, VIP desk…)."""

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="queue_unique_name")
        ]

    def __str__(self) -> str:
        return self.name
