"""Report tables are derived from the Event log and can be rebuilt from it."""

from django.urls import path

from apps.reports import live_views

urlpatterns: list = [
    path("wallboard/", live_views.wallboard_view, name="reports-wallboard"),
]
