from django.contrib.auth.backends import ModelBackend


class OrganizationModelBackend(ModelBackend):
    """Users of a deactivated organization cannot sign in, nor stay signed in."""

    def user_can_authenticate(self, user) -> bool:
        if not super().user_can_authenticate(user):
            return False
        organization = getattr(user, "organization", None)
        return organization is None or organization.is_active
