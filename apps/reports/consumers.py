"""The wallboard's socket: the live page's socket (notifications still arrive) plus the
organization's wallboard group and its queues' groups, for supervisors, managers and admins.

Queue and presence events and the beat's ``wallboard.changed`` ticks are coalesced: however
many arrive within ``WALLBOARD_COALESCE_SECONDS``, the board is read and sent once.
"""

import asyncio

from channels.db import database_sync_to_async
from django.template.loader import render_to_string
from django.utils import timezone, translation

from apps.core.realtime import organization_group, queue_group
from apps.notifications.consumers import LiveConsumer

WALLBOARD_COALESCE_SECONDS = 1.0
CLOSE_FORBIDDEN = 4403


class WallboardConsumer(LiveConsumer):
    def groups_for(self, user) -> list[str]:
        from apps.queues.models import Queue

        groups = super().groups_for(user)
        groups.append(organization_group(user.organization_id))
        queues = Queue.objects.filter(organization_id=user.organization_id, is_active=True)
        return groups + [queue_group(pk) for pk in queues.values_list("pk", flat=True)]

    async def connect(self) -> None:
        from apps.reports.live import wallboard_allowed

        self._board_task = None
        user = self.scope.get("user")
        if (
            user is not None
            and user.is_authenticated
            and not await database_sync_to_async(wallboard_allowed)(user)
        ):
            await self.close(code=CLOSE_FORBIDDEN)  # an agent, or nobody's organization
            return
        await super().connect()
        if hasattr(self, "joined"):  # accepted: the board as it is now
            await self._board()

    async def disconnect(self, code: int) -> None:
        if self._board_task is not None:
            self._board_task.cancel()
        await super().disconnect(code)

    async def _board(self) -> None:
        """Read and render the board (in the user's language, the organization's time)."""
        from apps.reports.live import organization_zone, wallboard

        def render() -> str:
            organization = self.user.organization
            with (
                translation.override(self.language),
                timezone.override(organization_zone(organization)),
            ):
                board = wallboard(organization=organization)  # labels in the user's language
                return render_to_string("reports/_wallboard.html", {"board": board, "oob": True})

        await self.send(text_data=await database_sync_to_async(render)())

    def _board_soon(self) -> None:
        if self._board_task is None or self._board_task.done():
            self._board_task = asyncio.ensure_future(self._board_later())

    async def _board_later(self) -> None:
        await asyncio.sleep(WALLBOARD_COALESCE_SECONDS)
        await self._board()

    async def presence_updated(self, event) -> None:
        self._board_soon()

    async def queue_updated(self, event) -> None:
        self._board_soon()

    async def wallboard_changed(self, event) -> None:
        self._board_soon()
