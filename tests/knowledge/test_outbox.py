"""The durable outbound queue's rules, on SQLite and PostgreSQL: one message at a time per conversation in
order, one sender per message, abandoned sends become unknown, words forgotten once final.

All clocks are explicit (`now=`)."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Optional

import pytest
from sqlalchemy import select

from knowledge.db import get_engine, session_scope
from knowledge.delivery import outbox
from knowledge.delivery.claims import DEFAULT_LEASE, Claimer
from knowledge.models import CaseMessage, OutboundMessage

T0 = dt.datetime(2026, 3, 1, 12, 0, 0)
A, B = Claimer("host-1:5005"), Claimer("host-2:5005")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("kb_url" if request.param == "sqlite" else "pg_schema_url")


def _queue(url: str, conv: str, texts: list[str], case_message_id: Optional[int] = None) -> list[int]:
    planned = [
        outbox.Planned(
            "message",
            t,
            {"user_id": conv.split(":")[1], "account_id": "page", "reply_to": None},
            T0 + dt.timedelta(hours=24),
            T0 + dt.timedelta(hours=24),
        )
        for t in texts
    ]
    with session_scope(url) as s:
        return outbox.queue(s, conv, conv.split(":")[0], planned, T0, case_message_id=case_message_id)


def _claim(url: str, conv: str, claimer: Claimer, now: dt.datetime = T0) -> Optional[outbox.Claimed]:
    with session_scope(url) as s:
        return outbox.claim_next(s, conv, claimer, now, DEFAULT_LEASE)


def _rows(url: str) -> list[OutboundMessage]:
    with session_scope(url) as s:
        return list(s.execute(select(OutboundMessage).order_by(OutboundMessage.id)).scalars())


def test_messages_go_one_at_a_time_in_order(db: str) -> None:
    first, second = _queue(db, "messenger:u1", ["one", "two"])
    got = _claim(db, "messenger:u1", A)
    assert got is not None and (got.id, got.text, got.attempts, got.target["user_id"]) == (first, "one", 1, "u1")
    assert _claim(db, "messenger:u1", B) is None  # "two" waits while "one" is being sent
    with session_scope(db) as s:
        outbox.retry_later(s, first, A, T0 + dt.timedelta(seconds=10), "graph: HTTP 500", "500")
    assert _claim(db, "messenger:u1", B) is None  # nor may it overtake "one" while "one" waits for a retry
    again = _claim(db, "messenger:u1", B, T0 + dt.timedelta(seconds=10))
    assert again is not None and (again.id, again.attempts) == (first, 2)
    with session_scope(db) as s:
        outbox.finish(s, first, B, "sent", T0, "m_1")
    nxt = _claim(db, "messenger:u1", A)
    assert nxt is not None and nxt.id == second
    rows = _rows(db)
    assert (rows[0].status, rows[0].text, rows[0].target, rows[0].platform_message_id) == ("sent", None, None, "m_1")
    assert (rows[1].status, rows[1].text) == ("sending", "two")


def test_one_sender_wins_a_race(db: str) -> None:
    _queue(db, "messenger:u1", ["one"])
    get_engine(db)
    results: list[Optional[outbox.Claimed]] = []
    barrier = threading.Barrier(6)

    def worker(i: int) -> None:
        barrier.wait()
        results.append(_claim(db, "messenger:u1", Claimer(f"host-{i}:5005")))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(results) == 6 and len([r for r in results if r is not None]) == 1
    assert _rows(db)[0].attempts == 1


def test_an_abandoned_send_becomes_unknown_and_shows_on_the_case(db: str) -> None:
    with session_scope(db) as s:
        line = CaseMessage(case_id=1, author="staff", text="We'll come tomorrow", delivery="queued", created_at=T0)
        s.add(line)
        s.flush()
        line_id = line.id
    [row_id] = _queue(db, "messenger:u1", ["We'll come tomorrow"], case_message_id=line_id)
    _claim(db, "messenger:u1", A)
    with session_scope(db) as s:
        assert outbox.abandon_stale(s, ["messenger"], B, T0 + dt.timedelta(seconds=10)) == 0  # lease still good
        restarted = Claimer(A.replica)
        assert outbox.abandon_stale(s, ["messenger"], restarted, T0 + dt.timedelta(seconds=10)) == 1  # at once
    [row] = _rows(db)
    assert (row.id, row.status, row.text) == (row_id, "unknown", None)
    with session_scope(db) as s:
        assert s.get(CaseMessage, line_id).delivery == "unknown"
        assert outbox.due_conversations(s, ["messenger"], T0 + dt.timedelta(hours=1)) == []  # never resent


def test_a_lapsed_lease_makes_a_send_unknown_for_any_replica(db: str) -> None:
    [row_id] = _queue(db, "messenger:u1", ["one"])
    _claim(db, "messenger:u1", A)
    with session_scope(db) as s:
        outbox.renew(s, A, [row_id], T0 + dt.timedelta(seconds=20))  # the heartbeat
        assert outbox.abandon_stale(s, ["messenger"], B, T0 + DEFAULT_LEASE + dt.timedelta(seconds=1)) == 0
        assert outbox.abandon_stale(s, ["messenger"], B, T0 + DEFAULT_LEASE + dt.timedelta(seconds=21)) == 1


def test_due_conversations_are_those_with_a_message_ready(db: str) -> None:
    _queue(db, "messenger:u1", ["one"])
    [later] = _queue(db, "whatsapp:u2", ["two"])
    _queue(db, "x:u3", ["three"])
    claimed = _claim(db, "whatsapp:u2", A)
    assert claimed is not None
    with session_scope(db) as s:
        outbox.retry_later(s, later, A, T0 + dt.timedelta(minutes=1), "graph: HTTP 503", "503")
        assert outbox.due_conversations(s, ["messenger", "whatsapp"], T0) == ["messenger:u1"]
        assert outbox.due_conversations(s, ["messenger", "whatsapp"], T0 + dt.timedelta(minutes=1)) == [
            "messenger:u1",
            "whatsapp:u2",
        ]
        assert outbox.statuses(s, [later]) == ["pending"]
    assert outbox.staff_status("pending") == outbox.staff_status("sending") == "queued"


def test_the_heartbeat_keeps_only_the_sends_it_names(db: str) -> None:
    """A send whose outcome could not be recorded is left out of the heartbeat: its lease lapses and it
    becomes unknown, while the send still under way keeps its claim."""
    [dropped] = _queue(db, "messenger:u1", ["one"])
    [working] = _queue(db, "whatsapp:u2", ["two"])
    _claim(db, "messenger:u1", A)
    _claim(db, "whatsapp:u2", A)
    with session_scope(db) as s:
        outbox.renew(s, A, [working], T0 + dt.timedelta(seconds=20))
        outbox.renew(s, A, [], T0 + dt.timedelta(seconds=20))  # nothing being sent: nothing to do
        assert outbox.abandon_stale(s, ["messenger", "whatsapp"], B, T0 + DEFAULT_LEASE + dt.timedelta(seconds=1)) == 1
    assert {r.id: r.status for r in _rows(db)} == {dropped: "unknown", working: "sending"}
