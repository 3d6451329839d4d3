import pytest
from django.urls import reverse

from apps.accounts.models import PlanFeature
from apps.flows.models import Flow, FlowVersion
from tests.factories import ContactFactory, QueueFactory
from tests.flows.factories import build_version, ivr_spec

pytestmark = pytest.mark.django_db


@pytest.fixture
def ivr_plan(org_a):
    PlanFeature.objects.create(plan=org_a.subscription.plan, code="ivr")


@pytest.fixture
def ivr(org_a, ivr_plan):
    QueueFactory(organization=org_a, name="Billing")
    return build_version(org_a, ivr_spec(), status="published")


def simulate_url(version):
    return reverse("admin:flows_flowversion_simulate", args=[version.pk])


def test_simulator_steps_through_a_menu_to_an_enqueue_decision(client, supervisor_a, ivr, org_a):
    client.force_login(supervisor_a)
    contact = ContactFactory(organization=org_a, first_name="Camille", tier="vip")
    url = simulate_url(ivr)
    page = client.get(url)
    assert page.status_code == 200
    assert "Impersonate contact" in page.content.decode()

    started = client.post(url, {"action": "start", "channel": "voice", "contact": contact.pk})
    assert started.status_code == 302
    page = client.get(url).content.decode()
    assert "Welcome to Acme." in page
    assert "welcome → main" in page
    assert "&lt;Gather" in page and "dtmf speech" in page  # the TwiML, escaped

    client.post(url, {"action": "send", "input": "7"})
    page = client.get(url).content.decode()
    assert "Sorry, I did not understand." in page

    client.post(url, {"choice": "1"})  # the "Billing" button
    page = client.get(url).content.decode()
    assert "Final decision" in page
    assert "enqueue" in page and "Billing" in page
    assert "welcome → main → main → billing" in page


def test_simulator_in_chat_shows_buttons(client, supervisor_a, ivr):
    client.force_login(supervisor_a)
    url = simulate_url(ivr)
    client.post(url, {"action": "start", "channel": "chat"})
    page = client.get(url).content.decode()
    assert "Chat messages of the last step" in page
    assert 'name="choice" value="agent"' in page
    client.post(url, {"action": "send", "input": "talk to a human"})
    assert "Final decision" in client.get(url).content.decode()


def test_simulator_of_another_organization_is_not_found(client, admin_b, ivr):
    PlanFeature.objects.create(plan=admin_b.organization.subscription.plan, code="ivr")
    client.force_login(admin_b)
    assert client.get(simulate_url(ivr)).status_code in (302, 404)
    assert client.post(simulate_url(ivr), {"action": "start", "channel": "voice"}).status_code in (
        302,
        404,
    )
    publish = reverse("admin:flows_flowversion_publish", args=[ivr.pk])
    assert client.post(publish).status_code in (302, 404)
    ivr.refresh_from_db()
    assert ivr.status == FlowVersion.Status.PUBLISHED


def test_simulator_needs_the_ivr_feature(client, supervisor_a, org_a):
    version = build_version(org_a, {"bye": ("hangup", {}, {})})
    client.force_login(supervisor_a)
    assert client.get(simulate_url(version)).status_code in (302, 403)


def test_simulator_refuses_a_contact_of_another_organization(client, supervisor_a, ivr, org_b):
    client.force_login(supervisor_a)
    theirs = ContactFactory(organization=org_b)
    url = simulate_url(ivr)
    response = client.post(
        url, {"action": "start", "channel": "voice", "contact": theirs.pk, "language": "<b>"}
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert "Enter a valid value" in response.content.decode()
    assert "Welcome to Acme." not in client.get(url).content.decode()


def test_publish_from_the_admin_shows_the_problems(client, supervisor_a, org_a, ivr_plan):
    QueueFactory(organization=org_a, name="Billing")
    spec = ivr_spec()
    spec["orphan"] = ("hangup", {}, {})
    draft = build_version(org_a, spec)
    client.force_login(supervisor_a)
    change = reverse("admin:flows_flowversion_change", args=[draft.pk])
    page = client.get(change).content.decode()
    assert "Node “orphan”: it cannot be reached from the start node." in page
    response = client.post(reverse("admin:flows_flowversion_publish", args=[draft.pk]), follow=True)
    body = response.content.decode()
    assert "cannot be published" in body
    assert "Node “orphan”: it cannot be reached from the start node." in body
    draft.refresh_from_db()
    assert draft.status == FlowVersion.Status.DRAFT


def test_publish_new_draft_and_rollback_from_the_admin(client, supervisor_a, ivr):
    client.force_login(supervisor_a)
    live_change = reverse("admin:flows_flowversion_change", args=[ivr.pk])
    # A published version is read-only.
    assert client.post(live_change, {"note": "sneaky"}).status_code == 403
    response = client.post(reverse("admin:flows_flowversion_new_draft", args=[ivr.pk]))
    draft = ivr.flow.versions.get(number=2)
    assert response.url == reverse("admin:flows_flowversion_change", args=[draft.pk])
    assert draft.status == FlowVersion.Status.DRAFT and draft.nodes.count() == 5
    assert client.get(response.url).status_code == 200

    client.post(reverse("admin:flows_flowversion_publish", args=[draft.pk]))
    ivr.refresh_from_db()
    assert ivr.status == FlowVersion.Status.ARCHIVED
    response = client.post(reverse("admin:flows_flowversion_publish", args=[ivr.pk]), follow=True)
    assert "Rolled back: version 1" in response.content.decode()
    assert Flow.objects.get(pk=ivr.flow_id).versions.get(status="published") == ivr


def test_a_supervisor_adds_a_draft_with_nodes(client, supervisor_a, org_a, ivr_plan):
    flow = Flow.objects.create(organization=org_a, name="Support line")
    client.force_login(supervisor_a)
    response = client.post(
        reverse("admin:flows_flowversion_add"), {"flow": flow.pk, "note": "first"}
    )
    assert response.status_code == 302
    version = FlowVersion.objects.get(flow=flow)
    assert version.number == 1 and version.created_by == supervisor_a
    change = reverse("admin:flows_flowversion_change", args=[version.pk])
    data = {
        "note": "first",
        "nodes-TOTAL_FORMS": "2",
        "nodes-INITIAL_FORMS": "0",
        "nodes-0-order": "0",
        "nodes-0-key": "hello",
        "nodes-0-kind": "say",
        "nodes-0-label": "Hello",
        "nodes-0-is_start": "on",
        "nodes-0-config": '{"prompt": {"en": "Hello"}}',
        "nodes-1-order": "1",
        "nodes-1-key": "bye",
        "nodes-1-kind": "hangup",
        "nodes-1-config": "{}",
        "transitions-TOTAL_FORMS": "0",
        "transitions-INITIAL_FORMS": "0",
    }
    response = client.post(change, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert version.nodes.count() == 2
    assert set(version.nodes.values_list("organization_id", flat=True)) == {org_a.pk}
    hello = version.nodes.get(key="hello")
    edge = {
        **data,
        "nodes-TOTAL_FORMS": "0",
        "transitions-TOTAL_FORMS": "1",
        "transitions-0-node": str(hello.pk),
        "transitions-0-outcome": "next",
        "transitions-0-target": "bye",
    }
    response = client.post(change, edge)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert version.transitions.get().organization_id == org_a.pk


def test_the_flow_page_lists_versions_and_starts_a_draft(client, supervisor_a, ivr):
    client.force_login(supervisor_a)
    page = client.get(reverse("admin:flows_flow_change", args=[ivr.flow.pk]))
    assert page.status_code == 200
    assert reverse("admin:flows_flowversion_change", args=[ivr.pk]) in page.content.decode()
    response = client.post(
        reverse("admin:flows_flow_changelist"),
        {"action": "new_draft", "_selected_action": [ivr.flow.pk]},
        follow=True,
    )
    assert "Draft 2 of" in response.content.decode()
    assert ivr.flow.versions.get(number=2).nodes.count() == ivr.nodes.count()


def test_a_manager_may_simulate_but_not_publish(client, roles, org_a, ivr):
    from apps.accounts.models import Role
    from tests.factories import UserFactory

    manager = UserFactory(organization=org_a, roles=[Role.MANAGER])
    draft = build_version(org_a, ivr_spec(), flow=ivr.flow)
    client.force_login(manager)
    assert client.get(simulate_url(draft)).status_code == 200
    publish = reverse("admin:flows_flowversion_publish", args=[draft.pk])
    assert client.post(publish).status_code == 403
    assert (
        client.post(reverse("admin:flows_flowversion_new_draft", args=[draft.pk])).status_code
        == 403
    )
    draft.refresh_from_db()
    assert draft.status == FlowVersion.Status.DRAFT
    assert ivr.flow.versions.count() == 2


def test_a_platform_operator_adds_a_version_to_any_flow(client, org_a, django_user_model):
    operator = django_user_model.objects.create_superuser("operator", "op@example.com", "x")
    flow = Flow.objects.create(organization=org_a, name="Tenant line")
    client.force_login(operator)
    response = client.post(reverse("admin:flows_flowversion_add"), {"flow": flow.pk})
    assert response.status_code == 302
    assert flow.versions.get().organization == org_a
