import pytest
from rest_framework.test import APIClient

from apps.accounts.models import Role
from apps.accounts.services import roles_sync
from tests.factories import OrganizationFactory, UserFactory


@pytest.fixture(autouse=True)
def _test_settings(settings):
    # Tests render templates without a collectstatic manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def roles(db):
    """The role groups with their permissions (post_migrate made them; flushes may drop them)."""
    roles_sync()


@pytest.fixture
def org_a(db):
    return OrganizationFactory(name="Alpha Support", slug="alpha")


@pytest.fixture
def org_b(db):
    return OrganizationFactory(name="Beta Sales", slug="beta")


def _user(org, *roles_):
    return UserFactory(organization=org, roles=list(roles_))


@pytest.fixture
def admin_a(roles, org_a):
    return _user(org_a, Role.ADMIN, Role.AGENT)


@pytest.fixture
def admin_b(roles, org_b):
    return _user(org_b, Role.ADMIN, Role.AGENT)


@pytest.fixture
def agent_a(roles, org_a):
    return _user(org_a, Role.AGENT)


@pytest.fixture
def supervisor_a(roles, org_a):
    return _user(org_a, Role.SUPERVISOR)


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def login(client):
    """``login(user)`` signs a user in (the login page itself has its own tests)."""

    def _login(user):
        client.force_login(user)
        return client

    return _login
