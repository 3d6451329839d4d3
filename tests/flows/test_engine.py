import json
import threading
from datetime import UTC, date, datetime, time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from apps.flows.engine import FlowContext, flow_advance, flow_start
from apps.queues.models import BusinessHours, BusinessHoursPeriod, Holiday
from tests.factories import ContactFactory, QueueFactory
from tests.flows.factories import build_version, ivr_spec

pytestmark = pytest.mark.django_db


def roundtrip(step):
    """Between two calls the session lives as JSON (Interaction.data, a form field)."""
    return json.loads(json.dumps(step.session))


def advance(step, text, **kwargs):
    return flow_advance(roundtrip(step), text, **kwargs)


@pytest.fixture
def queue(org_a):
    return QueueFactory(organization=org_a, name="Billing")


@pytest.fixture
def ivr(org_a, queue):
    return build_version(org_a, ivr_spec())


def texts(step):
    return [p["text"] for p in step.prompts]


def test_menu_by_key(org_a, ivr, queue):
    step = flow_start(ivr, FlowContext(organization=org_a))
    assert texts(step) == ["Welcome to Acme.", "Press 1 for billing, 2 for support, or say agent."]
    assert step.question["kind"] == "menu"
    assert [c["id"] for c in step.question["choices"]] == ["1", "2", "agent"]
    assert step.decision is None

    final = advance(step, "1")
    assert final.decision == {
        "action": "enqueue",
        "queue": "Billing",
        "queue_id": queue.pk,
        "priority": 5,
        "skills": [],
    }
    assert final.session["path"] == ["welcome", "main", "billing"]


def test_menu_by_keyword_said_or_typed(org_a, ivr):
    step = flow_start(ivr, FlowContext(organization=org_a))
    assert advance(step, "I'd like to talk to a Human please").session["path"][-1] == "support"
    assert advance(step, "invoice").session["path"][-1] == "billing"
    assert advance(step, "Billing").session["path"][-1] == "billing"  # a button's title
    assert advance(step, "agent").session["path"][-1] == "support"  # a button's id


def test_invalid_input_retries_then_takes_the_invalid_outcome(org_a, ivr):
    step = flow_start(ivr, FlowContext(organization=org_a))
    again = advance(step, "7")
    assert texts(again) == [
        "Sorry, I did not understand.",
        "Press 1 for billing, 2 for support, or say agent.",
    ]
    assert again.question is not None
    final = advance(again, "banana")
    assert texts(final) == ["Goodbye."]
    assert final.decision == {"action": "hangup"}
    assert final.session["path"] == ["welcome", "main", "main", "bye"]


def test_timeout_outcome(org_a, ivr):
    step = flow_start(ivr, FlowContext(organization=org_a))
    again = advance(step, None)
    assert texts(again)[0] == "Sorry, I did not get an answer."
    final = advance(again, "")
    assert final.decision == {"action": "hangup"}
    assert final.session["retries"] == {"main": 2}


def test_collect_with_regex_fills_a_variable_used_in_prompts(org_a):
    spec = {
        "account": (
            "collect",
            {
                "prompt": "Your account number?",
                "variable": "account",
                "input": "text",
                "regex": r"AC-\d{5}",
                "retries": 1,
            },
            {"next": "thanks", "invalid": "bye"},
        ),
        "thanks": (
            "say",
            {"prompt": "Account {{ account }}, thank you {{contact.first_name}}."},
            {"next": "bye"},
        ),
        "bye": ("hangup", {}, {}),
    }
    version = build_version(org_a, spec)
    contact = ContactFactory(organization=org_a, first_name="Camille")
    step = flow_start(version, FlowContext(organization=org_a, contact=contact, channel="chat"))
    retry = advance(step, "12345")
    assert texts(retry)[0] == "Sorry, I did not understand."
    final = advance(retry, "AC-10293")
    assert texts(final) == ["Account AC-10293, thank you Camille."]
    assert final.session["vars"] == {"account": "AC-10293"}


def test_collect_digits_with_lengths(org_a):
    spec = {
        "pin": (
            "collect",
            {"prompt": "PIN?", "variable": "pin", "min_length": 4, "max_length": 4, "retries": 0},
            {"next": "ok", "invalid": "bye"},
        ),
        "ok": ("hangup", {"prompt": "ok"}, {}),
        "bye": ("hangup", {"prompt": "bye"}, {}),
    }
    version = build_version(org_a, spec)
    step = flow_start(version, FlowContext(organization=org_a))
    assert step.question["num_digits"] == 4 and step.question["input"] == "digits"
    assert texts(advance(step, "1234#")) == ["ok"]
    assert texts(advance(step, "12a4")) == ["bye"]


def _condition_flow(org, condition):
    return build_version(
        org,
        {
            "check": ("condition", condition, {"true": "yes", "false": "no"}),
            "yes": ("hangup", {"prompt": "yes"}, {}),
            "no": ("hangup", {"prompt": "no"}, {}),
        },
    )


def branch(version, org, **context):
    return texts(flow_start(version, FlowContext(organization=org, **context)))[0]


@pytest.fixture
def office_hours(org_a):
    hours = BusinessHours.objects.create(
        organization=org_a, name="Office", time_zone="Europe/Paris"
    )
    for weekday in range(5):
        BusinessHoursPeriod.objects.create(
            hours=hours, weekday=weekday, opens=time(9), closes=time(18)
        )
    Holiday.objects.create(hours=hours, date=date(2026, 12, 25), name="Christmas")
    return hours


def test_business_hours_open_closed_and_holiday(org_a, office_hours):
    version = _condition_flow(org_a, {"test": "business_hours", "hours": "Office"})
    tuesday_noon = datetime(2026, 12, 22, 11, 0, tzinfo=UTC)  # 12:00 in Paris
    tuesday_night = datetime(2026, 12, 22, 20, 0, tzinfo=UTC)
    christmas_noon = datetime(2026, 12, 25, 11, 0, tzinfo=UTC)  # a Friday
    assert branch(version, org_a, now=tuesday_noon) == "yes"
    assert branch(version, org_a, now=tuesday_night) == "no"
    assert branch(version, org_a, now=christmas_noon) == "no"


def test_time_window(org_a):
    version = _condition_flow(
        org_a, {"test": "time_window", "start": "22:00", "end": "06:00", "time_zone": "UTC"}
    )
    assert branch(version, org_a, now=datetime(2026, 1, 5, 23, 0, tzinfo=UTC)) == "yes"
    assert branch(version, org_a, now=datetime(2026, 1, 5, 12, 0, tzinfo=UTC)) == "no"


def test_vip_tier(org_a):
    version = _condition_flow(org_a, {"test": "tier", "in": ["vip", "gold"]})
    assert branch(version, org_a, contact=ContactFactory(organization=org_a, tier="vip")) == "yes"
    assert branch(version, org_a, contact=ContactFactory(organization=org_a)) == "no"
    assert branch(version, org_a) == "no"  # an unknown caller


def test_caller_country_and_area_code(org_a):
    france = _condition_flow(org_a, {"test": "caller_country", "in": ["FR", "BE"]})
    new_york = _condition_flow(org_a, {"test": "area_code", "in": ["212", "646"]})
    assert branch(france, org_a, caller="+33612345678") == "yes"
    assert branch(france, org_a, caller="+442079460958") == "no"
    assert branch(new_york, org_a, caller="+12125550100") == "yes"
    assert branch(new_york, org_a, caller="+13105550100") == "no"
    assert branch(new_york, org_a, caller="anonymous") == "no"


def test_contact_custom_field_and_variable(org_a):
    premium = _condition_flow(
        org_a, {"test": "contact_field", "field": "plan", "op": "eq", "value": "premium"}
    )
    contact = ContactFactory(
        organization=org_a, custom_fields={"plan": "Premium", "balance": "12.5"}
    )
    assert branch(premium, org_a, contact=contact) == "yes"
    owing = _condition_flow(
        org_a, {"test": "contact_field", "field": "balance", "op": "gt", "value": "10"}
    )
    assert branch(owing, org_a, contact=contact) == "yes"
    variable = _condition_flow(
        org_a, {"test": "variable", "variable": "reason", "op": "contains", "value": "refund"}
    )
    assert branch(variable, org_a, variables={"reason": "A REFUND please"}) == "yes"
    assert branch(variable, org_a, variables={}) == "no"


def _lookup_flow(org, config):
    return build_version(
        org,
        {
            "find": ("lookup", config, {"next": "said", "error": "sorry"}),
            "said": ("hangup", {"prompt": "Your balance is {{ balance }} euros."}, {}),
            "sorry": ("hangup", {"prompt": "Sorry, no balance."}, {}),
        },
    )


def test_lookup_from_a_contact_field(org_a):
    version = _lookup_flow(org_a, {"source": "contact", "field": "balance", "variable": "balance"})
    rich = ContactFactory(organization=org_a, custom_fields={"balance": "42.10"})
    assert branch(version, org_a, contact=rich) == "Your balance is 42.10 euros."
    assert (
        branch(version, org_a, contact=ContactFactory(organization=org_a)) == "Sorry, no balance."
    )


class _Accounts(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/big":
            body = json.dumps({"data": {"balance": 1, "pad": "x" * 100_000}}).encode()
            self.send_response(200)
        elif self.path == "/html":
            body = b"<html>oops</html>"
            self.send_response(200)
        elif self.path.startswith("/accounts/AC%2010293"):
            body = json.dumps({"data": {"balance": 17.5, "history": [1, 2]}}).encode()
            self.send_response(200)
        else:
            body = b'{"detail": "not found"}'
            self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        sent = json.loads(self.rfile.read(length))
        body = json.dumps({"balance": f"{sent['account']}:9"}).encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def accounts_server():
    server = HTTPServer(("127.0.0.1", 0), _Accounts)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_http_lookup_get_and_post(org_a, accounts_server, settings):
    settings.FLOWS_LOOKUP_ALLOW_PRIVATE_NETWORKS = True
    contact = ContactFactory(organization=org_a, custom_fields={"account_number": "AC 10293"})
    get = _lookup_flow(
        org_a,
        {
            "source": "http",
            "url": accounts_server + "/accounts/{{ contact.account_number }}",
            "path": "data.balance",
            "variable": "balance",
            "timeout": 2,
        },
    )
    assert branch(get, org_a, contact=contact) == "Your balance is 17.5 euros."
    post = _lookup_flow(
        org_a,
        {
            "source": "http",
            "method": "POST",
            "url": accounts_server + "/balance",
            "body": {"account": "{{ contact.account_number }}"},
            "path": "balance",
            "variable": "balance",
        },
    )
    assert branch(post, org_a, contact=contact) == "Your balance is AC 10293:9 euros."
    unknown = ContactFactory(organization=org_a, custom_fields={"account_number": "nobody"})
    assert branch(get, org_a, contact=unknown) == "Sorry, no balance."  # a 404


def test_http_lookup_errors(org_a, accounts_server, settings):
    settings.FLOWS_LOOKUP_ALLOW_PRIVATE_NETWORKS = True
    config = {"source": "http", "path": "data.balance", "variable": "balance", "timeout": 1}
    closed = accounts_server.rsplit(":", 1)[0] + ":9"  # nothing listens on port 9
    unreachable = _lookup_flow(org_a, {**config, "url": closed + "/accounts/x"})
    assert branch(unreachable, org_a) == "Sorry, no balance."
    for path in ("/big", "/html"):  # too large, not JSON
        broken = _lookup_flow(org_a, {**config, "url": accounts_server + path})
        assert branch(broken, org_a) == "Sorry, no balance."
    # Private addresses are refused unless the deployment allows them.
    settings.FLOWS_LOOKUP_ALLOW_PRIVATE_NETWORKS = False
    contact = ContactFactory(organization=org_a, custom_fields={"account_number": "AC 10293"})
    internal = _lookup_flow(
        org_a, {**config, "url": accounts_server + "/accounts/{{ contact.account_number }}"}
    )
    assert branch(internal, org_a, contact=contact) == "Sorry, no balance."


def test_set_variables_and_language(org_a):
    version = build_version(
        org_a,
        {
            "greet": (
                "set",
                {
                    "variables": {
                        "who": "{{ contact.first_name }}",
                        "evil": "{{ settings.SECRET_KEY }}",
                    }
                },
                {"next": "hello"},
            ),
            "hello": (
                "hangup",
                {"prompt": {"en": "Hello {{ who }}{{ evil }}!", "fr": "Bonjour {{ who }} !"}},
                {},
            ),
        },
    )
    camille = ContactFactory(organization=org_a, first_name="Camille", language="fr")
    james = ContactFactory(organization=org_a, first_name="James", language="")
    assert branch(version, org_a, contact=camille) == "Bonjour Camille !"
    assert branch(version, org_a, contact=james) == "Hello James!"  # the organization's language


def test_enqueue_with_priority_and_skills(org_a, queue):
    from apps.queues.models import Skill

    Skill.objects.create(organization=org_a, name="French")
    version = build_version(
        org_a,
        {"go": ("enqueue", {"queue": "Billing", "priority": 20, "skills": ["French"]}, {})},
    )
    step = flow_start(version, FlowContext(organization=org_a))
    assert step.decision == {
        "action": "enqueue",
        "queue": "Billing",
        "queue_id": queue.pk,
        "priority": 20,
        "skills": ["French"],
    }
    assert step.is_final and step.question is None


def test_callback_offer(org_a, queue):
    version = build_version(
        org_a,
        {
            "offer": (
                "callback_offer",
                {"prompt": "Press 1 to be called back, 2 to wait.", "queue": "Billing"},
                {"accepted": "thanks", "declined": "wait"},
            ),
            "thanks": ("hangup", {"prompt": "We will call you back."}, {}),
            "wait": ("enqueue", {"queue": "Billing"}, {}),
        },
    )
    step = flow_start(version, FlowContext(organization=org_a))
    assert [c["id"] for c in step.question["choices"]] == ["accepted", "declined"]
    accepted = advance(step, "1")
    assert texts(accepted) == ["We will call you back."]
    assert accepted.decision == {"action": "callback", "queue": "Billing", "keep_place": True}
    assert advance(step, "no thanks").decision["action"] == "enqueue"


def test_transfer_voicemail_and_hangup(org_a, admin_a):
    transfer = build_version(org_a, {"t": ("transfer", {"number": "+33142000000"}, {})})
    assert flow_start(transfer, FlowContext(organization=org_a)).decision == {
        "action": "transfer",
        "number": "+33142000000",
        "agent": "",
    }
    mailbox = build_version(org_a, {"v": ("voicemail", {"agent": admin_a.username}, {})})
    assert flow_start(mailbox, FlowContext(organization=org_a)).decision == {
        "action": "voicemail",
        "queue": "",
        "agent": admin_a.username,
    }
    bye = build_version(org_a, {"b": ("hangup", {"prompt": "Bye"}, {})})
    step = flow_start(bye, FlowContext(organization=org_a))
    assert step.decision == {"action": "hangup"} and texts(step) == ["Bye"]


def test_a_finished_session_stays_finished(org_a, ivr):
    final = advance(flow_start(ivr, FlowContext(organization=org_a)), "1")
    again = advance(final, "2")
    assert again.decision == final.decision and again.prompts == []
