"""Reports and the wallboard in a real browser, over the demo's month of history.

A supervisor opens Reports from the menu, picks the last 7 days by queue: the table shows the
history's figures, the chart is drawn, each KPI header carries its formula, a figure opens the
interactions behind it and "Export CSV" downloads the table. On the wallboard, a caller waiting
in a queue (the phone simulator) raises that queue's waiting figure live, and hanging up lowers
it again (the call ends abandoned: nothing is left waiting for the other tests).
"""

import csv
import io

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.desk_helpers import only_agent_available
from tests.e2e.test_live_notifications import log_in, wait_for_live_socket
from tests.e2e.test_voice import ALWAYS_OPEN

pytestmark = pytest.mark.browser

EVENT_TIMEOUT = 20_000  # ms
SUPERVISOR = "acme-supervisor"  # fixtures/demo.json: the Supervisor role

CHART_DRAWN = """() => {
  const canvas = document.getElementById("report-chart-canvas");
  const chart = window.Chart && canvas && window.Chart.getChart(canvas);
  return Boolean(chart) && chart.data.labels.length > 0 && canvas.width > 0 && canvas.height > 0;
}"""


def _errors(page: Page) -> list[str]:
    """The page's console errors and uncaught exceptions, as they come."""
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def _figure(text: str) -> float:
    """A cell as a number: counts, "85.2 %", durations as "m:ss" (seconds), "—" (0)."""
    text = text.replace("\u202f", "").replace("\xa0", "").replace(",", "").replace("%", "")
    text = text.strip().strip("—")
    if ":" in text:
        return sum(float(part) * 60**i for i, part in enumerate(reversed(text.split(":"))))
    return float(text or 0)


def test_a_supervisor_reads_last_week_by_queue_drills_down_and_exports(
    live_system, page: Page, artifacts_dir
):
    errors = _errors(page)
    log_in(page, live_system, SUPERVISOR)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    expect(page).to_have_url(f"{live_system.base_url}/reports/")
    page.select_option("#id_period", "last_7_days")
    page.select_option("#id_interval", "")  # the whole period: one row per queue
    page.select_option("#id_group_by", "queue")
    page.get_by_role("button", name="Show").click()

    table = page.locator("table.report-table")
    headers = table.locator("thead th[data-kpi]")
    codes = [h.get_attribute("data-kpi") for h in headers.all()]
    assert codes[:2] == ["offered", "answered"]
    billing = table.locator("tbody tr", has=page.locator("th", has_text="Billing"))
    expect(billing).to_have_count(1)
    cells = billing.locator("td")
    figures = dict(zip(codes, (_figure(t) for t in cells.all_inner_texts()), strict=True))
    assert figures["offered"] > 20 and figures["answered"] > 20  # the demo's history
    assert figures["service_level"] > 0 and figures["aht"] != 0
    total = table.locator("tbody tr.total")
    assert _figure(total.locator("td").first.inner_text()) >= figures["offered"]

    page.wait_for_function(CHART_DRAWN)  # Chart.js drew on a canvas of some size
    box = page.locator("#report-chart-canvas").bounding_box()
    assert box and box["width"] > 100 and box["height"] > 50

    # Each KPI header shows its formula, the one of the definitions below.
    level = table.locator("th[data-kpi=service_level] abbr")
    formula = level.get_attribute("title")
    assert formula
    expect(page.locator("#kpi-service_level + dd code")).to_have_text(formula)
    page.screenshot(path=str(artifacts_dir / "e2e-reports.png"), full_page=True)

    # "Export CSV" downloads the table shown: its header names each KPI with its unit.
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV", exact=True).click()
    content = download.value.path().read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(content)))
    labels = [h.locator("abbr").inner_text() for h in headers.all()]
    assert rows[0][0] == "Group" and rows[0][1] == "Offered (count)"
    assert [h.rsplit(" (", 1)[0] for h in rows[0][1:]] == labels
    exported = next(row for row in rows if row[0] == "Billing")
    assert _figure(exported[1]) == figures["offered"]

    # A figure opens the interactions behind it: as many as it counts.
    billing.locator("td").first.get_by_role("link").click()
    expect(page.locator("h1")).to_contain_text("Interactions behind")
    count = int(figures["offered"])
    expect(page.locator("p.muted", has_text="interactions from")).to_contain_text(
        f"{count} interactions from"
    )
    expect(page.locator("table.drilldown tbody tr[data-interaction]").first).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "e2e-reports-drilldown.png"), full_page=True)
    assert errors == []


def test_the_wallboard_shows_a_caller_waiting_live(live_system, page: Page, browser, artifacts_dir):
    live_system.manage("shell", "-c", ALWAYS_OPEN)  # as test_voice: office hours do not decide
    only_agent_available(live_system, "")  # nobody takes the call: it waits in the queue
    errors = _errors(page)
    log_in(page, live_system, SUPERVISOR)
    page.goto("/reports/wallboard/")
    wait_for_live_socket(page)
    billing = page.get_by_test_id("queues").locator(
        "tr", has=page.locator("th", has_text="Billing")
    )
    waiting = billing.locator("[data-metric=waiting]")
    before = int(waiting.inner_text())
    offered = int(billing.locator("[data-metric=offered_today]").inner_text())

    caller_context = browser.new_context(base_url=live_system.base_url)
    caller_context.set_default_timeout(15_000)
    phone = caller_context.new_page()
    calling = False
    try:
        log_in(phone, live_system, SUPERVISOR)
        phone.goto("/voice/simulator/")
        phone.select_option("#sim-number", label="Main line (+15550100)")
        phone.fill("#sim-caller", "+14155550177")
        phone.click("#sim-call")
        calling = True
        heard = phone.locator("#sim-heard")
        expect(heard).to_contain_text("For billing, press 1", timeout=EVENT_TIMEOUT)
        phone.locator(".sim-key", has_text="1").click()
        phone.locator(".sim-key", has_text="#").click()
        expect(heard).to_contain_text("Please hold", timeout=EVENT_TIMEOUT)

        # No reload: only the wallboard's socket can change the figures.
        expect(waiting).to_have_text(str(before + 1), timeout=EVENT_TIMEOUT)
        expect(billing.locator("[data-metric=offered_today]")).to_have_text(str(offered + 1))
        expect(billing.locator("[data-metric=longest_wait] [data-since]")).to_be_visible()
        page.screenshot(path=str(artifacts_dir / "e2e-wallboard.png"), full_page=True)

        tv = page.context.new_page()
        tv.goto("/reports/wallboard/?tv=1")
        wait_for_live_socket(tv)
        tv_billing = tv.get_by_test_id("queues").locator(
            "tr", has=tv.locator("th", has_text="Billing")
        )
        expect(tv_billing.locator("[data-metric=waiting]")).to_have_text(str(before + 1))
        expect(tv.locator("body.tv nav")).to_have_count(0)  # a wall: no navigation
        tv.screenshot(path=str(artifacts_dir / "e2e-wallboard-tv.png"), full_page=True)

        phone.click("#sim-hangup")
        calling = False
        expect(phone.locator("#sim-status")).to_have_text("Completed", timeout=EVENT_TIMEOUT)
        expect(waiting).to_have_text(str(before), timeout=EVENT_TIMEOUT)  # abandoned, live
        expect(tv_billing.locator("[data-metric=waiting]")).to_have_text(str(before))
    finally:
        if calling:  # never leave a caller waiting for the next tests
            phone.click("#sim-hangup")
            expect(phone.locator("#sim-status")).to_have_text("Completed", timeout=EVENT_TIMEOUT)
        caller_context.close()
    assert errors == []
