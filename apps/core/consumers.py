"""The consumer base: authenticate, join the user's groups, forward events as HTML fragments."""

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string
from django.utils import translation

from apps.core.realtime import session_group, user_group

# Close codes in the 4000 range are the application's own (RFC 6455 §7.4.2).
CLOSE_UNAUTHENTICATED = 4401


def _organization_active(user) -> bool:
    return user.organization_id is None or user.organization.is_active


class AuthenticatedConsumer(AsyncWebsocketConsumer):
    """Refuses anonymous and inactive users; subclasses name the groups to join."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not await database_sync_to_async(_organization_active)(user):
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
        """Every socket hears its own user's and its own session's events; subclasses add more."""
        groups = [user_group(user.pk)]
        session = self.scope.get("session")
        if session is not None and session.session_key:
            groups.append(session_group(session.session_key))
        return groups

    async def session_ended(self, event) -> None:
        """The session signed out (or the user was deactivated): the socket goes with it."""
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def send_fragment(self, template_name: str, context: dict[str, Any]) -> None:
        """Render a template partial (with ``hx-swap-oob``) in the user's language and send it.
        Rendering runs in a worker thread: a template may follow a relation the view did not
        load, and the ORM refuses to query from the event loop."""

        def render() -> str:
            with translation.override(self.language):
                return render_to_string(template_name, context)

        await self.send(text_data=await database_sync_to_async(render)())
