import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from apps.accounts import services
from apps.accounts.models import AgentProfile, Role, Subscription
from apps.accounts.selectors import organization_agent_seats_used, organization_entitlements
from apps.core.exceptions import FeatureNotAvailable, LimitExceeded
from tests.factories import (
    AddOnFactory,
    OrganizationFactory,
    PlanFactory,
    SubscriptionAddOnFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def _org(seats=2, features=None):
    plan = PlanFactory(agent_seats=seats, features=features)
    org = OrganizationFactory(subscription__plan=plan)
    return org


def test_user_create_gives_roles_staff_and_agent_profile(roles):
    org = _org()
    user = services.user_create(
        organization=org,
        username="sup",
        password="x-long-password-1",
        roles=[Role.SUPERVISOR, Role.AGENT],
    )
    assert user.role_names == {Role.SUPERVISOR, Role.AGENT}
    assert user.is_staff
    assert AgentProfile.objects.get(user=user).organization == org
    assert user.check_password("x-long-password-1")


def test_agent_is_not_staff(roles):
    user = services.user_create(
        organization=_org(), username="a", password=None, roles=[Role.AGENT]
    )
    assert not user.is_staff
    assert not user.has_usable_password()


def test_seat_limit_refuses_the_agent_over_it_and_writes_nothing(roles):
    org = _org(seats=2)
    for name in ("a1", "a2"):
        services.user_create(organization=org, username=name, password=None, roles=[Role.AGENT])
    with pytest.raises(LimitExceeded, match="All 2 agent seats"):
        services.user_create(organization=org, username="a3", password=None, roles=[Role.AGENT])
    assert not org.users.filter(username="a3").exists()
    assert organization_agent_seats_used(organization=org) == 2


def test_seat_limit_ignores_non_agents_and_inactive_agents(roles):
    org = _org(seats=1)
    services.user_create(organization=org, username="boss", password=None, roles=[Role.ADMIN])
    first = services.user_create(organization=org, username="a1", password=None, roles=[Role.AGENT])
    first.is_active = False
    first.save()
    services.user_create(organization=org, username="a2", password=None, roles=[Role.AGENT])
    assert organization_agent_seats_used(organization=org) == 1


def test_giving_the_agent_role_counts_against_seats(roles):
    org = _org(seats=1)
    services.user_create(organization=org, username="a1", password=None, roles=[Role.AGENT])
    manager = services.user_create(
        organization=org, username="m", password=None, roles=[Role.MANAGER]
    )
    with pytest.raises(LimitExceeded):
        services.user_set_roles(user=manager, roles=[Role.MANAGER, Role.AGENT])
    manager.refresh_from_db()
    assert manager.role_names == {Role.MANAGER}


def test_unknown_role_is_a_validation_error(roles):
    with pytest.raises(ValidationError, match="Unknown role"):
        services.user_create(organization=_org(), username="x", password=None, roles=["Wizard"])


def test_addons_add_seats_features_and_allowances():
    org = _org(seats=5, features={"channel_whatsapp": 1, "api": None})
    seats = AddOnFactory(extra_agent_seats=10)
    whatsapp = AddOnFactory(features={"channel_whatsapp": 2, "wfm": None})
    SubscriptionAddOnFactory(subscription=org.subscription, addon=seats, quantity=2)
    SubscriptionAddOnFactory(subscription=org.subscription, addon=whatsapp, quantity=3)
    ent = organization_entitlements(organization=org)
    assert ent.agent_seats == 25
    assert ent.features == {"channel_whatsapp": 7, "api": None, "wfm": None}
    assert ent.limit("channel_voice") == 0


def test_unlimited_plan_stays_unlimited_with_addons():
    org = _org(seats=None, features={"channel_voice": None})
    SubscriptionAddOnFactory(
        subscription=org.subscription,
        addon=AddOnFactory(extra_agent_seats=5, features={"channel_voice": 1}),
    )
    ent = organization_entitlements(organization=org)
    assert ent.agent_seats is None
    assert ent.features["channel_voice"] is None


def test_canceled_subscription_has_no_features():
    org = _org(features={"api": None})
    Subscription.objects.filter(organization=org).update(status=Subscription.Status.CANCELED)
    org.refresh_from_db()
    ent = organization_entitlements(organization=org)
    assert ent.features == {}
    assert ent.agent_seats == 0


def test_api_key_is_shown_once_and_stored_hashed(roles):
    org = _org(features={"api": None})
    api_key, raw = services.api_key_create(organization=org, name="CRM")
    assert raw not in (api_key.hashed_key, api_key.prefix)
    assert raw.startswith(api_key.prefix + ".")
    assert services.api_key_authenticate(raw_key=raw) == api_key
    assert services.api_key_authenticate(raw_key=raw + "x") is None
    services.api_key_revoke(api_key=api_key)
    assert services.api_key_authenticate(raw_key=raw) is None


def test_api_key_needs_the_api_feature():
    org = _org(features={})
    with pytest.raises(FeatureNotAvailable):
        services.api_key_create(organization=org, name="CRM")


def test_roles_sync_gives_agents_no_user_admin_rights(roles):
    agent = UserFactory(roles=[Role.AGENT])
    admin = UserFactory(roles=[Role.ADMIN])
    assert agent.has_perm("notifications.view_notification")
    assert not agent.has_perm("accounts.add_user")
    assert admin.has_perm("accounts.add_user")
    assert not admin.has_perm("accounts.change_plan")


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_concurrent_adds_never_pass_the_seat_limit(roles):
    org = _org(seats=3)
    services.user_create(organization=org, username="a0", password=None, roles=[Role.AGENT])
    barrier = threading.Barrier(6)
    outcomes = []

    def add(i):
        barrier.wait()
        try:
            services.user_create(
                organization=org, username=f"c{i}", password=None, roles=[Role.AGENT]
            )
            outcomes.append("ok")
        except LimitExceeded:
            outcomes.append("full")
        finally:
            connection.close()

    threads = [threading.Thread(target=add, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["full"] * 4 + ["ok"] * 2
    assert organization_agent_seats_used(organization=org) == 3


def test_migrate_alone_gives_roles_the_permissions_of_every_app():
    """No ``roles`` fixture here: what ``migrate`` left in the database must be complete."""
    from django.contrib.auth.models import Group

    from apps.accounts.roles import ROLE_PERMISSIONS

    for role, perms in ROLE_PERMISSIONS.items():
        granted = {
            f"{app}.{codename}"
            for app, codename in Group.objects.get(name=role).permissions.values_list(
                "content_type__app_label", "codename"
            )
        }
        assert granted == set(perms), role


def test_supervisors_grant_agent_and_supervisor_roles_only(roles):
    from django.core.exceptions import PermissionDenied

    org = _org()
    supervisor = UserFactory(organization=org, roles=[Role.SUPERVISOR])
    services.user_create(
        organization=org, username="ag", password=None, roles=[Role.AGENT], actor=supervisor
    )
    with pytest.raises(PermissionDenied, match="Admin"):
        services.user_create(
            organization=org, username="boss", password=None, roles=[Role.ADMIN], actor=supervisor
        )
    with pytest.raises(PermissionDenied):
        services.user_set_roles(
            user=supervisor, roles=[Role.SUPERVISOR, Role.ADMIN], actor=supervisor
        )
    assert not org.users.filter(username="boss").exists()
    assert supervisor.role_names == {Role.SUPERVISOR}


def test_agents_and_managers_grant_nothing(roles):
    assert services.roles_grantable_by(UserFactory(roles=[Role.AGENT])) == set()
    assert services.roles_grantable_by(UserFactory(roles=[Role.MANAGER])) == set()
    assert services.roles_grantable_by(UserFactory(roles=[Role.ADMIN])) == set(Role.values)
