"""The agent desk in a real browser against the live system.

An agent signs in, opens the desk and goes Available. An interaction created and queued through
the REST API (by the organization's admin, with a token) is offered to them: the offer can only
appear through the desk's WebSocket (server → Redis channel layer → daphne → browser). They
accept, see the screen pop with the customer's history, reply, and transfer it with a note to a
colleague in a second browser, who gets it live, accepts, reads the note and closes it.
"""

import json
import re
import urllib.request
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import WS_MESSAGES_SCRIPT, WS_TRACKER_SCRIPT
from tests.e2e.test_live_notifications import PASSWORD, log_in, wait_for_live_socket

pytestmark = pytest.mark.browser

EVENT_TIMEOUT = 15_000  # ms
# Headless Chromium has no sound card: a stand-in AudioContext counts the tones started.
AUDIO_STUB = """
window.__rings = 0;
window.AudioContext = function () {
  return {
    createOscillator() {
      return {frequency: {}, connect() {}, start() { window.__rings += 1; }, stop() {}};
    },
    createGain() { return {gain: {}, connect() {}}; },
    destination: {},
    currentTime: 0,
  };
};
"""


def api(live_system, method: str, path: str, token: str | None = None, body=None):
    request = urllib.request.Request(  # noqa: S310 (our own server, http)
        f"{live_system.base_url}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    if token:
        request.add_header("Authorization", f"Token {token}")
    with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 (our own server)
        return json.loads(response.read() or b"null")


def admin_token(live_system) -> str:
    return api(
        live_system,
        "POST",
        "/api/auth/token/",
        body={"username": "acme-admin", "password": PASSWORD},
    )["token"]


def queue_billing_chat(live_system, token: str, subject: str) -> dict:
    """A web chat of a demo customer with a history, created and queued in Billing through
    the API, as an integrator would."""
    billing = next(
        q
        for q in api(live_system, "GET", "/api/v1/queues/", token)["results"]
        if q["name"] == "Billing"
    )
    interaction = api(
        live_system,
        "POST",
        "/api/v1/interactions/",
        token,
        {
            "channel": "webchat",
            "direction": "inbound",
            "identity_kind": "email",
            "identity_value": "camille@laurent-fils.fr",
            "subject": subject,
        },
    )
    api(
        live_system,
        "POST",
        f"/api/v1/interactions/{interaction['id']}/enqueue/",
        token,
        {"queue": billing["id"]},
    )
    return interaction


def test_an_offer_pushed_live_is_accepted_answered_transferred_and_closed(
    live_system, page: Page, browser, artifacts_dir
):
    log_in(page, live_system, "acme-agent3")
    page.add_init_script(AUDIO_STUB)  # counts the tones the desk plays
    page.goto("/desk/")
    wait_for_live_socket(page)
    page.check("#desk-sound")
    page.select_option("#presence-status", "available")
    page.click("#presence-apply")
    expect(page.get_by_test_id("presence-status")).to_have_text("Available")

    token = admin_token(live_system)
    subject = f"Invoice question {uuid.uuid4().hex[:8]}"
    interaction = queue_billing_chat(live_system, token, subject)

    offer = page.locator("[data-offer]", has_text=subject)
    expect(offer).to_be_visible(timeout=EVENT_TIMEOUT)  # only the socket can have put it there
    assert page.evaluate("window.__rings") >= 1  # the new offer rang
    expect(offer.locator(".countdown")).to_have_text(re.compile(r"\d+ s"))
    page.screenshot(path=str(artifacts_dir / "e2e-desk-offer.png"), full_page=True)
    offer.get_by_test_id("accept").click()

    expect(page).to_have_url(f"{live_system.base_url}/desk/interactions/{interaction['id']}/")
    expect(page.get_by_test_id("interaction-state")).to_have_text("Active")
    pop = page.get_by_test_id("screen-pop")
    expect(pop).to_contain_text("Camille")
    expect(page.get_by_test_id("history")).to_contain_text("Double charge on invoice")

    page.fill("#reply-body", "Bonjour Camille, je regarde votre facture.")
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("thread")).to_contain_text("je regarde votre facture")
    page.screenshot(path=str(artifacts_dir / "e2e-desk-conversation.png"), full_page=True)

    # A colleague in a second browser: signs in, goes Available, and gets the transfer live.
    colleague_context = browser.new_context(base_url=live_system.base_url, locale="en-US")
    colleague_context.set_default_timeout(15_000)
    colleague_context.add_init_script(WS_TRACKER_SCRIPT)
    colleague = colleague_context.new_page()
    try:
        log_in(colleague, live_system, "acme-agent2")
        colleague.goto("/desk/")
        wait_for_live_socket(colleague)
        colleague.select_option("#presence-status", "available")
        colleague.click("#presence-apply")
        # acme-agent2 works in French: the status is read from its class, not its label.
        expect(colleague.locator("#desk-presence")).to_have_class(re.compile("status-available"))

        page.reload()  # the transfer list shows who is available now
        target = page.evaluate(
            """() => [...document.querySelectorAll('#transfer-to option')]
                .find(o => o.textContent.trim().endsWith('(Available)')).value"""
        )
        page.select_option("#transfer-to", target)
        page.fill("#transfer-note", "VIP, asked about the March invoice")
        page.get_by_test_id("transfer").click()
        expect(page).to_have_url(f"{live_system.base_url}/desk/")

        transferred = colleague.locator("[data-offer]", has_text=subject)
        expect(transferred).to_be_visible(timeout=EVENT_TIMEOUT)  # pushed through the socket
        transferred.get_by_test_id("accept").click()
        expect(colleague).to_have_url(
            f"{live_system.base_url}/desk/interactions/{interaction['id']}/"
        )
        expect(colleague.get_by_test_id("internal-notes")).to_contain_text("March invoice")
        expect(colleague.get_by_test_id("thread")).to_contain_text("je regarde votre facture")
        colleague.screenshot(path=str(artifacts_dir / "e2e-desk-transferred.png"), full_page=True)

        colleague.select_option("#close-disposition", label="Resolved")
        colleague.get_by_test_id("close").click()
        expect(colleague).to_have_url(f"{live_system.base_url}/desk/")
    finally:
        colleague_context.close()
    closed = api(live_system, "GET", f"/api/v1/interactions/{interaction['id']}/", token)
    assert closed["state"] == "closed"
    assert closed["assigned_agent"] != interaction.get("assigned_agent")


def test_a_warm_transfer_consults_the_colleague_live_before_handing_over(
    live_system, page: Page, browser, artifacts_dir
):
    """agent3 answers (with the keyboard), asks agent2 to take over after a consult; agent2
    joins from their desk, writes a note agent3 sees live, and gets the agent's tools on the
    open page when agent3 hands it over."""
    colleague_context = browser.new_context(base_url=live_system.base_url, locale="en-US")
    colleague_context.set_default_timeout(15_000)
    colleague_context.add_init_script(WS_TRACKER_SCRIPT)
    colleague_context.add_init_script(WS_MESSAGES_SCRIPT)
    colleague = colleague_context.new_page()
    try:
        log_in(colleague, live_system, "acme-agent2")
        colleague.goto("/desk/")
        wait_for_live_socket(colleague)
        # The first panels come over the socket: a status chosen before would be overwritten.
        colleague.wait_for_function("() => window.__ccWsMessages > 0")
        colleague.select_option("#presence-status", "away")  # the new chat goes to agent3
        colleague.click("#presence-apply")
        expect(colleague.locator("#desk-presence")).to_have_class(re.compile("status-away"))

        log_in(page, live_system, "acme-agent3")
        page.goto("/desk/")
        wait_for_live_socket(page)
        page.select_option("#presence-status", "available")
        page.click("#presence-apply")
        expect(page.get_by_test_id("presence-status")).to_have_text("Available")

        token = admin_token(live_system)
        subject = f"Refund request {uuid.uuid4().hex[:8]}"
        interaction = queue_billing_chat(live_system, token, subject)
        conversation = f"{live_system.base_url}/desk/interactions/{interaction['id']}/"
        expect(page.locator("[data-offer]", has_text=subject)).to_be_visible(timeout=EVENT_TIMEOUT)
        # The desk's shortcuts: "d" declines what rings first (the demo's older chats ring
        # too), "a" accepts it once it is ours.
        for _ in range(20):
            first = page.locator(".offers > li").first
            if subject in first.inner_text():
                break
            offer_id = first.get_attribute("data-offer")
            page.locator("body").press("d")
            expect(page.locator(f'[data-offer="{offer_id}"]')).to_have_count(0)
        page.locator("body").press("a")
        expect(page).to_have_url(conversation)

        agent2 = next(
            u
            for u in api(live_system, "GET", "/api/v1/users/?page_size=100", token)["results"]
            if u["username"] == "acme-agent2"
        )
        page.select_option("#transfer-to", f"agent:{agent2['id']}")
        page.fill("#transfer-note", "Refund above my limit")
        page.get_by_test_id("warm-transfer").click()
        expect(page.get_by_test_id("participant-status")).to_have_text("Invited")
        expect(page).to_have_url(conversation)  # agent3 stays with the customer

        invitation = colleague.locator("[data-invitation]", has_text="Refund above my limit")
        expect(invitation).to_be_visible(timeout=EVENT_TIMEOUT)  # pushed through the socket
        invitation.get_by_test_id("join").click()
        expect(colleague).to_have_url(conversation)
        expect(colleague.get_by_test_id("participation")).to_be_visible()
        expect(colleague.get_by_test_id("send")).to_have_count(0)  # consulted: notes only
        colleague.fill("#note-body", "OK, I can approve it")
        colleague.get_by_test_id("add-note").click()

        # agent3's open page follows: the colleague joined, and their note is there.
        expect(page.get_by_test_id("participant-status")).to_have_text(
            "Joined", timeout=EVENT_TIMEOUT
        )
        expect(page.get_by_test_id("internal-notes")).to_contain_text(
            "I can approve it", timeout=EVENT_TIMEOUT
        )
        page.screenshot(path=str(artifacts_dir / "e2e-desk-warm-transfer.png"), full_page=True)
        page.get_by_test_id("take-over").click()
        expect(page).to_have_url(f"{live_system.base_url}/desk/")

        # agent2's open page becomes the agent's: composer and close, without a reload.
        expect(colleague.get_by_test_id("send")).to_be_visible(timeout=EVENT_TIMEOUT)
        colleague.fill("#reply-body", "Bonjour Camille, le remboursement est validé.")
        colleague.get_by_test_id("send").click()
        expect(colleague.get_by_test_id("thread")).to_contain_text("remboursement est validé")
        colleague.screenshot(path=str(artifacts_dir / "e2e-desk-took-over.png"), full_page=True)
        colleague.select_option("#close-disposition", label="Resolved")
        colleague.get_by_test_id("close").click()
        expect(colleague).to_have_url(f"{live_system.base_url}/desk/")
    finally:
        colleague_context.close()
    events = api(live_system, "GET", f"/api/v1/interactions/{interaction['id']}/", token)
    assert events["state"] == "closed"
