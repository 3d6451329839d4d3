"""The live socket of every page: the user's notifications (and, later, their desk events)."""

from apps.core.consumers import AuthenticatedConsumer


class LiveConsumer(AuthenticatedConsumer):
    async def notification_created(self, event) -> None:
        await self.send_fragment("notifications/_live_created.html", {"n": event["data"]})

    async def notification_count(self, event) -> None:
        await self.send_fragment("notifications/_badge.html", {"unread": event["data"]["unread"]})
