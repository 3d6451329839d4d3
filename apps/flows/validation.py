"""Is a flow version fit to publish? Human messages naming the node, never an exception."""

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from django.utils.translation import gettext as _

from apps.flows.models import FlowVersion, NodeKind
from apps.flows.selectors import Graph, flow_graph

DTMF_KEYS = set("0123456789*#")
INPUT_KINDS = {NodeKind.MENU, NodeKind.COLLECT, NodeKind.CALLBACK_OFFER}
TERMINAL_KINDS = {NodeKind.ENQUEUE, NodeKind.VOICEMAIL, NodeKind.TRANSFER, NodeKind.HANGUP}
CONDITION_TESTS = {
    "business_hours",
    "time_window",
    "tier",
    "contact_field",
    "variable",
    "caller_country",
    "area_code",
}
COMPARE_OPS = {"eq", "ne", "in", "contains", "gt", "gte", "lt", "lte", "empty", "not_empty"}
# Contact attributes a flow may read besides the organization's custom fields.
CONTACT_ATTRIBUTES = ("first_name", "last_name", "tier", "language", "external_id", "company")
VARIABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,49}$")
TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


# What a supervisor writes in a node's config, by kind (shown beside the editor).
KIND_EXAMPLES = {
    NodeKind.SAY: '{"prompt": {"en": "Welcome to {{ organization.name }}.", "fr": "Bienvenue."}, '
    '"audio": "https://…/welcome.mp3"}',
    NodeKind.MENU: '{"prompt": {"en": "Billing, press 1. Or say agent."}, "options": [{"key": "1", '
    '"title": "Billing", "keywords": ["billing", "invoice"]}, {"outcome": "agent", "title": '
    '"An agent", "keywords": ["agent"]}], "timeout": 5, "retries": 2}  → edges: 1, agent, '
    "invalid, timeout",
    NodeKind.COLLECT: '{"prompt": "Your account number?", "variable": "account", "input": '
    '"digits", "min_length": 6, "max_length": 8, "regex": "\\d+", "timeout": 8, "retries": 2}'
    ' · a card number: add "sensitive": true (the call recording pauses during the step)'
    "  → edges: next, invalid, timeout",
    NodeKind.CONDITION: '{"test": "business_hours", "hours": "Office hours"} · {"test": '
    '"time_window", "start": "08:00", "end": "18:00", "days": [0, 1, 2, 3, 4]} · {"test": "tier", '
    '"in": ["vip"]} · {"test": "contact_field", "field": "plan", "op": "eq", "value": '
    '"Premium"} · {"test": "variable", "variable": "account", "op": "not_empty"} · {"test": '
    '"caller_country", "in": ["FR"]} · {"test": "area_code", "in": ["212"]}  → edges: true, '
    "false",
    NodeKind.LOOKUP: '{"source": "contact", "field": "balance", "variable": "balance"} · '
    '{"source": "http", "method": "GET", "url": "https://crm.example.com/a/{{ account }}", '
    '"path": "data.balance", "variable": "balance", "timeout": 3}  → edges: next, error',
    NodeKind.SET: '{"variables": {"greeting": "Hello {{ contact.first_name }}"}}',
    NodeKind.ENQUEUE: '{"queue": "Billing", "priority": 10, "skills": ["French"]}  (ends)',
    NodeKind.VOICEMAIL: '{"queue": "Billing"} or {"agent": "username"}  (ends)',
    NodeKind.CALLBACK_OFFER: '{"prompt": "Press 1 to be called back, 2 to wait.", "queue": '
    '"Billing"}  → edges: accepted, declined',
    NodeKind.TRANSFER: '{"number": "+33142000000"} or {"agent": "username"}  (ends)',
    NodeKind.HANGUP: '{"prompt": "Goodbye."}  (ends; a callback if one was accepted)',
}


def menu_options(config: dict) -> list[dict]:
    """A menu's options, each with its outcome (its own, else its key, else its first keyword)."""
    options = []
    for option in config.get("options") or []:
        if not isinstance(option, dict):
            continue
        keywords = [str(k).strip().lower() for k in option.get("keywords") or [] if str(k).strip()]
        key = str(option.get("key") or "").strip()
        outcome = str(option.get("outcome") or key or (keywords[0] if keywords else "")).strip()
        options.append({**option, "key": key, "keywords": keywords, "outcome": outcome})
    return options


def expected_outcomes(kind: str, config: dict) -> tuple[set[str], set[str]]:
    """(outcomes that must have an edge, outcomes that may have one) of a node."""
    if kind in (NodeKind.SAY, NodeKind.SET):
        return {"next"}, set()
    if kind == NodeKind.COLLECT:
        return {"next"}, {"invalid", "timeout"}
    if kind == NodeKind.MENU:
        return {o["outcome"] for o in menu_options(config) if o["outcome"]}, {"invalid", "timeout"}
    if kind == NodeKind.CONDITION:
        return {"true", "false"}, set()
    if kind == NodeKind.LOOKUP:
        return {"next", "error"}, set()
    if kind == NodeKind.CALLBACK_OFFER:
        return {"accepted", "declined"}, {"invalid", "timeout"}
    return set(), set()


def _has_text(value) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, dict):
        return any(isinstance(v, str) and v.strip() for v in value.values())
    return False


def _int_in(config: dict, name: str, low: int, high: int) -> bool:
    value = config.get(name)
    return value is None or (
        isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    )


class _Checker:
    def __init__(self, graph: Graph, organization_id: int):
        self.graph = graph
        self.organization_id = organization_id
        self.errors: list[str] = []

    def error(self, key: str, message: str) -> None:
        self.errors.append(_("Node “%(node)s”: %(problem)s") % {"node": key, "problem": message})

    # --- config per kind -------------------------------------------------------------------
    def check_config(self, key: str, kind: str, config: dict) -> None:
        check = getattr(self, f"_config_{kind}", None)
        if check is None:
            self.error(key, _("unknown kind “%(kind)s”.") % {"kind": kind})
            return
        if "sensitive" in config:
            if kind != NodeKind.COLLECT:
                self.error(key, _("only a “collect input” step can be sensitive."))
            elif not isinstance(config["sensitive"], bool):
                self.error(key, _("“sensitive” must be true or false."))
        if kind in INPUT_KINDS:
            if not _int_in(config, "timeout", 1, 60):
                self.error(key, _("the timeout must be a number of seconds from 1 to 60."))
            if not _int_in(config, "retries", 0, 5):
                self.error(key, _("retries must be a number from 0 to 5."))
        check(key, config)

    def _prompt_required(self, key: str, config: dict) -> None:
        if not _has_text(config.get("prompt")) and not config.get("audio"):
            self.error(key, _("it needs a prompt (text per language) or an audio URL."))

    def _variable(self, key: str, config: dict, name: str = "variable") -> None:
        if not VARIABLE_NAME.match(str(config.get(name) or "")):
            self.error(
                key,
                _("“%(name)s” must be a variable name (lower case, digits, _).") % {"name": name},
            )

    def _config_say(self, key: str, config: dict) -> None:
        self._prompt_required(key, config)
        audio = config.get("audio")
        if audio and not str(audio).startswith(("https://", "http://")):
            self.error(key, _("the audio must be an http(s) URL."))

    def _config_menu(self, key: str, config: dict) -> None:
        self._prompt_required(key, config)
        options = menu_options(config)
        if not options:
            self.error(key, _("a menu needs at least one option."))
        seen_keys, seen_outcomes = set(), set()
        for option in options:
            if option["key"] and option["key"] not in DTMF_KEYS:
                self.error(
                    key,
                    _("menu key “%(key)s” is not a phone key (0-9, * or #).")
                    % {"key": option["key"]},
                )
            if not option["key"] and not option["keywords"]:
                self.error(key, _("every menu option needs a key or keywords."))
            if option["key"] and option["key"] in seen_keys:
                self.error(key, _("menu key “%(key)s” is used twice.") % {"key": option["key"]})
            if option["outcome"] in seen_outcomes:
                self.error(
                    key,
                    _("menu outcome “%(outcome)s” is used twice.") % {"outcome": option["outcome"]},
                )
            seen_keys.add(option["key"])
            seen_outcomes.add(option["outcome"])

    def _config_collect(self, key: str, config: dict) -> None:
        self._prompt_required(key, config)
        self._variable(key, config)
        if config.get("input", "digits") not in ("digits", "text"):
            self.error(key, _("input must be “digits” or “text”."))
        if not _int_in(config, "min_length", 0, 100) or not _int_in(config, "max_length", 1, 100):
            self.error(key, _("lengths must be numbers from 0 to 100."))
        elif (config.get("min_length") or 0) > (config.get("max_length") or 100):
            self.error(key, _("the minimum length is above the maximum."))
        if config.get("regex"):
            try:
                re.compile(config["regex"])
            except re.error as exc:
                self.error(key, _("the pattern does not compile: %(error)s") % {"error": exc})

    def _config_condition(self, key: str, config: dict) -> None:
        from apps.queues.models import BusinessHours

        test = config.get("test")
        if test not in CONDITION_TESTS:
            self.error(
                key,
                _("the test must be one of: %(tests)s.")
                % {"tests": ", ".join(sorted(CONDITION_TESTS))},
            )
            return
        if test == "business_hours":
            if not BusinessHours.objects.filter(
                organization_id=self.organization_id, name=config.get("hours") or ""
            ).exists():
                self.error(
                    key, _("no business hours named “%(name)s”.") % {"name": config.get("hours")}
                )
        elif test == "time_window":
            if not TIME.match(str(config.get("start"))) or not TIME.match(str(config.get("end"))):
                self.error(key, _("a time window needs a start and an end as HH:MM."))
            if config.get("time_zone"):
                try:
                    ZoneInfo(str(config["time_zone"]))
                except (ZoneInfoNotFoundError, ValueError):
                    self.error(
                        key, _("unknown time zone “%(zone)s”.") % {"zone": config["time_zone"]}
                    )
            days = config.get("days")
            if days is not None and not (
                isinstance(days, list) and all(isinstance(d, int) and 0 <= d <= 6 for d in days)
            ):
                self.error(key, _("days must be a list of weekdays, 0 (Monday) to 6 (Sunday)."))
        elif test in ("tier", "caller_country", "area_code"):
            values = config.get("in")
            if not isinstance(values, list) or not values:
                self.error(key, _("“in” must list the values to match."))
            elif test == "caller_country" and not all(
                re.fullmatch(r"[A-Z]{2}", str(v)) for v in values
            ):
                self.error(key, _("countries are two-letter ISO codes in capitals (FR, US…)."))
            elif test == "area_code" and not all(str(v).isdigit() for v in values):
                self.error(key, _("area codes are digits, without the country code."))
        elif test in ("contact_field", "variable"):
            name = "field" if test == "contact_field" else "variable"
            if not str(config.get(name) or "").strip():
                self.error(key, _("the condition needs “%(name)s”.") % {"name": name})
            elif test == "contact_field":
                self._contact_field(key, config["field"])
            if config.get("op", "eq") not in COMPARE_OPS:
                self.error(
                    key,
                    _("the operator must be one of: %(ops)s.")
                    % {"ops": ", ".join(sorted(COMPARE_OPS))},
                )

    def _config_lookup(self, key: str, config: dict) -> None:
        self._variable(key, config)
        source = config.get("source", "contact")
        if source == "contact":
            if not str(config.get("field") or "").strip():
                self.error(key, _("a contact lookup needs the “field” to read."))
            else:
                self._contact_field(key, config["field"])
        elif source == "http":
            if not str(config.get("url") or "").startswith(("https://", "http://")):
                self.error(key, _("an HTTP lookup needs an http(s) URL."))
            if config.get("method", "GET") not in ("GET", "POST"):
                self.error(key, _("the method must be GET or POST."))
            if not _int_in(config, "timeout", 1, 10):
                self.error(key, _("the timeout must be a number of seconds from 1 to 10."))
        else:
            self.error(key, _("the source must be “contact” or “http”."))

    def _config_set(self, key: str, config: dict) -> None:
        variables = config.get("variables")
        if not isinstance(variables, dict) or not variables:
            self.error(key, _("“variables” must map names to values."))
            return
        for name in variables:
            if not VARIABLE_NAME.match(str(name)):
                self.error(key, _("“%(name)s” is not a variable name.") % {"name": name})

    def _contact_field(self, key: str, name) -> None:
        from apps.contacts.models import ContactField

        if name in CONTACT_ATTRIBUTES:
            return
        if not ContactField.objects.filter(organization_id=self.organization_id, key=name).exists():
            self.error(key, _("contacts have no field “%(name)s”.") % {"name": name})

    def _queue_exists(self, name) -> bool:
        from apps.queues.models import Queue

        return Queue.objects.filter(organization_id=self.organization_id, name=name or "").exists()

    def _agent_exists(self, username) -> bool:
        from apps.accounts.models import User

        return User.objects.filter(
            organization_id=self.organization_id, username=username or "", is_active=True
        ).exists()

    def _config_enqueue(self, key: str, config: dict) -> None:
        from apps.queues.models import Skill

        if not self._queue_exists(config.get("queue")):
            self.error(key, _("no queue named “%(name)s”.") % {"name": config.get("queue")})
        if not _int_in(config, "priority", -100, 100):
            self.error(key, _("the priority must be a number from -100 to 100."))
        skills = config.get("skills") or []
        if not isinstance(skills, list):
            self.error(key, _("skills must be a list of skill names."))
            return
        known = set(
            Skill.objects.filter(organization_id=self.organization_id, name__in=skills).values_list(
                "name", flat=True
            )
        )
        for skill in skills:
            if skill not in known:
                self.error(key, _("no skill named “%(name)s”.") % {"name": skill})

    def _mailbox_or_agent(self, key: str, config: dict, *, number: bool) -> None:
        targets = [name for name in ("queue", "agent", "number") if config.get(name)]
        if len(targets) != 1 or (targets[0] == "number" and not number):
            wanted = _("a number or an agent") if number else _("a queue or an agent")
            self.error(key, _("it needs exactly one target: %(wanted)s.") % {"wanted": wanted})
            return
        target = targets[0]
        if target == "queue" and not self._queue_exists(config["queue"]):
            self.error(key, _("no queue named “%(name)s”.") % {"name": config["queue"]})
        if target == "agent" and not self._agent_exists(config["agent"]):
            self.error(key, _("no active user named “%(name)s”.") % {"name": config["agent"]})
        if target == "number":
            try:
                valid = phonenumbers.is_possible_number(phonenumbers.parse(str(config["number"])))
            except phonenumbers.NumberParseException:
                valid = False
            if not valid:
                self.error(
                    key,
                    _("“%(number)s” is not a phone number in international format (+…).")
                    % {"number": config["number"]},
                )

    def _config_voicemail(self, key: str, config: dict) -> None:
        self._mailbox_or_agent(key, config, number=False)

    def _config_transfer(self, key: str, config: dict) -> None:
        self._mailbox_or_agent(key, config, number=True)

    def _config_callback_offer(self, key: str, config: dict) -> None:
        self._prompt_required(key, config)
        if config.get("queue") and not self._queue_exists(config["queue"]):
            self.error(key, _("no queue named “%(name)s”.") % {"name": config["queue"]})
        for name in ("accept_key", "decline_key"):
            if config.get(name) and str(config[name]) not in DTMF_KEYS:
                self.error(key, _("“%(name)s” must be a phone key (0-9, * or #).") % {"name": name})

    def _config_hangup(self, key: str, config: dict) -> None:
        return None


def graph_validate(graph: Graph) -> list[str]:
    """Every problem of a graph, in a stable order (structure first, then node by node)."""
    checker = _Checker(graph, graph.organization_id)
    errors = checker.errors
    starts = graph.starts
    if not graph.nodes:
        return [_("The flow has no nodes.")]
    if len(starts) != 1:
        if starts:
            errors.append(
                _("The flow has %(count)s start nodes (%(nodes)s); it needs exactly one.")
                % {"count": len(starts), "nodes": ", ".join(starts)}
            )
        else:
            errors.append(_("The flow has no start node; mark exactly one node as the start."))
    for key in graph.order:
        node = graph.nodes[key]
        edges = graph.edges.get(key, {})
        for outcome, target in sorted(edges.items()):
            if target not in graph.nodes:
                checker.error(
                    key,
                    _(
                        "the “%(outcome)s” edge goes to “%(target)s”, "
                        "which is not a node of this version."
                    )
                    % {"outcome": outcome, "target": target},
                )
        required, optional = expected_outcomes(node["kind"], node["config"])
        for outcome in sorted(required - set(edges)):
            checker.error(key, _("the “%(outcome)s” outcome goes nowhere.") % {"outcome": outcome})
        for outcome in sorted(set(edges) - required - optional):
            if node["kind"] in TERMINAL_KINDS:
                checker.error(
                    key,
                    _("it ends the flow, so its “%(outcome)s” edge is never followed.")
                    % {"outcome": outcome},
                )
            else:
                checker.error(
                    key, _("this kind never has the outcome “%(outcome)s”.") % {"outcome": outcome}
                )
        checker.check_config(key, node["kind"], node["config"])
    if len(starts) == 1:
        reached = _reachable(graph, starts[0])
        for key in graph.order:
            if key not in reached:
                checker.error(key, _("it cannot be reached from the start node."))
    errors.extend(_loops(graph))
    return errors


def _reachable(graph: Graph, start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for target in graph.edges.get(todo.pop(), {}).values():
            if target in graph.nodes and target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _loops(graph: Graph) -> list[str]:
    """Cycles the caller could never leave: no menu, collect or callback offer in between."""
    auto = {k for k, n in graph.nodes.items() if n["kind"] not in INPUT_KINDS | TERMINAL_KINDS}

    def successors(key):
        return {t for t in graph.edges.get(key, {}).values() if t in auto}

    reported: set[frozenset] = set()
    errors = []
    for key in graph.order:
        if key not in auto:
            continue
        # Nodes from which ``key`` can be reached again without any input in between.
        seen, todo, cycle = set(), [key], False
        while todo:
            for nxt in successors(todo.pop()):
                if nxt == key:
                    cycle = True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        if not cycle:
            continue
        members = frozenset(k for k in seen if key in _reach_auto(k, successors))
        members |= {key}
        if members in reported:
            continue
        reported.add(members)
        ordered = [k for k in graph.order if k in members]
        errors.append(
            _("Nodes %(nodes)s loop forever: put a menu or an input between them.")
            % {"nodes": " → ".join(f"“{k}”" for k in ordered)}
        )
    return errors


def _reach_auto(start: str, successors) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in successors(todo.pop()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def flow_validate(version: FlowVersion) -> list[str]:
    """The reasons this version cannot be published (empty: it can)."""
    return graph_validate(flow_graph(version=version))
