"""The one plan gate, seen from every interface: service, page, API, admin."""

import pytest
from django.urls import reverse

from apps.accounts.models import Role
from apps.core.exceptions import FeatureNotAvailable
from apps.core.features import feature_enabled, require_feature
from tests.factories import INLINE_MANAGEMENT, OrganizationFactory, PlanFactory, UserFactory


@pytest.fixture
def no_api_org(db):
    return OrganizationFactory(
        subscription__plan=PlanFactory(code="basic", features={"channel_email": 1})
    )


@pytest.fixture
def no_api_admin(roles, no_api_org):
    return UserFactory(organization=no_api_org, roles=[Role.ADMIN])


def test_require_feature(no_api_org, org_a):
    assert feature_enabled(org_a, "api")
    assert not feature_enabled(no_api_org, "api")
    require_feature(org_a, "api")
    with pytest.raises(FeatureNotAvailable, match="REST API and webhooks"):
        require_feature(no_api_org, "api")


def test_api_answers_403_with_detail(no_api_admin, api_client):
    api_client.force_authenticate(no_api_admin)
    response = api_client.get(reverse("api:team-list"))
    assert response.status_code == 403
    assert "does not include" in response.json()["detail"]


def test_page_explains_instead_of_failing(no_api_admin, client):
    client.force_login(no_api_admin)
    response = client.get(reverse("api-docs"))
    assert response.status_code == 403
    assert "feature-unavailable" in response.content.decode()
    assert "REST API and webhooks" in response.content.decode()


def test_page_works_with_the_feature(admin_a, client):
    client.force_login(admin_a)
    assert client.get(reverse("api-docs")).status_code == 200


def test_admin_hides_gated_models(no_api_admin, admin_a, client):
    client.force_login(no_api_admin)
    index = client.get(reverse("admin:index")).content.decode()
    assert "API keys" not in index
    assert client.get(reverse("admin:accounts_apikey_add")).status_code == 403
    client.force_login(admin_a)
    assert "API keys" in client.get(reverse("admin:index")).content.decode()


def test_seat_limit_via_api_is_a_clear_400(roles, api_client):
    org = OrganizationFactory(subscription__plan=PlanFactory(agent_seats=1))
    admin = UserFactory(organization=org, roles=[Role.ADMIN, Role.AGENT])
    api_client.force_authenticate(admin)
    response = api_client.post(
        reverse("api:user-list"), {"username": "newagent", "roles": ["Agent"]}, format="json"
    )
    assert response.status_code == 400
    assert "agent seats" in response.json()["detail"]
    assert not org.users.filter(username="newagent").exists()


def test_seat_limit_in_admin_is_a_form_error(roles, client):
    from django.contrib.auth.models import Group

    org = OrganizationFactory(subscription__plan=PlanFactory(agent_seats=1))
    admin = UserFactory(organization=org, roles=[Role.ADMIN, Role.AGENT])
    client.force_login(admin)
    response = client.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "newagent",
            "password1": "a-Very-long-pass-123",
            "password2": "a-Very-long-pass-123",
            "usable_password": "true",
            **INLINE_MANAGEMENT,
            "groups": [Group.objects.get(name=Role.AGENT).pk],
        },
    )
    assert response.status_code == 200
    assert "agent seats" in str(response.context["adminform"].form.errors["groups"])
    assert not org.users.filter(username="newagent").exists()
