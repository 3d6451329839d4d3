"""Several routers at once never double-offer an interaction nor overload an agent (PostgreSQL)."""

import threading

import pytest
from django.db import connection
from django.db.models import Count

from apps.interactions.models import Interaction, State
from apps.queues import services
from apps.queues.models import Offer
from tests.factories import ContactFactory, InteractionFactory, QueueFactory, agent_in_queue

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]


def test_concurrent_routers_respect_capacity_and_offer_once():
    from apps.accounts.services import roles_sync

    roles_sync()
    queue = QueueFactory()
    agents = [agent_in_queue(queue, capacity={"chat": 2}) for _ in range(5)]
    contact = ContactFactory(organization=queue.organization)
    waiting = []
    for _ in range(30):
        interaction = InteractionFactory(
            contact=contact, channel="webchat", state=State.QUEUED, queue=queue
        )
        waiting.append(interaction.pk)
    Interaction.objects.filter(pk__in=waiting).update(routing_rank=interaction.created_at)
    barrier = threading.Barrier(6)
    errors = []

    def router():
        barrier.wait()
        try:
            for _ in range(3):
                for pk in waiting:
                    services.route_interaction(interaction_id=pk)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=router) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    per_interaction = Offer.objects.values("interaction").annotate(n=Count("id"))
    assert max(row["n"] for row in per_interaction) == 1  # never offered twice
    per_agent = Offer.objects.values("agent").annotate(n=Count("id"))
    assert {row["agent"]: row["n"] for row in per_agent} == {a.pk: 2 for a in agents}
    assert Interaction.objects.filter(pk__in=waiting, state=State.OFFERED).count() == 10
