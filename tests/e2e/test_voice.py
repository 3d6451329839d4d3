"""A phone call in real browsers against the live system: a person on the simulator page dials
the demo number (+15550100, the demo IVR "Main line"), presses keys, waits in line; an agent on
the desk gets the offer live and accepts, and answers on the desk's softphone (the demo number is
simulated: the agent's leg rings in the browser); the simulator shows the caller connected.

Everything goes through the running system: the simulator calls the signed webhooks over HTTP,
the worker dials the agent's leg through the simulator's REST API (the demo number is marked
``simulated``), the desk's socket brings the offer."""

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.desk_helpers import WS_MESSAGES_SCRIPT, only_agent_available
from tests.e2e.test_live_notifications import log_in, wait_for_live_socket

pytestmark = pytest.mark.browser

EVENT_TIMEOUT = 20_000  # ms
ALWAYS_OPEN = (
    "from datetime import time; "
    "from apps.queues.models import BusinessHours, BusinessHoursPeriod; "
    "hours = BusinessHours.objects.filter(organization__slug='acme'); "
    "BusinessHoursPeriod.objects.filter(hours__in=hours).delete(); "
    "BusinessHoursPeriod.objects.bulk_create(BusinessHoursPeriod(hours=h, weekday=d, "
    "opens=time(0), closes=time(23, 59, 59)) for h in hours for d in range(7))"
)


def test_a_caller_on_the_simulator_reaches_an_agent_who_accepts_on_the_desk(
    live_system, page: Page, browser, artifacts_dir
):
    # The demo's office hours must not decide the outcome of the test: open all day.
    live_system.manage("shell", "-c", ALWAYS_OPEN)
    only_agent_available(live_system, "acme-agent1")  # others left available take the call
    log_in(page, live_system, "acme-agent1")
    page.add_init_script(WS_MESSAGES_SCRIPT)
    page.goto("/desk/")
    wait_for_live_socket(page)
    page.wait_for_function("() => window.__ccWsMessages > 0")
    page.select_option("#presence-status", "available")
    page.click("#presence-apply")
    expect(page.get_by_test_id("presence-status")).to_have_text("Available")

    context = browser.new_context(base_url=live_system.base_url)
    try:
        phone = context.new_page()
        log_in(phone, live_system, "acme-supervisor")
        phone.goto("/voice/simulator/")
        phone.select_option("#sim-number", label="Main line (+15550100)")
        phone.fill("#sim-caller", "+14155550188")
        phone.click("#sim-call")
        heard = phone.locator("#sim-heard")
        expect(heard).to_contain_text("For billing, press 1", timeout=EVENT_TIMEOUT)
        phone.screenshot(path=str(artifacts_dir / "e2e-voice-ivr.png"), full_page=True)
        phone.locator(".sim-key", has_text="1").click()
        phone.locator(".sim-key", has_text="#").click()
        expect(heard).to_contain_text("Please hold", timeout=EVENT_TIMEOUT)

        offer = page.locator("li.offer.channel-voice").first  # not the demo backlog of chats
        expect(offer).to_be_visible(timeout=EVENT_TIMEOUT)
        page.screenshot(path=str(artifacts_dir / "e2e-voice-offer.png"), full_page=True)
        offer.get_by_test_id("accept").click()
        expect(page.get_by_test_id("interaction-state")).to_have_text("Active")

        # The demo number is simulated: the agent's leg rings on the desk's softphone.
        softphone = page.get_by_test_id("softphone-status")
        expect(softphone).to_have_text("Incoming call", timeout=EVENT_TIMEOUT)
        page.screenshot(path=str(artifacts_dir / "e2e-voice-softphone.png"), full_page=True)
        page.get_by_test_id("softphone-accept").click()
        expect(softphone).to_have_text("On a call", timeout=EVENT_TIMEOUT)
        expect(page.get_by_test_id("softphone-peer")).to_contain_text("+14155550188")

        expect(phone.locator("#sim-connected")).to_contain_text(
            "Connected to acme-agent1", timeout=EVENT_TIMEOUT
        )
        phone.screenshot(path=str(artifacts_dir / "e2e-voice-connected.png"), full_page=True)
        phone.click("#sim-hangup")
        expect(phone.locator("#sim-status")).to_have_text("Completed", timeout=EVENT_TIMEOUT)
        expect(softphone).to_have_text("Call ended", timeout=EVENT_TIMEOUT)
        page.reload()
        expect(page.get_by_test_id("interaction-state")).to_have_text(
            "Wrap-up", timeout=EVENT_TIMEOUT
        )
    finally:
        context.close()
