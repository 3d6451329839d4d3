"""A provider's API on 127.0.0.1 (Twilio's REST, Meta's Graph, X), real HTTP: the project's
real clients (``twilio``, ``requests``) talk to it. It records every request and answers what
a test tells it to, in the provider's format."""

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from apps.accounts.models import PlanFeature
from apps.connectors.models import ChannelAccount
from tests.factories import QueueFactory


@dataclass
class Call:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())


@dataclass
class Provider:
    url: str = ""
    calls: list[Call] = field(default_factory=list)
    # (method, path prefix) → deque of (status, content type, body); the last one repeats.
    routes: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on(self, method: str, prefix: str, *answers) -> None:
        """What to answer, in order: (status, body) pairs; a dict/list body is JSON, bytes are
        sent as they are (with ``content_type``)."""
        self.routes[(method, prefix)] = deque(answers)

    def answer(self, method: str, path: str):
        with self.lock:
            for (m, prefix), answers in sorted(self.routes.items(), key=lambda r: -len(r[0][1])):
                if m == method and path.startswith(prefix):
                    return answers.popleft() if len(answers) > 1 else answers[0]
        return (404, {"error": "no route"})

    def made(self, method: str, prefix: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path.startswith(prefix)]


def _handler(provider: Provider):
    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            length = int(self.headers.get("Content-Length", 0) or 0)
            body = self.rfile.read(length) if length else b""
            with provider.lock:
                provider.calls.append(Call(self.command, self.path, dict(self.headers), body))
            status, payload, *rest = provider.answer(self.command, self.path)
            if isinstance(payload, (dict, list)):
                data, kind = json.dumps(payload).encode(), "application/json"
            else:
                data, kind = payload, (rest[0] if rest else "application/octet-stream")
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, format, *args):
            pass

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


@pytest.fixture
def provider(settings):
    box = Provider()
    server = _Server(("127.0.0.1", 0), _handler(box))
    box.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    settings.TWILIO_API_BASE = box.url
    settings.META_GRAPH_URL = box.url + "/graph"
    settings.X_API_URL = box.url + "/x"
    yield box
    server.shutdown()
    server.server_close()


def channel_account(
    kind: str, *, organization=None, address="", secrets=None, config=None, queue=None
):
    """An active account of ``kind`` with its plan feature, and a queue with an agent-less
    line (tests add agents when they need routing)."""
    queue = queue or QueueFactory(**({"organization": organization} if organization else {}))
    organization = queue.organization
    plan = organization.subscription.plan
    PlanFeature.objects.update_or_create(plan=plan, code=f"channel_{kind}", defaults={"limit": 5})
    account = ChannelAccount(
        organization=organization,
        kind=kind,
        name=f"{kind} line",
        address=address,
        queue=queue,
        config=config or {},
    )
    account.set_secrets(secrets or {})
    account.save()
    return account
