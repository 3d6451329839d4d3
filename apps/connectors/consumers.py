"""The web chat visitor's socket: ``/ws/visitor/<key>/?token=…``.

Not a user: the visitor proves nothing but their token (a random secret their browser keeps),
and the page's Origin must be one the widget's account allows. The socket joins the visitor's
own group only, never ``interaction.<id>``.

Place in line and estimated wait: the socket checks them every ``WEBCHAT_STATUS_SECONDS`` and
sends them when they change. A poll rather than the queue's ``queue.updated`` events: those
fire for every change anywhere in the queue (a busy queue sends many per second to each
waiting visitor), and the same check also notices the conversation being answered or closed,
which travels on ``interaction.<id>`` where the visitor must not listen.
"""

import asyncio
import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404

logger = logging.getLogger(__name__)

CLOSE_REFUSED = 4403
CLOSE_UNKNOWN = 4404


def _error(exc: ValidationError) -> dict:
    if hasattr(exc, "error_dict"):
        detail = " ".join(m for ms in exc.message_dict.values() for m in ms)
    else:
        detail = " ".join(exc.messages)
    return {"type": "error", "detail": detail, "code": getattr(exc, "code", None) or "invalid"}


class VisitorConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        from apps.connectors import selectors, webchat

        self.poller = None
        headers = dict(self.scope.get("headers") or [])
        origin = headers.get(b"origin", b"").decode("latin-1")
        host = headers.get(b"host", b"").decode("latin-1")
        query = parse_qs(self.scope.get("query_string", b"").decode())
        self.token = (query.get("token") or [""])[0]
        client = self.scope.get("client") or ("", 0)
        self.ip = client[0] or ""

        def check():
            try:
                account = selectors.webchat_account(key=self.scope["url_route"]["kwargs"]["key"])
            except Http404:
                return None, None
            if not origin or not webchat.origin_allowed(
                account=account, origin=origin, own_host=host
            ):
                return account, None
            try:
                visitor = webchat.visitor_for(account=account, token=self.token)
            except ValidationError:
                return account, None
            if webchat.visitor_identity(visitor) is None:
                return account, None
            return account, visitor

        account, visitor = await database_sync_to_async(check)()
        if account is None:
            await self.close(code=CLOSE_UNKNOWN)
            return
        if visitor is None:
            await self.close(code=CLOSE_REFUSED)
            return
        self.account, self.visitor = account, visitor
        await self.channel_layer.group_add(visitor.group, self.channel_name)
        self.joined = True
        await self.accept()
        self.last_status = None
        await self._send_status()
        self.poller = asyncio.ensure_future(self._poll())

    async def disconnect(self, code: int) -> None:
        if getattr(self, "poller", None) is not None:
            self.poller.cancel()
        if getattr(self, "joined", False):
            await self.channel_layer.group_discard(self.visitor.group, self.channel_name)

    async def _send_status(self) -> None:
        from apps.connectors import webchat

        status = await database_sync_to_async(webchat.conversation_status)(self.visitor)
        if status != self.last_status:
            self.last_status = status
            await self.send_json(status)

    async def _poll(self) -> None:
        while True:
            # An ended (or not yet started) conversation changes rarely: checked less often
            # (a new one started from this page is announced by ``webchat.status``).
            idle = not (self.last_status or {}).get("open")
            await asyncio.sleep(settings.WEBCHAT_STATUS_SECONDS * (6 if idle else 1))
            try:
                await self._send_status()
            except Exception:  # a database hiccup: the next round tries again
                logger.warning("webchat.status_failed", exc_info=True)

    @classmethod
    async def decode_json(cls, text_data):
        try:
            return await super().decode_json(text_data)
        except ValueError:  # not JSON: ignored, the socket stays
            return None

    async def receive_json(self, content, **kwargs) -> None:
        from apps.connectors import webchat

        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind != "message" and not await database_sync_to_async(webchat.frame_allowed)(
            self.visitor
        ):
            return  # typing, receipts, status: beyond a sane rate they are dropped
        try:
            if kind == "message":
                client_id = str(content.get("client_id", ""))
                message, _created = await database_sync_to_async(webchat.webchat_visitor_message)(
                    account=self.account,
                    token=self.token,
                    body=str(content.get("body", "")),
                    client_id=client_id,
                    ip=self.ip,
                    reply=str(content.get("reply") or ""),
                )
                await self.send_json({"type": "ack", "client_id": client_id, "id": message.pk})
                await self._send_status()
            elif kind == "typing":
                await database_sync_to_async(webchat.webchat_visitor_typing)(
                    account=self.account, token=self.token
                )
            elif kind == "receipt":
                ids = content.get("ids")
                await database_sync_to_async(webchat.webchat_receipts)(
                    account=self.account,
                    token=self.token,
                    message_ids=ids if isinstance(ids, list) else [],
                    status=str(content.get("status", "")),
                )
            elif kind == "status":
                self.last_status = None
                await self._send_status()
        except ValidationError as exc:
            error = _error(exc)
            if kind == "message":
                error["client_id"] = str(content.get("client_id", ""))
            await self.send_json(error)

    # --- Events sent to ``visitor.<digest>`` (each type has its handler) --------------------

    async def webchat_message(self, event) -> None:
        from apps.connectors import webchat

        payload = await database_sync_to_async(webchat.visitor_message_get)(
            self.visitor, event["data"]["message"]
        )
        if payload is not None:
            await self.send_json({"type": "message", "message": payload})

    async def webchat_agent_typing(self, event) -> None:
        await self.send_json({"type": "typing", "agent": event["data"].get("agent", "")})

    async def webchat_status(self, event) -> None:
        """The visitor's conversation changed (a new one started): its status at once."""
        await self._send_status()
