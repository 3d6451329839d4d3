"""The chat widget in a real browser against the live system.

A visitor opens the demo page (a stand-in for a customer's site), fills the widget's pre-chat
form and writes; an agent on the desk gets the offer live, accepts, sees the visitor typing and
writing, and replies; the visitor sees the reply live in the widget, and the desk shows it read.
"""

import json
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ROOT, WS_TRACKER_SCRIPT
from tests.e2e.test_desk import api
from tests.e2e.test_live_notifications import PASSWORD, log_in, wait_for_live_socket

pytestmark = pytest.mark.browser

EVENT_TIMEOUT = 15_000  # ms
WS_MESSAGES_SCRIPT = """
window.__ccWsMessages = 0;
document.addEventListener("htmx:wsAfterMessage", () => { window.__ccWsMessages += 1; });
"""
AGENT = "acme-agent1"


def _demo_widget_key() -> str:
    data = json.loads((ROOT / "fixtures" / "demo.json").read_text())
    return next(o["webchat"]["key"] for o in data["organizations"] if "webchat" in o)


def _only_agent_available(live_system) -> None:
    """Colleagues left available by other tests would take the chat: they go offline."""
    token = api(
        live_system,
        "POST",
        "/api/auth/token/",
        body={"username": "acme-admin", "password": PASSWORD},
    )["token"]
    users = api(live_system, "GET", "/api/v1/users/", token)["results"]
    for user in users:
        if user["username"].startswith("acme-agent") and user["username"] != AGENT:
            api(
                live_system,
                "POST",
                f"/api/v1/presence/{user['id']}/set/",
                token,
                {"status": "offline"},
            )


def test_a_visitor_chats_live_with_an_agent_through_the_widget(
    live_system, page: Page, browser, artifacts_dir
):
    _only_agent_available(live_system)
    log_in(page, live_system, AGENT)
    page.add_init_script(WS_MESSAGES_SCRIPT)
    page.goto("/desk/")
    wait_for_live_socket(page)
    # The desk's socket sends the panels as they are on connect: a status chosen before they
    # arrive would be overwritten by them (a race of the desk, not of the widget).
    page.wait_for_function("() => window.__ccWsMessages > 0")
    page.select_option("#presence-status", "available")
    page.click("#presence-apply")
    expect(page.get_by_test_id("presence-status")).to_have_text("Available")

    visitor_context = browser.new_context(base_url=live_system.base_url, locale="en-US")
    visitor_context.set_default_timeout(15_000)
    visitor_context.add_init_script(WS_TRACKER_SCRIPT)
    visitor = visitor_context.new_page()
    subject = f"Parcel {uuid.uuid4().hex[:8]}"
    try:
        visitor.goto(f"/widget/{_demo_widget_key()}/demo/")
        visitor.get_by_test_id("webchat-launcher").click()  # the widget's Shadow DOM
        prechat = visitor.get_by_test_id("webchat-prechat")
        prechat.locator("#cc-name").fill("Grace Hopper")
        prechat.locator("#cc-email").fill("grace@example.com")
        prechat.locator("#cc-subject").fill(subject)
        prechat.locator("#cc-message").fill("Hello, where is my parcel? <b>not bold</b>")
        visitor.screenshot(path=str(artifacts_dir / "e2e-webchat-prechat.png"))
        visitor.get_by_test_id("webchat-start").click()
        thread = visitor.get_by_test_id("webchat-thread")
        expect(thread).to_contain_text("where is my parcel? <b>not bold</b>")  # text, not HTML

        offer = page.locator("[data-offer]", has_text=subject)
        expect(offer).to_be_visible(timeout=EVENT_TIMEOUT)  # only the desk socket puts it there
        visitor.screenshot(path=str(artifacts_dir / "e2e-webchat-waiting.png"))
        offer.get_by_test_id("accept").click()
        expect(page.get_by_test_id("interaction-state")).to_have_text("Active")
        expect(page.get_by_test_id("thread")).to_contain_text("where is my parcel?")
        wait_for_live_socket(page)
        expect(visitor.get_by_test_id("webchat-status")).to_contain_text(
            "Alice", timeout=EVENT_TIMEOUT
        )

        visitor.get_by_test_id("webchat-input").fill("It was due yesterday.")
        expect(page.get_by_test_id("visitor-typing")).to_contain_text(
            "typing", timeout=EVENT_TIMEOUT
        )
        visitor.get_by_test_id("webchat-send").click()
        expect(page.get_by_test_id("thread")).to_contain_text(
            "It was due yesterday.", timeout=EVENT_TIMEOUT
        )

        page.fill("#reply-body", "Hello Grace, it leaves our warehouse today.")
        expect(visitor.get_by_test_id("webchat-typing")).to_contain_text(
            "Alice is typing", timeout=EVENT_TIMEOUT
        )
        page.get_by_test_id("send").click()
        expect(thread).to_contain_text("it leaves our warehouse today", timeout=EVENT_TIMEOUT)
        # The open widget read it: the desk shows the receipt live.
        expect(page.get_by_test_id("thread").get_by_test_id("delivery").last).to_have_text(
            "Read", timeout=EVENT_TIMEOUT
        )
        visitor.screenshot(path=str(artifacts_dir / "e2e-webchat-visitor.png"))
        page.screenshot(path=str(artifacts_dir / "e2e-webchat-desk.png"), full_page=True)

        # A reload resumes the same conversation, without duplicates.
        visitor.reload()  # the panel was open: it opens again by itself
        expect(visitor.get_by_test_id("webchat-panel")).to_be_visible()
        expect(thread).to_contain_text("it leaves our warehouse today")
        expect(thread.locator("li")).to_have_count(3)
    finally:
        visitor_context.close()
