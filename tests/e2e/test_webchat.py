"""The chat widget in a real browser against the live system.

A visitor opens the demo page (a stand-in for a customer's site), fills the widget's pre-chat
form and writes; an agent on the desk gets the offer live, accepts, sees the visitor typing and
writing, and replies; the visitor sees the reply live in the widget, and the desk shows it read.
"""

import json
import uuid
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ROOT, WS_TRACKER_SCRIPT
from tests.e2e.desk_helpers import WS_MESSAGES_SCRIPT, only_agent_available
from tests.e2e.test_desk import api
from tests.e2e.test_live_notifications import PASSWORD, log_in, wait_for_live_socket

pytestmark = pytest.mark.browser

EVENT_TIMEOUT = 15_000  # ms
AGENT = "acme-agent1"


def _demo_widget_key() -> str:
    data = json.loads((ROOT / "fixtures" / "demo.json").read_text())
    return next(o["webchat"]["key"] for o in data["organizations"] if "webchat" in o)


def _only_agent_available(live_system) -> None:
    only_agent_available(live_system, AGENT)


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
        # The demo widget's assistant (a self-service flow) asks first; a button answers it.
        expect(thread).to_contain_text("Hello Grace, welcome to Acme Support!")
        choices = visitor.get_by_test_id("webchat-choice")
        expect(choices).to_have_count(3)
        visitor.screenshot(path=str(artifacts_dir / "e2e-webchat-flow.png"))
        choices.filter(has_text="Talk to a person").click()
        expect(thread).to_contain_text("An agent will answer you in a moment.")
        expect(choices.first).to_be_disabled()  # answered: the question's buttons are done

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
        # A file from the visitor: on the desk at once, as a download.
        visitor.get_by_test_id("webchat-file").set_input_files(
            files=[{"name": "receipt.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4"}]
        )
        expect(thread).to_contain_text("receipt.pdf", timeout=EVENT_TIMEOUT)
        expect(page.get_by_test_id("thread").locator(".attachment")).to_contain_text(
            "receipt.pdf", timeout=EVENT_TIMEOUT
        )
        visitor.screenshot(path=str(artifacts_dir / "e2e-webchat-visitor.png"))
        page.screenshot(path=str(artifacts_dir / "e2e-webchat-desk.png"), full_page=True)

        # A reload resumes the same conversation, without duplicates.
        visitor.reload()  # the panel was open: it opens again by itself
        expect(visitor.get_by_test_id("webchat-panel")).to_be_visible()
        expect(thread).to_contain_text("it leaves our warehouse today")
        # The visitor's four lines and the agent's, the assistant's three and the answer.
        expect(thread.locator("li")).to_have_count(8)
    finally:
        visitor_context.close()


CLOSED_KEY = "0e2e0e2e-0000-4000-8000-00000000c105"
CLOSED_WIDGET = f"""
from apps.accounts.models import Organization
from apps.connectors.models import ChannelAccount
from apps.queues.models import BusinessHours, Queue

org = Organization.objects.get(slug="acme")
hours, _ = BusinessHours.objects.get_or_create(organization=org, name="Never open (e2e)")
queue, _ = Queue.objects.get_or_create(organization=org, name="After hours (e2e)")
queue.business_hours = hours
queue.save()
ChannelAccount.objects.get_or_create(
    organization=org, kind="webchat", name="Closed chat (e2e)",
    defaults={{"key": "{CLOSED_KEY}", "queue": queue}},
)
"""


def test_offline_the_widget_takes_a_message_and_a_callback_request(
    live_system, page: Page, artifacts_dir
):
    live_system.manage("shell", "-c", CLOSED_WIDGET)  # a widget whose queue is never open
    page.goto(f"/widget/{CLOSED_KEY}/demo/")
    page.get_by_test_id("webchat-launcher").click()
    offline = page.get_by_test_id("webchat-offline")
    expect(offline).to_be_visible()
    offline.locator("#cc-name").fill("Linus")
    offline.locator("#cc-email").fill("linus@example.com")
    offline.locator("#cc-message").fill("Please write back about my order.")
    page.screenshot(path=str(artifacts_dir / "e2e-webchat-offline.png"))
    page.get_by_test_id("webchat-offline-send").click()
    expect(page.get_by_test_id("webchat-panel")).to_contain_text("we will answer by e-mail")

    page.reload()
    page.get_by_test_id("webchat-launcher").click()
    page.get_by_test_id("webchat-panel").get_by_text("Ask us to call you").click()
    offline.locator("#cc-phone").fill("+44 20 7946 0000")
    soon = datetime.now() + timedelta(days=2)  # the browser's zone is this machine's
    offline.locator("#cc-at").fill(soon.strftime("%Y-%m-%dT10:30"))
    page.get_by_test_id("webchat-offline-send").click()
    expect(page.get_by_test_id("webchat-panel")).to_contain_text("we will call you")

    token = api(
        live_system,
        "POST",
        "/api/auth/token/",
        body={"username": "acme-admin", "password": PASSWORD},
    )["token"]
    emails = api(live_system, "GET", "/api/v1/interactions/?channel=email&state=queued", token)
    assert any(i["subject"] == "Message left on the web chat" for i in emails["results"])
    callbacks = api(live_system, "GET", "/api/v1/callbacks/", token)["results"]
    assert any(c["number"] == "+442079460000" for c in callbacks)
