"""The chat widget's public URLs (``/widget/``)."""

from django.urls import path

from apps.connectors import webchat_views as views

urlpatterns = [
    path("<uuid:key>.js", views.widget_script_view, name="webchat-script"),
    path("<uuid:key>/config/", views.config_view, name="webchat-config"),
    path("<uuid:key>/start/", views.start_view, name="webchat-start"),
    path("<uuid:key>/history/", views.history_view, name="webchat-history"),
    path("<uuid:key>/upload/", views.upload_view, name="webchat-upload"),
    path("<uuid:key>/offline/", views.offline_view, name="webchat-offline"),
    path("<uuid:key>/transcript/", views.transcript_view, name="webchat-transcript"),
    path("<uuid:key>/files/<str:token>/", views.file_view, name="webchat-file"),
    path("<uuid:key>/demo/", views.demo_view, name="webchat-demo"),
    path("agent-typing/<int:pk>/", views.agent_typing_view, name="webchat-agent-typing"),
]
