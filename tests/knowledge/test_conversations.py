"""The channels' memory: each delivery handled exactly once, the messaging window, and what was sent.

All clocks are explicit (`now=`), so the time rules are checked to the second.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Optional

import pytest
from sqlalchemy import select

from knowledge.db import get_engine, session_scope
from knowledge.delivery import conversations as c
from knowledge.delivery.claims import DEFAULT_LEASE, Claimer
from knowledge.models import Attachment, Conversation, InboundEvent

T0 = dt.datetime(2026, 3, 1, 12, 0, 0)
EVENT = {"channel": "messenger", "platform_id": "m1", "user_id": "u1", "text": "missed bin"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> str:
    """The claim, lease and order rules run on SQLite (the default) and on PostgreSQL (production)."""
    return request.getfixturevalue("kb_url" if request.param == "sqlite" else "pg_schema_url")


def _record(
    url: str, key: str = "messenger:m1", conv: str = "messenger:u1", channel: str = "messenger", now: dt.datetime = T0
) -> Optional[int]:
    with session_scope(url) as s:
        return c.record_delivery(s, key, conv, channel, dict(EVENT), now)


HOLDER = Claimer("host-1:5005", token="first")  # the process working on it
OTHER = Claimer("host-2:5005")  # another replica


def _claim(url: str, event_id: int, now: dt.datetime = T0, claimer: Claimer = HOLDER) -> Optional[dict]:
    with session_scope(url) as s:
        return c.claim(s, event_id, claimer, now)


def _finish(url: str, event_id: int, ok: bool, now: dt.datetime = T0, claimer: Claimer = HOLDER) -> None:
    with session_scope(url) as s:
        if ok:
            assert c.answer(s, event_id, claimer, now)
        else:
            c.fail(s, event_id, claimer, now)


def _row(url: str, event_id: int) -> Optional[InboundEvent]:
    with session_scope(url) as s:
        return s.get(InboundEvent, event_id)


def _unfinished(
    url: str, now: dt.datetime, channels: tuple[str, ...] = ("messenger",), claimer: Claimer = OTHER
) -> list[tuple[int, str]]:
    with session_scope(url) as s:
        return c.unfinished(s, channels, claimer, now)


# --- exactly once -----------------------------------------------------------------------------------------------


def test_a_delivery_is_recorded_once(kb_url: str) -> None:
    first = _record(kb_url)
    assert isinstance(first, int)
    assert _record(kb_url) is None  # the platform's retry
    assert _record(kb_url, now=T0 + dt.timedelta(hours=30)) is None  # a late retry
    other = _record(kb_url, key="messenger:m2")
    assert other is not None and other != first
    row = _row(kb_url, first)
    assert (row.status, row.attempts, row.event, row.conversation_id) == ("pending", 0, EVENT, "messenger:u1")


def test_same_message_id_on_another_channel_is_another_delivery(kb_url: str) -> None:
    assert _record(kb_url, key="messenger:123") is not None
    assert _record(kb_url, key="x:123", conv="x:u1", channel="x") is not None


def test_claim_is_exclusive(db: str) -> None:
    event_id = _record(db)
    assert _claim(db, event_id) == EVENT
    assert _claim(db, event_id) is None
    row = _row(db, event_id)
    assert (row.status, row.attempts, row.processed_at) == ("processing", 1, T0)


def test_claim_race_has_one_winner(db: str) -> None:
    event_id = _record(db)
    get_engine(db)  # create the engine before the threads race for it
    results: list[Optional[dict]] = []
    barrier = threading.Barrier(6)

    def worker() -> None:
        barrier.wait()
        results.append(_claim(db, event_id))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(results) == 6
    assert [r for r in results if r is not None] == [EVENT]
    assert _row(db, event_id).attempts == 1


def test_claim_of_unknown_id_is_none(kb_url: str) -> None:
    assert _claim(kb_url, 424242) is None


def test_finish_ok_forgets_the_content_and_is_never_claimed_again(db: str) -> None:
    event_id = _record(db)
    _claim(db, event_id)
    _finish(db, event_id, True, T0 + dt.timedelta(seconds=2))
    row = _row(db, event_id)
    assert (row.status, row.event, row.processed_at) == ("done", None, T0 + dt.timedelta(seconds=2))
    assert _claim(db, event_id, T0 + dt.timedelta(hours=1)) is None
    assert _unfinished(db, T0 + dt.timedelta(hours=1)) == []
    assert _record(db) is None  # still remembered as seen


def test_failed_delivery_is_retried_after_a_wait_until_max_attempts(db: str) -> None:
    event_id = _record(db)
    now = T0
    for attempt in range(1, c.MAX_ATTEMPTS + 1):
        assert _unfinished(db, now) == [(event_id, "messenger:u1")]
        assert _claim(db, event_id, now) == EVENT  # content kept for the retry
        _finish(db, event_id, False, now)
        assert _row(db, event_id).attempts == attempt
        wait = c.retry_delay(attempt)
        assert _unfinished(db, now + wait - dt.timedelta(seconds=1)) == []  # not before its wait is over
        now += wait
    assert _row(db, event_id).status == "failed"
    assert _claim(db, event_id, now) is None
    assert _unfinished(db, now) == []


def test_processing_is_taken_over_when_its_lease_lapses(db: str) -> None:
    event_id = _record(db)
    _claim(db, event_id, T0)  # the process handling it dies
    just_before = T0 + DEFAULT_LEASE
    assert _claim(db, event_id, just_before, OTHER) is None
    assert _unfinished(db, just_before) == []
    after = T0 + DEFAULT_LEASE + dt.timedelta(seconds=1)
    assert _unfinished(db, after) == [(event_id, "messenger:u1")]
    assert _claim(db, event_id, after, OTHER) == EVENT
    assert _claim(db, event_id, after, Claimer("host-3:5005")) is None  # and the takeover is exclusive too
    assert _row(db, event_id).attempts == 2


def test_a_renewed_lease_is_not_taken_over(db: str) -> None:
    event_id = _record(db)
    _claim(db, event_id, T0)
    with session_scope(db) as s:
        c.renew(s, HOLDER, [event_id], T0 + dt.timedelta(seconds=25))  # the heartbeat while the bot works
    assert _claim(db, event_id, T0 + dt.timedelta(seconds=40), OTHER) is None
    assert _claim(db, event_id, T0 + dt.timedelta(seconds=56), OTHER) == EVENT


def test_the_heartbeat_keeps_only_the_deliveries_it_names(db: str) -> None:
    """A delivery the process has let go of (its answer could not be recorded) is not kept alive by the
    heartbeat: its lease lapses and it is tried again."""
    dropped = _record(db)
    working = _record(db, key="messenger:m2", conv="messenger:u2")
    _claim(db, dropped, T0)
    _claim(db, working, T0)
    with session_scope(db) as s:
        c.renew(s, HOLDER, [working], T0 + dt.timedelta(seconds=25))
    later = T0 + dt.timedelta(seconds=40)
    assert _unfinished(db, later) == [(dropped, "messenger:u1")]
    assert _claim(db, dropped, later, OTHER) == EVENT
    assert _claim(db, working, later, OTHER) is None


def test_a_restarted_replica_takes_its_work_back_at_once(db: str) -> None:
    event_id = _record(db)
    _claim(db, event_id, T0)
    restarted = Claimer(HOLDER.replica)  # same host and port, new incarnation
    assert _unfinished(db, T0, claimer=restarted) == [(event_id, "messenger:u1")]
    assert _claim(db, event_id, T0, restarted) == EVENT
    assert _claim(db, event_id, T0, OTHER) is None  # another replica still waits for the lease
    with session_scope(db) as s:
        assert c.answer(s, event_id, HOLDER, T0) is False  # the old incarnation can't finish it any more
        assert c.answer(s, event_id, restarted, T0) is True


def test_a_delivery_that_keeps_crashing_the_process_stops_after_max_attempts(db: str) -> None:
    event_id = _record(db)
    for _ in range(c.MAX_ATTEMPTS):
        assert _claim(db, event_id, T0, Claimer(HOLDER.replica)) == EVENT  # each time the process dies
    assert _row(db, event_id).attempts == c.MAX_ATTEMPTS
    assert _unfinished(db, T0, claimer=Claimer(HOLDER.replica)) == []
    assert _claim(db, event_id, T0, Claimer(HOLDER.replica)) is None
    with session_scope(db) as s:
        assert c.give_up_stuck(s, ["messenger"], Claimer(HOLDER.replica), T0) == 1
    assert _row(db, event_id).status == "failed"


def test_a_later_message_waits_until_the_earlier_one_is_finished(db: str) -> None:
    first = _record(db, "messenger:m1")
    second = _record(db, "messenger:m2")
    other_conversation = _record(db, "messenger:m3", "messenger:u9")
    assert _unfinished(db, T0) == [(first, "messenger:u1"), (other_conversation, "messenger:u9")]
    assert _claim(db, second, T0, OTHER) is None  # not while the first is pending
    _claim(db, first, T0)
    assert _claim(db, second, T0, OTHER) is None  # nor while it is being answered
    _finish(db, first, False, T0)
    assert _claim(db, second, T0, OTHER) is None  # nor while it waits for a retry
    assert _claim(db, first, T0 + c.RETRY_MAX, OTHER) == EVENT
    _finish(db, first, True, T0 + c.RETRY_MAX, OTHER)
    assert _claim(db, second, T0 + c.RETRY_MAX, OTHER) == EVENT


def test_unfinished_is_oldest_first_and_only_for_the_given_channels(db: str) -> None:
    a = _record(db, "messenger:m1", "messenger:u1")
    b = _record(db, "x:d1", "x:u2", "x")
    d = _record(db, "messenger:m2", "messenger:u3")
    done = _record(db, "messenger:m3", "messenger:u5")
    _claim(db, done)
    _finish(db, done, True)
    fresh = _record(db, "messenger:m4", "messenger:u4")
    _claim(db, fresh, T0)  # being handled right now by a live process
    assert _unfinished(db, T0 + dt.timedelta(seconds=10)) == [(a, "messenger:u1"), (d, "messenger:u3")]
    assert _unfinished(db, T0, ("x",)) == [(b, "x:u2")]
    assert [i for i, _ in _unfinished(db, T0, ("x", "messenger"))] == [a, b, d]


def test_purge_forgets_only_finished_deliveries_past_retention(kb_url: str) -> None:
    old_done = _record(kb_url, "messenger:old-done", "messenger:u1", now=T0)
    old_failed = _record(kb_url, "messenger:old-failed", "messenger:u2", now=T0)
    old_pending = _record(kb_url, "messenger:old-pending", "messenger:u3", now=T0)
    new_done = _record(kb_url, "messenger:new-done", "messenger:u4", now=T0 + dt.timedelta(days=6))
    for event_id, ok in ((old_done, True), (old_failed, False), (new_done, True)):
        _claim(kb_url, event_id, T0 + dt.timedelta(days=6))
        _finish(kb_url, event_id, ok)
    now = T0 + c.DEFAULT_RETENTION + dt.timedelta(seconds=1)
    with session_scope(kb_url) as s:
        assert c.purge(s, c.DEFAULT_RETENTION, now) == 2
    assert _row(kb_url, old_done) is None and _row(kb_url, old_failed) is None
    assert _row(kb_url, old_pending) is not None  # never handled: kept
    assert _row(kb_url, new_done) is not None
    # a purged key can be delivered again (the inbox refuses such old messages by their own timestamp)
    assert _record(kb_url, "messenger:old-done", now=now) is not None
    with session_scope(kb_url) as s:
        assert c.purge(s, c.DEFAULT_RETENTION, now) == 0


# --- the messaging window ---------------------------------------------------------------------------------------


def _touch(
    url: str,
    at: dt.datetime,
    reply_to: Optional[str] = None,
    account: Optional[str] = "page",
    conv: str = "facebook_comment:u1",
) -> None:
    with session_scope(url) as s:
        c.touch_conversation(s, conv, conv.split(":")[0], "public", conv.split(":")[1], account, reply_to, at)


def _conv(url: str, conv: str = "facebook_comment:u1") -> Optional[Conversation]:
    with session_scope(url) as s:
        return s.get(Conversation, conv)


def test_touch_conversation_creates_then_keeps_the_latest(kb_url: str) -> None:
    _touch(kb_url, T0, reply_to="c1")
    conv = _conv(kb_url)
    assert (
        conv.channel,
        conv.origin,
        conv.platform_user_id,
        conv.account_id,
        conv.reply_to,
        conv.last_inbound_at,
        conv.created_at,
    ) == ("facebook_comment", "public", "u1", "page", "c1", T0, T0)
    _touch(kb_url, T0 + dt.timedelta(hours=2), reply_to="c2")
    _touch(kb_url, T0 + dt.timedelta(hours=1), reply_to=None, account=None)  # an older message, retried late
    conv = _conv(kb_url)
    assert conv.last_inbound_at == T0 + dt.timedelta(hours=2)  # the window never moves backwards
    assert conv.reply_to == "c2" and conv.account_id == "page"  # kept when the message has none
    assert conv.created_at == T0


@pytest.mark.parametrize(
    "age,ok",
    [
        (dt.timedelta(0), True),
        (dt.timedelta(hours=23, minutes=59, seconds=59), True),
        (dt.timedelta(hours=24), True),
        (dt.timedelta(hours=24, seconds=1), False),
        (dt.timedelta(days=3), False),
    ],
)
def test_within_window_boundaries(kb_url: str, age: dt.timedelta, ok: bool) -> None:
    _touch(kb_url, T0)
    assert c.within_window(_conv(kb_url), dt.timedelta(hours=24), T0 + age) is ok


def test_no_window_rule_is_always_ok_and_no_conversation_is_never_ok(kb_url: str) -> None:
    _touch(kb_url, T0)
    assert c.within_window(_conv(kb_url), None, T0 + dt.timedelta(days=365)) is True
    assert c.within_window(None, None) is True
    assert c.within_window(None, dt.timedelta(hours=24), T0) is False
    assert c.within_window(Conversation(id="x:1"), dt.timedelta(hours=24), T0) is False


# --- attachments and what was sent ------------------------------------------------------------------------------


def test_add_attachments_flags_unsupported_kinds(kb_url: str) -> None:
    atts = [
        {"kind": "image", "url": "https://cdn.example/p.jpg"},
        {"kind": "location", "latitude": 52.95, "longitude": -1.15},
        {"kind": "audio", "media_id": "m-9", "mime_type": "audio/ogg"},
        {"kind": "sticker", "url": "https://cdn.example/s.png"},
    ]
    with session_scope(kb_url) as s:
        assert c.add_attachments(s, "whatsapp:4477", "whatsapp", atts, {"image", "location"}, T0) == 4
    with session_scope(kb_url) as s:
        rows = s.execute(select(Attachment).order_by(Attachment.id)).scalars().all()
        got = [(a.kind, a.supported, a.url, a.media_id, a.latitude, a.longitude, a.conversation_id) for a in rows]
    assert got == [
        ("image", True, "https://cdn.example/p.jpg", None, None, None, "whatsapp:4477"),
        ("location", True, None, None, 52.95, -1.15, "whatsapp:4477"),
        ("audio", False, None, "m-9", None, None, "whatsapp:4477"),
        ("sticker", False, "https://cdn.example/s.png", None, None, None, "whatsapp:4477"),
    ]


# --- PostgreSQL (production) ------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_dedupe_and_exclusive_claim(pg_schema_url: str) -> None:
    """The unique index and the conditional UPDATE on the production database, in a schema of its own."""
    url = pg_schema_url
    first = _record(url)
    assert isinstance(first, int)
    assert _record(url) is None
    assert _record(url, key="messenger:m2") not in (None, first)

    results: list[Optional[dict]] = []
    barrier = threading.Barrier(6)

    def worker() -> None:
        barrier.wait()
        results.append(_claim(url, first))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert [r for r in results if r is not None] == [EVENT] and len(results) == 6
    _finish(url, first, True)
    row = _row(url, first)
    assert (row.status, row.attempts, row.event) == ("done", 1, None)
    assert _record(url) is None
