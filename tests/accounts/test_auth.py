import pytest
from django.urls import reverse

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_login_page_signs_in_and_home_shows_the_plan(agent_a, client):
    page = client.get(reverse("login"))
    assert page.status_code == 200
    response = client.post(
        reverse("login"), {"username": agent_a.username, "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("home")
    body = response.content.decode()
    assert agent_a.organization.name in body
    assert 'ws-connect="/ws/live/"' in body


def test_home_needs_login(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_logout_is_a_post(agent_a, client):
    client.force_login(agent_a)
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("home")).status_code == 302


def test_repeated_failures_lock_the_account(agent_a, client, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": agent_a.username, "password": "wrong"})
    locked = client.post(reverse("login"), {"username": agent_a.username, "password": PASSWORD})
    assert locked.status_code == 429
    assert "Too many failed sign-in attempts" in locked.content.decode()
    assert client.get(reverse("home")).status_code == 302


def test_pages_follow_the_users_language(agent_a, client):
    agent_a.language = "fr"
    agent_a.save()
    client.force_login(agent_a)
    body = client.get(reverse("home")).content.decode()
    assert "Se déconnecter" in body
    assert 'lang="fr"' in body


def test_anonymous_login_page_in_french(client):
    body = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Connexion au centre de contact" in body


def test_preferences_change_language_and_time_zone(agent_a, client):
    client.force_login(agent_a)
    response = client.post(
        reverse("preferences"),
        {"language": "fr", "time_zone": "America/Montreal", "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("home")
    agent_a.refresh_from_db()
    assert (agent_a.language, agent_a.time_zone) == ("fr", "America/Montreal")
    client.post(reverse("preferences"), {"language": "fr", "time_zone": "Mars/Olympus"})
    agent_a.refresh_from_db()
    assert agent_a.time_zone == "America/Montreal"


def test_home_shows_local_time_zone(agent_a, client):
    client.force_login(agent_a)
    assert "Europe/Paris" in client.get(reverse("home")).content.decode()  # the organization's
    agent_a.time_zone = "Asia/Tokyo"
    agent_a.save()
    assert "Asia/Tokyo" in client.get(reverse("home")).content.decode()


def test_healthz(client):
    assert client.get(reverse("healthz")).json() == {"status": "ok"}


def test_home_names_plan_features_in_the_users_language(agent_a, client):
    client.force_login(agent_a)
    assert "REST API and webhooks" in client.get(reverse("home")).content.decode()
    agent_a.language = "fr"
    agent_a.save()
    assert "API REST et webhooks" in client.get(reverse("home")).content.decode()


def test_user_without_language_gets_the_organizations(agent_a, client):
    agent_a.organization.language = "fr"
    agent_a.organization.save()
    client.force_login(agent_a)
    response = client.get(reverse("home"))
    assert "Se déconnecter" in response.content.decode()
    assert response["Content-Language"] == "fr"


def test_language_does_not_leak_to_the_next_request(agent_a, supervisor_a, client):
    agent_a.language = "fr"
    agent_a.save()
    client.force_login(agent_a)
    client.get(reverse("home"))
    client.force_login(supervisor_a)
    assert "Log out" in client.get(reverse("home")).content.decode()
