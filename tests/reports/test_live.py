"""The live wallboard's figures against hand-built days: "today" is cut at midnight in the
organization's time zone, abandoned calls count against the service level, thresholds colour."""

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError
from django.urls import reverse

from apps.accounts.models import Role
from apps.interactions.models import State
from apps.queues import selectors
from apps.queues.models import PresenceStatus
from apps.reports.live import CRITICAL, OK, WARNING, live_board, wallboard
from apps.reports.models import Direction, LiveMetric, WallboardThreshold
from tests.factories import (
    InteractionFactory,
    OrganizationFactory,
    QueueFactory,
    UserFactory,
    agent_in_queue,
)

pytestmark = pytest.mark.django_db

# 00:30 in New York (UTC-5 in November): today began 30 minutes ago, at 05:00 UTC.
NOW = datetime(2026, 11, 23, 5, 30, tzinfo=UTC)


def at(hour, minute, second=0):
    return datetime(2026, 11, 23, hour, minute, second, tzinfo=UTC)


def _interaction(queue, channel, state, queued_at, answered_at=None):
    return InteractionFactory(
        contact__organization=queue.organization,
        queue=queue,
        channel=channel,
        state=state,
        queued_at=queued_at,
        answered_at=answered_at,
    )


@pytest.fixture
def org(roles):
    return OrganizationFactory(name="Night Desk", time_zone="America/New_York")


@pytest.fixture
def day(org):
    """Billing (SLA 20 s): yesterday evening's call; today one call answered in 15 s, one
    e-mail answered in 60 s, one call abandoned, one call still waiting since 05:20 UTC."""
    billing = QueueFactory(organization=org, name="Billing", sla_seconds=20, sla_target_percent=80)
    _interaction(billing, "voice", State.CLOSED, at(4, 50), at(4, 50, 5))  # 23:50 yesterday
    _interaction(billing, "voice", State.CLOSED, at(5, 10), at(5, 10, 15))
    _interaction(billing, "email", State.CLOSED, at(5, 12), at(5, 13))
    _interaction(billing, "voice", State.ABANDONED, at(5, 15))
    _interaction(billing, "voice", State.QUEUED, at(5, 20))
    agent_in_queue(billing, status=PresenceStatus.AVAILABLE)
    agent_in_queue(billing, status=PresenceStatus.LUNCH)
    return billing


def test_queue_figures_of_today_in_the_organizations_time_zone(day):
    board = live_board(organization=day.organization, now=NOW)
    (row,) = board.queues
    assert (row.waiting, row.longest_wait_seconds) == (1, 600)
    assert (row.offered_today, row.answered_today, row.abandoned_today) == (4, 2, 1)
    # Within 20 s: 1 of (2 answered + 1 abandoned).
    assert row.service_level_percent == 33
    assert row.abandon_rate_percent == 33
    assert row.agents == {PresenceStatus.AVAILABLE: 1, PresenceStatus.LUNCH: 1}
    assert board.day_start == at(5, 0)


def test_channels_and_totals(day):
    QueueFactory(organization=day.organization, name="Idle")  # no traffic: zeros, no channel
    board = live_board(organization=day.organization, now=NOW)
    channels = {row.channel: row for row in board.channels}
    assert set(channels) == {"voice", "email"}
    voice, email = channels["voice"], channels["email"]
    assert (voice.offered_today, voice.answered_today, voice.abandoned_today) == (3, 1, 1)
    assert (voice.waiting, voice.service_level_percent) == (1, 50)
    assert (email.offered_today, email.answered_today, email.service_level_percent) == (1, 1, 0)
    assert [r.label for r in board.queues] == ["Billing", "Idle"]
    assert board.queues[1].offered_today == 0
    total = board.total
    assert (total.offered_today, total.answered_today, total.waiting) == (4, 2, 1)
    assert total.service_level_percent == 33
    # Every agent of the organization, by state (both can take voice by default).
    assert total.agents == {PresenceStatus.AVAILABLE: 1, PresenceStatus.LUNCH: 1}
    assert voice.agents == {PresenceStatus.AVAILABLE: 1, PresenceStatus.LUNCH: 1}


def test_the_same_rows_in_utc_count_yesterday_evening_as_today(day):
    day.organization.time_zone = "UTC"
    day.organization.save()
    (row,) = live_board(organization=day.organization, now=NOW).queues
    assert row.offered_today == 5
    assert row.service_level_percent == 50  # 2 within of (3 answered + 1 abandoned)


def test_queue_stats_and_the_supervisor_page_cut_today_in_the_organization_zone(day):
    stats = selectors.queue_stats(queue=day, now=NOW)
    assert stats["answered_today"] == 2
    assert stats["offered_today"] == 4
    assert stats["abandoned_today"] == 1
    assert stats["service_level_percent"] == 33


def test_another_organizations_traffic_is_never_counted(day):
    other = QueueFactory(organization=OrganizationFactory(time_zone="America/New_York"))
    _interaction(other, "voice", State.QUEUED, at(5, 1))
    _interaction(other, "voice", State.CLOSED, at(5, 2), at(5, 2, 1))
    board = live_board(organization=day.organization, now=NOW)
    assert [r.queue for r in board.queues] == [day]
    assert (board.total.waiting, board.total.offered_today) == (1, 4)


def test_default_colours_follow_the_queues_own_sla(day):
    board = wallboard(organization=day.organization, now=NOW)
    (row,) = board.queues
    assert row.levels[LiveMetric.WAITING] == OK  # 1 < 5
    assert row.levels[LiveMetric.SERVICE_LEVEL] == CRITICAL  # 33 % < 80 - 20
    assert row.levels[LiveMetric.LONGEST_WAIT] == CRITICAL  # 600 s >= 3 × 20 s
    assert row.levels[LiveMetric.ABANDON_RATE] == CRITICAL  # 33 % >= 10 %


def test_admin_thresholds_colour_queue_first_then_organization_wide(day):
    org = day.organization
    WallboardThreshold.objects.create(
        organization=org, metric=LiveMetric.WAITING, warning=1, critical=3
    )
    WallboardThreshold.objects.create(
        organization=org, metric=LiveMetric.WAITING, queue=day, warning=5, critical=10
    )
    WallboardThreshold.objects.create(
        organization=org,
        metric=LiveMetric.SERVICE_LEVEL,
        warning=40,
        critical=30,
        direction=Direction.LOWER_IS_WORSE,
    )
    board = wallboard(organization=org, now=NOW)
    (queue_row,) = board.queues
    assert queue_row.levels[LiveMetric.WAITING] == OK  # the queue's own: 1 < 5
    assert board.total.levels[LiveMetric.WAITING] == WARNING  # organization-wide: 1 >= 1
    assert queue_row.levels[LiveMetric.SERVICE_LEVEL] == WARNING  # 30 <= 33 < 40


def test_a_critical_value_must_be_beyond_the_warning(org):
    with pytest.raises(IntegrityError):
        WallboardThreshold.objects.create(
            organization=org, metric=LiveMetric.WAITING, warning=10, critical=5
        )


def test_page_shows_figures_and_colours(client, day):
    supervisor = UserFactory(organization=day.organization, roles=[Role.SUPERVISOR])
    client.force_login(supervisor)
    body = client.get(reverse("reports-wallboard")).content.decode()
    assert 'id="wallboard"' in body
    assert f'data-row="queue-{day.pk}"' in body
    assert 'class="level-critical" data-metric="service_level">33 %' in body
    assert 'ws-connect="/ws/wallboard/"' in body
    assert 'data-fullscreen="wallboard-screen"' in body


def test_tv_mode_has_no_navigation(client, day):
    supervisor = UserFactory(organization=day.organization, roles=[Role.SUPERVISOR])
    client.force_login(supervisor)
    body = client.get(reverse("reports-wallboard"), {"tv": "1"}).content.decode()
    assert 'class="tv"' in body
    assert 'id="wallboard"' in body
    assert "<nav" not in body
    assert 'ws-connect="/ws/wallboard/"' in body


def test_htmx_request_gets_the_fragment(client, day):
    supervisor = UserFactory(organization=day.organization, roles=[Role.SUPERVISOR])
    client.force_login(supervisor)
    body = client.get(reverse("reports-wallboard"), HTTP_HX_REQUEST="true").content.decode()
    assert body.startswith('<div id="wallboard"')


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.MANAGER, Role.ADMIN])
def test_supervisors_managers_and_admins_see_it_in_their_menu(client, day, role):
    user = UserFactory(organization=day.organization, roles=[role])
    client.force_login(user)
    response = client.get(reverse("reports-wallboard"))
    assert response.status_code == 200
    assert f'href="{reverse("reports-wallboard")}"' in client.get(reverse("home")).content.decode()


def test_agents_get_403_and_no_link(client, day):
    agent = UserFactory(organization=day.organization, roles=[Role.AGENT])
    client.force_login(agent)
    assert client.get(reverse("reports-wallboard")).status_code == 403
    assert reverse("reports-wallboard") not in client.get(reverse("home")).content.decode()


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(reverse("reports-wallboard"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_another_organizations_queues_are_never_shown(client, day):
    other = QueueFactory(organization=OrganizationFactory(), name="Secret Sales")
    supervisor = UserFactory(organization=day.organization, roles=[Role.SUPERVISOR])
    client.force_login(supervisor)
    body = client.get(reverse("reports-wallboard")).content.decode()
    assert "Billing" in body
    assert "Secret Sales" not in body
    assert f"queue-{other.pk}" not in body


def test_page_reads_a_fixed_number_of_queries(client, day, django_assert_max_num_queries):
    for n in range(5):
        queue = QueueFactory(organization=day.organization, name=f"Q{n}")
        _interaction(queue, "webchat", State.QUEUED, at(5, 25))
        agent_in_queue(queue)
    supervisor = UserFactory(organization=day.organization, roles=[Role.SUPERVISOR])
    client.force_login(supervisor)
    with django_assert_max_num_queries(20):
        assert client.get(reverse("reports-wallboard")).status_code == 200


def test_longest_wait_is_a_clock_that_the_page_keeps_counting(client, day):
    from apps.reports.templatetags.wallboard_tags import clock

    assert [clock(0), clock(125), clock(3725)] == ["0:00", "2:05", "1:02:05"]
    supervisor = UserFactory(organization=day.organization, roles=[Role.SUPERVISOR])
    client.force_login(supervisor)
    body = client.get(reverse("reports-wallboard")).content.decode()
    assert f'data-since="{at(5, 20).isoformat()}"' in body
