"""Holes found in review, each reproduced as a person would hit it in the admin or the API."""

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.urls import reverse

from apps.accounts.models import AgentProfile, Role, Team, User
from tests.factories import (
    INLINE_MANAGEMENT,
    OrganizationFactory,
    PlanFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def _user_form(user, **extra):
    return {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "language": "",
        "time_zone": "",
        "is_active": "on",
        "groups": [g.pk for g in user.groups.all()],
        **INLINE_MANAGEMENT,
        **extra,
    }


def test_supervisor_cannot_reset_an_admins_password(supervisor_a, admin_a, client):
    client.force_login(supervisor_a)
    url = reverse("admin:auth_user_password_change", args=[admin_a.pk])
    response = client.post(
        url, {"password1": "Hijacked-Pass-123", "password2": "Hijacked-Pass-123"}
    )
    assert response.status_code == 403
    admin_a.refresh_from_db()
    assert not admin_a.check_password("Hijacked-Pass-123")


def test_supervisor_cannot_edit_or_deactivate_an_admin(supervisor_a, admin_a, client):
    client.force_login(supervisor_a)
    form = _user_form(admin_a, email="attacker@evil.example")
    form.pop("is_active")
    response = client.post(reverse("admin:accounts_user_change", args=[admin_a.pk]), form)
    assert response.status_code == 403
    admin_a.refresh_from_db()
    assert admin_a.is_active and admin_a.email != "attacker@evil.example"


def test_supervisor_can_still_edit_an_agent(supervisor_a, agent_a, client):
    client.force_login(supervisor_a)
    response = client.post(
        reverse("admin:accounts_user_change", args=[agent_a.pk]),
        _user_form(agent_a, first_name="Renamed"),
    )
    assert response.status_code == 302
    agent_a.refresh_from_db()
    assert agent_a.first_name == "Renamed"


def test_superusers_are_invisible_to_tenants(admin_a, client):
    operator = UserFactory(organization=admin_a.organization, is_superuser=True, is_staff=True)
    client.force_login(admin_a)
    assert client.get(reverse("admin:accounts_user_change", args=[operator.pk])).status_code == 302
    changelist = client.get(reverse("admin:accounts_user_changelist"))
    assert operator not in changelist.context["cl"].queryset


def test_reactivating_an_agent_takes_a_seat(roles, client):
    org = OrganizationFactory(subscription__plan=PlanFactory(agent_seats=1))
    admin = UserFactory(organization=org, roles=[Role.ADMIN])
    sleeping = UserFactory(organization=org, roles=[Role.AGENT], is_active=False)
    UserFactory(organization=org, roles=[Role.AGENT])  # the one seat, taken
    client.force_login(admin)
    response = client.post(
        reverse("admin:accounts_user_change", args=[sleeping.pk]), _user_form(sleeping)
    )
    assert response.status_code == 200
    assert "agent seats" in str(response.context["adminform"].form.errors)
    sleeping.refresh_from_db()
    assert not sleeping.is_active


def test_user_set_active_service_checks_seats(roles):
    from apps.accounts.services import user_set_active
    from apps.core.exceptions import LimitExceeded

    org = OrganizationFactory(subscription__plan=PlanFactory(agent_seats=1))
    sleeping = UserFactory(organization=org, roles=[Role.AGENT], is_active=False)
    UserFactory(organization=org, roles=[Role.AGENT])
    with pytest.raises(LimitExceeded):
        user_set_active(user=sleeping, active=True)


def test_weak_password_through_api_is_400(admin_a, api_client):
    api_client.force_authenticate(admin_a)
    response = api_client.post(
        reverse("api:user-list"),
        {"username": "weak", "password": "1", "roles": ["Agent"]},
        format="json",
    )
    assert response.status_code == 400
    assert "password" in response.json()["errors"]
    assert not User.objects.filter(username="weak").exists()


def test_tenant_admin_opens_own_organization(admin_a, client):
    client.force_login(admin_a)
    response = client.get(
        reverse("admin:accounts_organization_change", args=[admin_a.organization_id])
    )
    assert response.status_code == 200


def test_duplicate_team_name_is_a_form_error(admin_a, client):
    TeamFactory(organization=admin_a.organization, name="Night")
    client.force_login(admin_a)
    response = client.post(reverse("admin:accounts_team_add"), {"name": "Night"})
    assert response.status_code == 200
    assert Team.objects.filter(name="Night").count() == 1


def test_duplicate_extension_is_a_form_error(admin_a, agent_a, supervisor_a, client):
    AgentProfile.objects.filter(user=agent_a).update(extension="1001")
    newbie = UserFactory(organization=admin_a.organization, roles=[Role.AGENT])
    profile = newbie.agent_profile
    client.force_login(admin_a)
    form = _user_form(newbie)
    form.update(
        {
            "agent_profile-TOTAL_FORMS": "1",
            "agent_profile-INITIAL_FORMS": "1",
            "agent_profile-0-id": profile.pk,
            "agent_profile-0-user": newbie.pk,
            "agent_profile-0-extension": "1001",
            "agent_profile-0-languages": '["fr"]',
            "agent_profile-0-capacity": '{"voice": 1}',
        }
    )
    response = client.post(reverse("admin:accounts_user_change", args=[newbie.pk]), form)
    assert response.status_code == 200
    assert "Another agent has this extension" in response.content.decode()


def test_superuser_adding_an_agent_without_organization_gets_a_form_error(roles, client):
    client.force_login(UserFactory(organization=None, is_superuser=True, is_staff=True))
    response = client.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "orphan",
            "password1": "a-Very-long-pass-123",
            "password2": "a-Very-long-pass-123",
            "usable_password": "true",
            "groups": [Group.objects.get(name=Role.AGENT).pk],
            **INLINE_MANAGEMENT,
        },
    )
    assert response.status_code == 200
    assert "needs an organization" in response.content.decode()
    assert not User.objects.filter(username="orphan").exists()


def test_superuser_cannot_put_strangers_in_a_team(org_a, org_b, client):
    stranger = UserFactory(organization=org_b)
    client.force_login(UserFactory(organization=None, is_superuser=True, is_staff=True))
    response = client.post(
        reverse("admin:accounts_team_add"),
        {
            "organization": org_a.pk,
            "name": "Mixed",
            "members": [stranger.pk],
        },
    )
    assert response.status_code == 200
    assert not Team.objects.filter(name="Mixed").exists()


@pytest.mark.parametrize("capacity", [{"voice": -3}, {"chat": "lots"}, {"telepathy": 1}, ["voice"]])
def test_capacity_must_be_sane(agent_a, capacity):
    profile = agent_a.agent_profile
    profile.capacity = capacity
    with pytest.raises(ValidationError):
        profile.full_clean()


def test_team_changelist_queries_do_not_grow_with_teams(
    admin_a, client, django_assert_max_num_queries
):
    TeamFactory.create_batch(25, organization=admin_a.organization)
    client.force_login(admin_a)
    with django_assert_max_num_queries(15):
        assert client.get(reverse("admin:accounts_team_changelist")).status_code == 200


def test_gated_admin_page_explains_the_plan(roles, client):
    org = OrganizationFactory(subscription__plan=PlanFactory(features={}))
    client.force_login(UserFactory(organization=org, roles=[Role.ADMIN]))
    response = client.get(reverse("admin:accounts_apikey_changelist"))
    assert response.status_code == 403
    assert "feature-unavailable" in response.content.decode()
