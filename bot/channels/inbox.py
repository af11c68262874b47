"""Acknowledge first, work after, exactly once, in order per conversation.

The webhook stores each delivery (the unique key refuses retries and replays) and answers the platform at
once; a worker per conversation then runs the bot on its messages one at a time, oldest first. Stored
work survives a restart: `resume` picks up whatever a stopped process left unfinished.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Awaitable, Callable, Iterable, Optional

from bot.channels.events import Incoming
from knowledge import conversations
from knowledge.db import session_scope
from knowledge.privacy import pseudonym

log = logging.getLogger(__name__)

Handler = Callable[[Incoming], Awaitable[None]]


class Inbox:
    """The work queue for the channels in `channels`, handing each message to `handler`."""

    def __init__(self, channels: Iterable[str], handler: Handler, retention: dt.timedelta):
        self.channels = frozenset(channels)
        self.handler = handler
        self.retention = retention
        self._queues: dict[str, deque[int]] = {}
        self._workers: dict[str, asyncio.Task] = {}
        # One thread does every store, first come first served: a burst keeps its order, and a store never
        # waits for a free thread behind the workers' database calls (which use the default pool).
        self._store_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inbox-store")

    async def accept(self, messages: list[Incoming], now: Optional[dt.datetime] = None) -> tuple[int, int]:
        """Store and queue new messages. Returns (queued, refused as already seen or too old)."""
        loop = asyncio.get_running_loop()
        ids = await loop.run_in_executor(self._store_thread, self._store, messages, now or conversations.utcnow())
        for message, event_id in zip(messages, ids):
            if event_id is not None:
                self._enqueue(message.conversation_id, event_id)
        queued = sum(1 for i in ids if i is not None)
        return queued, len(ids) - queued

    def _store(self, messages: list[Incoming], now: dt.datetime) -> list[Optional[int]]:
        ids: list[Optional[int]] = []
        for m in messages:
            if m.sent_at is not None and now - m.sent_at > self.retention:
                # Older than any delivery id we still remember: only a replay looks like this.
                log.warning("refused a %s delivery older than the %s retention (replay?)", m.channel, self.retention)
                ids.append(None)
                continue
            with session_scope() as session:
                event_id = conversations.record_delivery(session, m.delivery_key, m.conversation_id, m.channel,
                                                         m.to_dict(), now)
            if event_id is None:
                log.info("skipped a repeated %s delivery for conversation %s", m.channel, pseudonym(m.conversation_id))
            ids.append(event_id)
        return ids

    def _enqueue(self, conversation_id: str, event_id: int) -> None:
        self._queues.setdefault(conversation_id, deque()).append(event_id)
        if conversation_id not in self._workers:
            task = asyncio.get_running_loop().create_task(self._drain(conversation_id))
            self._workers[conversation_id] = task

    async def _drain(self, conversation_id: str) -> None:
        queue = self._queues[conversation_id]
        try:
            while queue:
                await self._run(queue.popleft())
        finally:
            # No await between the empty check and here, so nothing can be enqueued in between.
            self._workers.pop(conversation_id, None)
            self._queues.pop(conversation_id, None)

    async def _run(self, event_id: int) -> None:
        data = await asyncio.to_thread(self._claim, event_id)
        if data is None:
            return  # another worker (or replica) has it, or it is already done
        ok = False
        try:
            await self.handler(Incoming.from_dict(data))
            ok = True
        except Exception:  # noqa: BLE001 - keep the worker alive; the delivery stays for a retry
            log.error("handling %s delivery %d failed", data.get("channel"), event_id, exc_info=True)
        await asyncio.to_thread(self._finish, event_id, ok)

    @staticmethod
    def _claim(event_id: int) -> Optional[dict]:
        with session_scope() as session:
            return conversations.claim(session, event_id)

    @staticmethod
    def _finish(event_id: int, ok: bool) -> None:
        with session_scope() as session:
            conversations.finish(session, event_id, ok)

    async def resume(self) -> int:
        """Queue what a stopped process left unfinished; also forget deliveries past retention."""
        def load() -> list[tuple[int, str]]:
            with session_scope() as session:
                purged = conversations.purge(session, self.retention)
                if purged:
                    log.info("forgot %d delivery ids older than %s", purged, self.retention)
                return conversations.unfinished(session, self.channels)

        pending = await asyncio.to_thread(load)
        for event_id, conversation_id in pending:
            self._enqueue(conversation_id, event_id)
        if pending:
            log.info("resumed %d unfinished deliveries", len(pending))
        return len(pending)

    async def idle(self) -> None:
        """Wait until every queued message has been handled (for shutdown and tests)."""
        while self._workers:
            await asyncio.gather(*list(self._workers.values()), return_exceptions=True)
