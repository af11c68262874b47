"""The work queue between the webhook and the bot: in order per conversation, exactly once, and nothing
lost when the process stops."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Optional

from sqlalchemy import select

from bot.channels.events import Incoming
from bot.channels.inbox import Inbox
from knowledge.db import session_scope
from knowledge.delivery import conversations
from knowledge.delivery.claims import Claimer
from knowledge.models import InboundEvent

CHANNELS = ("messenger", "whatsapp")
RETENTION = dt.timedelta(days=7)


def _msg(user: str, n: int, channel: str = "messenger", sent_at: Optional[dt.datetime] = None) -> Incoming:
    return Incoming(
        channel=channel,
        platform_id=f"{user}-m{n}",
        user_id=user,
        text=f"{user} message {n}",
        account_id="page",
        sent_at=sent_at or conversations.utcnow(),
    )


class Recorder:
    """A handler that records what it was given, slow or failing on request."""

    def __init__(self, delays: Optional[dict[str, float]] = None, fail: Callable[[Incoming], bool] = lambda m: False):
        self.handled: list[str] = []
        self.started: list[str] = []
        self.delays = delays or {}
        self.fail = fail

    async def __call__(self, message: Incoming) -> None:
        self.started.append(message.text)
        await asyncio.sleep(self.delays.get(message.text, 0))
        if self.fail(message):
            raise RuntimeError("the bot fell over")
        self.handled.append(message.text)


def _run(coro_fn: Callable[[], Awaitable[object]]) -> object:
    return asyncio.run(asyncio.wait_for(coro_fn(), timeout=20))


def _rows() -> list[InboundEvent]:
    with session_scope() as s:
        return list(s.execute(select(InboundEvent).order_by(InboundEvent.id)).scalars())


def test_messages_for_one_conversation_are_handled_in_order(kb_url: str) -> None:
    a = [_msg("alice", i) for i in range(6)]
    b = [_msg("bob", i) for i in range(3)]
    handled: list[str] = []

    async def go() -> None:
        bob_done = asyncio.Event()

        async def handler(message: Incoming) -> None:
            if message.text == "alice message 0":
                # alice's first answer is slow: it only finishes once bob has had all of his, so bob must not
                # be queued behind alice, and alice's later messages must wait for it
                await asyncio.wait_for(bob_done.wait(), timeout=5)
            if message.text == "alice message 3":
                await asyncio.sleep(0.05)
            handled.append(message.text)
            if message.text == "bob message 2":
                bob_done.set()

        inbox = Inbox(CHANNELS, handler, RETENTION)
        assert await inbox.accept([a[0], b[0], a[1]]) == (3, 0)
        assert await inbox.accept([a[2], b[1], a[3], a[4]]) == (4, 0)  # while alice's first is still running
        assert await inbox.accept([b[2], a[5]]) == (2, 0)
        await inbox.idle()

    _run(go)
    assert [t for t in handled if t.startswith("alice")] == [m.text for m in a]
    assert [t for t in handled if t.startswith("bob")] == [m.text for m in b]
    assert handled.index("bob message 2") < handled.index("alice message 0")
    assert [r.status for r in _rows()] == ["done"] * 9


def test_duplicates_are_handled_once(kb_url: str) -> None:
    handler = Recorder()
    inbox = Inbox(CHANNELS, handler, RETENTION)
    m = _msg("alice", 1)

    async def go() -> tuple[tuple[int, int], tuple[int, int]]:
        first = await inbox.accept([m, m, _msg("alice", 2)])
        await inbox.idle()
        second = await inbox.accept([m])  # the platform retries after we already answered
        await inbox.idle()
        return first, second

    assert _run(go) == ((2, 1), (0, 1))
    assert handler.handled == ["alice message 1", "alice message 2"]


def test_duplicates_across_two_inboxes_are_handled_once(kb_url: str) -> None:
    """Two replicas receive the same retry: the database decides."""
    h1, h2 = Recorder(), Recorder()
    one, two = Inbox(CHANNELS, h1, RETENTION), Inbox(CHANNELS, h2, RETENTION)
    m = _msg("alice", 1)

    async def go() -> list[tuple[int, int]]:
        results = await asyncio.gather(one.accept([m]), two.accept([m]))
        await asyncio.gather(one.idle(), two.idle())
        return sorted(results)

    assert _run(go) == [(0, 1), (1, 0)]
    assert h1.handled + h2.handled == ["alice message 1"]


def test_a_message_older_than_retention_is_refused(kb_url: str) -> None:
    handler = Recorder()
    inbox = Inbox(CHANNELS, handler, RETENTION)
    now = conversations.utcnow()
    old = _msg("alice", 1, sent_at=now - RETENTION - dt.timedelta(minutes=1))
    recent = _msg("alice", 2, sent_at=now - RETENTION + dt.timedelta(minutes=1))
    undated = Incoming(channel="messenger", platform_id="nodate", user_id="alice", text="no date")

    async def go() -> tuple[int, int]:
        result = await inbox.accept([old, recent, undated], now=now)
        await inbox.idle()
        return result

    assert _run(go) == (2, 1)
    assert handler.handled == ["alice message 2", "no date"]
    assert [r.delivery_key for r in _rows()] == ["messenger:alice-m2", "messenger:nodate"]  # the replay isn't stored


class Clock:
    """A clock the test moves: retries wait, and leases lapse, in database time."""

    def __init__(self) -> None:
        self.now = conversations.utcnow()

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, delta: dt.timedelta) -> None:
        self.now += delta


def test_failure_is_retried_later_then_given_up(kb_url: str) -> None:
    m = _msg("alice", 1)
    clock = Clock()

    async def first_run() -> None:
        inbox = Inbox(CHANNELS, Recorder(fail=lambda _: True), RETENTION, clock=clock)
        assert await inbox.accept([m]) == (1, 0)
        await inbox.idle()

    _run(first_run)
    [row] = _rows()
    assert (row.status, row.attempts) == ("failed", 1)
    assert Incoming.from_dict(row.event) == m  # kept for the retry

    for attempt in range(2, conversations.MAX_ATTEMPTS + 1):
        handler = Recorder(fail=lambda _: True)

        async def not_yet(handler: Recorder = handler) -> int:
            return await Inbox(CHANNELS, handler, RETENTION, clock=clock).resume()

        assert _run(not_yet) == 0  # a retry waits, so a broken action server isn't hammered
        clock.advance(conversations.RETRY_MAX)

        async def later(handler: Recorder = handler) -> int:
            inbox = Inbox(CHANNELS, handler, RETENTION, clock=clock)
            count = await inbox.resume()
            await inbox.idle()
            return count

        assert _run(later) == 1
        assert handler.started == ["alice message 1"]
        [row] = _rows()
        assert (row.status, row.attempts) == ("failed", attempt)

    handler = Recorder()
    clock.advance(conversations.RETRY_MAX)

    async def last() -> int:
        inbox = Inbox(CHANNELS, handler, RETENTION, clock=clock)
        count = await inbox.resume()
        await inbox.idle()
        return count

    assert _run(last) == 0
    assert handler.started == []  # gave up after MAX_ATTEMPTS


def test_a_later_message_waits_for_an_earlier_one_that_failed(kb_url: str) -> None:
    calls = {"n": 0}

    def fail_first(message: Incoming) -> bool:
        # Alice's first message fails on its first try, whichever worker the event loop runs first.
        if message.text != "alice message 1":
            return False
        calls["n"] += 1
        return calls["n"] == 1

    handler = Recorder(fail=fail_first)
    clock = Clock()

    async def go() -> None:
        inbox = Inbox(CHANNELS, handler, RETENTION, clock=clock)
        await inbox.accept([_msg("alice", 1), _msg("alice", 2), _msg("bob", 1)])
        await inbox.idle()
        # message 1 failed: message 2 must not overtake it, but bob is not held up
        assert handler.handled == ["bob message 1"]
        clock.advance(conversations.RETRY_MAX)
        again = Inbox(CHANNELS, handler, RETENTION, clock=clock)
        assert await again.resume() == 1  # message 1 only: message 2 still waits behind it
        await again.idle()

    _run(go)
    assert handler.handled == ["bob message 1", "alice message 1", "alice message 2"]
    assert [(r.status, r.attempts, r.event) for r in _rows()] == [
        ("done", 2, None),
        ("done", 1, None),
        ("done", 1, None),
    ]


def _record(messages: list[Incoming], now: dt.datetime) -> dict[str, int]:
    ids = {}
    for m in messages:
        with session_scope() as s:
            ids[m.text] = conversations.record_delivery(
                s, m.delivery_key, m.conversation_id, m.channel, m.to_dict(), now
            )
    return ids


def test_resume_picks_up_what_a_crashed_process_left(kb_url: str) -> None:
    now = conversations.utcnow()
    pending = [_msg("alice", 1), _msg("alice", 2), _msg("carol", 1, channel="whatsapp")]
    stuck, busy, elsewhere = _msg("dave", 1), _msg("erin", 1), _msg("frank", 1, channel="x")
    ids = _record(pending + [stuck, busy, elsewhere], now)
    with session_scope() as s:
        # dave's replica died 10 minutes ago (its lease lapsed); erin's is being handled right now by a live one
        conversations.claim(s, ids[stuck.text], Claimer("replica-a"), now - dt.timedelta(minutes=10))
        conversations.claim(s, ids[busy.text], Claimer("replica-b"), now)
    handler = Recorder()

    async def go() -> int:
        inbox = Inbox(CHANNELS, handler, RETENTION, claimer=Claimer("replica-c"))
        count = await inbox.resume()
        await inbox.idle()
        return count

    assert _run(go) == 3  # alice's second follows her first
    assert sorted(handler.handled) == sorted(
        ["alice message 1", "alice message 2", "carol message 1", "dave message 1"]
    )
    assert handler.handled.index("alice message 1") < handler.handled.index("alice message 2")
    status = {r.delivery_key: r.status for r in _rows()}
    assert status[busy.delivery_key] == "processing"  # not taken from the live process
    assert status[elsewhere.delivery_key] == "pending"  # another inbox's channel


def test_a_restarted_process_takes_back_its_own_work_at_once(kb_url: str) -> None:
    """The old incarnation's lease has most of its time left: a restart must not wait for it (the 5 minutes
    residents used to wait), while another replica's live claim is left alone."""
    now = conversations.utcnow()
    mine, theirs = _msg("alice", 1), _msg("bob", 1)
    ids = _record([mine, theirs], now)
    before_crash = Claimer("host-1:5005", token="old")
    with session_scope() as s:
        assert conversations.claim(s, ids[mine.text], before_crash, now, dt.timedelta(minutes=10)) is not None
        assert conversations.claim(s, ids[theirs.text], Claimer("host-2:5005"), now, dt.timedelta(minutes=10))
    handler = Recorder()

    async def restart() -> int:
        inbox = Inbox(CHANNELS, handler, RETENTION, claimer=Claimer("host-1:5005"))  # same replica, new token
        count = await inbox.resume()
        await inbox.idle()
        return count

    assert _run(restart) == 1
    assert handler.handled == ["alice message 1"]
    status = {r.delivery_key: (r.status, r.attempts) for r in _rows()}
    assert status[mine.delivery_key] == ("done", 2)
    assert status[theirs.delivery_key] == ("processing", 1)


def test_a_message_is_not_started_while_an_earlier_one_is_held_elsewhere(kb_url: str) -> None:
    """Two replicas: while one answers a resident's first message, the other must not answer the second."""
    now = conversations.utcnow()
    first, second = _msg("alice", 1), _msg("alice", 2)
    ids = _record([first, second], now)
    with session_scope() as s:
        conversations.claim(s, ids[first.text], Claimer("replica-a"), now)
    handler = Recorder()

    async def other_replica() -> int:
        inbox = Inbox(CHANNELS, handler, RETENTION, claimer=Claimer("replica-b"))
        inbox._enqueue(second.conversation_id, ids[second.text])  # as if its webhook had received it
        count = await inbox.resume()
        await inbox.idle()
        return count

    assert _run(other_replica) == 0
    assert handler.started == []
    assert [r.status for r in _rows()] == ["processing", "pending"]


def test_an_answer_is_dropped_if_the_message_was_taken_over_meanwhile(kb_url: str) -> None:
    """A process that stalled past its lease must not queue replies for a message another one now owns."""
    now = conversations.utcnow()
    ids = _record([_msg("alice", 1)], now)
    [event_id] = ids.values()
    slow, fast = Claimer("replica-a"), Claimer("replica-b")
    with session_scope() as s:
        assert conversations.claim(s, event_id, slow, now - dt.timedelta(minutes=1)) is not None
    with session_scope() as s:
        assert conversations.claim(s, event_id, fast, now) is not None  # the lease had lapsed
    with session_scope() as s:
        assert conversations.answer(s, event_id, slow, now) is False
    with session_scope() as s:
        assert conversations.answer(s, event_id, fast, now) is True
    [row] = _rows()
    assert (row.status, row.attempts, row.event) == ("done", 2, None)


def test_done_rows_have_their_content_cleared(kb_url: str) -> None:
    secret = Incoming(
        channel="messenger",
        platform_id="m-secret",
        user_id="alice",
        text="I live at 14 Elm Road",
        sent_at=conversations.utcnow(),
    )

    async def go() -> None:
        inbox = Inbox(CHANNELS, Recorder(), RETENTION)
        await inbox.accept([secret])
        await inbox.idle()

    _run(go)
    [row] = _rows()
    assert (row.status, row.event, row.delivery_key) == ("done", None, "messenger:m-secret")


def test_resume_forgets_old_finished_deliveries(kb_url: str) -> None:
    long_ago = conversations.utcnow() - RETENTION - dt.timedelta(days=1)
    with session_scope() as s:
        old = conversations.record_delivery(s, "messenger:old", "messenger:alice", "messenger", {}, long_ago)
    holder = Claimer("replica-a")
    with session_scope() as s:
        conversations.claim(s, old, holder, long_ago)
        conversations.answer(s, old, holder, long_ago)

    async def go() -> int:
        inbox = Inbox(CHANNELS, Recorder(), RETENTION)
        return await inbox.resume()

    assert _run(go) == 0
    assert _rows() == []


def test_a_burst_keeps_its_order(kb_url: str) -> None:
    handler = Recorder()
    messages = [_msg("alice", i) for i in range(20)]

    async def go() -> None:
        inbox = Inbox(CHANNELS, handler, RETENTION)
        # one webhook body per message, arriving together
        await asyncio.gather(*(inbox.accept([m]) for m in messages))
        await inbox.idle()

    _run(go)
    assert handler.handled == [m.text for m in messages]
