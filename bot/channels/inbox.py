"""Acknowledge first, work after, exactly once, in order per conversation, nothing lost or doubled when a
process dies.

The webhook stores each delivery (the unique key refuses retries and replays) and answers the platform at
once; a worker per conversation then runs the bot on its messages one at a time, oldest first. The bot's
answer is written to the durable outbound queue in the same transaction that marks the message done, so a
message is either still to be answered (and the bot runs for it again) or answered with its replies
planned (and the bot never runs for it again); the `Dispatcher` sends the replies.

Work is claimed with a lease that `tick` renews while this process is working on it, and only then: a
message whose answer could not be recorded (the database failed, again and again) is let go, so its lease
lapses and it is tried again rather than holding up its conversation for as long as the process lives.
After a crash, a restarted process (same replica name) takes its own unfinished work back at once; other
replicas take it over when the lease lapses. A conversation's later message is never started while an
earlier one is unfinished.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

from bot.channels.events import Incoming
from bot.channels.sending.dispatch import Dispatcher
from knowledge.db import session_scope
from knowledge.delivery import conversations, outbox
from knowledge.delivery.claims import DEFAULT_LEASE, Claimer
from knowledge.personal_data.privacy import pseudonym

log = logging.getLogger(__name__)

# The bot's work for one message: the replies to queue (None or empty: nothing to send).
Handler = Callable[[Incoming], Awaitable[Optional[list[outbox.Planned]]]]

# Waits (seconds) before trying again to record a message's outcome after a database error. Short, and
# well inside the lease, so a passing blip costs the resident nothing; after the last one the message is
# let go, and is tried again once its lease lapses.
FINISH_RETRY_WAITS = (0.1, 0.5, 2.0)


class Inbox:
    """The work queue for the channels in `channels`, handing each message to `handler` and its replies
    to `dispatcher`."""

    def __init__(
        self,
        channels: Iterable[str],
        handler: Handler,
        retention: dt.timedelta,
        dispatcher: Optional[Dispatcher] = None,
        claimer: Optional[Claimer] = None,
        lease: dt.timedelta = DEFAULT_LEASE,
        clock: Callable[[], dt.datetime] = conversations.utcnow,
    ):
        self.channels = frozenset(channels)
        self.handler = handler
        self.retention = retention
        self.dispatcher = dispatcher
        # Without a name, a replica of its own: it never mistakes another live inbox for its past self.
        self.claimer = claimer or (dispatcher.claimer if dispatcher else Claimer(f"inbox-{secrets.token_hex(4)}"))
        self.lease = lease
        self.clock = clock  # naive UTC now; tests move it
        self._queues: dict[str, deque[int]] = {}
        self._workers: dict[str, asyncio.Task] = {}
        # Deliveries claimed and being worked on right now: the only ones the heartbeat keeps.
        self._working: set[int] = set()
        # One thread does every store, first come first served: a burst keeps its order, and a store never
        # waits for a free thread behind the workers' database calls (which use the default pool).
        self._store_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inbox-store")

    async def accept(self, messages: list[Incoming], now: Optional[dt.datetime] = None) -> tuple[int, int]:
        """Store and queue new messages. Returns (queued, refused as already seen or too old)."""
        loop = asyncio.get_running_loop()
        ids = await loop.run_in_executor(self._store_thread, self._store, messages, now or self.clock())
        for message, event_id in zip(messages, ids, strict=True):
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
                event_id = conversations.record_delivery(
                    session, m.delivery_key, m.conversation_id, m.channel, m.to_dict(), now
                )
            if event_id is None:
                log.info("skipped a repeated %s delivery for conversation %s", m.channel, pseudonym(m.conversation_id))
            ids.append(event_id)
        return ids

    def _enqueue(self, conversation_id: str, event_id: int) -> None:
        queue = self._queues.setdefault(conversation_id, deque())
        if event_id not in queue:
            queue.append(event_id)
        if conversation_id not in self._workers:
            task = asyncio.get_running_loop().create_task(self._drain(conversation_id))
            self._workers[conversation_id] = task

    async def _drain(self, conversation_id: str) -> None:
        queue = self._queues[conversation_id]
        try:
            while queue:
                event_id = queue.popleft()
                try:
                    await self._run(event_id)
                except Exception:  # noqa: BLE001 - a database error: the sweep finds the message again
                    log.error("could not work on delivery %d; it will be tried again", event_id, exc_info=True)
        finally:
            # No await between the empty check and here, so nothing can be enqueued in between.
            self._workers.pop(conversation_id, None)
            self._queues.pop(conversation_id, None)

    async def _run(self, event_id: int) -> None:
        # In the working set from before the claim, so no heartbeat can miss a claim just made.
        self._working.add(event_id)
        try:
            data = await asyncio.to_thread(self._claim, event_id)
            if data is None:
                return  # another worker (or replica) has it, it is done, or an earlier message comes first
            incoming = Incoming.from_dict(data)
            replies: list[outbox.Planned] = []
            ok = False
            try:
                replies = list(await self.handler(incoming) or [])
                ok = True
            except Exception:  # noqa: BLE001 - keep the worker alive; the delivery stays for a retry
                log.error("handling %s delivery %d failed", incoming.channel, event_id, exc_info=True)
            queued = await self._finish_with_retries(event_id, incoming, ok, replies)
        finally:
            # Let go: from now on only a lapsed lease (or our own restart) lets anyone take it up again.
            self._working.discard(event_id)
        if queued is None:
            return
        if self.dispatcher is not None:
            # Even with nothing queued now: the message may have released staff replies that were waiting
            # for the resident to write (WhatsApp past 24 hours). A kick with nothing due costs one query.
            self.dispatcher.kick(incoming.conversation_id)
        # Messages that were held back behind this one (received meanwhile elsewhere). If they can't be
        # looked up now, the sweep finds them.
        waiting = await asyncio.to_thread(self._waiting, incoming.conversation_id)
        for later in waiting:
            self._enqueue(incoming.conversation_id, later)

    def _claim(self, event_id: int) -> Optional[dict]:
        with session_scope() as session:
            return conversations.claim(session, event_id, self.claimer, self.clock(), self.lease)

    async def _finish_with_retries(
        self, event_id: int, incoming: Incoming, ok: bool, replies: list[outbox.Planned]
    ) -> Optional[bool]:
        """`_finish`, tried again after a database error (each try is a whole transaction, so trying again
        is safe). Returns whether replies were queued, or None if the outcome could not be recorded: the
        message is then left to its lease, and the bot runs for it again later (nothing was queued)."""
        for wait in (*FINISH_RETRY_WAITS, None):
            try:
                return await asyncio.to_thread(self._finish, event_id, incoming, ok, replies)
            except Exception as exc:  # noqa: BLE001 - the database failed; the message must not be stuck
                if wait is None:
                    log.error(
                        "could not record the outcome of %s delivery %d (%s); it will be tried again "
                        "when its claim lapses",
                        incoming.channel,
                        event_id,
                        type(exc).__name__,
                    )
                    return None
                log.warning(
                    "recording the outcome of %s delivery %d failed (%s); trying again",
                    incoming.channel,
                    event_id,
                    type(exc).__name__,
                )
                await asyncio.sleep(wait)
        return None

    def _finish(self, event_id: int, incoming: Incoming, ok: bool, replies: list[outbox.Planned]) -> bool:
        """Done and its replies queued, in one transaction; or failed, kept for a retry. Returns whether
        replies were queued."""
        now = self.clock()
        queued = False
        with session_scope() as session:
            if not ok:
                conversations.fail(session, event_id, self.claimer, now)
            elif not conversations.answer(session, event_id, self.claimer, now):
                # Our lease lapsed and another worker took the message over: it will answer, we must not.
                log.warning(
                    "a %s delivery was taken over while the bot worked on it; its answer was dropped", incoming.channel
                )
            elif replies:
                outbox.queue(
                    session, incoming.conversation_id, incoming.channel, replies, now, inbound_event_id=event_id
                )
                queued = True
        return queued

    def _waiting(self, conversation_id: str) -> list[int]:
        """The conversation's messages that may start now."""
        with session_scope() as session:
            waiting = conversations.unfinished(session, self.channels, self.claimer, self.clock(), conversation_id)
        return [i for i, _ in waiting]

    async def resume(self, now: Optional[dt.datetime] = None) -> int:
        """Queue what may be started now: what a stopped process left unfinished, failed messages whose
        wait is over; also forget deliveries past retention. Returns how many were queued."""

        def load() -> list[tuple[int, str]]:
            at = now or self.clock()
            with session_scope() as session:
                purged = conversations.purge(session, self.retention, at)
                if purged:
                    log.info("forgot %d delivery ids older than %s", purged, self.retention)
                stuck = conversations.give_up_stuck(session, self.channels, self.claimer, at)
                if stuck:
                    log.error("gave up on %d message(s) after %d tries each", stuck, conversations.MAX_ATTEMPTS)
                return conversations.unfinished(session, self.channels, self.claimer, at)

        pending = await asyncio.to_thread(load)
        for event_id, conversation_id in pending:
            self._enqueue(conversation_id, event_id)
        if pending:
            log.info("resumed %d unfinished deliveries", len(pending))
        return len(pending)

    async def tick(self) -> None:
        """One round of upkeep: renew the leases of the messages being worked on (the heartbeat), pick up
        unfinished and due work, and let the dispatcher send due replies and settle abandoned sends."""
        working = set(self._working)  # copied here: the workers change the set while the thread runs

        def renew() -> None:
            with session_scope() as session:
                conversations.renew(session, self.claimer, working, self.clock(), self.lease)

        await asyncio.to_thread(renew)
        if self.dispatcher is not None:
            await self.dispatcher.renew()
        await self.resume()
        if self.dispatcher is not None:
            await self.dispatcher.sweep()

    async def idle(self) -> None:
        """Wait until every queued message has been handled and its replies sent or put off for a retry
        (for shutdown and tests)."""
        while self._workers or (self.dispatcher is not None and self.dispatcher.busy):
            await asyncio.gather(*list(self._workers.values()), return_exceptions=True)
            if self.dispatcher is not None:
                await self.dispatcher.idle()
