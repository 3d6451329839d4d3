"""The reports app's admin lives in one module per area (admin_pages, …)."""

from apps.reports import admin_pages  # noqa: F401
