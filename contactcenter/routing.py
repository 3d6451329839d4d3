"""WebSocket URL routes of every app."""

from django.urls import path

from apps.notifications.consumers import LiveConsumer

websocket_urlpatterns = [
    path("ws/live/", LiveConsumer.as_asgi()),
]
