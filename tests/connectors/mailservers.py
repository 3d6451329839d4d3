"""Real mail servers for the e-mail tests: an SMTP server (aiosmtpd, in this process) that
records what it is given and answers 4xx/5xx on demand, and a Dovecot IMAP server (a real
``dovecot`` started with a throwaway configuration: passwd-file users, maildirs under a
temporary directory, a free port). ``make test`` installs Dovecot (scripts/test-deps.sh);
without it these tests fail, they do not skip."""

import getpass
import grp
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(port: int, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


# --- SMTP ---------------------------------------------------------------------------------------


@dataclass
class Smtp:
    """What the server received (parsed messages, envelopes, logins) and what it will answer:
    queued answers for RCPT TO and DATA are used first, then it accepts."""

    port: int = 0
    received: list = field(default_factory=list)  # (mail_from, rcpt_tos, parsed message)
    logins: list = field(default_factory=list)
    rcpt_answers: deque = field(default_factory=deque)
    data_answers: deque = field(default_factory=deque)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_answers:
            return self.rcpt_answers.popleft()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_answers:
            return self.data_answers.popleft()
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=True)


@pytest.fixture(name="smtp")
def smtp_fixture():
    box = Smtp(port=free_port())
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=box.port,
        authenticator=box.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    yield box
    controller.stop()


# --- IMAP (Dovecot) -----------------------------------------------------------------------------

CONFIG = """
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


USERS = 500  # mailboxes one test session may use


@dataclass
class Dovecot:
    root: Path
    port: int
    binary: str
    users: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def config(self) -> str:
        return str(self.root / "dovecot.conf")

    @staticmethod
    def _user(number: int) -> tuple[str, str]:
        address = f"box{number}@example.com"
        return address, f"pw-{number}-{address}"

    def write_users(self) -> None:
        # Written once, before the server starts: Dovecot notices a changed passwd-file by
        # its mtime, which a change within the same second would not move.
        lines = [f"{a}:{{PLAIN}}{p}\n" for a, p in map(self._user, range(1, USERS + 1))]
        (self.root / "passwd").write_text("".join(lines))

    def add_user(self) -> tuple[str, str]:
        """A mailbox of its own for one test: (address, password)."""
        number = next(self.users)
        assert number <= USERS, "more mailboxes than USERS: raise it"
        return self._user(number)

    def doveadm(self, *args: str) -> None:
        doveadm = shutil.which("doveadm") or "/usr/bin/doveadm"
        subprocess.run([doveadm, "-c", self.config, *args], check=True, capture_output=True)


@pytest.fixture(name="dovecot", scope="session")
def dovecot_fixture():
    binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
    if not os.path.exists(binary):
        pytest.fail("Dovecot is not installed: run scripts/test-deps.sh (make test does).")
    root = Path(tempfile.mkdtemp(prefix="cc-dovecot-"))
    root.chmod(0o755)  # the mail user must reach its maildir
    for name in ("run", "state", "mail"):
        (root / name).mkdir()
    if os.getuid() == 0:
        # Dovecot never runs mail processes as root: they run as nobody, its own processes
        # as the users the Debian package made.
        mail_user = pwd.getpwnam("nobody")
        uid, gid = mail_user.pw_uid, mail_user.pw_gid
        internal_user, internal_group, login_user = "dovecot", "dovecot", "dovenull"
        os.chown(root / "mail", uid, gid)
    else:
        uid, gid = os.getuid(), os.getgid()
        internal_user = login_user = getpass.getuser()
        internal_group = grp.getgrgid(gid).gr_name
    server = Dovecot(root=root, port=free_port(), binary=binary)
    (root / "dovecot.conf").write_text(
        CONFIG.format(
            root=root,
            port=server.port,
            uid=uid,
            gid=gid,
            internal_user=internal_user,
            internal_group=internal_group,
            login_user=login_user,
        )
    )
    server.write_users()
    subprocess.run([binary, "-c", server.config], check=True)
    try:
        _wait_for(server.port)
    except RuntimeError:
        log = root / "dovecot.log"
        pytest.fail(f"Dovecot did not start: {log.read_text() if log.exists() else ''}")
    yield server
    subprocess.run([binary, "-c", server.config, "stop"], check=False, capture_output=True)
    shutil.rmtree(root, ignore_errors=True)
