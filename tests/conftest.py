import pytest
from rest_framework.test import APIClient

from apps.accounts.models import Role
from apps.accounts.services import roles_sync
from tests.factories import OrganizationFactory, UserFactory


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path_factory):
    # Uploaded files of a test go to a throwaway folder, never the project's var/.
    settings.MEDIA_ROOT = tmp_path_factory.mktemp("media")
    # Tests render templates without a collectstatic manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _celery_eager():
    """Tasks run inline; ``celery_worker_when_brokered`` gives a test a real worker instead."""
    from contactcenter.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def celery_worker_when_brokered(_celery_eager):
    """With a real broker (REDIS_URL), a real Celery worker in a thread; otherwise eager."""
    from django.conf import settings

    from contactcenter.celery import app

    if not settings.REDIS_URL:
        yield None
        return
    from celery.contrib.testing.worker import start_worker

    app.conf.task_always_eager = False
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker:
        yield worker


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
