"""Errors that services raise and every interface turns into a clear answer."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy as _


class FeatureNotAvailable(PermissionDenied):
    """The organization's plan does not include a feature: 403 in the API, a page in the UI."""

    def __init__(self, feature: str, label: str = ""):
        self.feature = feature
        self.label = label or feature
        super().__init__(
            _("Your plan does not include “%(feature)s”. Ask your administrator to upgrade.")
            % {"feature": self.label}
        )


class NoOrganization(PermissionDenied):
    """The acting user belongs to no (active) organization."""

    def __init__(self):
        super().__init__(_("This account belongs to no active organization."))


class LimitExceeded(ValidationError):
    """A plan limit (seats, channel allowance) would be exceeded."""
