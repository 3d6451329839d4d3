from celery import shared_task
from django.contrib.auth import get_user_model
from django.db import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

from apps.notifications import services


@shared_task(
    autoretry_for=(ConnectionError, RedisConnectionError, OperationalError),
    retry_backoff=True,
    max_retries=5,
)
def notification_send_task(recipient_id: int, title: str, body: str = "", url: str = "") -> None:
    recipient = get_user_model().objects.filter(pk=recipient_id, is_active=True).first()
    if recipient is None:  # deactivated meanwhile: nothing to tell
        return
    services.notification_send(recipient=recipient, title=title, body=body, url=url)


@shared_task
def notifications_purge_task() -> int:
    return services.notifications_purge()
