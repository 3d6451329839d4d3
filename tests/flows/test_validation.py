import pytest

from apps.flows.models import FlowVersion, Node
from apps.flows.services import (
    FlowInvalid,
    flow_version_create,
    flow_version_publish,
    flow_version_rollback,
)
from apps.flows.validation import flow_validate
from apps.interactions.models import Event
from tests.factories import ContactFieldFactory, QueueFactory
from tests.flows.factories import build_version, ivr_spec

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue(org_a):
    return QueueFactory(organization=org_a, name="Billing")


def test_a_valid_flow_passes(org_a, queue):
    assert flow_validate(build_version(org_a, ivr_spec())) == []


def test_no_start_node(org_a, queue):
    version = build_version(org_a, ivr_spec())
    version.nodes.update(is_start=False)
    assert "The flow has no start node; mark exactly one node as the start." in flow_validate(
        version
    )


def test_two_start_nodes(org_a, queue):
    version = build_version(org_a, ivr_spec())
    Node.objects.filter(version=version, key="main").update(is_start=True)
    assert "The flow has 2 start nodes (welcome, main); it needs exactly one." in flow_validate(
        version
    )


def test_dangling_edge(org_a, queue):
    spec = ivr_spec()
    spec["welcome"] = ("say", {"prompt": "Hi"}, {"next": "mian"})
    errors = flow_validate(build_version(org_a, spec))
    assert (
        "Node “welcome”: the “next” edge goes to “mian”, which is not a node of this version."
        in errors
    )


def test_unreachable_node(org_a, queue):
    spec = ivr_spec()
    spec["orphan"] = ("hangup", {}, {})
    errors = flow_validate(build_version(org_a, spec))
    assert errors == ["Node “orphan”: it cannot be reached from the start node."]


def test_menu_option_going_nowhere(org_a, queue):
    spec = ivr_spec()
    del spec["main"][2]["2"]
    errors = flow_validate(build_version(org_a, spec))
    assert errors == ["Node “main”: the “2” outcome goes nowhere."]


def test_condition_needs_true_and_false(org_a, queue):
    spec = {
        "vip": ("condition", {"test": "tier", "in": ["vip"]}, {"true": "end"}),
        "end": ("hangup", {}, {}),
    }
    assert flow_validate(build_version(org_a, spec)) == [
        "Node “vip”: the “false” outcome goes nowhere."
    ]


def test_contact_fields_must_exist(org_a, queue):
    ContactFieldFactory(organization=org_a, key="balance")
    spec = {
        "plan": (
            "condition",
            {"test": "contact_field", "field": "plan", "value": "Premium"},
            {"true": "balance", "false": "balance"},
        ),
        "balance": (
            "lookup",
            {"source": "contact", "field": "balance", "variable": "balance"},
            {"next": "end", "error": "end"},
        ),
        "end": ("hangup", {}, {}),
    }
    assert flow_validate(build_version(org_a, spec)) == [
        "Node “plan”: contacts have no field “plan”."
    ]


def test_lookup_needs_error(org_a, queue):
    ContactFieldFactory(organization=org_a, key="balance")
    spec = {
        "balance": (
            "lookup",
            {"source": "contact", "field": "balance", "variable": "balance"},
            {"next": "end"},
        ),
        "end": ("hangup", {}, {}),
    }
    assert flow_validate(build_version(org_a, spec)) == [
        "Node “balance”: the “error” outcome goes nowhere."
    ]


def test_menu_key_must_be_a_phone_key(org_a, queue):
    spec = ivr_spec()
    spec["main"][1]["options"][0]["key"] = "A"
    spec["main"][2]["A"] = spec["main"][2].pop("1")
    assert "Node “main”: menu key “A” is not a phone key (0-9, * or #)." in flow_validate(
        build_version(org_a, spec)
    )


def test_enqueue_names_a_queue_of_the_organization(org_a, org_b, queue):
    QueueFactory(organization=org_b, name="Theirs")
    spec = ivr_spec(queue_name="Theirs")
    errors = flow_validate(build_version(org_a, spec))
    assert errors == [
        "Node “billing”: no queue named “Theirs”.",
        "Node “support”: no queue named “Theirs”.",
    ]


def test_collect_regex_must_compile(org_a, queue):
    spec = {
        "account": (
            "collect",
            {"prompt": "Account?", "variable": "account", "regex": "(["},
            {"next": "end"},
        ),
        "end": ("hangup", {}, {}),
    }
    errors = flow_validate(build_version(org_a, spec))
    assert len(errors) == 1 and errors[0].startswith("Node “account”: the pattern does not compile")


def test_loop_without_input(org_a, queue):
    spec = {
        "hello": ("say", {"prompt": "Hi"}, {"next": "check"}),
        "check": ("condition", {"test": "tier", "in": ["vip"]}, {"true": "end", "false": "again"}),
        "again": ("set", {"variables": {"n": "1"}}, {"next": "hello"}),
        "end": ("hangup", {}, {}),
    }
    assert flow_validate(build_version(org_a, spec)) == [
        "Nodes “hello” → “check” → “again” loop forever: put a menu or an input between them."
    ]


def test_loop_through_a_menu_is_fine(org_a, queue):
    spec = ivr_spec()
    spec["main"][2]["2"] = "welcome"  # back to the start: the menu waits for the caller
    assert flow_validate(build_version(org_a, spec)) == []


def test_publishing_refuses_an_invalid_version(org_a, queue):
    spec = ivr_spec()
    spec["orphan"] = ("hangup", {}, {})
    version = build_version(org_a, spec)
    with pytest.raises(FlowInvalid) as raised:
        flow_version_publish(version=version)
    assert raised.value.errors == ["Node “orphan”: it cannot be reached from the start node."]
    version.refresh_from_db()
    assert version.status == FlowVersion.Status.DRAFT


def test_one_published_version_and_rollback(org_a, queue, admin_a):
    first = build_version(org_a, ivr_spec())
    flow_version_publish(version=first, actor=admin_a)
    second = flow_version_create(flow=first.flow, actor=admin_a, from_version=first)
    assert second.number == 2 and second.status == FlowVersion.Status.DRAFT
    assert list(second.nodes.values_list("key", flat=True)) == list(
        first.nodes.values_list("key", flat=True)
    )
    assert second.transitions.count() == first.transitions.count()

    flow_version_publish(version=second, actor=admin_a)
    first.refresh_from_db()
    assert first.status == FlowVersion.Status.ARCHIVED
    assert first.flow.versions.filter(status="published").get() == second

    flow_version_rollback(version=first, actor=admin_a)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == FlowVersion.Status.PUBLISHED
    assert second.status == FlowVersion.Status.ARCHIVED
    events = Event.objects.filter(type="flow.published").order_by("id")
    assert [e.data for e in events] == [
        {"flow": first.flow_id, "version": 1, "previous": None, "rollback": False},
        {"flow": first.flow_id, "version": 2, "previous": 1, "rollback": False},
        {"flow": first.flow_id, "version": 1, "previous": 2, "rollback": True},
    ]
    assert {e.actor for e in events} == {admin_a}


def test_the_database_refuses_two_published_versions(org_a, queue):
    from django.db import IntegrityError, transaction

    first = build_version(org_a, ivr_spec(), status="published")
    with pytest.raises(IntegrityError), transaction.atomic():
        build_version(org_a, ivr_spec(), flow=first.flow, status="published")


def test_rollback_needs_an_archived_version(org_a, queue):
    version = build_version(org_a, ivr_spec())
    with pytest.raises(ValueError):
        flow_version_rollback(version=version)


def test_time_window_needs_times_and_a_real_zone(org_a):
    spec = {
        "night": (
            "condition",
            {"test": "time_window", "start": "8h", "end": "18:00", "time_zone": "Mars/Olympus"},
            {"true": "end", "false": "end"},
        ),
        "end": ("hangup", {}, {}),
    }
    assert flow_validate(build_version(org_a, spec)) == [
        "Node “night”: a time window needs a start and an end as HH:MM.",
        "Node “night”: unknown time zone “Mars/Olympus”.",
    ]


def test_geographic_conditions_need_codes(org_a):
    spec = {
        "country": (
            "condition",
            {"test": "caller_country", "in": ["France"]},
            {"true": "area", "false": "area"},
        ),
        "area": (
            "condition",
            {"test": "area_code", "in": ["+1 212"]},
            {"true": "end", "false": "end"},
        ),
        "end": ("hangup", {}, {}),
    }
    assert flow_validate(build_version(org_a, spec)) == [
        "Node “country”: countries are two-letter ISO codes in capitals (FR, US…).",
        "Node “area”: area codes are digits, without the country code.",
    ]
