"""Thresholds and alert rules are set in the admin by supervisors; managers only look."""

import pytest
from django.urls import reverse

from apps.accounts.models import Role
from apps.reports.models import AlertIncident, AlertRule, WallboardThreshold
from tests.factories import QueueFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_supervisor_sets_a_queue_threshold(client, supervisor_a):
    queue = QueueFactory(organization=supervisor_a.organization)
    client.force_login(supervisor_a)
    response = client.post(
        reverse("admin:reports_wallboardthreshold_add"),
        {
            "metric": "waiting",
            "queue": queue.pk,
            "warning": "3",
            "critical": "6",
            "direction": "higher",
        },
    )
    assert response.status_code == 302
    threshold = WallboardThreshold.objects.get()
    assert (threshold.organization, threshold.queue, threshold.critical) == (
        supervisor_a.organization,
        queue,
        6,
    )


def test_a_critical_value_on_the_good_side_is_refused_with_a_message(client, supervisor_a):
    client.force_login(supervisor_a)
    response = client.post(
        reverse("admin:reports_wallboardthreshold_add"),
        {"metric": "service_level", "warning": "80", "critical": "90", "direction": "lower"},
    )
    assert response.status_code == 200
    assert "at least as bad as the warning" in response.content.decode()
    assert not WallboardThreshold.objects.exists()


def test_supervisor_adds_an_alert_rule(client, supervisor_a):
    client.force_login(supervisor_a)
    response = client.post(
        reverse("admin:reports_alertrule_add"),
        {
            "name": "SLA",
            "metric": "service_level",
            "threshold": "80",
            "cooldown_minutes": "15",
            "notify_recovery": "on",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    assert AlertRule.objects.get().organization == supervisor_a.organization


def test_managers_look_but_do_not_touch(client, roles, org_a):
    manager = UserFactory(organization=org_a, roles=[Role.MANAGER])
    client.force_login(manager)
    assert client.get(reverse("admin:reports_alertrule_changelist")).status_code == 200
    assert client.get(reverse("admin:reports_alertrule_add")).status_code == 403
    assert client.get(reverse("admin:reports_alertincident_changelist")).status_code == 200


def test_incidents_are_not_made_by_hand(client, supervisor_a):
    rule = AlertRule.objects.create(
        organization=supervisor_a.organization, name="x", metric="waiting", threshold=1
    )
    incident = AlertIncident.objects.create(organization=rule.organization, rule=rule, value=2)
    client.force_login(supervisor_a)
    assert client.get(reverse("admin:reports_alertincident_add")).status_code == 403
    page = client.get(reverse("admin:reports_alertincident_change", args=[incident.pk]))
    assert page.status_code == 200


def test_agents_have_no_admin_for_it(client, agent_a):
    client.force_login(agent_a)
    response = client.get(reverse("admin:reports_wallboardthreshold_changelist"))
    assert response.status_code in (302, 403)


def test_a_percentage_above_100_is_refused(client, supervisor_a):
    client.force_login(supervisor_a)
    response = client.post(
        reverse("admin:reports_alertrule_add"),
        {"name": "SLA", "metric": "service_level", "threshold": "120", "cooldown_minutes": "15"},
    )
    assert response.status_code == 200
    assert "a percentage is at most 100" in response.content.decode()
    assert not AlertRule.objects.exists()
