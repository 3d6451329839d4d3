"""Reads of organizations, plans and people, always scoped to an organization."""

from dataclasses import dataclass, field

from django.db.models import QuerySet

from apps.accounts.models import FeatureCode, Organization, Role, Subscription, Team, User


@dataclass(frozen=True)
class Entitlements:
    """What an organization may use now: features with allowances (None = unlimited), seats."""

    plan_name: str = ""
    status: str = ""
    features: dict[str, int | None] = field(default_factory=dict)
    agent_seats: int | None = 0

    def limit(self, code: str) -> int | None:
        return self.features.get(code, 0)

    def feature_labels(self) -> list[str]:
        """Human names (in the active language) of the features, in catalogue order."""
        return [str(c.label) for c in FeatureCode if c.value in self.features]


def _add_limit(current: int | None, extra: int | None) -> int | None:
    return None if current is None or extra is None else current + extra


def organization_entitlements(*, organization: Organization) -> Entitlements:
    """Plan features plus add-ons; memoised on the instance for the length of a request."""
    cached = getattr(organization, "_entitlements", None)
    if cached is not None:
        return cached
    subscription = (
        Subscription.objects.select_related("plan")
        .prefetch_related("plan__features", "addons__addon__features")
        .filter(organization=organization)
        .first()
    )
    if subscription is None or subscription.status not in Subscription.ENTITLED:
        result = Entitlements(status=getattr(subscription, "status", ""))
    else:
        features: dict[str, int | None] = {
            f.code: f.limit for f in subscription.plan.features.all()
        }
        seats = subscription.plan.agent_seats
        for item in subscription.addons.all():
            if seats is not None:
                seats += item.addon.extra_agent_seats * item.quantity
            for feature in item.addon.features.all():
                extra = None if feature.limit is None else feature.limit * item.quantity
                features[feature.code] = (
                    _add_limit(features[feature.code], extra) if feature.code in features else extra
                )
        result = Entitlements(
            plan_name=subscription.plan.name,
            status=subscription.status,
            features=features,
            agent_seats=seats,
        )
    organization._entitlements = result
    return result


def organization_agent_seats_used(*, organization: Organization) -> int:
    return (
        User.objects.filter(organization=organization, is_active=True, groups__name=Role.AGENT)
        .distinct()
        .count()
    )


def user_list(*, organization: Organization) -> QuerySet[User]:
    return (
        User.objects.filter(organization=organization)
        .select_related("agent_profile")
        .prefetch_related("groups", "teams")
        .order_by("username")
    )


def team_list(*, organization: Organization) -> QuerySet[Team]:
    return Team.objects.for_organization(organization).prefetch_related("members", "supervisors")
