"""An event published from a Celery task reaches a connected browser page (embedded mode).

The button of the home page POSTs with htmx; the view only enqueues ``notification_send_task`` and
answers "Queued". The badge and the toast can therefore only change through the page's WebSocket:
worker → Redis channel layer → daphne → browser.
"""

import re
import time

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

pytestmark = pytest.mark.browser

PASSWORD = "contact-center-demo"  # fixtures/demo.json
EVENT_TIMEOUT = 15_000  # ms

# Opens a socket and reports how it ended: refused sockets close (or error) without opening.
PROBE_SOCKET_JS = """
(url) => new Promise((resolve) => {
  const result = {opened: false, errored: false, closeCode: null, timedOut: false};
  const ws = new WebSocket(url);
  const timer = setTimeout(() => { result.timedOut = true; ws.close(); resolve(result); }, 10000);
  ws.onopen = () => { result.opened = true; ws.close(1000); };
  ws.onerror = () => { result.errored = true; };
  ws.onclose = (event) => { clearTimeout(timer); result.closeCode = event.code; resolve(result); };
})
"""


def log_in(page: Page, live_system, username: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("form button[type=submit]")
    expect(page).to_have_url(f"{live_system.base_url}/")


def wait_for_live_socket(page: Page) -> None:
    """Until htmx's ws extension reports the socket open (the server accepted it, so the
    consumer has already joined the user's group)."""
    page.wait_for_function("() => window.__ccWs && window.__ccWs.opened > 0")


def badge_count(page: Page) -> int:
    return int(page.locator("#notification-badge").inner_text().strip())


def wait_for_worker_log(live_system, pattern: str, timeout: float = 5.0) -> None:
    log = live_system.log("worker")
    deadline = time.monotonic() + timeout
    while True:
        text = log.read_text(errors="replace")
        if re.search(pattern, text):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"worker log has no /{pattern}/ after {timeout}s:\n{text[-3000:]}")
        time.sleep(0.1)


def test_task_event_reaches_open_page(live_system, page, artifacts_dir):
    screenshot = artifacts_dir / "e2e-live-notification.png"
    try:
        log_in(page, live_system, "acme-agent1")
        wait_for_live_socket(page)
        badge = page.locator("#notification-badge")
        assert badge_count(page) == 0  # nobody else uses acme-agent1 in these tests

        page.click("#send-test")

        expect(page.locator("#test-result")).to_contain_text("Queued")
        expect(badge).to_have_text("1", timeout=EVENT_TIMEOUT)
        expect(page.locator("#toasts .toast", has_text="Test notification")).to_be_visible()
        # The separate worker process ran the task (the web process is not eager).
        wait_for_worker_log(
            live_system,
            r"Task apps\.notifications\.tasks\.notification_send_task\[[^\]]+\] "
            r"succeeded",
        )
    finally:
        page.screenshot(path=str(screenshot))


def test_second_tab_of_same_user_gets_event_too(live_system, context):
    first = context.new_page()
    log_in(first, live_system, "acme-agent3")
    wait_for_live_socket(first)
    second = context.new_page()  # same context: same session cookie
    second.goto("/")
    wait_for_live_socket(second)
    before = badge_count(second)
    assert badge_count(first) == before

    first.click("#send-test")

    # The htmx response lands on the first tab only; the second hears the group broadcast.
    expect(second.locator("#notification-badge")).to_have_text(
        str(before + 1), timeout=EVENT_TIMEOUT
    )
    expect(second.locator("#toasts .toast", has_text="Test notification")).to_be_visible()
    expect(first.locator("#notification-badge")).to_have_text(str(before + 1))


def test_anonymous_socket_is_refused(live_system, page):
    page.goto("/accounts/login/")
    expect(page.locator("#id_username")).to_be_visible()

    anonymous = page.evaluate(PROBE_SOCKET_JS, live_system.ws_url)

    assert not anonymous["opened"], anonymous
    assert not anonymous["timedOut"], anonymous
    assert anonymous["closeCode"] is not None, anonymous

    # Control: the same probe from the same origin opens once signed in, so the refusal above
    # is the consumer's authentication check, not the origin check or the page's CSP.
    log_in(page, live_system, "acme-agent2")
    signed_in = page.evaluate(PROBE_SOCKET_JS, live_system.ws_url)
    assert signed_in["opened"], signed_in


def test_idle_page_keeps_its_socket_and_gets_event(live_system, page):
    """An agent's page sits idle for minutes: its socket must survive the silence.

    (redis-py 8's default 5 s read timeout once killed every idle consumer after 5 s.)
    """
    log_in(page, live_system, "globex-agent1")
    wait_for_live_socket(page)
    before = badge_count(page)

    # Each daphne process has one channels_redis receive loop, blocking 5 s per BZPOPMIN; the
    # page's consumer may only take it over when the current round ends: 12 s covers two rounds.
    try:
        page.wait_for_function("() => window.__ccWs.closed > 0", timeout=12_000)
    except PlaywrightTimeoutError:
        pass  # still open after 12 s of silence, as it should be
    else:
        pytest.fail("the live socket dropped while the page was idle")

    page.click("#send-test")
    expect(page.locator("#notification-badge")).to_have_text(str(before + 1), timeout=EVENT_TIMEOUT)
