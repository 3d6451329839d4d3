from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "apps.reports"
    label = "reports"
    verbose_name = "Reports"

    def ready(self) -> None:
        # Celery's autodiscovery looks for tasks.py only: the wallboard's and alerts' tasks live
        # beside it, in live_tasks.py.
        from apps.reports import live_tasks  # noqa: F401
