import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth.models import Permission

from apps.accounts.models import Role
from tests.factories import OrganizationFactory, PlanFactory, UserFactory


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Receiver:
    """An integrator's HTTP server on 127.0.0.1 that records every request.

    ``answer(500, 200)`` sets the statuses of the next requests (then ``default_status``);
    ``delay`` makes it wait before answering (for timeouts).
    """

    url: str = ""
    default_status: int = 200
    delay: float = 0.0
    requests: list[Received] = field(default_factory=list)
    statuses: deque = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, *statuses: int) -> None:
        self.statuses.extend(statuses)

    def next_status(self) -> int:
        with self.lock:
            return self.statuses.popleft() if self.statuses else self.default_status


def _handler(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with receiver.lock:
                receiver.requests.append(Received(self.path, dict(self.headers), body))
            if receiver.delay:
                time.sleep(receiver.delay)
            status = receiver.next_status()
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", f"{receiver.url}/elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format, *args):  # quiet test output
            pass

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request, client_address):
        pass  # a client that gave up (timeout test) makes the answer fail: expected


@pytest.fixture
def receiver():
    box = Receiver()
    server = _Server(("127.0.0.1", 0), _handler(box))
    box.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield box
    server.shutdown()
    server.server_close()


@pytest.fixture
def refused_url():
    """A loopback URL where nothing listens: the connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks"


def _grant_webhook_permissions(user):
    # Until the Admin role carries these (apps/accounts/roles.py), grant them to the person.
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="integrations"))
    return user


@pytest.fixture
def hooks_admin_a(admin_a):
    return _grant_webhook_permissions(admin_a)


@pytest.fixture
def hooks_admin_b(admin_b):
    return _grant_webhook_permissions(admin_b)


@pytest.fixture
def no_api_org(db):
    return OrganizationFactory(
        subscription__plan=PlanFactory(code="no-api", features={"channel_email": 1})
    )


@pytest.fixture
def no_api_admin(roles, no_api_org):
    return _grant_webhook_permissions(UserFactory(organization=no_api_org, roles=[Role.ADMIN]))
