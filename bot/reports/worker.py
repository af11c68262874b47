"""The reports worker: a background task of the Rasa server that, while this process holds the "reports"
lease (so several replicas do the work once between them), every ROUND_SECONDS sends due reports over Open311
and delivers due status notifications, and every OPEN311_POLL_SECONDS reads the back office's changes.

Every step runs in a thread (httpx and the database are blocking) and never raises: the back office down,
slow or answering 500 for an hour is retried on the next rounds (knowledge/reports/sending.py keeps every
report exactly once), and the database being away only skips a round. Logs carry counts and error types,
never residents' data.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Optional

from sqlalchemy.orm import Session

from bot import mail
from knowledge.db import session_scope
from knowledge.delivery import polling
from knowledge.delivery.claims import Claimer
from knowledge.delivery.conversations import utcnow
from knowledge.reports import notifying, sending, updates
from knowledge.reports.open311 import NotConfigured, Open311Client
from knowledge.settings import settings

log = logging.getLogger(__name__)

LEASE_NAME = "reports"
ROUND_SECONDS = 10.0
# Longer than a round's work may take with every Open311 call at its timeout, renewed every round.
LEASE = dt.timedelta(minutes=5)

SessionFactory = Callable[[], AbstractContextManager[Session]]


def _mail(address: str, subject: str, body: str) -> None:
    mail.send(address, subject, body)


class ReportsWorker:
    """One process's share of the reports work. `client` is None without OPEN311_ENDPOINT (reports are held
    for staff; only notifications are delivered). `mailer` sends the email fallback (None: SMTP is off)."""

    def __init__(
        self,
        claimer: Claimer,
        client: Optional[Open311Client],
        session_factory: SessionFactory = session_scope,
        mailer: Optional[notifying.Mailer] = None,
        poll_every: Optional[dt.timedelta] = None,
        clock: Callable[[], dt.datetime] = utcnow,
        round_seconds: float = ROUND_SECONDS,
    ) -> None:
        self.claimer = claimer
        self.client = client
        self.session_factory = session_factory
        self.mailer = mailer
        self.poll_every = poll_every or dt.timedelta(seconds=settings().open311_poll_seconds)
        self.clock = clock
        self.round_seconds = round_seconds
        self.next_poll = clock()
        self.holding = False

    @classmethod
    def from_settings(cls, claimer: Claimer) -> ReportsWorker:
        """The worker the server runs: Open311 and email as configured."""
        try:
            client: Optional[Open311Client] = Open311Client.from_settings()
        except NotConfigured:
            client = None
        return cls(claimer, client, mailer=_mail if mail.enabled() else None)

    async def run(self) -> None:
        """Work for ever (the server cancels this task when it stops); give the lease back on the way out."""
        try:
            while True:
                await self.round()
                await asyncio.sleep(self.round_seconds)
        finally:
            if self.holding:
                with contextlib.suppress(Exception):
                    await asyncio.shield(asyncio.to_thread(self._release))
            if self.client is not None:
                self.client.close()

    async def round(self) -> None:
        """One round: take or renew the lease, then the work that is due. Never raises."""
        try:
            self.holding = await asyncio.to_thread(self._hold)
        except Exception as exc:  # noqa: BLE001 - the database is away: try next round
            log.error("reports: could not take the reports lease (%s)", type(exc).__name__)
            self.holding = False
        if not self.holding:
            return
        now = self.clock()
        if self.client is not None:
            await self._step("sending reports", self._send, now)
            if now >= self.next_poll:
                self.next_poll = now + self.poll_every
                await self._step("reading status changes", self._poll, now)
        await self._step("telling residents", self._deliver, now)

    async def _step(self, what: str, work: Callable[[dt.datetime], int], now: dt.datetime) -> None:
        try:
            done = await asyncio.to_thread(work, now)
        except Exception:  # noqa: BLE001 - one step's failure must not stop the others or the worker
            log.error("reports: %s failed", what, exc_info=True)
            return
        if done:
            log.info("reports: %s: %d", what, done)

    def _hold(self) -> bool:
        with self.session_factory() as session:
            return polling.hold(session, LEASE_NAME, self.claimer, self.clock(), LEASE)

    def _release(self) -> None:
        with self.session_factory() as session:
            polling.release(session, LEASE_NAME, self.claimer)

    def _send(self, now: dt.datetime) -> int:
        assert self.client is not None
        # The real clock as well: a slow back office must not let the round's claims lapse mid-round.
        return sending.send_due(self.session_factory, self.client, now, self.claimer, clock=self.clock)

    def _poll(self, now: dt.datetime) -> int:
        assert self.client is not None
        return updates.poll(self.session_factory, self.client, now)

    def _deliver(self, now: dt.datetime) -> int:
        with self.session_factory() as session:
            return len(notifying.deliver_due(session, now, self.mailer))
