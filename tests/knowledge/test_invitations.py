"""The durable state behind WhatsApp's template invitation: one template per silence however many callers
race for it, held replies released once in order, a refusal failing them with the reason on the case.
On SQLite (the default) and PostgreSQL (production), explicit clock."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from knowledge.casework import cases
from knowledge.db import session_scope
from knowledge.delivery import conversations, invitations, outbox
from knowledge.delivery.claims import Claimer
from knowledge.models import CaseMessage, Conversation, OutboundMessage

T0 = dt.datetime(2026, 3, 2, 9, 0)
CONV = "whatsapp:447700900555"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("kb_url" if request.param == "sqlite" else "pg_schema_url")


def _resident_wrote(url: str, at: dt.datetime) -> None:
    with session_scope(url) as s:
        conversations.touch_conversation(s, CONV, "whatsapp", "private", "447700900555", "wa-1", None, at)


def _held(url: str, text: str, now: dt.datetime, case_message_id: int | None = None) -> list[int]:
    row = outbox.Planned("message", text, {"user_id": "447700900555", "account_id": "wa-1"}, now, None)
    with session_scope(url) as s:
        return invitations.hold(s, CONV, "whatsapp", [row], now, case_message_id)


def _rows(url: str) -> list[OutboundMessage]:
    with session_scope(url) as s:
        return list(s.execute(select(OutboundMessage).order_by(OutboundMessage.id)).scalars())


def _invite(url: str, now: dt.datetime) -> bool:
    with session_scope(url) as s:
        return invitations.invite_once(s, CONV, now)


def test_one_invitation_per_silence_however_many_ask_at_once(db: str) -> None:
    _resident_wrote(db, T0)
    now = T0 + dt.timedelta(hours=30)
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def worker() -> None:
        barrier.wait()
        results.append(_invite(db, now))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(results) == [False] * 5 + [True]
    assert _invite(db, now + dt.timedelta(hours=5)) is False  # still waiting for the resident
    # The resident answers; a day and a half later a new silence may be invited again.
    _resident_wrote(db, now + dt.timedelta(hours=6))
    assert _invite(db, now + dt.timedelta(hours=40)) is True


def test_held_replies_wait_then_are_released_once_in_order(db: str) -> None:
    _resident_wrote(db, T0)
    now = T0 + dt.timedelta(hours=30)
    first, second = _held(db, "one", now), _held(db, "two", now)
    assert [r.status for r in _rows(db)] == [invitations.AWAITING] * 2
    with session_scope(db) as s:  # nothing held is due: the queue does not see them
        assert outbox.due_conversations(s, ["whatsapp"], now) == []

    ends = now + dt.timedelta(hours=25)
    with session_scope(db) as s:
        assert invitations.release(s, CONV, ends, now + dt.timedelta(hours=24)) == 2
    with session_scope(db) as s:  # a second replica handling the same message finds nothing more
        assert invitations.release(s, CONV, ends, now + dt.timedelta(hours=24)) == 0
    rows = _rows(db)
    assert [(r.id, r.status, r.window_ends_at) for r in rows] == [
        (first[0], "pending", ends),
        (second[0], "pending", ends),
    ]
    with session_scope(db) as s:
        claimed = outbox.claim_next(s, CONV, Claimer("host-1:5005"), now)
    assert claimed is not None and claimed.text == "one"


def test_a_refused_template_fails_the_held_replies_with_the_reason_on_the_case(db: str) -> None:
    _resident_wrote(db, T0)
    now = T0 + dt.timedelta(hours=30)
    with session_scope(db) as s:
        case, _ = cases.open_case(s, CONV, "whatsapp", "asked", [], now=T0)
        line = CaseMessage(case_id=case.id, author="staff", text="We will call you", delivery=None, created_at=now)
        s.add(line)
        s.flush()
        case_id, line_id = case.id, line.id
    assert _invite(db, now) is True
    _held(db, "We will call you", now, case_message_id=line_id)

    with session_scope(db) as s:
        assert invitations.refused(s, CONV, now, "whatsapp POST /{id}/messages: HTTP 400", "132001") == 1

    [row] = _rows(db)
    assert (row.status, row.text, row.error_code) == ("failed", None, "132001")
    assert "no approved template by that name" in row.error
    with session_scope(db) as s:
        lines = {m.id: m for m in cases.timeline(s, case_id)}
        assert lines[line_id].delivery == "failed" and lines[line_id].text == "We will call you"
        [system] = [m for m in lines.values() if m.author == "system"]
        assert "WhatsApp refused the invitation template" in system.text and "132001" in system.text
        assert s.get(Conversation, CONV).invited_at is None  # the next reply may invite again
    assert _invite(db, now + dt.timedelta(minutes=5)) is True


def test_unknown_codes_fall_back_to_the_calls_error() -> None:
    assert invitations.refusal_reason("999999", "whatsapp POST: HTTP 400") == "whatsapp POST: HTTP 400"
    assert "paused" in invitations.refusal_reason("132015", None)


def test_a_reply_held_past_two_weeks_is_not_sent_when_the_resident_finally_answers(db: str) -> None:
    _resident_wrote(db, T0)
    held_at = T0 + dt.timedelta(hours=30)
    old = _held(db, "about your bins in March", held_at)
    answered = held_at + invitations.HELD_FOR + dt.timedelta(hours=1)
    recent = _held(db, "and one from today", answered - dt.timedelta(hours=2))
    with session_scope(db) as s:
        released = invitations.release(s, CONV, answered + dt.timedelta(hours=24), answered, answered)
    assert released == 1
    by_id = {r.id: r for r in _rows(db)}
    assert by_id[old[0]].status == "failed" and "days later" in (by_id[old[0]].error or "")
    assert by_id[old[0]].text is None  # nothing left to send by mistake
    assert by_id[recent[0]].status == "pending"


def test_an_invitation_not_yet_sent_is_dropped_when_the_resident_writes_first(db: str) -> None:
    _resident_wrote(db, T0)
    now = T0 + dt.timedelta(hours=30)
    invitation = outbox.Planned(invitations.TEMPLATE, "", {"user_id": "447700900555", "account_id": "wa-1"}, now, None)
    with session_scope(db) as s:
        [template_id] = outbox.queue(s, CONV, "whatsapp", [invitation], now)
    _held(db, "the reply", now)
    with session_scope(db) as s:  # the platform answered 500; before the retry, the resident writes
        invitations.release(s, CONV, now + dt.timedelta(hours=24), now + dt.timedelta(hours=1), now)
    by_id = {r.id: r for r in _rows(db)}
    assert by_id[template_id].status == "failed" and by_id[template_id].error == "not needed: the resident wrote first"
    with session_scope(db) as s:
        assert outbox.due_conversations(s, ["whatsapp"], now) == [CONV]  # the reply itself still goes
