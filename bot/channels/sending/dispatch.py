"""The sender side of the durable outbound queue: takes queued messages (`knowledge.delivery.outbox`) and sends them,
in order per conversation, retrying what the platform may accept later.

- 429, 5xx and connection failures: tried again after an exponential wait with jitter (at least the
  platform's Retry-After), for as long as the messaging window allows (or the configured cap), then failed.
- A request that went out but got no answer (timeout, dropped connection): "unknown". The platform may
  have delivered it, so it is never resent blindly; staff see it on the case.
- Anything else the platform refuses (400, 403): failed at once.
- Past the messaging window: outside_window, nothing sent.

Every process that sends (each Rasa replica, the staff console) holds a claim with a lease on the message
it is sending, so two never send the same one; a sender that died mid-send leaves its message to become
"unknown" when its claim is taken over. The heartbeat keeps only the messages in the middle of a send: one
whose outcome could not be recorded (the database failed, again and again) is let go, so it too becomes
"unknown" (it may have gone out) and stops holding up its conversation.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Callable, Iterable
from typing import Optional

from bot.channels.config import DeliveryConfig
from bot.channels.sending.replies import Sender
from bot.channels.sending.senders import Outgoing, Target
from bot.platforms.api import PlatformError
from knowledge.db import session_scope
from knowledge.delivery import invitations, outbox
from knowledge.delivery.claims import Claimer
from knowledge.delivery.conversations import utcnow
from knowledge.personal_data.privacy import pseudonym

log = logging.getLogger(__name__)

# Waits (seconds) before trying again to record a send's outcome after a database error: short, and well
# inside the lease. After the last one the message is let go.
STORE_RETRY_WAITS = (0.1, 0.5, 2.0)


class Unrecorded(Exception):
    """A send's outcome could not be written to the database (already logged)."""


class Dispatcher:
    """Sends queued messages of the conversations on `channels` through `sender`."""

    def __init__(
        self,
        sender: Sender,
        channels: Iterable[str],
        config: DeliveryConfig,
        claimer: Claimer,
        wake_for_retries: bool = True,
        clock: Callable[[], dt.datetime] = utcnow,
    ):
        self.sender = sender
        self.clock = clock  # naive UTC now, for claims and their leases; tests move it
        # False for a one-off sender (the console answering a form): retries are then left to the Rasa
        # server's sweep, so the request finishes after one pass.
        self.wake_for_retries = wake_for_retries
        self.channels = frozenset(channels)
        self.config = config
        self.claimer = claimer
        self._tasks: dict[str, asyncio.Task] = {}
        self._again: set[str] = set()
        # Messages claimed and in the middle of a send right now: the only ones the heartbeat keeps.
        self._sending: set[int] = set()

    # --- starting work -------------------------------------------------------------------------------------
    def kick(self, conversation_id: str) -> None:
        """Send whatever of this conversation is due, in the background (one worker per conversation)."""
        self._again.add(conversation_id)
        if conversation_id not in self._tasks:
            task = asyncio.get_running_loop().create_task(self._drain(conversation_id))
            self._tasks[conversation_id] = task

    async def send_now(self, conversation_id: str) -> None:
        """Send whatever of this conversation is due and wait for that one pass (staff replies: the console
        shows the outcome at once when the platform answers at once; retries happen in the background)."""
        self.kick(conversation_id)
        task = self._tasks.get(conversation_id)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    async def sweep(self, now: Optional[dt.datetime] = None) -> int:
        """Messages left "sending" by a process that is gone become unknown; every conversation with a
        message due is started. Returns how many conversations were started."""

        def look() -> list[str]:
            at = now or self.clock()
            with session_scope() as session:
                abandoned = outbox.abandon_stale(session, self.channels, self.claimer, at)
                if abandoned:
                    log.warning(
                        "%d message(s) were being sent by a process that stopped: marked unknown, not resent", abandoned
                    )
                return outbox.due_conversations(session, self.channels, at)

        due = await asyncio.to_thread(look)
        for conversation_id in due:
            self.kick(conversation_id)
        return len(due)

    async def renew(self) -> None:
        """Heartbeat: keep our claims on the messages in the middle of a send."""
        sending = set(self._sending)  # copied here: the senders change the set while the thread runs

        def renew() -> None:
            with session_scope() as session:
                outbox.renew(session, self.claimer, sending, self.clock(), self.config.lease)

        await asyncio.to_thread(renew)

    @property
    def busy(self) -> bool:
        """True while some conversation is being sent."""
        return bool(self._tasks)

    async def idle(self) -> None:
        """Wait until no conversation is being sent (a message waiting for a retry is not being sent)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    # --- the work ------------------------------------------------------------------------------------------
    async def _drain(self, conversation_id: str) -> None:
        try:
            while conversation_id in self._again:
                self._again.discard(conversation_id)
                while True:
                    row = await asyncio.to_thread(self._claim, conversation_id)
                    if row is None:
                        break
                    self._sending.add(row.id)
                    try:
                        await self._send(row)
                    finally:
                        # Let go: if the outcome wasn't recorded, the lease lapses and a sweep settles it.
                        self._sending.discard(row.id)
        except Unrecorded:
            pass  # logged where it happened; the conversation waits for the sweep
        except Exception:  # noqa: BLE001 - a database hiccup: the sweep tries again
            log.error("sending for conversation %s stopped", pseudonym(conversation_id), exc_info=True)
        finally:
            # No await between the last check of _again and here, so no kick can be lost in between.
            self._tasks.pop(conversation_id, None)

    def _claim(self, conversation_id: str) -> Optional[outbox.Claimed]:
        with session_scope() as session:
            return outbox.claim_next(session, conversation_id, self.claimer, self.clock(), self.config.lease)

    async def _send(self, row: outbox.Claimed) -> None:
        now = self.clock()
        who = pseudonym(row.conversation_id)
        if row.window_ends_at is not None and now > row.window_ends_at:
            log.warning("not sending on %s to conversation %s: outside the messaging window", row.channel, who)
            await self._finish(row, "outside_window", error="the messaging window closed before it could be sent")
            return
        target = Target(
            row.channel, row.target.get("user_id") or "", row.target.get("account_id"), row.target.get("reply_to")
        )
        try:
            out = Outgoing(row.kind, row.text, row.buttons, language=row.target.get("language"))
            msg_id = await self.sender.send(target, out)
        except PlatformError as exc:  # already logged by the client, without content
            if exc.maybe_delivered:
                log.warning(
                    "a send on %s to conversation %s got no answer: marked unknown, not resent", row.channel, who
                )
                await self._finish(row, "unknown", error=str(exc), code=exc.code)
            elif exc.retryable:
                await self._retry(row, exc, self.clock())  # the wait starts when the send gave up
            else:
                await self._finish(row, "failed", error=str(exc), code=exc.code)
        except Exception:  # noqa: BLE001 - a bug must not stop the queue; the row says what happened
            log.error("could not send on %s to conversation %s", row.channel, who, exc_info=True)
            await self._finish(row, "failed", error="internal error while sending")
        else:
            await self._finish(row, "sent", platform_message_id=msg_id)

    async def _retry(self, row: outbox.Claimed, exc: PlatformError, now: dt.datetime) -> None:
        wait = self.wait(row.attempts, exc.retry_after)
        at = now + wait
        limits = [t for t in (row.give_up_at, row.window_ends_at) if t is not None]
        if limits and at > min(limits):
            log.error(
                "gave up sending on %s to conversation %s after %d tries (%s)",
                row.channel,
                pseudonym(row.conversation_id),
                row.attempts,
                exc,
            )
            await self._finish(row, "failed", error=f"{exc}; still failing when the retry period ended", code=exc.code)
            return

        def store() -> None:
            with session_scope() as session:
                outbox.retry_later(session, row.id, self.claimer, at, str(exc), exc.code)

        await self._store(store, row, "retry")
        if self.wake_for_retries:  # wake up when it is due; the sweep is the backstop if this process stops
            asyncio.get_running_loop().call_later(wait.total_seconds(), self.kick, row.conversation_id)

    def wait(self, attempts: int, retry_after: Optional[float] = None) -> dt.timedelta:
        """How long to wait after the `attempts`-th failed try: doubling from the base up to the maximum,
        jittered (so a platform coming back isn't hit by every queued message at once), never less than
        the platform's Retry-After."""
        cap = self.config.retry_max.total_seconds()
        backoff = min(self.config.retry_base.total_seconds() * 2 ** max(attempts - 1, 0), cap)
        seconds = random.uniform(backoff / 2, backoff)
        if retry_after is not None:
            seconds = max(seconds, retry_after)
        return dt.timedelta(seconds=seconds)

    async def _finish(
        self,
        row: outbox.Claimed,
        status: str,
        platform_message_id: Optional[str] = None,
        error: Optional[str] = None,
        code: Optional[str] = None,
    ) -> None:
        def store() -> None:
            with session_scope() as session:
                outbox.finish(session, row.id, self.claimer, status, self.clock(), platform_message_id, error, code)
                if row.kind == invitations.TEMPLATE and status == "failed":
                    # WhatsApp refused the invitation: the replies waiting for it fail with the reason, in
                    # the same transaction, so none is left waiting for an answer that can't come.
                    invitations.refused(session, row.conversation_id, self.clock(), error, code)

        await self._store(store, row, status)

    async def _store(self, write: Callable[[], None], row: outbox.Claimed, what: str) -> None:
        """Run `write` (one transaction recording a send's outcome), trying again after a database error.
        If it still fails, raise: the message is then let go (see `_drain`), its lease lapses and a sweep
        marks it unknown, which is the truth as far as we can tell."""
        for wait in (*STORE_RETRY_WAITS, None):
            try:
                await asyncio.to_thread(write)
                return
            except Exception as exc:  # noqa: BLE001 - the database failed; the queue must not be stuck
                if wait is None:
                    log.error(
                        "could not record a %s outcome on %s for conversation %s (%s); it will be "
                        "marked unknown when its claim lapses",
                        what,
                        row.channel,
                        pseudonym(row.conversation_id),
                        type(exc).__name__,
                    )
                    raise Unrecorded(what) from exc
                log.warning(
                    "recording a %s outcome on %s failed (%s); trying again", what, row.channel, type(exc).__name__
                )
                await asyncio.sleep(wait)
