"""The Celery application: configuration comes from Django settings (``CELERY_*``)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contactcenter.settings")

app = Celery("contactcenter")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Modules of tasks not named tasks.py (the report pages keep theirs apart from the KPI core).
app.autodiscover_tasks(lambda: ["apps.reports"], related_name="page_tasks")
