from datetime import timedelta

import pytest
from django.utils import timezone

from apps.notifications import services
from apps.notifications.models import Notification
from apps.notifications.selectors import notification_unread_count
from apps.notifications.tasks import notification_send_task, notifications_purge_task
from tests.factories import NotificationFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_send_stores_in_the_recipients_organization():
    user = UserFactory()
    n = services.notification_send(recipient=user, title="Missed call", body="+33 1 23 45 67 89")
    assert n.organization == user.organization
    assert notification_unread_count(user=user) == 1


def test_mark_read_and_all_read():
    user = UserFactory()
    first, second, third = NotificationFactory.create_batch(3, recipient=user)
    services.notification_mark_read(notification=first)
    assert notification_unread_count(user=user) == 2
    assert services.notification_mark_all_read(user=user) == 2
    assert notification_unread_count(user=user) == 0


def test_task_skips_deactivated_recipient():
    user = UserFactory(is_active=False)
    notification_send_task(user.pk, "Hello")
    assert not Notification.objects.exists()


def test_purge_keeps_unread_and_recent():
    user = UserFactory()
    old_read = NotificationFactory(recipient=user, read_at=timezone.now())
    old_unread = NotificationFactory(recipient=user)
    recent_read = NotificationFactory(recipient=user, read_at=timezone.now())
    Notification.objects.filter(pk__in=[old_read.pk, old_unread.pk]).update(
        created_at=timezone.now() - timedelta(days=400)
    )
    assert notifications_purge_task() == 1
    assert set(Notification.objects.values_list("pk", flat=True)) == {old_unread.pk, recent_read.pk}
