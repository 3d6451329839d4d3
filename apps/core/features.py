"""The one plan gate. Services, views, the API and the admin all ask it the same question."""

from collections.abc import Callable
from functools import wraps

from apps.core.exceptions import FeatureNotAvailable, NoOrganization


def feature_enabled(organization, code: str) -> bool:
    from apps.accounts.selectors import organization_entitlements

    if organization is None:
        return False
    return code in organization_entitlements(organization=organization).features


def require_feature(organization, code: str) -> None:
    """Raise :class:`FeatureNotAvailable` unless the organization's plan includes ``code``."""
    from apps.accounts.models import FeatureCode

    if organization is None:
        raise NoOrganization()
    if not feature_enabled(organization, code):
        raise FeatureNotAvailable(code, str(FeatureCode(code).label))


def feature_required(code: str) -> Callable:
    """View decorator: the explanatory 403 page (see ``apps.core.views.permission_denied``)."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            require_feature(getattr(request, "organization", None), code)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
