from django.conf import settings

from contactcenter.celery import app


def test_sweep_is_scheduled_every_minute_under_its_registered_name():
    entry = settings.CELERY_BEAT_SCHEDULE["webhooks-sweep"]
    assert entry["task"] in app.tasks
    assert entry["schedule"].total_seconds() == 60
    assert "apps.integrations.tasks.webhook_deliver_task" in app.tasks
