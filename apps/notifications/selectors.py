from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from apps.notifications.models import Notification


def notification_list(*, user) -> QuerySet[Notification]:
    """The user's own notifications, newest first; never another organization's."""
    if getattr(user, "pk", None) is None:  # an API key is nobody's inbox
        return Notification.objects.none()
    return Notification.objects.for_organization(user.organization).filter(recipient=user)


def notification_get(*, user, notification_id: int) -> Notification:
    return get_object_or_404(notification_list(user=user), pk=notification_id)


def notification_unread_count(*, user) -> int:
    return notification_list(user=user).filter(read_at__isnull=True).count()
