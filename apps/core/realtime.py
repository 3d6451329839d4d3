"""The one real-time broadcaster. Only services call it.

An event is ``{"type": "<noun>.<verb>", "data": {...}}`` sent to a named group after the current
transaction commits (a rolled-back change broadcasts nothing). Channels turns the type into the
consumer handler name: ``notification.created`` → ``notification_created``.
"""

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def session_group(session_key: str) -> str:
    return f"session.{session_key}"


def agent_group(user_id: int) -> str:
    return f"agent.{user_id}"


def organization_group(organization_id: int) -> str:
    return f"wallboard.{organization_id}"


def queue_group(queue_id: int) -> str:
    return f"queue.{queue_id}"


def interaction_group(interaction_id: int) -> str:
    return f"interaction.{interaction_id}"


def _send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:
        # Real time is best effort: the row is committed and pages resynchronise on reload.
        logger.exception("realtime.publish_failed", extra={"group": group, "type": message["type"]})
    else:
        logger.debug("realtime.published", extra={"group": group, "type": message["type"]})


async def _send_all(layer, messages: list[tuple[str, dict[str, Any]]]) -> None:
    import asyncio

    results = await asyncio.gather(
        *(layer.group_send(group, message) for group, message in messages), return_exceptions=True
    )
    for (group, message), result in zip(messages, results, strict=True):
        if isinstance(result, Exception):
            logger.error(
                "realtime.publish_failed",
                exc_info=result,
                extra={"group": group, "type": message["type"]},
            )


def publish_many(messages: list[tuple[str, str, dict[str, Any]]]) -> None:
    """``publish`` for a batch of (group, event, data), sent together after commit.

    One hop into the event loop for the whole batch, instead of one per message: what a router
    placing hundreds of interactions a second needs.
    """
    batch = [(group, {"type": event, "data": data}) for group, event, data in messages]
    if not batch:
        return

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            async_to_sync(_send_all)(layer, batch)
        except Exception:
            logger.exception("realtime.publish_failed", extra={"messages": len(batch)})

    transaction.on_commit(send)


class BackgroundPublisher:
    """``publish_many`` whose sending happens on a thread of its own, in order, after commit.

    For a long-running process that must not wait on the channel layer (the router): the
    batches go into a queue at commit; one thread with one event loop sends them.
    """

    def __init__(self) -> None:
        import queue
        import threading

        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="realtime-publisher", daemon=True)
        self._thread.start()

    def __call__(self, messages: list[tuple[str, str, dict[str, Any]]]) -> None:
        batch = [(group, {"type": event, "data": data}) for group, event, data in messages]
        if batch:
            transaction.on_commit(lambda: self._queue.put(batch))

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        import asyncio

        loop = asyncio.new_event_loop()
        try:
            while (batch := self._queue.get()) is not None:
                layer = get_channel_layer()
                if layer is None:
                    continue
                try:
                    loop.run_until_complete(_send_all(layer, batch))
                except Exception:
                    logger.exception("realtime.publish_failed", extra={"messages": len(batch)})
        finally:
            loop.close()


def publish(*, group: str, event: str, data: dict[str, Any]) -> None:
    """Send ``event`` with ``data`` to ``group`` once the surrounding transaction commits."""
    message = {"type": event, "data": data}
    transaction.on_commit(lambda: _send(group, message))
