import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse

from apps.accounts.models import ApiKey, Role, User
from apps.accounts.services import api_key_authenticate
from tests.factories import INLINE_MANAGEMENT, UserFactory

pytestmark = pytest.mark.django_db

MODELS = sorted(admin.site._registry, key=lambda m: m._meta.label)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label)
def test_every_admin_page_renders_for_a_platform_operator(model, org_a, client):
    client.force_login(UserFactory(organization=None, is_superuser=True, is_staff=True))
    opts = model._meta
    assert (
        client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")).status_code
        == 200
    )
    add = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
    assert add.status_code in (200, 403)


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:index",
        "admin:accounts_user_changelist",
        "admin:accounts_user_add",
        "admin:accounts_team_changelist",
        "admin:accounts_team_add",
        "admin:accounts_apikey_add",
        "admin:notifications_notification_changelist",
        "admin:accounts_subscription_changelist",
    ],
)
def test_tenant_admin_pages_render(url_name, admin_a, client):
    client.force_login(admin_a)
    assert client.get(reverse(url_name)).status_code == 200


def test_agents_have_no_admin(agent_a, client):
    client.force_login(agent_a)
    assert client.get(reverse("admin:index")).status_code == 302


def test_api_key_created_in_admin_is_shown_once(admin_a, client):
    client.force_login(admin_a)
    response = client.post(
        reverse("admin:accounts_apikey_add"), {"name": "CRM", "role": Role.MANAGER}, follow=True
    )
    assert response.status_code == 200
    message = next(str(m) for m in response.context["messages"] if "Copy the key" in str(m))
    raw = message.rsplit(" ", 1)[-1]
    api_key = ApiKey.objects.get(name="CRM")
    assert api_key.organization == admin_a.organization
    assert api_key_authenticate(raw_key=raw) == api_key
    assert (
        raw
        not in client.get(
            reverse("admin:accounts_apikey_change", args=[api_key.pk])
        ).content.decode()
    )


def test_tenant_admin_cannot_grant_superuser_or_move_users(admin_a, org_b, client):
    client.force_login(admin_a)
    response = client.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "sneaky",
            "password1": "a-Very-long-pass-123",
            "password2": "a-Very-long-pass-123",
            "usable_password": "true",
            **INLINE_MANAGEMENT,
            "groups": [Group.objects.get(name=Role.SUPERVISOR).pk],
            "is_superuser": "on",
            "organization": org_b.pk,
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get(username="sneaky")
    assert not user.is_superuser
    assert user.organization == admin_a.organization
    assert user.is_staff  # supervisors work in the admin


def test_tenant_admin_cannot_give_non_role_groups(admin_a, client):
    outsiders = Group.objects.create(name="Platform staff")
    client.force_login(admin_a)
    response = client.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "x1",
            "password1": "a-Very-long-pass-123",
            "password2": "a-Very-long-pass-123",
            "usable_password": "true",
            **INLINE_MANAGEMENT,
            "groups": [outsiders.pk],
        },
    )
    assert response.status_code == 200
    assert not User.objects.filter(username="x1").exists()


def test_tenant_admin_cannot_change_the_subscription(admin_a, client):
    client.force_login(admin_a)
    url = reverse("admin:accounts_subscription_change", args=[admin_a.organization.subscription.pk])
    assert client.post(url, {"status": "canceled"}).status_code == 403


def test_supervisor_cannot_make_themselves_admin(supervisor_a, client):
    client.force_login(supervisor_a)
    response = client.post(
        reverse("admin:accounts_user_change", args=[supervisor_a.pk]),
        {
            "username": supervisor_a.username,
            "first_name": "",
            "last_name": "",
            "email": "",
            "language": "",
            "time_zone": "",
            "is_active": "on",
            "groups": [Group.objects.get(name=n).pk for n in (Role.SUPERVISOR, Role.ADMIN)],
            **INLINE_MANAGEMENT,
        },
    )
    assert response.status_code == 200
    assert "Admin" in str(response.context["adminform"].form.errors["groups"])
    supervisor_a.refresh_from_db()
    assert supervisor_a.role_names == {Role.SUPERVISOR}
