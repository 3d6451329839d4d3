"""Report pages (``/reports/``) and the live wallboard: supervisors, managers and admins."""

from django.urls import path

from apps.reports import live_views, views

urlpatterns = [
    path("", views.reports_view, name="reports"),
    path("drilldown/", views.drilldown_view, name="reports-drilldown"),
    path("export/", views.export_view, name="reports-export"),
    path("exports/", views.exports_view, name="reports-exports"),
    path("exports/<int:pk>/download/", views.export_download_view, name="reports-export-download"),
    path("subscriptions/", views.subscriptions_view, name="reports-subscriptions"),
    path("subscribe/", views.subscribe_view, name="reports-subscribe"),
    path("subscriptions/<int:pk>/delete/", views.unsubscribe_view, name="reports-unsubscribe"),
    path("wallboard/", live_views.wallboard_view, name="reports-wallboard"),
]
