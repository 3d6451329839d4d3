"""The flow interpreter: one engine for IVR and chatbots, whatever the channel.

``flow_start(version, context)`` and ``flow_advance(session, input)`` return a :class:`Step`:
what to say, what to ask (a menu's choices, digits or text to collect, with timeouts), or the
final decision (enqueue, voicemail, callback, transfer, hang up). The session is plain JSON
(``Step.session``), meant for ``Interaction.data["flow"]`` or a signed form field; the engine
keeps nothing between calls. Renderers (``apps.flows.renderers``) turn a step into TwiML or chat
messages; what to do with a decision belongs to the channel that asked.

Prompts fill ``{{ name }}`` placeholders from the flow's variables and a whitelist of contact
and call fields, never through a template engine: admin text cannot reach any other data.
"""

import ipaddress
import json
import logging
import re
import socket
from dataclasses import asdict, dataclass, field
from datetime import datetime, time
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import phonenumbers
import requests
from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from apps.flows.models import FlowVersion, NodeKind
from apps.flows.selectors import Graph, flow_graph
from apps.flows.validation import CONTACT_ATTRIBUTES, menu_options

logger = logging.getLogger(__name__)

SESSION_FORMAT = 1
MAX_AUTOMATIC_STEPS = 100  # nodes run without input in one call; validation forbids such loops
MAX_VALUE_LENGTH = 500
MAX_LOOKUP_BYTES = 64 * 1024
MAX_PATH = 200  # nodes (and answers) remembered in the session
DEFAULT_TIMEOUT = 5
DEFAULT_RETRIES = 2
PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)?)\s*\}\}", re.IGNORECASE)
YES_WORDS = ["yes", "oui", "sí", "si", "ja", "ok"]
NO_WORDS = ["no", "non", "nein"]


@dataclass
class FlowContext:
    """Who is calling or writing, on which channel: what the flow may read about them."""

    organization: object
    contact: object | None = None
    channel: str = "voice"
    language: str = ""
    caller: str = ""  # the caller's number (E.164) for geographic conditions
    variables: dict = field(default_factory=dict)
    now: datetime | None = None


@dataclass
class Step:
    """What the channel does next: say ``prompts``, then ask ``question`` or carry out
    ``decision``. ``session`` is the state to keep for the next ``flow_advance``."""

    prompts: list[dict]
    question: dict | None
    decision: dict | None
    session: dict
    language: str

    @property
    def is_final(self) -> bool:
        return self.decision is not None

    def to_dict(self) -> dict:
        return asdict(self)


# --- small pure helpers ----------------------------------------------------------------------
def pick_text_language(value, language: str, fallback: str = "en") -> tuple[str, str]:
    """(text, its language) of ``value`` (a string, or texts by language): in ``language``,
    else the best other one, so a voice never reads English with a French accent."""
    if isinstance(value, str):
        return value, language
    if not isinstance(value, dict) or not value:
        return "", language
    for code in (language, language.split("-")[0], fallback, "en"):
        if code and isinstance(value.get(code), str) and value[code]:
            return value[code], code
    return next(((v, k) for k, v in value.items() if isinstance(v, str)), ("", language))


def pick_text(value, language: str, fallback: str = "en") -> str:
    return pick_text_language(value, language, fallback)[0]


def _normalise(text) -> str:
    return " ".join(str(text or "").strip().lower().split())


def _number(value) -> float | None:
    try:
        return float(str(value).strip().replace(",", "."))
    except (TypeError, ValueError):
        return None


def compare(op: str, left, right) -> bool:
    """A condition's comparison: text case-insensitively, numbers as numbers."""
    if op == "empty":
        return left in (None, "", [], {})
    if op == "not_empty":
        return left not in (None, "", [], {})
    if left is None:
        return op == "ne"
    if op == "in":
        return _normalise(left) in {_normalise(v) for v in (right or [])}
    if op == "contains":
        return _normalise(right) in _normalise(left)
    a, b = _number(left), _number(right)
    if op in ("gt", "gte", "lt", "lte"):
        if a is None or b is None:
            return False
        return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]
    same = (a == b) if a is not None and b is not None else _normalise(left) == _normalise(right)
    return same if op == "eq" else not same


def dotted(data, path: str):
    """``data["a"]["b"][0]`` for ``"a.b.0"``; ``None`` when any part is missing."""
    for part in [p for p in str(path or "").split(".") if p]:
        if isinstance(data, dict):
            data = data.get(part)
        elif (
            isinstance(data, list)
            and part.lstrip("-").isdigit()
            and -len(data) <= int(part) < len(data)
        ):
            data = data[int(part)]
        else:
            return None
    return data


def private_address(url: str) -> str:
    """Why a lookup may not call ``url`` (an internal address), or "" when it may."""
    if getattr(settings, "FLOWS_LOOKUP_ALLOW_PRIVATE_NETWORKS", False):
        return ""
    host = urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError as exc:
        return f"cannot resolve {host}: {exc}"
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global or ip.is_multicast:
            return f"{host} resolves to a non-public address ({ip})"
    return ""


# --- the run-time environment: what a flow may read ------------------------------------------
class _Run:
    def __init__(self, *, graph: Graph, session: dict, organization, contact, now):
        self.graph = graph
        self.session = session
        self.organization = organization
        self.contact = contact
        self.now = now or timezone.now()
        self.prompts: list[dict] = []

    @property
    def language(self) -> str:
        return self.session["language"]

    @property
    def vars(self) -> dict:
        return self.session["vars"]

    # Placeholders ------------------------------------------------------------------------
    def contact_value(self, name: str):
        contact = self.contact
        if contact is None:
            return None
        if name == "company":
            return contact.company.name if contact.company_id else ""
        if name in CONTACT_ATTRIBUTES:
            return getattr(contact, name)
        return (contact.custom_fields or {}).get(name)

    def lookup_name(self, name: str):
        if name.startswith("contact."):
            return self.contact_value(name.split(".", 1)[1])
        if name == "organization.name":
            return self.organization.name
        if name in ("caller", "channel", "language"):
            return self.session.get(name, "")
        return self.vars.get(name)

    def render(self, text: str, *, quote_values: bool = False) -> str:
        def fill(match):
            value = self.lookup_name(match.group(1).lower())
            value = "" if value is None else str(value)
            return quote(value, safe="") if quote_values else value

        return PLACEHOLDER.sub(fill, text or "")

    def say(self, value, audio: str = "") -> None:
        text, language = pick_text_language(value, self.language, self.organization.language)
        text = self.render(text)
        if text or audio:
            self.prompts.append({"text": text, "audio": audio, "language": language})

    # Graph walking -----------------------------------------------------------------------
    def follow(self, key: str, outcome: str) -> str | None:
        target = self.graph.edges.get(key, {}).get(outcome)
        return target if target in self.graph.nodes else None

    def finish(self, decision: dict) -> Step:
        self.session.update(node=None, done=True, decision=decision)
        return self.step(decision=decision)

    def step(self, *, question=None, decision=None) -> Step:
        return Step(
            prompts=self.prompts,
            question=question,
            decision=decision,
            session=self.session,
            language=self.language,
        )

    def visit(self, key: str) -> None:
        # Kept short: a caller looping through a menu all day must not grow the session forever.
        self.session["path"] = [*self.session["path"], key][-MAX_PATH:]

    def run(self, key: str | None) -> Step:
        for _i in range(MAX_AUTOMATIC_STEPS):
            if key is None:
                return self.finish({"action": "hangup", "reason": "no_route"})
            node = self.graph.nodes[key]
            self.session["node"] = key
            self.visit(key)
            try:
                key, step = self.execute(key, node["kind"], node["config"])
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                # Only an unvalidated draft gets here (the simulator): say where it broke.
                logger.warning(
                    "flows.node_failed",
                    extra={"version": self.graph.version_id, "node": key, "error": repr(exc)},
                )
                return self.finish({"action": "hangup", "reason": "error", "node": key})
            if step is not None:
                return step
        logger.warning("flows.loop", extra={"version": self.graph.version_id, "node": key})
        return self.finish({"action": "hangup", "reason": "loop"})

    def execute(self, key: str, kind: str, config: dict) -> tuple[str | None, Step | None]:
        """Run one node: (the next node's key, None), or (None, the step to hand back)."""
        if kind in (NodeKind.MENU, NodeKind.COLLECT, NodeKind.CALLBACK_OFFER):
            self.say(config.get("prompt"), config.get("audio", ""))
            return None, self.ask(key)
        if kind == NodeKind.SAY:
            self.say(config.get("prompt"), config.get("audio", ""))
            return self.follow(key, "next"), None
        if kind == NodeKind.SET:
            for name, template in (config.get("variables") or {}).items():
                self.vars[name] = self.render(str(template))[:MAX_VALUE_LENGTH]
            return self.follow(key, "next"), None
        if kind == NodeKind.CONDITION:
            return self.follow(key, "true" if self.condition(config) else "false"), None
        if kind == NodeKind.LOOKUP:
            return self.follow(key, "next" if self.lookup(config) else "error"), None
        self.say(config.get("prompt"), config.get("audio", ""))
        return None, self.finish(self.decision(kind, config))

    # Input nodes -------------------------------------------------------------------------
    def choices(self, key: str) -> list[dict]:
        node = self.graph.nodes[key]
        config = node["config"]
        if node["kind"] == NodeKind.CALLBACK_OFFER:
            with translation.override(self.language):
                yes, no = _("Yes, call me back"), _("No, I will wait")
            return [
                {
                    "id": "accepted",
                    "key": str(config.get("accept_key") or "1"),
                    "title": pick_text(config.get("accept_label"), self.language) or yes,
                    "keywords": [*(config.get("accept_keywords") or []), *YES_WORDS],
                },
                {
                    "id": "declined",
                    "key": str(config.get("decline_key") or "2"),
                    "title": pick_text(config.get("decline_label"), self.language) or no,
                    "keywords": [*(config.get("decline_keywords") or []), *NO_WORDS],
                },
            ]
        return [
            {
                "id": option["outcome"],
                "key": option["key"],
                "title": self.render(pick_text(option.get("title"), self.language))
                or option["outcome"],
                "keywords": option["keywords"],
            }
            for option in menu_options(config)
        ]

    def ask(self, key: str) -> Step:
        node = self.graph.nodes[key]
        config = node["config"]
        question = {
            "node": key,
            "kind": node["kind"],
            "timeout": config.get("timeout") or DEFAULT_TIMEOUT,
            "choices": [],
            "input": "any",
            "num_digits": None,
            "finish_on_key": "",
        }
        if node["kind"] == NodeKind.COLLECT:
            # A card number or the like: the channel keeps it out of recordings (PCI).
            question["sensitive"] = config.get("sensitive") is True
            question["input"] = config.get("input", "digits")
            if question["input"] == "digits":
                question["finish_on_key"] = config.get("finish_on_key", "#")
                if config.get("max_length") and config.get("max_length") == config.get(
                    "min_length"
                ):
                    question["num_digits"] = config["max_length"]
        else:
            question["choices"] = self.choices(key)
            if all(len(choice["key"]) == 1 for choice in question["choices"]):
                question["num_digits"] = 1
        self.session["awaiting"] = key
        return self.step(question=question)

    def match(self, key: str, text: str) -> str | None:
        """The outcome a menu answer means: a key, a button id, a title or a keyword said."""
        said = _normalise(text)
        if not said:
            return None
        choices = self.choices(key)
        for choice in choices:
            if said in (choice["key"], _normalise(choice["id"]), _normalise(choice["title"])):
                return choice["id"]
        words = set(re.findall(r"\w+", said))
        for choice in choices:
            for keyword in choice["keywords"]:
                keyword = _normalise(keyword)
                if keyword and (keyword in words or (" " in keyword and keyword in said)):
                    return choice["id"]
        return None

    def answer(self, text: str | None) -> Step:
        key = self.session.get("awaiting")
        node = self.graph.nodes[key]
        config = node["config"]
        self.session["awaiting"] = None
        text = "" if text is None else str(text)[:MAX_VALUE_LENGTH]
        self.session["inputs"] = [*self.session["inputs"], {"node": key, "input": text}][-MAX_PATH:]
        if node["kind"] == NodeKind.COLLECT:
            value = self.collected(config, text)
            if value is not None:
                self.vars[config["variable"]] = value
                return self.run(self.follow(key, "next"))
        else:
            outcome = self.match(key, text)
            if outcome is not None:
                if node["kind"] == NodeKind.CALLBACK_OFFER and outcome == "accepted":
                    self.session["callback"] = {"queue": config.get("queue") or ""}
                return self.run(self.follow(key, outcome))
        failure = "timeout" if not text.strip() else "invalid"
        retries = self.session["retries"]
        retries[key] = retries.get(key, 0) + 1
        allowed = config.get("retries", DEFAULT_RETRIES)
        if retries[key] <= allowed:
            with translation.override(self.language):
                default = (
                    _("Sorry, I did not get an answer.")
                    if failure == "timeout"
                    else _("Sorry, I did not understand.")
                )
            self.say(config.get(f"{failure}_prompt") or default)
            self.visit(key)
            self.say(config.get("prompt"), config.get("audio", ""))
            return self.ask(key)
        edges = self.graph.edges.get(key, {})
        outcome = failure if failure in edges else "invalid"
        if outcome not in edges:
            return self.finish({"action": "hangup", "reason": f"no_{failure}_route"})
        return self.run(self.follow(key, outcome))

    @staticmethod
    def collected(config: dict, text: str) -> str | None:
        value = text.strip()
        if config.get("input", "digits") == "digits":
            value = value.rstrip(config.get("finish_on_key", "#")).replace(" ", "")
            if not value.isdigit():
                return None
        if not value:
            return None
        if not (config.get("min_length") or 0) <= len(value) <= (config.get("max_length") or 100):
            return None
        if config.get("regex") and not re.fullmatch(config["regex"], value):
            return None
        return value

    # Conditions and lookups -------------------------------------------------------------
    def condition(self, config: dict) -> bool:
        test = config.get("test")
        if test == "business_hours":
            from apps.queues.hours import hours_is_open
            from apps.queues.models import BusinessHours

            hours = BusinessHours.objects.filter(
                organization=self.organization, name=config.get("hours") or ""
            ).first()
            return hours is not None and hours_is_open(hours=hours, at=self.now)
        if test == "time_window":
            zone = ZoneInfo(config.get("time_zone") or self.organization.time_zone)
            local = self.now.astimezone(zone)
            if config.get("days") is not None and local.weekday() not in config["days"]:
                return False
            start, end = time.fromisoformat(config["start"]), time.fromisoformat(config["end"])
            now = local.time()
            return start <= now < end if start <= end else (now >= start or now < end)
        if test == "tier":
            return self.contact is not None and compare("in", self.contact.tier, config["in"])
        if test == "contact_field":
            value = self.contact_value(config["field"])
            return compare(config.get("op", "eq"), value, config.get("value"))
        if test == "variable":
            return compare(
                config.get("op", "eq"), self.vars.get(config["variable"]), config.get("value")
            )
        if test in ("caller_country", "area_code"):
            try:
                number = phonenumbers.parse(
                    self.session.get("caller") or "", self.organization.country or None
                )
            except phonenumbers.NumberParseException:
                return False
            if test == "caller_country":
                region = phonenumbers.region_code_for_number(number) or ""
                return compare("in", region, config["in"])
            national = phonenumbers.national_significant_number(number)
            return any(national.startswith(str(code)) for code in config["in"])
        return False

    def lookup(self, config: dict) -> bool:
        variable = config["variable"]
        if config.get("source", "contact") == "contact":
            value = self.contact_value(config["field"])
        else:
            value = self.http_lookup(config)
        if value in (None, "") or isinstance(value, (dict, list)):
            self.vars.pop(variable, None)
            return False
        self.vars[variable] = str(value)[:MAX_VALUE_LENGTH]
        return True

    def http_lookup(self, config: dict):
        url = self.render(config["url"], quote_values=True)
        refused = private_address(url)
        if refused:
            logger.warning("flows.lookup_refused", extra={"url": url, "why": refused})
            return None
        body = config.get("body")
        if isinstance(body, dict):
            body = {k: self.render(str(v)) for k, v in body.items()}
        try:
            with requests.request(
                config.get("method", "GET"),
                url,
                json=body if config.get("method") == "POST" else None,
                timeout=config.get("timeout") or 3,
                allow_redirects=False,  # a redirect could lead to an internal address
                headers={"Accept": "application/json"},
                stream=True,
            ) as response:
                if not 200 <= response.status_code < 300:
                    return None
                raw = response.raw.read(MAX_LOOKUP_BYTES + 1, decode_content=True)
                if len(raw) > MAX_LOOKUP_BYTES:
                    return None  # a self-service answer is small; never load a huge body
                data = json.loads(raw)
        except (requests.RequestException, ValueError) as exc:
            logger.info("flows.lookup_failed", extra={"url": url, "error": str(exc)})
            return None
        return dotted(data, config.get("path", ""))

    # Endings -----------------------------------------------------------------------------
    def decision(self, kind: str, config: dict) -> dict:
        if kind == NodeKind.ENQUEUE:
            from apps.queues.models import Queue

            queue = Queue.objects.filter(
                organization=self.organization, name=config.get("queue") or ""
            ).first()
            return {
                "action": "enqueue",
                "queue": config.get("queue", ""),
                "queue_id": queue.pk if queue else None,
                "priority": config.get("priority") or 0,
                "skills": list(config.get("skills") or []),
            }
        if kind == NodeKind.VOICEMAIL:
            return {"action": "voicemail", **_targets(config, ("queue", "agent"))}
        if kind == NodeKind.TRANSFER:
            return {"action": "transfer", **_targets(config, ("number", "agent"))}
        callback = self.session.get("callback")
        if callback is not None:
            return {"action": "callback", "queue": callback.get("queue", ""), "keep_place": True}
        return {"action": "hangup"}


def _targets(config: dict, names) -> dict:
    return {name: config.get(name) or "" for name in names}


def _language(context: FlowContext) -> str:
    contact = context.contact
    return (
        context.language
        or (getattr(contact, "language", "") if contact is not None else "")
        or context.organization.language
        or settings.LANGUAGE_CODE
    )


def flow_start(version: FlowVersion, context: FlowContext) -> Step:
    """Begin ``version`` for the caller in ``context``: the first prompts and question."""
    graph = flow_graph(version=version)
    session = {
        "format": SESSION_FORMAT,
        "version_id": version.pk,
        "organization_id": version.organization_id,
        "contact_id": getattr(context.contact, "pk", None),
        "channel": context.channel,
        "caller": context.caller,
        "language": _language(context),
        "node": None,
        "awaiting": None,
        "vars": {str(k): str(v)[:MAX_VALUE_LENGTH] for k, v in context.variables.items()},
        "retries": {},
        "path": [],
        "inputs": [],
        "callback": None,
        "done": False,
        "decision": None,
    }
    run = _Run(
        graph=graph,
        session=session,
        organization=context.organization,
        contact=context.contact,
        now=context.now,
    )
    starts = graph.starts
    return run.run(starts[0] if len(starts) == 1 else None)


def flow_advance(session: dict, input: str | None, *, now: datetime | None = None) -> Step:
    """Give the flow the caller's answer (digits, words said or typed, a button id; ``None``
    or "" when nothing came before the timeout) and run it to its next question or end."""
    from apps.accounts.models import Organization
    from apps.contacts.models import Contact

    session = json.loads(json.dumps(session))  # never mutate the caller's copy
    if session.get("format") != SESSION_FORMAT:
        raise ValueError("Unknown flow session format.")
    organization = Organization.objects.get(pk=session["organization_id"])
    version = FlowVersion.objects.get(pk=session["version_id"], organization=organization)
    contact = None
    if session.get("contact_id"):
        contact = Contact.objects.filter(
            organization=organization, pk=session["contact_id"]
        ).first()
    run = _Run(
        graph=flow_graph(version=version),
        session=session,
        organization=organization,
        contact=contact,
        now=now,
    )
    if session.get("done"):
        return run.step(decision=session.get("decision"))
    if session.get("awaiting") not in run.graph.nodes:
        return run.finish({"action": "hangup", "reason": "no_route"})
    try:
        return run.answer(input)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        logger.warning("flows.node_failed", extra={"version": version.pk, "error": repr(exc)})
        return run.finish({"action": "hangup", "reason": "error", "node": session.get("node")})
