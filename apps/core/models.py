"""Tenancy mechanics: every tenant-owned row carries its organization through one mixin."""

from django.db import models


class TenantQuerySet(models.QuerySet):
    def for_organization(self, organization) -> "TenantQuerySet":
        """Rows of one organization; ``None`` (a user with no organization) sees nothing."""
        if organization is None:
            return self.none()
        return self.filter(organization=organization)


class TenantModel(models.Model):
    """A row owned by one organization (tenant). Selectors always filter on it."""

    organization = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=True,
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        abstract = True


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
