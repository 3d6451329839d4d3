"""The router process: batch rounds, line heads per channel, time-outs, wake-ups, concurrency."""

import io
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from apps.interactions.models import Interaction, State
from apps.queues import services
from apps.queues.models import Offer, Presence, PresenceStatus
from apps.queues.router import Router
from tests.factories import ContactFactory, InteractionFactory, QueueFactory, agent_in_queue

pytestmark = pytest.mark.django_db


@pytest.fixture
def router_only(settings):
    """Requests do not route: only the router does."""
    settings.ROUTING_INLINE = False


def enqueue(queue, channel="webchat", contact=None, **kwargs):
    from apps.interactions.services import interaction_create

    contact = contact or ContactFactory(organization=queue.organization)
    interaction = interaction_create(
        organization=queue.organization,
        channel=channel,
        direction="inbound",
        contact=contact,
        **kwargs,
    )
    return services.interaction_enqueue(interaction=interaction, queue=queue)


def test_without_inline_routing_enqueue_waits_for_the_router(router_only):
    queue = QueueFactory()
    agent = agent_in_queue(queue, capacity={"chat": 3})
    interaction = enqueue(queue)
    interaction.refresh_from_db()
    assert interaction.state == State.QUEUED
    assert not Offer.objects.exists()

    stats = Router().round()

    interaction.refresh_from_db()
    assert (stats.placed, stats.offers) == (1, 1)
    assert interaction.state == State.OFFERED
    assert interaction.assigned_agent_id == agent.pk
    offer = Offer.objects.get()
    assert offer.why["strategy"] == queue.strategy
    assert offer.why["candidates"][0]["agent"] == agent.pk
    event = interaction.events.get(type="interaction.state_changed", data__to=State.OFFERED)
    assert event.data["agents"] == [agent.pk]


def test_a_round_fills_agents_to_capacity_in_line_order_and_no_further(router_only):
    queue = QueueFactory()
    first = agent_in_queue(queue, capacity={"chat": 2}, idle_minutes=10)
    second = agent_in_queue(queue, capacity={"chat": 1}, idle_minutes=5)
    interactions = [enqueue(queue) for _ in range(5)]

    stats = Router().round()

    assert stats.placed == 3
    offered = {i.pk: i for i in Interaction.objects.filter(state=State.OFFERED)}
    # The first three in line were placed; the last two still wait.
    assert set(offered) == {i.pk for i in interactions[:3]}
    load = dict(
        Offer.objects.values_list("agent").annotate(n=Count("id")).values_list("agent", "n")
    )
    assert load == {first.pk: 2, second.pk: 1}
    # Nothing freed: another round places nothing and offers nobody twice.
    assert Router().round().placed == 0
    assert Offer.objects.count() == 3


def test_a_line_blocked_on_voice_does_not_hide_the_chats_behind_it(router_only):
    queue = QueueFactory()
    agent = agent_in_queue(queue, capacity={"voice": 1, "chat": 1})
    agent_in_queue(queue, capacity={"voice": 0, "chat": 0})
    calls = [enqueue(queue, channel="voice") for _ in range(3)]
    chat = enqueue(queue, channel="webchat")

    Router(per_line=1).round()

    offered = set(Interaction.objects.filter(state=State.OFFERED).values_list("pk", flat=True))
    assert offered == {calls[0].pk, chat.pk}
    assert set(Offer.objects.values_list("agent", flat=True)) == {agent.pk}


def test_agent_release_and_presence_change_are_routed_by_the_next_round(router_only):
    from apps.interactions.services import interaction_close

    queue = QueueFactory()
    agent = agent_in_queue(queue, capacity={"chat": 1})
    first, second = enqueue(queue), enqueue(queue)
    Router().round()
    offer = Offer.objects.get()
    services.offer_accept(offer=offer, agent=agent)
    first.refresh_from_db()
    interaction_close(interaction=first, actor=agent)
    second.refresh_from_db()
    assert second.state == State.QUEUED  # the release routed nothing in the request

    Router().round()

    second.refresh_from_db()
    assert second.state == State.OFFERED
    assert second.assigned_agent_id == agent.pk


def test_a_round_times_out_due_offers_and_gives_the_interaction_to_someone_else(router_only):
    queue = QueueFactory(offer_timeout_seconds=20)
    sleeper = agent_in_queue(queue, idle_minutes=10)
    interaction = enqueue(queue)
    router = Router(expire_every=0, config_seconds=0)  # the new member counts at once
    router.round()
    offer = Offer.objects.get()
    assert offer.agent_id == sleeper.pk
    Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    other = agent_in_queue(queue, idle_minutes=1)

    stats = router.round()

    offer.refresh_from_db()
    assert stats.expired == 1
    assert offer.status == Offer.Status.TIMED_OUT
    assert Presence.objects.get(agent=sleeper).status == PresenceStatus.AWAY
    interaction.refresh_from_db()
    assert interaction.state == State.OFFERED
    assert interaction.assigned_agent_id == other.pk


def test_a_woken_round_reads_only_the_queues_named_then_a_full_round_catches_up(router_only):
    sales, support = QueueFactory(), QueueFactory()
    seller = agent_in_queue(sales)
    agent_in_queue(support)
    router = Router(idle_seconds=3600, full_every=3600)
    router.round()  # the first round looks everywhere
    for_sales, for_support = enqueue(sales), enqueue(support)
    router._note(f"q{sales.pk}")  # what NOTIFY carried: only sales changed

    stats = router.round()

    assert (stats.waiting, stats.placed) == (1, 1)
    for_sales.refresh_from_db()
    for_support.refresh_from_db()
    assert (for_sales.state, for_support.state) == (State.OFFERED, State.QUEUED)
    # An agent named: their queues are looked at.
    router._note(f"a{seller.pk}")
    assert router.round().waiting == 0
    router._note("")  # a bare wake-up: everything
    assert router.round().placed == 1
    for_support.refresh_from_db()
    assert for_support.state == State.OFFERED


def test_agents_named_by_a_wake_up_are_read_again_between_full_rounds(router_only):
    queue = QueueFactory()
    leaving = agent_in_queue(queue, idle_minutes=30)  # longest idle: would be chosen first
    staying = agent_in_queue(queue, idle_minutes=1)
    router = Router(idle_seconds=3600, full_every=3600)
    router.round()  # full: both agents cached as available
    services.presence_set(agent=leaving, status=PresenceStatus.AWAY)
    interaction = enqueue(queue)
    router._note(f"a{leaving.pk}")  # what presence_set's NOTIFY carries
    router._note(f"q{queue.pk}")

    stats = router.round()

    assert (stats.placed, stats.dropped) == (1, 0)  # the plan already knew they had left
    interaction.refresh_from_db()
    assert interaction.assigned_agent_id == staying.pk


def test_a_declined_interaction_goes_to_someone_else_in_the_next_round(router_only):
    queue = QueueFactory()
    first = agent_in_queue(queue, idle_minutes=30)  # longest idle
    second = agent_in_queue(queue, idle_minutes=1)
    interaction = enqueue(queue)
    Router().round()
    services.offer_reject(offer=Offer.objects.get(agent=first), agent=first)

    Router().round()

    interaction.refresh_from_db()
    assert interaction.state == State.OFFERED
    assert interaction.assigned_agent_id == second.pk  # still the longest idle is not asked


def test_a_closed_queue_is_not_routed(router_only):
    from apps.queues.models import BusinessHours

    hours = BusinessHours.objects.create(
        organization=QueueFactory().organization, name="Never", time_zone="UTC"
    )
    queue = QueueFactory(organization=hours.organization, business_hours=hours)
    agent_in_queue(queue)
    interaction = enqueue(queue)

    assert Router().round().placed == 0
    interaction.refresh_from_db()
    assert interaction.state == State.QUEUED


def test_ring_all_voice_rings_every_free_member(router_only):
    queue = QueueFactory(strategy="ring_all")
    agents = [agent_in_queue(queue, capacity={"voice": 1}) for _ in range(3)]
    call = enqueue(queue, channel="voice")

    Router().round()

    call.refresh_from_db()
    assert call.state == State.OFFERED
    assert call.assigned_agent_id is None
    assert set(Offer.objects.values_list("agent", flat=True)) == {a.pk for a in agents}


def test_router_command_runs_rounds(router_only):
    from django.core.management import call_command

    queue = QueueFactory()
    agent_in_queue(queue)
    interaction = enqueue(queue)
    out = io.StringIO()
    call_command("router", rounds=1, stdout=out)
    assert "router: stopped" in out.getvalue()
    interaction.refresh_from_db()
    assert interaction.state == State.OFFERED


# --- PostgreSQL: wake-ups and several routers at once ---------------------------------------------

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="NOTIFY and row locks need PostgreSQL"
)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_an_enqueue_wakes_the_waiting_router_at_commit(router_only):
    queue = QueueFactory()
    agent_in_queue(queue)
    # Without the NOTIFY the router would sleep a whole minute before looking.
    router = Router(idle_seconds=60)
    rounds = []
    original = router.round

    def counted():
        stats = original()
        rounds.append(stats)
        return stats

    router.round = counted
    thread = threading.Thread(target=lambda: (router.run(), connection.close()))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not rounds and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # the router is now listening
        interaction = enqueue(queue)
        while time.monotonic() < deadline:
            if Interaction.objects.filter(pk=interaction.pk, state=State.OFFERED).exists():
                break
            time.sleep(0.02)
        assert Interaction.objects.get(pk=interaction.pk).state == State.OFFERED
        assert sum(s.placed for s in rounds) == 1
    finally:
        router.stop()
        services.routing_wake()  # outside a transaction: delivered now, ends the wait
        thread.join(timeout=10)
    assert not thread.is_alive()


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_routers_and_inline_routing_together_never_double_offer_nor_overload():
    from apps.accounts.services import roles_sync

    roles_sync()
    queues = [QueueFactory(), QueueFactory()]
    queues[1].organization = queues[0].organization
    queues[1].save()
    agents = []
    for i in range(6):
        agent = agent_in_queue(queues[i % 2], capacity={"chat": 2, "voice": 1})
        from apps.queues.models import QueueMember

        QueueMember.objects.create(
            organization=queues[0].organization, queue=queues[(i + 1) % 2], agent=agent
        )
        agents.append(agent)
    contact = ContactFactory(organization=queues[0].organization)
    waiting = []
    for n in range(60):
        interaction = InteractionFactory(
            contact=contact,
            channel="voice" if n % 3 == 0 else "webchat",
            state=State.QUEUED,
            queue=queues[n % 2],
            routing_rank=timezone.now() + timedelta(seconds=n),
        )
        waiting.append(interaction.pk)
    barrier = threading.Barrier(5)
    errors = []

    def batch_router():
        barrier.wait()
        try:
            router = Router(chunk=7, per_line=5)
            for _ in range(10):
                router.round()
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    def inline_router():
        barrier.wait()
        try:
            for pk in waiting:
                services.route_interaction(interaction_id=pk)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=batch_router) for _ in range(3)]
    threads += [threading.Thread(target=inline_router) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    per_interaction = Offer.objects.values("interaction").annotate(n=Count("id"))
    assert max(row["n"] for row in per_interaction) == 1
    load = {}
    for agent_id, channel in Interaction.objects.filter(state=State.OFFERED).values_list(
        "assigned_agent", "channel"
    ):
        kind = "voice" if channel == "voice" else "chat"
        load[agent_id, kind] = load.get((agent_id, kind), 0) + 1
    assert load == {(a.pk, kind): n for a in agents for kind, n in (("chat", 2), ("voice", 1))}
