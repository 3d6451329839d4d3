"""The live socket of every page: the user's notifications, and on desk pages their work."""

import asyncio
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.http import Http404

from apps.core.consumers import AuthenticatedConsumer
from apps.core.realtime import agent_group, interaction_group, organization_group, queue_group

# Supervisor pages: events within this many seconds make one refresh (a busy center sends many).
SUPERVISOR_COALESCE_SECONDS = 0.3


class LiveConsumer(AuthenticatedConsumer):
    def groups_for(self, user) -> list[str]:
        groups = super().groups_for(user)
        query = parse_qs(self.scope.get("query_string", b"").decode())
        self.desk = query.get("desk") == ["1"] and user.organization_id is not None
        if self.desk:  # the agent's offers, presence and interactions (other pages: none)
            groups.append(agent_group(user.pk))
        self.interaction_id = None
        interaction_id = (query.get("interaction") or [""])[0]
        if self.desk and interaction_id.isdigit():  # a conversation on screen, if theirs
            from apps.desk.selectors import desk_interaction_get, desk_leads

            try:
                interaction = desk_interaction_get(
                    user=user, interaction_id=int(interaction_id), joined=True
                )
            except Http404:
                pass
            else:
                self.interaction_id = interaction.pk
                self.interaction_leads = desk_leads(user=user, interaction=interaction)
                groups.append(interaction_group(self.interaction_id))
        self.supervisor = (
            query.get("supervisor") == ["1"]
            and user.organization_id is not None
            and user.has_perm("interactions.supervise_interaction")
        )
        self.chat_room = None
        room_id = (query.get("chat") or [""])[0]
        self.chat_page = bool(room_id) and user.organization_id is not None
        if room_id.isdigit() and user.organization_id is not None:
            from apps.desk.models import ChatRoom
            from apps.desk.services import chat_group, chat_may_read

            room = ChatRoom.objects.filter(pk=int(room_id)).select_related("team").first()
            if room is not None and chat_may_read(user=user, room=room):
                self.chat_room = room.pk
                groups.append(chat_group(room.pk))
        if self.supervisor:  # every presence change of the organization, every queue's line
            from apps.queues.models import Queue

            groups.append(organization_group(user.organization_id))
            queues = Queue.objects.filter(organization_id=user.organization_id)
            groups += [queue_group(pk) for pk in queues.values_list("pk", flat=True)]
        return groups

    async def connect(self) -> None:
        self._refresh = None
        await super().connect()
        if not hasattr(self, "joined"):  # refused
            return
        # A (re)connected desk or supervisor page shows the server's state at once: what
        # changed while the network was down is not lost, and no reload is needed.
        if self.desk:
            await self._desk_panels()
        if self.supervisor:
            await self._supervisor_panels()

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
        if self.desk:
            await self._desk_panels()
        if self.supervisor:
            self._supervisor_soon()

    async def queue_updated(self, event) -> None:
        if self.supervisor:
            self._supervisor_soon()

    async def wallboard_changed(self, event) -> None:
        """A wallboard tick or alert (apps.reports): the supervisor page shows neither."""

    # --- Team chat: a new message of the open room is appended to its thread.

    async def chat_message(self, event) -> None:
        from apps.desk.models import ChatMessage

        message = await database_sync_to_async(
            lambda: (
                ChatMessage.objects.select_related("author")
                .filter(pk=event["data"]["message"], room_id=self.chat_room)
                .first()
            )
        )()
        if message is not None:
            await self.send_fragment(
                "desk/_chat_live.html", {"m": message, "viewer_id": self.user.pk}
            )

    async def chat_unread(self, event) -> None:
        """A message in one of the user's rooms: the menu's count (and, on the chat page, the
        rooms' counts) again; the room open on this page is being read, so it is not unread."""
        from apps.desk.chat import rooms_listing
        from apps.desk.models import ChatRoom
        from apps.desk.services import chat_mark_read

        def work():
            if event["data"]["room"] == self.chat_room:
                chat_mark_read(room=ChatRoom.objects.get(pk=self.chat_room), user=self.user)
            return rooms_listing(self.user)

        rooms, total = await database_sync_to_async(work)()
        await self.send_fragment("desk/_chat_badge.html", {"unread": total})
        if self.chat_page:
            room = next((r for r, _t, _n in rooms if r.pk == self.chat_room), None)
            await self.send_fragment(
                "desk/_chat_rooms.html", {"rooms": rooms, "room": room, "oob": True}
            )

    # --- Supervisor page ---------------------------------------------------------------------

    async def _supervisor_panels(self) -> None:
        from apps.desk.views import supervisor_context

        context = await database_sync_to_async(
            lambda: supervisor_context(self.user.organization, self.user)
        )()
        await self.send_fragment("desk/_supervisor.html", {**context, "oob": True})

    def _supervisor_soon(self) -> None:
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.ensure_future(self._supervisor_later())

    async def _supervisor_later(self) -> None:
        await asyncio.sleep(SUPERVISOR_COALESCE_SECONDS)
        await self._supervisor_panels()

    async def disconnect(self, code: int) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
        await super().disconnect(code)

    # --- A conversation on screen: its state, thread, notes and colleagues follow the server.

    async def _conversation(self, event) -> None:
        data = event.get("data", {})
        if self.interaction_id is None or self.interaction_id not in (
            data.get("interaction"),
            data.get("id"),
        ):
            return
        from apps.desk.selectors import desk_interaction_get, desk_leads
        from apps.desk.views import conversation_context, conversation_live_context

        def context():
            try:
                interaction = desk_interaction_get(
                    user=self.user, interaction_id=self.interaction_id, joined=True
                )
            except Http404:  # no longer theirs: the page stays as it was
                return None, None
            if desk_leads(user=self.user, interaction=interaction) != self.interaction_leads:
                # Their part changed (a colleague took it over): the whole conversation again.
                self.interaction_leads = not self.interaction_leads
                return "desk/_conversation_oob.html", conversation_context(self.user, interaction)
            return "desk/_conversation_live.html", conversation_live_context(self.user, interaction)

        template, live = await database_sync_to_async(context)()
        if live is not None:
            await self.send_fragment(template, {**live, "oob": True})

    async def interaction_updated(self, event) -> None:
        # Sent to the agent's group and to the conversation's: each refreshes what it shows.
        if self.desk:
            await self._desk_panels()
        await self._conversation(event)

    async def message_created(self, event) -> None:
        await self._conversation(event)

    async def message_updated(self, event) -> None:  # delivered, read, failed
        await self._conversation(event)

    async def interaction_note_added(self, event) -> None:
        await self._conversation(event)

    async def participant_invited(self, event) -> None:
        await self._desk_panels()
        await self._conversation(event)

    async def participant_answered(self, event) -> None:
        await self._desk_panels()
        await self._conversation(event)

    async def participant_ended(self, event) -> None:
        await self._desk_panels()
        await self._conversation(event)

    # --- Web chat: the visitor is typing (shown under the thread; app.js hides it again).

    async def webchat_visitor_typing(self, event) -> None:
        if self.interaction_id is not None and event["data"]["interaction"] == self.interaction_id:
            await self.send_fragment("webchat/_visitor_typing.html", {"typing": True, "oob": True})
