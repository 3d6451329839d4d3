"""Routing rules: the first matching rule sends an interaction through its targets in turn."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.interactions.models import Event
from apps.queues import services
from apps.queues.models import RoutingRule, RoutingTarget
from tests.factories import ContactFactory, InteractionFactory, OrganizationFactory, QueueFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def org(roles):
    return OrganizationFactory()


def _rule(org, order, targets, **conditions):
    rule = RoutingRule.objects.create(
        organization=org, name=f"rule {order}", order=order, **conditions
    )
    for i, (queue, timeout) in enumerate(targets):
        RoutingTarget.objects.create(rule=rule, order=i, queue=queue, timeout_seconds=timeout)
    return rule


def test_first_matching_rule_in_order_wins(org):
    vip_desk, general, french = (QueueFactory(organization=org) for _ in range(3))
    _rule(org, 2, [(general, None)])
    _rule(org, 1, [(vip_desk, None)], tiers=["vip"], channels=["voice"])
    _rule(org, 0, [(french, None)], languages=["fr"], channels=["email"])
    vip_call = InteractionFactory(
        contact=ContactFactory(organization=org, tier="vip"), channel="voice"
    )
    vip_mail = InteractionFactory(
        contact=ContactFactory(organization=org, tier="vip"), channel="email"
    )
    french_mail = InteractionFactory(
        contact=ContactFactory(organization=org, language="fr"), channel="email"
    )
    for interaction in (vip_call, vip_mail, french_mail):
        services.interaction_route_by_rules(interaction=interaction)
        interaction.refresh_from_db()
    assert (vip_call.queue, vip_mail.queue, french_mail.queue) == (vip_desk, general, french)
    assert Event.objects.filter(interaction=vip_call, type="interaction.rule_matched").exists()


def test_contact_field_and_reason_conditions(org):
    premium = QueueFactory(organization=org)
    _rule(
        org,
        0,
        [(premium, None)],
        contact_field="plan",
        contact_value="Premium",
        reasons=["billing"],
    )
    match = InteractionFactory(
        contact=ContactFactory(organization=org, custom_fields={"plan": "Premium"}),
        reason="billing",
    )
    other = InteractionFactory(
        contact=ContactFactory(organization=org, custom_fields={"plan": "Basic"}), reason="billing"
    )
    assert services.interaction_route_by_rules(interaction=match) is not None
    assert services.interaction_route_by_rules(interaction=other) is None


def test_targets_are_tried_in_turn_after_their_timeouts(org):
    experts, everyone = QueueFactory(organization=org), QueueFactory(organization=org)
    _rule(org, 0, [(experts, 60), (everyone, None)])
    interaction = InteractionFactory(contact=ContactFactory(organization=org))
    services.interaction_route_by_rules(interaction=interaction)
    assert services.rules_advance_targets(now=timezone.now() + timedelta(seconds=30)) == 0
    assert services.rules_advance_targets(now=timezone.now() + timedelta(seconds=61)) == 1
    interaction.refresh_from_db()
    assert interaction.queue == everyone and interaction.data["target"] == 1
    assert services.rules_advance_targets(now=timezone.now() + timedelta(hours=1)) == 0  # last


def test_inactive_rules_and_other_organizations_rules_are_ignored(org):
    queue = QueueFactory(organization=org)
    _rule(org, 0, [(queue, None)], is_active=False)
    stranger = OrganizationFactory()
    _rule(stranger, 0, [(QueueFactory(organization=stranger), None)])
    assert (
        services.interaction_route_by_rules(
            interaction=InteractionFactory(contact=ContactFactory(organization=org))
        )
        is None
    )


def test_supervisor_edits_rules_in_the_admin(supervisor_a, client):
    queue = QueueFactory(organization=supervisor_a.organization)
    client.force_login(supervisor_a)
    response = client.post(
        reverse("admin:queues_routingrule_add"),
        {
            "name": "VIP first",
            "order": 0,
            "is_active": "on",
            "channels": '["voice"]',
            "tiers": '["vip"]',
            "languages": "[]",
            "reasons": "[]",
            "contact_field": "",
            "contact_value": "",
            "targets-TOTAL_FORMS": "1",
            "targets-INITIAL_FORMS": "0",
            "targets-0-order": "0",
            "targets-0-queue": queue.pk,
            "targets-0-priority": "0",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    rule = RoutingRule.objects.get(name="VIP first")
    assert rule.organization == supervisor_a.organization
    assert [t.queue for t in rule.targets.all()] == [queue]


def test_enqueue_without_a_queue_follows_the_rules(agent_a, api_client):
    org = agent_a.organization
    queue = QueueFactory(organization=org)
    _rule(org, 0, [(queue, None)], channels=["sms"])
    sms = InteractionFactory(contact=ContactFactory(organization=org), channel="sms")
    mail = InteractionFactory(contact=ContactFactory(organization=org), channel="email")
    api_client.force_authenticate(agent_a)
    assert (
        api_client.post(reverse("api:interaction-enqueue", args=[sms.pk])).json()["queue"]
        == queue.pk
    )
    refused = api_client.post(reverse("api:interaction-enqueue", args=[mail.pk]))
    assert refused.status_code == 400 and "routing rule" in refused.json()["detail"]


def test_rules_through_the_api(supervisor_a, admin_b, api_client):
    org = supervisor_a.organization
    first, second = QueueFactory(organization=org), QueueFactory(organization=org)
    api_client.force_authenticate(supervisor_a)
    created = api_client.post(
        reverse("api:routing-rule-list"),
        {
            "name": "Gold",
            "tiers": ["gold"],
            "targets": [{"queue": first.pk, "timeout_seconds": 30}, {"queue": second.pk}],
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert [t["queue"] for t in created.json()["targets"]] == [first.pk, second.pk]
    foreign = QueueFactory(organization=admin_b.organization)
    refused = api_client.post(
        reverse("api:routing-rule-list"),
        {"name": "X", "targets": [{"queue": foreign.pk}]},
        format="json",
    )
    assert refused.status_code == 400
    empty = api_client.post(
        reverse("api:routing-rule-list"), {"name": "Y", "targets": []}, format="json"
    )
    assert empty.status_code == 400
