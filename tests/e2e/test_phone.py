"""Click-to-call in real browsers against the live system: an agent opens a demo contact on the
desk and clicks Call; their softphone rings first (the demo number is simulated), they answer;
the customer's phone rings on the simulator page, where a person answers as the customer; both
are in the call's conference; the customer hangs up and the desk goes to wrap-up."""

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.desk_helpers import WS_MESSAGES_SCRIPT, only_agent_available
from tests.e2e.test_live_notifications import log_in, wait_for_live_socket

pytestmark = pytest.mark.browser

EVENT_TIMEOUT = 20_000  # ms


def test_click_to_call_rings_the_agent_then_the_customer(
    live_system, page: Page, browser, artifacts_dir
):
    only_agent_available(live_system, "acme-agent1")
    log_in(page, live_system, "acme-agent1")
    page.add_init_script(WS_MESSAGES_SCRIPT)
    page.goto("/desk/contacts/?q=Laurent")
    page.get_by_role("link", name="Camille Laurent").first.click()
    expect(page.get_by_test_id("softphone-status")).to_have_text(
        "Phone ready (simulated line)", timeout=EVENT_TIMEOUT
    )
    page.get_by_test_id("call-number").first.click()

    # The interaction page of the new outbound call; the agent's own phone rings first.
    expect(page.get_by_test_id("interaction-state")).to_have_text("Active", timeout=EVENT_TIMEOUT)
    wait_for_live_socket(page)
    softphone = page.get_by_test_id("softphone-status")
    expect(softphone).to_have_text("Incoming call", timeout=EVENT_TIMEOUT)
    page.get_by_test_id("softphone-accept").click()
    expect(softphone).to_have_text("On a call", timeout=EVENT_TIMEOUT)

    context = browser.new_context(base_url=live_system.base_url)
    try:
        customer = context.new_page()
        log_in(customer, live_system, "acme-supervisor")
        customer.goto("/voice/simulator/")
        ringing = customer.get_by_test_id("sim-outbound-call").filter(has_text="+33612345678")
        expect(ringing).to_be_visible(timeout=EVENT_TIMEOUT)
        customer.screenshot(path=str(artifacts_dir / "e2e-phone-ringing.png"), full_page=True)
        ringing.get_by_test_id("sim-outbound-answer").click()
        expect(customer.locator("#sim-connected")).to_contain_text(
            "acme-agent1", timeout=EVENT_TIMEOUT
        )
        expect(page.get_by_test_id("softphone-peer")).to_contain_text(
            "+33612345678", timeout=EVENT_TIMEOUT
        )
        page.screenshot(path=str(artifacts_dir / "e2e-phone-connected.png"), full_page=True)
        customer.click("#sim-hangup")
        expect(softphone).to_have_text("Call ended", timeout=EVENT_TIMEOUT)
        page.reload()
        expect(page.get_by_test_id("interaction-state")).to_have_text(
            "Wrap-up", timeout=EVENT_TIMEOUT
        )
        # The agent closes it: later tests find them free for a call.
        page.select_option("#close-disposition", label="Resolved")
        page.get_by_test_id("close").click()
        expect(page).to_have_url(f"{live_system.base_url}/desk/")
    finally:
        context.close()
