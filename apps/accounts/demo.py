"""Loads the demo organizations of ``fixtures/demo.json`` through the services (idempotent)."""

import json
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import transaction

from apps.accounts import services
from apps.accounts.models import (
    AddOn,
    AddOnFeature,
    AgentProfile,
    Organization,
    Plan,
    PlanFeature,
    Team,
    User,
)

DEMO_FILE = Path(settings.BASE_DIR) / "fixtures" / "demo.json"


def _plans(data: dict) -> dict[str, Plan]:
    plans = {}
    for row in data["plans"]:
        plan, _ = Plan.objects.update_or_create(
            code=row["code"],
            defaults={
                "name": row["name"],
                "description": row.get("description", ""),
                "agent_seats": row["agent_seats"],
                "monthly_price": Decimal(row["monthly_price"]),
            },
        )
        for code, limit in row["features"].items():
            PlanFeature.objects.update_or_create(plan=plan, code=code, defaults={"limit": limit})
        plans[plan.code] = plan
    for row in data["addons"]:
        addon, _ = AddOn.objects.update_or_create(
            code=row["code"],
            defaults={
                "name": row["name"],
                "extra_agent_seats": row["extra_agent_seats"],
                "monthly_price": Decimal(row["monthly_price"]),
            },
        )
        for code, limit in row["features"].items():
            AddOnFeature.objects.update_or_create(addon=addon, code=code, defaults={"limit": limit})
    return plans


@transaction.atomic
def demo_load(path: Path = DEMO_FILE) -> list[tuple[str, str, str]]:
    """Returns (organization, username, roles) rows of every demo login."""
    data = json.loads(path.read_text())
    password = data["password"]
    plans = _plans(data)
    logins = []
    for org_row in data["organizations"]:
        organization = Organization.objects.filter(slug=org_row["slug"]).first()
        if organization is None:
            organization = services.organization_create(
                name=org_row["name"],
                slug=org_row["slug"],
                plan=plans[org_row["plan"]],
                time_zone=org_row["time_zone"],
                language=org_row["language"],
            )
        for user_row in org_row["users"]:
            user = User.objects.filter(username=user_row["username"]).first()
            if user is None:
                user = services.user_create(
                    organization=organization,
                    username=user_row["username"],
                    password=password,
                    roles=user_row["roles"],
                    first_name=user_row["first_name"],
                    last_name=user_row["last_name"],
                    email=f"{user_row['username']}@example.com",
                    language=user_row.get("language", ""),
                )
            if "extension" in user_row:
                AgentProfile.objects.filter(user=user).update(
                    extension=user_row["extension"], languages=user_row["languages"]
                )
            logins.append((organization.name, user.username, ", ".join(user_row["roles"])))
        for team_name, members in org_row.get("teams", {}).items():
            team, _ = Team.objects.get_or_create(organization=organization, name=team_name)
            team.members.set(User.objects.filter(username__in=members, organization=organization))
        if "crm" in org_row:
            from apps.interactions.demo import demo_crm_load

            demo_crm_load(organization=organization, data=org_row["crm"])
        if "ivr" in org_row:
            from apps.flows.demo import demo_ivr_load

            demo_ivr_load(organization=organization, name=org_row["ivr"])
        if "voice" in org_row:
            from apps.connectors.demo import demo_voice_load

            demo_voice_load(organization=organization, data=org_row["voice"])
        if "chat_flow" in org_row:
            from apps.flows.demo import demo_chat_flow_load

            demo_chat_flow_load(organization=organization, name=org_row["chat_flow"])
        if "webchat" in org_row:
            from apps.connectors.demo import demo_webchat_load

            demo_webchat_load(organization=organization, data=org_row["webchat"])
        if "history_days" in org_row:
            from apps.reports.demo import demo_history_load

            demo_history_load(organization=organization, days=org_row["history_days"])
    su = data["superuser"]
    if not User.objects.filter(username=su["username"]).exists():
        User.objects.create_superuser(username=su["username"], email=su["email"], password=password)
    logins.insert(0, ("(platform)", su["username"], "superuser"))
    return logins
