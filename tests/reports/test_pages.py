"""Report pages: who sees them, filters from one's own organization only, figures, formulas,
the chart's data, and the drill-down to exactly the interactions behind a figure."""

import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse

from apps.reports.kpis import KPIS
from tests.reports.page_data import center

DAY = {"period": "custom", "start": "2026-03-03", "end": "2026-03-03"}


@pytest.fixture
def alpha(roles):
    return center(slug="alpha")


@pytest.fixture
def beta(roles):
    return center(slug="beta")


def _page(client, user, **params):
    client.force_login(user)
    return client.get(reverse("reports"), {**DAY, **params})


@pytest.mark.parametrize(
    "url_name", ["reports", "reports-drilldown", "reports-exports", "reports-subscriptions"]
)
def test_agents_get_403(alpha, client, url_name):
    client.force_login(alpha.agent)
    assert client.get(reverse(url_name), {**DAY, "kpi": "offered"}).status_code == 403
    client.force_login(alpha.anna)
    assert client.get(reverse(url_name), {**DAY, "kpi": "offered"}).status_code == 403


@pytest.mark.parametrize("who", ["manager", "supervisor", "admin"])
def test_staff_see_the_report_and_its_menu_link(alpha, client, who):
    response = _page(client, getattr(alpha, who))
    assert response.status_code == 200
    assert f'href="{reverse("reports")}"' in response.content.decode()


def test_agents_have_no_menu_link(alpha, client):
    client.force_login(alpha.agent)
    body = client.get(reverse("home")).content.decode()
    assert f'href="{reverse("reports")}"' not in body


def test_filters_offer_only_the_organizations_queues_and_agents(alpha, beta, client):
    body = _page(client, alpha.manager).content.decode()
    assert alpha.billing.name in body and "Anna alpha" in body
    assert beta.billing.name not in body
    assert "Anna beta" not in body and "beta-A1" not in body


def test_another_organizations_queue_is_refused_and_never_counted(alpha, beta, client):
    response = _page(client, alpha.manager, queues=[beta.billing.pk], group_by="none")
    assert response.status_code == 400
    assert "table" not in response.context


def test_figures_follow_the_filters(alpha, beta, client):
    everything = _page(client, alpha.manager, group_by="none", kpis=["offered", "answered"])
    assert everything.context["table"].totals["offered"] == 3  # beta's calls never count
    billing = _page(
        client, alpha.manager, group_by="none", kpis=["offered"], queues=[alpha.billing.pk]
    )
    assert billing.context["table"].totals["offered"] == 2
    anna = _page(client, alpha.manager, group_by="none", kpis=["answered"], agents=[alpha.anna.pk])
    assert anna.context["table"].totals["answered"] == 1
    other_day = _page(
        client,
        alpha.manager,
        group_by="none",
        kpis=["offered"],
        start="2026-03-04",
        end="2026-03-04",
    )
    assert other_day.context["table"].totals["offered"] == 0


def test_rows_by_queue_and_by_hour_in_the_organizations_time_zone(alpha, client):
    by_queue = _page(client, alpha.manager, group_by="queue", kpis=["offered"])
    rows = {row["label"]: row["offered"] for row in by_queue.context["table"].rows}
    assert rows == {alpha.billing.name: 2, alpha.support.name: 1}
    by_hour = _page(client, alpha.manager, group_by="interval", interval="60m", kpis=["offered"])
    labels = [row["label"] for row in by_hour.context["table"].rows]
    # 10:00, 11:00 and 14:00 in Paris (09:00, 10:00, 13:00 UTC).
    assert labels == ["2026-03-03 10:00", "2026-03-03 11:00", "2026-03-03 14:00"]


def test_every_kpi_header_shows_its_formula(alpha, client):
    body = _page(client, alpha.manager, kpis=["aht", "service_level"]).content.decode()
    for code in ("aht", "service_level"):
        kpi = KPIS[code]
        formula = str(kpi.formula).replace("'", "&#x27;").replace('"', "&quot;")
        assert f'<abbr title="{formula}">{kpi.label}</abbr>' in body.replace("&amp;", "&")
    # The definitions list names every KPI, shown or not.
    assert str(KPIS["fcr"].formula).split()[0] in body


def test_the_chart_reads_embedded_json_and_no_inline_script(alpha, client):
    body = _page(
        client, alpha.manager, group_by="queue", kpis=["offered", "answered"]
    ).content.decode()
    data = json.loads(
        re.search(
            r'<script id="report-chart" type="application/json">(.*?)</script>', body, re.S
        ).group(1)
    )
    assert [d["code"] for d in data["datasets"]] == ["offered", "answered"]
    offered = dict(zip(data["labels"], data["datasets"][0]["data"], strict=True))
    assert offered == {alpha.billing.name: 2, alpha.support.name: 1}
    assert "vendor/chartjs/chart.umd.min.js" in body and "js/reports.js" in body
    for tag in re.findall(r"<script[^>]*>", body):
        assert "src=" in tag or 'type="application/json"' in tag


def _drill_links(body: str, code: str) -> dict[str, str]:
    """{row label: the drill-down link of ``code`` in that row} of the report table."""
    links = {}
    for label, cells in re.findall(r'<th scope="row">(.*?)</th>(.*?)</tr>', body, re.S):
        for link in re.findall(r'href="(/reports/drilldown/\?[^"]*)"', cells):
            link = link.replace("&amp;", "&")
            if re.search(rf"[?&]kpi={code}(&|$)", link):
                links[label] = link
    return links


def _listed(client, url) -> set[int]:
    body = client.get(url).content.decode()
    return {int(pk) for pk in re.findall(r'data-interaction="(\d+)"', body)}


def test_drilldown_lists_exactly_the_interactions_behind_a_figure(alpha, beta, client):
    body = _page(
        client, alpha.manager, group_by="queue", kpis=["offered", "answered"]
    ).content.decode()
    offered = _drill_links(body, "offered")
    answered = _drill_links(body, "answered")
    i = {name: x.pk for name, x in alpha.interactions.items()}
    assert _listed(client, offered[alpha.billing.name]) == {i["A1"], i["A2"]}
    assert _listed(client, offered[alpha.support.name]) == {i["A3"]}
    assert _listed(client, offered["Total"]) == {i["A1"], i["A2"], i["A3"]}
    assert _listed(client, answered[alpha.billing.name]) == {i["A1"]}


def test_drilldown_of_one_hour_and_links_to_the_desk(alpha, client):
    body = _page(
        client, alpha.manager, group_by="interval", interval="60m", kpis=["offered"]
    ).content.decode()
    eleven = _drill_links(body, "offered")["2026-03-03 11:00"]
    page = client.get(eleven).content.decode()
    a2 = alpha.interactions["A2"]
    assert _listed(client, eleven) == {a2.pk}
    assert reverse("desk-interaction", args=[a2.pk]) in page
    assert "2026-03-03 11:00" in page  # created at 10:00 UTC, shown in Paris time


def test_drilldown_is_paginated(alpha, client, settings):
    settings.REPORTS_DRILLDOWN_PAGE_SIZE = 2
    client.force_login(alpha.manager)
    url = reverse("reports-drilldown")
    first = client.get(url, {**DAY, "group_by": "none", "kpi": "offered"})
    second = client.get(url, {**DAY, "group_by": "none", "kpi": "offered", "page": 2})
    shown = set(re.findall(r'data-interaction="(\d+)"', first.content.decode())) | set(
        re.findall(r'data-interaction="(\d+)"', second.content.decode())
    )
    assert len(shown) == 3
    assert "page=2" in first.content.decode()


def test_drilldown_never_shows_another_organization(alpha, beta, client):
    client.force_login(alpha.manager)
    response = client.get(
        reverse("reports-drilldown"),
        {**DAY, "kpi": "offered", "group_by": "queue", "group": str(beta.billing.pk)},
    )
    assert (
        _listed(client, response.request["PATH_INFO"] + "?" + response.request["QUERY_STRING"])
        == set()
    )
    bad = client.get(
        reverse("reports-drilldown"), {**DAY, "kpi": "offered", "queues": [beta.billing.pk]}
    )
    assert bad.status_code == 400


def test_pages_make_a_bounded_number_of_queries(alpha, client, django_assert_max_num_queries):
    from apps.reports.models import ExportJob

    for _ in range(5):
        ExportJob.objects.create(
            organization=alpha.org, requested_by=alpha.manager, kind="report", file_format="csv"
        )
    client.force_login(alpha.manager)
    with django_assert_max_num_queries(10):
        client.get(reverse("reports-drilldown"), {**DAY, "group_by": "none", "kpi": "offered"})
    with django_assert_max_num_queries(8):
        client.get(reverse("reports-exports"))


def test_a_first_visit_shows_the_last_7_days_with_the_filters_saying_so(alpha, client):
    client.force_login(alpha.manager)
    response = client.get(reverse("reports"))
    assert response.status_code == 200
    assert response.context["report"].last_day - response.context["report"].first_day == (
        timedelta(days=6)
    )
    assert '<option value="last_7_days" selected>' in response.content.decode()


def test_a_drilldown_link_with_a_broken_period_is_a_400_not_an_error(alpha, client):
    client.force_login(alpha.manager)
    response = client.get(
        reverse("reports-drilldown"),
        {**DAY, "group_by": "queue", "kpi": "offered", "group": "not-a-queue"},
    )
    assert response.status_code in (200, 400)
    response = client.get(
        reverse("reports-drilldown"),
        {**DAY, "group_by": "interval", "interval": "60m", "kpi": "offered", "at": "garbage"},
    )
    assert response.status_code == 200  # an unreadable period is ignored: the whole report
