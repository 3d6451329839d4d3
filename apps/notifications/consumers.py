"""The live socket of every page: the user's notifications, and on desk pages their work."""

from urllib.parse import parse_qs

from channels.db import database_sync_to_async

from apps.core.consumers import AuthenticatedConsumer
from apps.core.realtime import agent_group


class LiveConsumer(AuthenticatedConsumer):
    def groups_for(self, user) -> list[str]:
        groups = super().groups_for(user)
        query = parse_qs(self.scope.get("query_string", b"").decode())
        self.desk = query.get("desk") == ["1"] and user.organization_id is not None
        if self.desk:  # the agent's offers, presence and interactions (other pages: none)
            groups.append(agent_group(user.pk))
        return groups

    async def connect(self) -> None:
        await super().connect()
        if getattr(self, "desk", False) and hasattr(self, "joined"):
            # A (re)connected desk shows the server's state at once: what changed while the
            # network was down is not lost, and no reload is needed.
            await self._desk_panels()

    async def notification_created(self, event) -> None:
        await self.send_fragment("notifications/_live_created.html", {"n": event["data"]})

    async def notification_count(self, event) -> None:
        await self.send_fragment("notifications/_badge.html", {"unread": event["data"]["unread"]})

    # --- The desk: whatever changed, the panels are sent again from the database, so every
    # tab converges on the same state (and a missed event is repaired by the next one).

    async def _desk_panels(self) -> None:
        from apps.desk.views import desk_context

        context = await database_sync_to_async(desk_context)(self.user)
        await self.send_fragment("desk/_panels.html", {**context, "oob": True})

    async def offer_created(self, event) -> None:
        await self._desk_panels()

    async def offer_cancelled(self, event) -> None:
        await self._desk_panels()

    async def offer_expired(self, event) -> None:
        await self._desk_panels()

    async def offer_accepted(self, event) -> None:
        await self._desk_panels()

    async def presence_updated(self, event) -> None:
        await self._desk_panels()

    async def interaction_updated(self, event) -> None:
        await self._desk_panels()
