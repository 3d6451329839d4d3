"""The report API: who may read it, what each format holds, and tenant isolation."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook

from apps.accounts.models import Role
from apps.accounts.services import api_key_create
from apps.interactions.models import State
from apps.reports.services import rollups_update_all
from tests.factories import ContactFactory, QueueFactory, UserFactory
from tests.reports.stories import story

D = datetime(2026, 6, 1, tzinfo=UTC)
PERIOD = {"from": "2026-06-01", "to": "2026-06-01"}


@pytest.fixture
def figures(org_a, roles):
    """Organization A (Europe/Paris): three calls on 1 June, one abandoned."""
    queue = QueueFactory(organization=org_a, name="Billing", sla_seconds=20)
    agent = UserFactory(organization=org_a, roles=[Role.AGENT], first_name="Ann", last_name="Lee")
    done = []
    for hour, abandon in ((8, False), (9, False), (10, True)):
        steps = [(0, State.QUEUED)]
        steps += (
            [(30, State.ABANDONED)]
            if abandon
            else [(10, State.ACTIVE), (130, State.WRAP_UP), (140, State.CLOSED)]
        )
        done.append(
            story(
                organization=org_a,
                queue=queue,
                contact=ContactFactory(organization=org_a, first_name="=cmd"),
                agent=None if abandon else agent,
                start=D + timedelta(hours=hour),
                steps=steps,
            )
        )
    rollups_update_all(now=D + timedelta(days=2))
    return {"queue": queue, "agent": agent, "interactions": done}


URLS = ("/api/v1/reports/", "/api/v1/reports/kpis/", "/api/v1/reports/interactions/")


@pytest.mark.parametrize("url", URLS)
def test_agents_may_not_read_reports(url, figures, agent_a, api_client):
    api_client.force_authenticate(agent_a)
    assert api_client.get(url, PERIOD).status_code == 403


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.MANAGER, Role.ADMIN])
def test_supervisors_managers_and_admins_read_reports(role, figures, org_a, api_client):
    api_client.force_authenticate(UserFactory(organization=org_a, roles=[role]))
    response = api_client.get("/api/v1/reports/", {**PERIOD, "kpis": "offered,abandoned"})
    assert response.status_code == 200
    assert response.json()["totals"]["offered"] == 3


def test_api_keys_by_role(figures, org_a, api_client):
    _key, admin_raw = api_key_create(organization=org_a, name="BI", role=Role.ADMIN)
    _key, agent_raw = api_key_create(organization=org_a, name="Bot", role=Role.AGENT)
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {admin_raw}")
    assert api_client.get("/api/v1/reports/", PERIOD).json()["totals"]["abandoned"] == 1
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {agent_raw}")
    assert api_client.get("/api/v1/reports/", PERIOD).status_code == 403


def test_another_organization_sees_none_of_it(figures, admin_b, api_client):
    api_client.force_authenticate(admin_b)
    body = api_client.get("/api/v1/reports/", {**PERIOD, "group_by": "queue"}).json()
    assert body["rows"] == [] and body["totals"]["offered"] == 0
    export = api_client.get("/api/v1/reports/interactions/", PERIOD)
    assert b"".join(export.streaming_content).decode().count("\n") == 1  # the header only
    drill = api_client.get(
        "/api/v1/reports/drilldown/",
        {**PERIOD, "kpi": "offered", "group_by": "queue", "group": figures["queue"].pk},
    )
    assert drill.json()["count"] == 0


def test_json_report_grouped_by_queue_and_hour(figures, admin_a, api_client):
    api_client.force_authenticate(admin_a)
    body = api_client.get(
        "/api/v1/reports/",
        {**PERIOD, "group_by": "queue", "interval": "60m", "kpis": "offered,aht"},
    ).json()
    assert body["columns"] == [
        {"code": "offered", "label": "Offered", "unit": "count"},
        {"code": "aht", "label": "Average handle time", "unit": "seconds"},
    ]
    # 08:00 UTC is 10:00 in Paris (summer time).
    assert [(r["interval"][11:16], r["label"], r["offered"]) for r in body["rows"]] == [
        ("10:00", "Billing", 1),
        ("11:00", "Billing", 1),
        ("12:00", "Billing", 1),
    ]
    assert body["totals"]["aht"] == 130.0  # (120 talk + 10 wrap-up) × 2 ÷ 2


def test_csv_report(figures, supervisor_a, api_client):
    api_client.force_authenticate(supervisor_a)
    response = api_client.get(
        "/api/v1/reports/",
        {**PERIOD, "group_by": "agent", "kpis": "handled,abandonment_rate", "format": "csv"},
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["group", "label", "handled", "abandonment_rate"]
    assert rows[1][1:] == ["None", "0", "100.0"]  # the abandoned call has no agent
    assert rows[2] == [str(figures["agent"].pk), "Ann Lee", "2", "0.0"]
    assert rows[-1][1:] == ["Total", "2", "33.33"]


def test_xlsx_report_has_definitions(figures, supervisor_a, api_client):
    api_client.force_authenticate(supervisor_a)
    response = api_client.get(
        "/api/v1/reports/", {**PERIOD, "kpis": "offered,service_level", "format": "xlsx"}
    )
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    rows = list(book["Report"].values)
    assert rows[0] == ("group", "label", "offered", "service_level")
    assert rows[-1][1:] == ("Total", 3, 66.67)
    kpis = list(book["KPIs"].values)
    assert kpis[2][0] == "service_level" and "÷" in kpis[2][3]


def test_interaction_export_csv_and_xlsx(figures, supervisor_a, api_client, settings):
    api_client.force_authenticate(supervisor_a)
    response = api_client.get("/api/v1/reports/interactions/", PERIOD)
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["interaction", "started_at", "channel", "direction"]
    assert [int(r[0]) for r in rows[1:]] == [i.pk for i in figures["interactions"]]
    assert rows[1][1] == "2026-06-01T10:00:00+02:00"
    xlsx = api_client.get("/api/v1/reports/interactions/", {**PERIOD, "format": "xlsx"})
    assert len(list(load_workbook(io.BytesIO(xlsx.content)).active.values)) == 4
    settings.REPORTS_XLSX_MAX_ROWS = 2
    refused = api_client.get("/api/v1/reports/interactions/", {**PERIOD, "format": "xlsx"})
    assert refused.status_code == 400
    assert "background" in refused.json()["detail"] and "CSV" in refused.json()["detail"]


def test_definitions_and_drill_down(figures, supervisor_a, api_client):
    api_client.force_authenticate(supervisor_a)
    kpis = {k["code"]: k for k in api_client.get("/api/v1/reports/kpis/").json()}
    assert kpis["aht"]["formula"] == "(talk + hold + wrap-up) ÷ handled"
    assert kpis["aht"]["unit"] == "seconds"
    drill = api_client.get("/api/v1/reports/drilldown/", {**PERIOD, "kpi": "abandoned"}).json()
    assert [row["id"] for row in drill["results"]] == [figures["interactions"][2].pk]


@pytest.mark.parametrize(
    "params",
    [
        {"group_by": "colour"},
        {"group_by": "interval"},
        {"kpis": "happiness"},
        {"from": "yesterday"},
        {"to": None},
        {"queue": "billing"},
    ],
)
@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_bad_input_is_a_clear_400(params, fmt, figures, supervisor_a, api_client):
    api_client.force_authenticate(supervisor_a)
    query = {k: v for k, v in {**PERIOD, **params, "format": fmt}.items() if v is not None}
    response = api_client.get("/api/v1/reports/", query)
    assert response.status_code == 400
    assert response.json()["detail"]


def test_schema_lists_the_report_endpoints(admin_a, api_client):
    api_client.force_authenticate(admin_a)
    schema = api_client.get("/api/schema/", {"format": "json"}).json()
    assert {"/api/v1/reports/", "/api/v1/reports/kpis/", "/api/v1/reports/interactions/"} <= set(
        schema["paths"]
    )
