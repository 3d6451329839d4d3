"""Notifications: stored, then pushed live to every open page of the recipient."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.realtime import publish, user_group
from apps.notifications.models import Notification
from apps.notifications.selectors import notification_list, notification_unread_count

logger = logging.getLogger(__name__)


def _publish_count(user) -> None:
    publish(
        group=user_group(user.pk),
        event="notification.count",
        data={"unread": notification_unread_count(user=user)},
    )


@transaction.atomic
def notification_send(
    *, recipient, title: str, body: str = "", url: str = "", level: str = Notification.Level.INFO
) -> Notification:
    notification = Notification.objects.create(
        organization=recipient.organization,
        recipient=recipient,
        title=title,
        body=body,
        url=url,
        level=level,
    )
    publish(
        group=user_group(recipient.pk),
        event="notification.created",
        data={
            "id": notification.pk,
            "title": notification.title,
            "body": notification.body,
            "url": notification.url,
            "level": notification.level,
            "created_at": notification.created_at.isoformat(),
            "unread": notification_unread_count(user=recipient),
        },
    )
    logger.info("notifications.sent", extra={"notification": notification.pk})
    return notification


@transaction.atomic
def notification_mark_read(*, notification: Notification) -> Notification:
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
        _publish_count(notification.recipient)
    return notification


@transaction.atomic
def notification_mark_all_read(*, user) -> int:
    count = notification_list(user=user).filter(read_at__isnull=True).update(read_at=timezone.now())
    if count:
        _publish_count(user)
    return count


def notifications_purge(*, older_than_days: int | None = None) -> int:
    """Delete read notifications older than the retention period; returns how many."""
    days = older_than_days or settings.NOTIFICATIONS_RETENTION_DAYS
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = Notification.objects.filter(read_at__isnull=False, created_at__lt=cutoff).delete()
    return deleted
