"""WebSocket URL routes of every app."""

from django.urls import path

from apps.connectors.consumers import VisitorConsumer
from apps.notifications.consumers import LiveConsumer
from apps.reports.consumers import WallboardConsumer

websocket_urlpatterns = [
    path("ws/live/", LiveConsumer.as_asgi()),
    path("ws/wallboard/", WallboardConsumer.as_asgi()),
]

# Outside the session stack and the allowed-hosts check (see contactcenter/asgi.py).
visitor_websocket_urlpatterns = [
    path("ws/visitor/<str:key>/", VisitorConsumer.as_asgi()),
]
