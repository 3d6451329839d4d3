"""End-to-end fixtures: the real embedded system in subprocesses, driven by Debian's Chromium.

``live_system`` starts what ``make run`` starts (minus honcho and beat): an embedded Redis, daphne
and a separate Celery worker on that Redis, over a throwaway SQLite database with the demo data.
The tests talk to it only through HTTP and the browser; nothing here touches the ORM in-process.
"""

import contextlib
import ctypes
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
ARTIFACTS = ROOT / "var" / "test-artifacts"
KEPT_LOGS = ARTIFACTS / "e2e-logs"  # written only when something failed
FAILURE_SHOTS = "e2e-failed-*.png"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_TIMEOUT = 30.0  # seconds, per process
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
LOG_TAIL_LINES = 40
# Deployment settings of the calling shell must not leak into the system under test.
ENV_PREFIXES_TO_DROP = (
    "DJANGO_",
    "DATABASE_",
    "REDIS_",
    "CELERY_",
    "CHANNELS_",
    "AXES_",
    "EMBEDDED_REDIS_",
    "CC_",
)

_log_tails_key = pytest.StashKey[list[str]]()

# Counts the socket's messages: a desk test waits for the first panels before changing status
# (a status chosen before they arrive would be overwritten by them).
WS_MESSAGES_SCRIPT = """
window.__ccWsMessages = 0;
document.addEventListener("htmx:wsAfterMessage", () => { window.__ccWsMessages += 1; });
"""

# Records the JS side of the htmx WebSocket on every page: tests wait for it to be open.
WS_TRACKER_SCRIPT = """
window.__ccWs = {opened: 0, closed: 0};
document.addEventListener("htmx:wsOpen", () => { window.__ccWs.opened += 1; });
document.addEventListener("htmx:wsClose", () => { window.__ccWs.closed += 1; });
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:]) or "<empty>"


@dataclass
class LiveProcess:
    name: str
    popen: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None


@dataclass
class LiveSystem:
    base_url: str
    ws_url: str
    env: dict[str, str]
    tmp: Path
    redis_port: int
    web_port: int
    processes: list[LiveProcess] = field(default_factory=list)

    def log(self, name: str) -> Path:
        return self.tmp / f"{name}.log"

    def log_tails(self) -> str:
        sections = []
        for name in ("setup", "redis", "web", "worker"):
            path = self.log(name)
            if path.exists():
                sections.append(f"----- {path.name} (last {LOG_TAIL_LINES} lines) -----")
                sections.append(tail(path))
        return "\n".join(sections)

    def manage(self, *args: str, timeout: float = 120) -> None:
        """Run ``manage.py`` with the live environment; output goes to setup.log."""
        with self.log("setup").open("a") as out:
            out.write(f"$ python manage.py {' '.join(args)}\n")
            out.flush()
            subprocess.run(
                [str(VENV_BIN / "python"), "manage.py", *args],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                check=True,
                timeout=timeout,
            )

    def start(self, name: str, program: str, arguments: str) -> LiveProcess:
        """Start ``.venv/bin/<program> <arguments>`` in its own process group."""
        log = self.log(name)
        with log.open("ab") as out:
            popen = subprocess.Popen(
                [str(VENV_BIN / program), *shlex.split(arguments)],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # own process group: teardown signals the whole group
                preexec_fn=_die_with_parent,
            )
        process = LiveProcess(name, popen, log)
        self.processes.append(process)
        return process

    def wait_until(self, what: str, check: Callable[[], bool], *watch: LiveProcess) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            for process in watch:
                if not process.alive():
                    raise RuntimeError(
                        f"{process.name} exited with {process.popen.returncode} "
                        f"while waiting for {what}"
                    )
            if check():
                return
            time.sleep(0.2)
        raise TimeoutError(f"{what} not ready after {STARTUP_TIMEOUT:.0f}s")

    def stop(self) -> None:
        """SIGTERM every process group (newest first), then SIGKILL what is left."""
        for process in reversed(self.processes):
            _signal_group(process.popen, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=STOP_TIMEOUT)
            # Also when the leader is gone: a child left in its group must not outlive us.
            _signal_group(process.popen, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=STOP_TIMEOUT)
        self.processes.clear()


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM it if pytest dies without tearing down
    (SIGKILL, a CI timeout's SIGTERM). Survives exec, so it also covers the exec'd redis."""
    if sys.platform == "linux":
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _signal_group(popen: subprocess.Popen, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, sig)  # start_new_session: the group id is the leader's pid


def _live_env(tmp: Path, redis_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES_TO_DROP)}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "contactcenter.settings",
            "CC_VAR_DIR": str(tmp),
            "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "EMBEDDED_REDIS_PORT": str(redis_port),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            # Settings already default to a real broker when REDIS_URL is set; say it anyway,
            # so an event can only reach the page through the separate worker.
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "PYTHONUNBUFFERED": "1",
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    return env


def _redis_pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our own URL)
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _worker_ready(log: Path) -> bool:
    # Celery logs "celery@<host> ready." once it consumes from the broker.
    return log.exists() and " ready." in log.read_text(errors="replace")


@pytest.fixture(scope="session")
def live_system(request, tmp_path_factory) -> Iterator[LiveSystem]:
    # Artifacts of an earlier failed run must not pass for this run's.
    shutil.rmtree(KEPT_LOGS, ignore_errors=True)
    for stale in ARTIFACTS.glob(FAILURE_SHOTS):
        stale.unlink()
    tmp = tmp_path_factory.mktemp("live")
    redis_port, web_port = free_port(), free_port()
    while web_port == redis_port:
        web_port = free_port()
    system = LiveSystem(
        base_url=f"http://127.0.0.1:{web_port}",
        ws_url=f"ws://127.0.0.1:{web_port}/ws/live/",
        env=_live_env(tmp, redis_port),
        tmp=tmp,
        redis_port=redis_port,
        web_port=web_port,
    )
    failures_before = request.session.testsfailed
    setup_error: BaseException | None = None
    try:
        try:
            system.manage("migrate", "--noinput")
            system.manage("collectstatic", "--noinput", "-v0")
            system.manage("load_demo", "--url", f"{system.base_url}/")

            redis = system.start("redis", "python", f"manage.py embedded_redis --port {redis_port}")
            system.wait_until("redis PING", lambda: _redis_pong(redis_port), redis)
            web = system.start(
                "web", "daphne", f"-b 127.0.0.1 -p {web_port} contactcenter.asgi:application"
            )
            worker = system.start(
                "worker",
                "celery",
                "-A contactcenter worker --loglevel=INFO --concurrency=1 --pool=solo",
            )
            system.wait_until(
                "GET /healthz", lambda: _http_ok(f"{system.base_url}/healthz"), redis, web
            )
            system.wait_until("celery worker", lambda: _worker_ready(worker.log), redis, worker)
        except BaseException as exc:
            setup_error = exc
            raise
        yield system
    finally:
        system.stop()
        if setup_error is not None or request.session.testsfailed > failures_before:
            _keep_logs(request.config, system)


def _keep_logs(config: pytest.Config, system: LiveSystem) -> None:
    """Copy the logs next to the screenshots and show their tails in the terminal summary."""
    KEPT_LOGS.mkdir(parents=True, exist_ok=True)
    for log in system.tmp.glob("*.log"):
        shutil.copy(log, KEPT_LOGS / log.name)
    config.stash[_log_tails_key] = [
        f"live system logs (full copies in {KEPT_LOGS.relative_to(ROOT)}/):",
        system.log_tails(),
    ]


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    lines = config.stash.get(_log_tails_key, None)
    if lines:
        terminalreporter.write_sep("=", "e2e live system logs")
        for line in lines:
            terminalreporter.write_line(line)


_phase_failed_key = pytest.StashKey[dict[str, bool]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    # Lets function fixtures see whether the test failed (screenshots on failure).
    item.stash.setdefault(_phase_failed_key, {})[report.when] = report.failed
    return report


def _failed(item: pytest.Item) -> bool:
    return any(item.stash.get(_phase_failed_key, {}).values())


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Debian's Chromium, headless. Module scope on purpose: while Playwright's sync API is
    started, its event loop counts as running in this thread, so Django's ORM would refuse to
    run in any test that comes after (SynchronousOnlyOperation)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium "
            "(scripts/test-browser.sh installs it: apt-get install chromium)",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def context(browser, live_system, request) -> Iterator:
    context = browser.new_context(base_url=live_system.base_url, locale="en-US")
    context.set_default_timeout(15_000)
    context.add_init_script(WS_TRACKER_SCRIPT)
    try:
        yield context
    finally:
        if _failed(request.node):
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            for number, page in enumerate(context.pages, start=1):
                path = ARTIFACTS / FAILURE_SHOTS.replace("*", f"{request.node.name}-page{number}")
                try:
                    page.screenshot(path=str(path), full_page=True)
                except Exception as exc:  # the page may be what broke
                    print(f"could not save {path}: {exc}", file=sys.stderr)
        context.close()


@pytest.fixture
def artifacts_dir() -> Path:
    """``var/test-artifacts`` (git-ignored; CI keeps it): screenshots and, on failure, logs."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def page(context):
    return context.new_page()
