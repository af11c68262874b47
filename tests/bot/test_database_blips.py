"""A database error while recording an outcome never stops a conversation: the write is tried again, and
if the database stays away the work is let go, so its claim lapses and it is settled by a later sweep.
Either way a later message of the conversation (here one about danger) gets through within a few sweeps.

The failures are real database errors: the engine itself refuses the statement (a SQLAlchemy event on the
real engine), the way a dropped connection or a locked SQLite file does. Replies go over real HTTP to the
fake Meta.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, Optional

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from bot.channels import inbox as inbox_module
from bot.channels.config import DeliveryConfig
from bot.channels.events import Incoming
from bot.channels.inbox import Inbox
from bot.channels.sending import dispatch
from bot.channels.sending.dispatch import Dispatcher
from bot.channels.sending.senders import MetaSender
from bot.platforms.api import ApiClient
from knowledge.db import get_engine, session_scope
from knowledge.delivery import outbox
from knowledge.delivery.claims import DEFAULT_LEASE, Claimer
from knowledge.models import InboundEvent, OutboundMessage
from tests.bot.test_inbox import Clock
from tests.fakes.platform import Call, FakePlatform

CHANNELS = ("messenger", "whatsapp")
RETENTION = dt.timedelta(days=7)
CRISIS = "I want to kill myself"
CRISIS_LINES = "Call 999 now. Samaritans: 116 123."
FAST = DeliveryConfig(
    retry_base=dt.timedelta(milliseconds=20),
    retry_max=dt.timedelta(milliseconds=200),
    retry_for=dt.timedelta(hours=24),
    lease=DEFAULT_LEASE,
    replica=None,
)
# Each sweep moves the clock on this much: a claim that is no longer renewed lapses after a few.
STEP = dt.timedelta(seconds=10)
MAX_SWEEPS = 6


@pytest.fixture(autouse=True)
def _quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Milliseconds between tries of a failed write instead of seconds: the behaviour is the same."""
    monkeypatch.setattr(inbox_module, "FINISH_RETRY_WAITS", (0.01, 0.01, 0.01), raising=False)
    monkeypatch.setattr(dispatch, "STORE_RETRY_WAITS", (0.01, 0.01, 0.01), raising=False)


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    with FakePlatform() as platform:
        yield platform


@contextmanager
def refused(url: str, table: str, column: str, times: Optional[int] = None) -> Iterator[dict[str, int]]:
    """While inside, the database refuses UPDATEs of `table` that set `column` (`times` of them, or all).
    Yields a count of the refusals."""
    engine = get_engine(url)
    state = {"refused": 0}

    def refuse(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith(f"UPDATE {table} SET "):
            return
        assignments = statement[len(f"UPDATE {table} SET ") :].split(" WHERE ", 1)[0]
        if column not in [part.split("=", 1)[0].strip() for part in assignments.split(",")]:
            return
        if times is not None and state["refused"] >= times:
            return
        state["refused"] += 1
        raise OperationalError(statement, None, sqlite3.OperationalError("database is locked"))

    event.listen(engine, "before_cursor_execute", refuse)
    try:
        yield state
    finally:
        event.remove(engine, "before_cursor_execute", refuse)


def _run(coro_fn: Callable[[], Awaitable[object]]) -> object:
    return asyncio.run(asyncio.wait_for(coro_fn(), timeout=60))


def _msg(n: int, text: str, clock: Clock) -> Incoming:
    return Incoming(
        channel="messenger", platform_id=f"m{n}", user_id="alice", text=text, account_id="page-1", sent_at=clock()
    )


class Bot:
    """Stands in for the Rasa server: answers each message with one reply naming it."""

    def __init__(self, clock: Clock):
        self.clock = clock
        self.seen: list[str] = []

    async def __call__(self, message: Incoming) -> list[outbox.Planned]:
        self.seen.append(message.text)
        return [
            outbox.Planned(
                "message",
                f"Answer to {message.text}",
                {"user_id": message.user_id},
                self.clock() + dt.timedelta(days=1),
            )
        ]


def _inbound() -> list[str]:
    with session_scope() as s:
        return list(s.execute(select(InboundEvent.status).order_by(InboundEvent.id)).scalars())


def _outbound() -> list[OutboundMessage]:
    with session_scope() as s:
        return list(s.execute(select(OutboundMessage).order_by(OutboundMessage.id)).scalars())


# --- the inbound work queue ----------------------------------------------------------------------------------


def test_an_answer_that_cannot_be_recorded_is_tried_again_and_the_crisis_message_behind_it_gets_through(
    kb_url: str,
) -> None:
    clock = Clock()
    bot = Bot(clock)

    async def go() -> int:
        inbox = Inbox(CHANNELS, bot, RETENTION, claimer=Claimer("host-1:5005"), clock=clock)
        with refused(kb_url, "inbound_events", "event") as outage:  # the database fails as the answer is recorded
            await inbox.accept([_msg(1, "hello", clock)])
            await inbox.idle()
        assert outage["refused"] == 4  # the first write and every retry
        await inbox.accept([_msg(2, CRISIS, clock)])  # the database is back
        await inbox.idle()
        assert bot.seen == ["hello"]  # the crisis message waits its turn behind the unanswered one
        for sweep in range(1, MAX_SWEEPS + 1):
            clock.advance(STEP)
            await inbox.tick()
            await inbox.idle()
            if CRISIS in bot.seen:
                return sweep
        return 0

    sweeps = _run(go)
    assert sweeps, f"the crisis message was still waiting after {MAX_SWEEPS} sweeps ({bot.seen})"
    assert bot.seen == ["hello", "hello", CRISIS]  # the lost answer was worked out again, then the crisis one
    assert _inbound() == ["done", "done"]
    assert [r.text for r in _outbound()] == ["Answer to hello", f"Answer to {CRISIS}"]  # each answer queued once


def test_a_passing_database_error_costs_nothing(kb_url: str) -> None:
    clock = Clock()
    bot = Bot(clock)

    async def go() -> None:
        inbox = Inbox(CHANNELS, bot, RETENTION, claimer=Claimer("host-1:5005"), clock=clock)
        with refused(kb_url, "inbound_events", "event", times=1) as blip:
            await inbox.accept([_msg(1, "hello", clock)])
            await inbox.accept([_msg(2, CRISIS, clock)])
            await inbox.idle()  # no sweep, no clock moving: the retry is enough
        assert blip["refused"] == 1

    _run(go)
    assert bot.seen == ["hello", CRISIS]  # the bot ran once for each
    assert _inbound() == ["done", "done"]
    assert [r.text for r in _outbound()] == ["Answer to hello", f"Answer to {CRISIS}"]


# --- the outbound queue --------------------------------------------------------------------------------------


def _dispatcher(fake: FakePlatform, clock: Clock) -> Dispatcher:
    sender = MetaSender(ApiClient("graph", fake.url, "page-token", timeout=5.0, backoff=0.01, max_backoff=0.02))
    return Dispatcher(sender, CHANNELS, FAST, Claimer("host-1:5005"), clock=clock)


def _queue(text: str, clock: Clock) -> None:
    planned = outbox.Planned(
        "message",
        text,
        {"user_id": "alice", "account_id": "page-1", "reply_to": None},
        clock() + dt.timedelta(hours=24),
        clock() + dt.timedelta(hours=24),
    )
    with session_scope() as s:
        outbox.queue(s, "messenger:alice", "messenger", [planned], clock())


def _delivered(calls: list[Call]) -> list[str]:
    return [c.body["message"]["text"] for c in calls if c.status == 200]


def test_a_sent_reply_whose_outcome_cannot_be_recorded_becomes_unknown_and_the_crisis_reply_gets_through(
    kb_url: str, fake: FakePlatform
) -> None:
    clock = Clock()

    async def go() -> int:
        dispatcher = _dispatcher(fake, clock)
        _queue("first reply", clock)
        with refused(kb_url, "outbound_messages", "finished_at") as outage:  # the platform took it; the database fails
            dispatcher.kick("messenger:alice")
            await dispatcher.idle()
        assert outage["refused"] == 4
        _queue(CRISIS_LINES, clock)  # the database is back
        dispatcher.kick("messenger:alice")
        await dispatcher.idle()
        for sweep in range(1, MAX_SWEEPS + 1):
            clock.advance(STEP)
            await dispatcher.renew()
            await dispatcher.sweep()
            await dispatcher.idle()
            if [r.status for r in await asyncio.to_thread(_outbound)][-1] == "sent":
                return sweep
        return 0

    sweeps = _run(go)
    rows = _outbound()
    assert sweeps, f"the crisis reply was still waiting after {MAX_SWEEPS} sweeps ({[r.status for r in rows]})"
    # The first reply may have reached the resident (it did): unknown, never sent twice.
    assert [r.status for r in rows] == ["unknown", "sent"]
    assert _delivered(fake.settle(quiet=0.3)) == ["first reply", CRISIS_LINES]


def test_a_passing_database_error_after_a_send_is_recorded_truthfully(kb_url: str, fake: FakePlatform) -> None:
    clock = Clock()

    async def go() -> None:
        dispatcher = _dispatcher(fake, clock)
        _queue("first reply", clock)
        _queue(CRISIS_LINES, clock)
        with refused(kb_url, "outbound_messages", "finished_at", times=1) as blip:
            dispatcher.kick("messenger:alice")
            await dispatcher.idle()  # no sweep needed
        assert blip["refused"] == 1

    _run(go)
    assert [r.status for r in _outbound()] == ["sent", "sent"]
    assert _delivered(fake.settle(quiet=0.3)) == ["first reply", CRISIS_LINES]
