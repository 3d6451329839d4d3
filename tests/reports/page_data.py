"""A small center for the report pages' tests: two queues, two agents, calls on one day."""

import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime

from apps.accounts.models import Role
from apps.interactions.models import Interaction, State
from tests.factories import ContactFactory, OrganizationFactory, QueueFactory, UserFactory

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
Q, OF, A, W, C, AB = (
    State.QUEUED,
    State.OFFERED,
    State.ACTIVE,
    State.WRAP_UP,
    State.CLOSED,
    State.ABANDONED,
)
ANSWERED = [(0, Q), (5, OF), (10, A), (70, W), (80, C)]
ABANDONED = [(0, Q), (60, AB)]


@dataclass
class Center:
    org: object
    manager: object
    supervisor: object
    admin: object
    agent: object
    billing: object  # queue
    support: object  # queue
    anna: object  # agent
    bob: object  # agent
    interactions: dict[str, Interaction] = field(default_factory=dict)


def center(*, day=datetime(2026, 3, 3, tzinfo=PARIS), slug="alpha") -> Center:
    """Billing: A1 (Anna, answered 10:00), A2 (abandoned 11:00). Support: A3 (Bob, answered
    14:00). Times are Paris wall time on ``day``; ``created_at`` is set to match."""
    from apps.reports.services import rollups_update_all
    from tests.reports.stories import story

    org = OrganizationFactory(time_zone="Europe/Paris", slug=slug, name=f"{slug} center")
    people = {
        role: UserFactory(organization=org, roles=[role], email=f"{role.lower()}@{slug}.example")
        for role in (Role.MANAGER, Role.SUPERVISOR, Role.ADMIN, Role.AGENT)
    }
    anna = UserFactory(organization=org, roles=[Role.AGENT], first_name="Anna", last_name=slug)
    bob = UserFactory(organization=org, roles=[Role.AGENT], first_name="Bob", last_name=slug)
    billing = QueueFactory(organization=org, name=f"{slug} billing")
    support = QueueFactory(organization=org, name=f"{slug} support")
    c = Center(
        org=org,
        manager=people[Role.MANAGER],
        supervisor=people[Role.SUPERVISOR],
        admin=people[Role.ADMIN],
        agent=people[Role.AGENT],
        billing=billing,
        support=support,
        anna=anna,
        bob=bob,
    )
    plan = {
        "A1": (billing, anna, 10, ANSWERED),
        "A2": (billing, None, 11, ABANDONED),
        "A3": (support, bob, 14, ANSWERED),
    }
    for name, (queue, agent, hour, steps) in plan.items():
        start = day.replace(hour=hour)
        interaction = story(
            organization=org,
            contact=ContactFactory(organization=org, last_name=f"{slug}-{name}"),
            queue=queue,
            agent=agent,
            start=start,
            steps=steps,
        )
        Interaction.objects.filter(pk=interaction.pk).update(created_at=start, subject=name)
        interaction.refresh_from_db()
        c.interactions[name] = interaction
    rollups_update_all()
    return c
