"""The consumer base: authenticate, join the user's groups, forward events as HTML fragments."""

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string
from django.utils import translation

from apps.core.realtime import user_group

# Close codes in the 4000 range are the application's own (RFC 6455 §7.4.2).
CLOSE_UNAUTHENTICATED = 4401


class AuthenticatedConsumer(AsyncWebsocketConsumer):
    """Refuses anonymous and inactive users; subclasses name the groups to join."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user = user
        self.language: str = await database_sync_to_async(lambda: user.effective_language)()
        self.joined: list[str] = await database_sync_to_async(self.groups_for)(user)
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    def groups_for(self, user) -> list[str]:
        """Every socket hears its own user's events; subclasses add more groups."""
        return [user_group(user.pk)]

    async def send_fragment(self, template_name: str, context: dict[str, Any]) -> None:
        """Render a template partial (with ``hx-swap-oob``) in the user's language and send it."""
        with translation.override(self.language):
            html = render_to_string(template_name, context)
        await self.send(text_data=html)
