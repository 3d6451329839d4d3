"""Alert rules: a breach opens one incident and notifies supervisors once (in the app and by
e-mail), later evaluations keep quiet, recovery resolves it, a flapping figure respects the
cooldown, and two evaluations at once never notify twice."""

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import IntegrityError, connection
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Role
from apps.interactions.models import Interaction, State
from apps.notifications.models import Notification
from apps.reports import alerts
from apps.reports.live_tasks import alerts_evaluate_task
from apps.reports.models import AlertIncident, AlertRule, LiveMetric
from tests.connectors.mailservers import smtp_fixture  # noqa: F401 (fixture)
from tests.factories import InteractionFactory, OrganizationFactory, QueueFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def center(roles):
    org = OrganizationFactory(name="Alpha", time_zone="Europe/Paris")
    queue = QueueFactory(organization=org, name="Billing", sla_seconds=20)
    people = {
        role: UserFactory(organization=org, roles=[role], username=f"alpha-{role.lower()}")
        for role in (Role.SUPERVISOR, Role.MANAGER, Role.AGENT)
    }
    stranger = UserFactory(organization=OrganizationFactory(), roles=[Role.SUPERVISOR])
    return queue, people, stranger


def _waiting(queue, n, since=None):
    since = since or timezone.now()
    for _ in range(n):
        InteractionFactory(
            contact__organization=queue.organization,
            queue=queue,
            channel="voice",
            state=State.QUEUED,
            queued_at=since,
        )


def _nobody_waits(queue):
    Interaction.objects.filter(queue=queue, state=State.QUEUED).update(state=State.ABANDONED)


def _rule(of, **kwargs):
    defaults = {
        "organization": of.organization,
        "name": "Too many waiting",
        "metric": LiveMetric.WAITING,
        "threshold": 2,
    }
    return AlertRule.objects.create(**{**defaults, **kwargs})


def _evaluate(capture, **kwargs):
    with capture(execute=True):
        return alerts.alerts_evaluate(**kwargs)


def test_a_breach_opens_one_incident_and_tells_supervisors_in_the_app_and_by_email(
    center, django_capture_on_commit_callbacks
):
    queue, people, stranger = center
    rule = _rule(queue)
    _waiting(queue, 3)
    assert _evaluate(django_capture_on_commit_callbacks) == {"opened": 1}
    incident = AlertIncident.objects.get(rule=rule)
    assert (incident.value, incident.resolved_at, incident.queue) == (3, None, None)
    (notice,) = Notification.objects.all()
    assert notice.recipient == people[Role.SUPERVISOR]
    assert notice.level == Notification.Level.ALERT
    assert notice.title == "Alert: Too many waiting"
    assert "3 waiting (alert above 2)" in notice.body
    assert notice.url == reverse("reports-wallboard")
    (email,) = mail.outbox
    assert email.to == [people[Role.SUPERVISOR].email]
    assert email.subject == "Alert: Too many waiting"
    assert "3 waiting" in email.body
    assert stranger.notifications.count() == 0


def test_a_breach_notifies_once_not_every_tick(center, django_capture_on_commit_callbacks):
    queue, _people, _ = center
    _rule(queue)
    _waiting(queue, 3)
    _evaluate(django_capture_on_commit_callbacks)
    _waiting(queue, 2)
    assert _evaluate(django_capture_on_commit_callbacks) == {"ongoing": 1}
    assert _evaluate(django_capture_on_commit_callbacks) == {"ongoing": 1}
    assert AlertIncident.objects.count() == 1
    assert Notification.objects.count() == 1
    assert len(mail.outbox) == 1


def test_recovery_resolves_and_says_back_to_normal(center, django_capture_on_commit_callbacks):
    queue, people, _ = center
    rule = _rule(queue)
    _waiting(queue, 3)
    _evaluate(django_capture_on_commit_callbacks)
    _nobody_waits(queue)
    assert _evaluate(django_capture_on_commit_callbacks) == {"resolved": 1}
    incident = AlertIncident.objects.get(rule=rule)
    assert incident.resolved_at is not None
    assert incident.resolved_value == 0
    latest = Notification.objects.latest("id")
    assert latest.title == "Back to normal: Too many waiting"
    assert latest.level == Notification.Level.SUCCESS
    assert [m.subject for m in mail.outbox] == [
        "Alert: Too many waiting",
        "Back to normal: Too many waiting",
    ]
    assert _evaluate(django_capture_on_commit_callbacks) == {"normal": 1}


def test_recovery_can_stay_silent(center, django_capture_on_commit_callbacks):
    queue, _people, _ = center
    _rule(queue, notify_recovery=False)
    _waiting(queue, 3)
    _evaluate(django_capture_on_commit_callbacks)
    _nobody_waits(queue)
    assert _evaluate(django_capture_on_commit_callbacks) == {"resolved": 1}
    assert Notification.objects.count() == 1
    assert len(mail.outbox) == 1


def test_a_flapping_figure_respects_the_cooldown(center, django_capture_on_commit_callbacks):
    queue, _people, _ = center
    rule = _rule(queue, cooldown_minutes=15)
    start = timezone.now()
    _waiting(queue, 3)
    _evaluate(django_capture_on_commit_callbacks, now=start)
    _nobody_waits(queue)
    _evaluate(django_capture_on_commit_callbacks, now=start + timedelta(minutes=2))
    # Back over the threshold 5 minutes after the notice: shown on the board, not notified.
    _waiting(queue, 3)
    assert _evaluate(django_capture_on_commit_callbacks, now=start + timedelta(minutes=5)) == {
        "silent": 1
    }
    quiet = AlertIncident.objects.get(rule=rule, resolved_at__isnull=True)
    assert quiet.notified_at is None
    # Its recovery is silent too: nobody was told it started.
    _nobody_waits(queue)
    _evaluate(django_capture_on_commit_callbacks, now=start + timedelta(minutes=6))
    assert Notification.objects.count() == 2  # the alert and its recovery
    # After the cooldown, a new breach notifies again.
    _waiting(queue, 3)
    assert _evaluate(django_capture_on_commit_callbacks, now=start + timedelta(minutes=16)) == {
        "opened": 1
    }
    assert Notification.objects.filter(title="Alert: Too many waiting").count() == 2


def test_managers_are_told_when_the_rule_says_so(center, django_capture_on_commit_callbacks):
    queue, people, _ = center
    _rule(queue, notify_managers=True)
    _waiting(queue, 3)
    _evaluate(django_capture_on_commit_callbacks)
    told = set(Notification.objects.values_list("recipient", flat=True))
    assert told == {people[Role.SUPERVISOR].pk, people[Role.MANAGER].pk}
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        [people[Role.SUPERVISOR].email, people[Role.MANAGER].email]
    )


def test_service_level_below_target_of_one_queue(center, django_capture_on_commit_callbacks):
    queue, _people, _ = center
    other = QueueFactory(organization=queue.organization, name="Sales")
    rule = _rule(queue, name="SLA", metric=LiveMetric.SERVICE_LEVEL, threshold=80, queue=queue)
    # Nothing handled yet: no service level, no alert.
    assert _evaluate(django_capture_on_commit_callbacks) == {"normal": 1}
    now = timezone.now()
    for late in (5, 60):  # one within 20 s, one not: 50 %
        InteractionFactory(
            contact__organization=queue.organization,
            queue=queue,
            state=State.CLOSED,
            queued_at=now - timedelta(seconds=120),
            answered_at=now - timedelta(seconds=120 - late),
        )
    InteractionFactory(  # a perfect other queue does not hide it
        contact__organization=queue.organization,
        queue=other,
        state=State.CLOSED,
        queued_at=now - timedelta(seconds=30),
        answered_at=now - timedelta(seconds=29),
    )
    assert _evaluate(django_capture_on_commit_callbacks) == {"opened": 1}
    incident = AlertIncident.objects.get(rule=rule)
    assert (incident.value, incident.queue) == (50, queue)
    assert "Service level today is 50 % (alert below 80 %), Billing." in mail.outbox[0].body


def test_longest_wait_and_abandonment_rules(center, django_capture_on_commit_callbacks):
    queue, _people, _ = center
    _rule(queue, name="Long wait", metric=LiveMetric.LONGEST_WAIT, threshold=300)
    _rule(queue, name="Abandons", metric=LiveMetric.ABANDON_RATE, threshold=10)
    _waiting(queue, 1, since=timezone.now() - timedelta(minutes=4))
    assert _evaluate(django_capture_on_commit_callbacks) == {"normal": 2}
    _waiting(queue, 1, since=timezone.now() - timedelta(minutes=6))
    _nobody_waits(queue)  # both hang up: 2 abandoned of 2 handled = 100 %
    _waiting(queue, 1, since=timezone.now() - timedelta(minutes=6))
    assert _evaluate(django_capture_on_commit_callbacks) == {"opened": 2}
    assert set(AlertIncident.objects.values_list("rule__name", "value")) == {
        ("Long wait", 360),
        ("Abandons", 100),
    }


def test_inactive_rules_and_organizations_are_not_evaluated(
    center, django_capture_on_commit_callbacks
):
    queue, _people, _ = center
    _rule(queue, is_active=False)
    _waiting(queue, 3)
    assert _evaluate(django_capture_on_commit_callbacks) == {}
    assert not AlertIncident.objects.exists()


def test_switching_a_rule_off_ends_its_open_incident(center, django_capture_on_commit_callbacks):
    queue, _people, _ = center
    rule = _rule(queue)
    _waiting(queue, 3)
    _evaluate(django_capture_on_commit_callbacks)
    rule.is_active = False
    rule.save()
    _evaluate(django_capture_on_commit_callbacks)
    assert AlertIncident.objects.get().resolved_at is not None


def test_the_database_allows_one_open_incident_per_rule(center):
    queue, _people, _ = center
    rule = _rule(queue)
    AlertIncident.objects.create(organization=queue.organization, rule=rule, value=3)
    with pytest.raises(IntegrityError):
        AlertIncident.objects.create(organization=queue.organization, rule=rule, value=4)


def test_the_wallboard_shows_open_incidents(center, client, django_capture_on_commit_callbacks):
    queue, people, _ = center
    _rule(queue, name="Queue is full")
    _waiting(queue, 3)
    _evaluate(django_capture_on_commit_callbacks)
    client.force_login(people[Role.SUPERVISOR])
    body = client.get(reverse("reports-wallboard")).content.decode()
    assert 'data-testid="incidents"' in body and "Queue is full" in body
    _nobody_waits(queue)
    _evaluate(django_capture_on_commit_callbacks)
    assert "Queue is full" not in client.get(reverse("reports-wallboard")).content.decode()


def test_the_beat_task_evaluates_and_is_scheduled(
    settings, center, django_capture_on_commit_callbacks
):
    queue, _people, _ = center
    _rule(queue)
    _waiting(queue, 3)
    with django_capture_on_commit_callbacks(execute=True):
        assert alerts_evaluate_task() == {"opened": 1}
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["alerts-evaluate"]["task"] == "apps.reports.live_tasks.alerts_evaluate_task"
    assert schedule["alerts-evaluate"]["schedule"] == timedelta(seconds=30)
    assert schedule["wallboard-tick"]["task"] == "apps.reports.live_tasks.wallboard_tick_task"


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_concurrent_evaluations_notify_once(center):
    queue, people, _ = center
    rule = _rule(queue)
    _waiting(queue, 3)
    barrier = threading.Barrier(6)
    errors = []

    def run():
        barrier.wait()
        try:
            alerts.alerts_evaluate()
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert AlertIncident.objects.filter(rule=rule).count() == 1
    assert Notification.objects.filter(recipient=people[Role.SUPERVISOR]).count() == 1
    assert len(mail.outbox) == 1


def test_alert_email_goes_through_a_real_smtp_server(
    center, settings, smtp, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    queue, people, _ = center
    _rule(queue)
    _waiting(queue, 3)
    _evaluate(django_capture_on_commit_callbacks)
    ((mail_from, rcpt_tos, message),) = smtp.received
    assert rcpt_tos == [people[Role.SUPERVISOR].email]
    assert message["Subject"] == "Alert: Too many waiting"
    assert "3 waiting (alert above 2), all queues." in message.get_content()
