import pytest
from django.urls import reverse

from apps.accounts import services
from apps.accounts.models import Role, Team
from tests.factories import PASSWORD, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_token_obtained_with_password_authenticates(agent_a, api_client):
    response = api_client.post(
        reverse("api-token"), {"username": agent_a.username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    me = api_client.get(reverse("api:me"))
    assert me.status_code == 200
    assert me.json()["username"] == agent_a.username
    assert me.json()["role_names"] == ["Agent"]


def test_wrong_password_gets_no_token(agent_a, api_client):
    response = api_client.post(
        reverse("api-token"), {"username": agent_a.username, "password": "nope"}, format="json"
    )
    assert response.status_code == 400
    assert "detail" in response.json()


def test_api_key_acts_for_its_organization_with_its_role(org_a, admin_a, api_client):
    team = TeamFactory(organization=org_a, name="Night shift")
    _, raw = services.api_key_create(organization=org_a, name="CRM", role=Role.ADMIN)
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    response = api_client.get(reverse("api:team-list"))
    assert response.status_code == 200
    assert [t["name"] for t in response.json()["results"]] == [team.name]
    assert api_client.get(reverse("api:organization")).json()["slug"] == org_a.slug
    assert api_client.get(reverse("api:me")).status_code == 404


def test_agent_role_api_key_cannot_create_teams(org_a, api_client):
    _, raw = services.api_key_create(organization=org_a, name="Bot", role=Role.AGENT)
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    assert api_client.get(reverse("api:team-list")).status_code == 200
    response = api_client.post(reverse("api:team-list"), {"name": "X"}, format="json")
    assert response.status_code == 403
    assert not Team.objects.filter(name="X").exists()


def test_revoked_or_bad_api_key_is_401(org_a, api_client):
    api_key, raw = services.api_key_create(organization=org_a, name="Old")
    services.api_key_revoke(api_key=api_key)
    for header in (f"Api-Key {raw}", "Api-Key nonsense", "Api-Key a b"):
        api_client.credentials(HTTP_AUTHORIZATION=header)
        response = api_client.get(reverse("api:team-list"))
        assert response.status_code == 401
        assert response.json()["detail"]


def test_anonymous_is_401(api_client, db):
    response = api_client.get(reverse("api:team-list"))
    assert response.status_code == 401
    assert "detail" in response.json()


def test_agents_cannot_list_people(agent_a, api_client):
    api_client.force_authenticate(agent_a)
    assert api_client.get(reverse("api:user-list")).status_code == 403


def test_user_without_organization_gets_clear_403(api_client, db):
    operator = UserFactory(organization=None, is_superuser=True)
    api_client.force_authenticate(operator)
    response = api_client.get(reverse("api:team-list"))
    assert response.status_code == 403
    assert "no active organization" in response.json()["detail"]


def test_team_crud_and_members_stay_in_organization(admin_a, agent_a, admin_b, api_client):
    api_client.force_authenticate(admin_a)
    created = api_client.post(
        reverse("api:team-list"), {"name": "Tier 1", "members": [agent_a.pk]}, format="json"
    )
    assert created.status_code == 201
    team_id = created.json()["id"]
    assert Team.objects.get(pk=team_id).organization == admin_a.organization
    foreign = api_client.patch(
        reverse("api:team-detail", args=[team_id]), {"members": [admin_b.pk]}, format="json"
    )
    assert foreign.status_code == 400
    assert "members" in foreign.json()["errors"]
    assert list(Team.objects.get(pk=team_id).members.all()) == [agent_a]
    duplicate = api_client.post(reverse("api:team-list"), {"name": "Tier 1"}, format="json")
    assert duplicate.status_code == 400
    assert duplicate.json()["detail"].startswith("name:")
    assert api_client.delete(reverse("api:team-detail", args=[team_id])).status_code == 204


def test_create_agent_through_api(admin_a, api_client):
    api_client.force_authenticate(admin_a)
    response = api_client.post(
        reverse("api:user-list"),
        {
            "username": "new.agent",
            "roles": ["Agent"],
            "password": "Long-enough-123",
            "language": "fr",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["role_names"] == ["Agent"]
    assert "password" not in body
    user = admin_a.organization.users.get(username="new.agent")
    assert user.check_password("Long-enough-123")
    assert user.agent_profile.capacity["voice"] == 1


def test_bad_role_is_400_with_field(admin_a, api_client):
    api_client.force_authenticate(admin_a)
    response = api_client.post(
        reverse("api:user-list"), {"username": "x", "roles": ["Wizard"]}, format="json"
    )
    assert response.status_code == 400
    assert "roles" in response.json()["errors"]


def test_organization_endpoint_shows_plan_and_seats(admin_a, api_client):
    api_client.force_authenticate(admin_a)
    body = api_client.get(reverse("api:organization")).json()
    assert body["features"] == {"api": None}
    assert body["agent_seats"] == {"limit": 10, "used": 1}


def test_list_is_paginated(admin_a, api_client):
    TeamFactory.create_batch(3, organization=admin_a.organization)
    api_client.force_authenticate(admin_a)
    body = api_client.get(reverse("api:team-list"), {"page_size": 2}).json()
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"]


def test_schema_and_docs_are_served(admin_a, client, api_client):
    api_client.force_authenticate(admin_a)
    schema = api_client.get(reverse("api-schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "/api/v1/teams/" in schema.content.decode()
    client.force_login(admin_a)
    docs = client.get(reverse("api-docs")).content.decode()
    assert "swagger-ui" in docs
    assert "cdn" not in docs.lower()  # vendored assets only


def test_supervisor_cannot_create_an_admin_through_api(supervisor_a, api_client):
    api_client.force_authenticate(supervisor_a)
    response = api_client.post(
        reverse("api:user-list"), {"username": "boss", "roles": ["Admin"]}, format="json"
    )
    assert response.status_code == 403
    assert "Admin" in response.json()["detail"]
    assert not supervisor_a.organization.users.filter(username="boss").exists()
