"""Agent turnover counts the deactivations the accounts service logs."""

from datetime import timedelta

from django.utils import timezone

from apps.accounts.models import Role
from apps.accounts.services import user_set_active
from apps.interactions.models import Event
from apps.reports.selectors import ReportFilters, kpi_report
from tests.factories import UserFactory


def test_deactivating_an_agent_counts_in_turnover(org_a, supervisor_a):
    agents = [UserFactory(organization=org_a, roles=[Role.AGENT]) for _ in range(4)]
    for agent in agents:
        agent.date_joined = timezone.now() - timedelta(days=60)
        agent.save(update_fields=["date_joined"])
    user_set_active(user=agents[0], active=False, actor=supervisor_a)
    user_set_active(user=agents[0], active=False, actor=supervisor_a)  # no change, no event
    assert Event.objects.filter(type="user.deactivated", organization=org_a).count() == 1
    now = timezone.now()
    filters = ReportFilters(start=now - timedelta(days=1), end=now + timedelta(hours=1))
    table = kpi_report(organization=org_a, filters=filters, kpis=["agent_turnover"])
    assert table.totals["agent_turnover"] == round(100 * 1 / 3.5, 2)  # 1 ÷ ((4 + 3) ÷ 2)
    earlier = ReportFilters(start=now - timedelta(days=30), end=now - timedelta(days=1))
    assert (
        kpi_report(organization=org_a, filters=earlier, kpis=["agent_turnover"]).totals[
            "agent_turnover"
        ]
        == 0.0
    )
