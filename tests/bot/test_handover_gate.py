"""The gate before the bot: while staff have the conversation the bot stays quiet (and says so now and then);
after they close it, a bare 1-5 is the resident's verdict. Real SQLite database, explicit clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Optional

import pytest
from sqlalchemy.orm import Session

from bot.channels.handover_gate import ACK_EVERY, intercept, rating
from knowledge import answers
from knowledge.casework import cases
from knowledge.casework.business_hours import BusinessHours
from knowledge.db import session_scope
from knowledge.models import Case, StaffUser

T0 = dt.datetime(2026, 3, 3, 10, 0)
CONV = "messenger:psid-42"


def _in(url: str, fn: Callable[[Session], Any]) -> Any:
    with session_scope(url) as s:
        return fn(s)


def _open(url: str, conv: str = CONV, now: dt.datetime = T0) -> Case:
    return _in(
        url, lambda s: cases.open_case(s, conv, "messenger", "asked", [], now=now, hours=BusinessHours.parse())[0]
    )


def _timeline(url: str, case_id: int) -> list[tuple[str, str]]:
    return [(m.author, m.text) for m in _in(url, lambda s: cases.timeline(s, case_id))]


@pytest.fixture
def agent(kb_url: str) -> StaffUser:
    def make(s: Session) -> StaffUser:
        user = StaffUser(username="alice", display_name="Alice Smith", role="agent", password_hash="x")
        s.add(user)
        s.flush()
        return user

    return _in(kb_url, make)


# --- rating -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, score",
    [
        ("4", 4),
        (" 5 ", 5),
        ("5/5", 5),
        ("3.", 3),
        ("1", 1),
        ("2 / 5", 2),
        ("5!", 5),
        ("👍", 5),
        ("👎", 1),
        (" 👍🏽 ", 5),
        ("👎🏿", 1),
    ],
)
def test_rating_accepts_a_bare_score(text: str, score: int) -> None:
    assert rating(text) == score


@pytest.mark.parametrize(
    "text", ["45", "4 stars please", "six", "0", "6", "", "4/10", "5/5/5", "-3", "4 5", "👍👍", "my house is 4", "10"]
)
def test_rating_rejects_anything_else(text: str) -> None:
    assert rating(text) is None


# --- while a case is open ---------------------------------------------------------------------------------------


def test_no_case_means_the_bot_answers(kb_url: str) -> None:
    assert intercept(CONV, "when is my bin day?", now=T0) is None
    assert intercept(CONV, "4", now=T0) is None  # a bare number with nothing asking for it


def test_open_case_takes_the_message_and_acknowledges_now_and_then(kb_url: str) -> None:
    case = _open(kb_url)
    first = T0 + dt.timedelta(minutes=1)
    got = intercept(CONV, "Any news?", ["https://cdn.example/photo.jpg"], now=first)
    # The first message is acknowledged at once, with the reference and when the first reply is due
    # (16 open hours from Tuesday 10am, Mon-Fri 9-5).
    ack = (
        "Thanks, I've added that to your case NC-2026-000001. "
        "Our team is working now and aims to reply by 10am on Thursday 5 March."
    )
    assert got == [{"text": ack}]
    assert intercept(CONV, "It's the blue bin", now=first + dt.timedelta(minutes=2)) == []  # silent
    assert intercept(CONV, "Anyone?", now=first + dt.timedelta(minutes=29)) == []  # at most every half hour
    assert intercept(CONV, "Hello?", now=first + ACK_EVERY - dt.timedelta(seconds=1)) == []
    again = intercept(CONV, "Still there?", now=first + ACK_EVERY)
    assert again == [{"text": ack}]
    assert _timeline(kb_url, case.id) == [
        ("resident", "Any news?"),
        ("bot", ack),
        ("resident", "It's the blue bin"),
        ("resident", "Anyone?"),
        ("resident", "Hello?"),
        ("resident", "Still there?"),
        ("bot", ack),
    ]
    lines = _in(kb_url, lambda s: cases.timeline(s, case.id))
    assert lines[0].meta == {"attachments": ["https://cdn.example/photo.jpg"]}
    assert lines[0].created_at == first
    assert _in(kb_url, lambda s: s.get(Case, case.id)).last_activity_at == first + ACK_EVERY


def test_acknowledgement_after_the_first_reply_or_when_it_is_late(kb_url: str, agent: StaffUser) -> None:
    late = _open(kb_url, conv="messenger:late")
    due = _in(kb_url, lambda s: s.get(Case, late.id)).sla_due_at
    got = intercept("messenger:late", "It's been days", now=due + dt.timedelta(hours=1))
    assert got == [
        {"text": "Thanks, I've added that to your case NC-2026-000001. Our team will reply here as soon as they can."}
    ]

    answered = _open(kb_url)
    _in(kb_url, lambda s: cases.claim(s, answered.id, agent, T0))
    _in(kb_url, lambda s: cases.add_staff_reply(s, answered.id, agent, "We're on it.", "n2", T0))
    got = intercept(CONV, "Thanks, one more thing", now=T0 + ACK_EVERY + dt.timedelta(minutes=1))
    assert got == [
        {"text": "Thanks, I've added that to your case NC-2026-000002. Our team will see it and reply here."}
    ]


def test_a_staff_reply_counts_as_hearing_from_us(kb_url: str, agent: StaffUser) -> None:
    case = _open(kb_url)
    _in(kb_url, lambda s: cases.claim(s, case.id, agent, T0))
    _in(kb_url, lambda s: cases.add_staff_reply(s, case.id, agent, "Looking into it now.", "n1", T0))
    assert intercept(CONV, "thanks!", now=T0 + dt.timedelta(minutes=3)) == []
    assert intercept(CONV, "any update?", now=T0 + dt.timedelta(hours=1)) != []


def test_a_waiting_case_wakes_up(kb_url: str, agent: StaffUser) -> None:
    case = _open(kb_url)
    _in(kb_url, lambda s: cases.claim(s, case.id, agent, T0))
    _in(kb_url, lambda s: cases.set_waiting(s, case.id, agent, T0))
    assert intercept(CONV, "Here's my address: 12 Acacia Avenue", now=T0 + dt.timedelta(hours=2)) is not None
    after = _in(kb_url, lambda s: s.get(Case, case.id))
    assert (after.status, after.assignee_id) == ("assigned", agent.id)


def test_other_conversations_are_not_paused(kb_url: str) -> None:
    _open(kb_url)
    assert intercept("messenger:someone-else", "hello", now=T0) is None


def test_idle_case_lets_the_bot_answer_again(kb_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASE_IDLE_HOURS", "1")
    case = _open(kb_url)
    assert intercept(CONV, "when is my bin day?", now=T0 + dt.timedelta(hours=2)) is None
    assert _timeline(kb_url, case.id) == []  # not put on the case either


# --- after the case is closed -----------------------------------------------------------------------------------


def test_a_score_after_resolve_is_kept_and_thanked_once(kb_url: str, agent: StaffUser) -> None:
    case = _open(kb_url)
    _in(kb_url, lambda s: cases.claim(s, case.id, agent, T0))
    resolved_at = T0 + dt.timedelta(hours=1)
    _in(kb_url, lambda s: cases.resolve(s, case.id, agent, "answered", now=resolved_at))
    assert intercept(CONV, "4", now=resolved_at + dt.timedelta(minutes=5)) == [{"text": answers.satisfaction_thanks()}]
    assert _in(kb_url, lambda s: s.get(Case, case.id)).satisfaction == 4
    assert intercept(CONV, "4", now=resolved_at + dt.timedelta(minutes=6)) is None  # the bot's now
    assert _in(kb_url, lambda s: s.get(Case, case.id)).satisfaction == 4


def test_a_thumb_after_resolve_is_a_score(kb_url: str, agent: StaffUser) -> None:
    case = _open(kb_url)
    _in(kb_url, lambda s: cases.claim(s, case.id, agent, T0))
    _in(kb_url, lambda s: cases.resolve(s, case.id, agent, "answered", now=T0))
    assert intercept(CONV, "👎", now=T0 + dt.timedelta(minutes=1)) is not None
    assert _in(kb_url, lambda s: s.get(Case, case.id)).satisfaction == 1


def test_words_after_resolve_go_to_the_bot(kb_url: str, agent: StaffUser) -> None:
    case = _open(kb_url)
    _in(kb_url, lambda s: cases.claim(s, case.id, agent, T0))
    _in(kb_url, lambda s: cases.resolve(s, case.id, agent, "answered", now=T0))
    assert intercept(CONV, "4 stars please", now=T0 + dt.timedelta(minutes=1)) is None
    assert intercept(CONV, "4", now=T0 + dt.timedelta(days=2)) is None  # too late to count
    assert _in(kb_url, lambda s: s.get(Case, case.id)).satisfaction is None
    assert [a for a in _timeline(kb_url, case.id) if a[0] == "resident"] == []


def test_handed_back_case_asks_nothing(kb_url: str, agent: StaffUser) -> None:
    case = _open(kb_url)
    _in(kb_url, lambda s: cases.hand_back(s, case.id, agent, T0))
    assert intercept(CONV, "5", now=T0 + dt.timedelta(minutes=1)) is None
    assert _in(kb_url, lambda s: s.get(Case, case.id)).satisfaction is None


# --- when the database is unreachable -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["sqlite:////nonexistent-dir/deeper/kb.db", "postgresql+psycopg2://nobody@127.0.0.1:1/none"]
)
def test_broken_database_lets_the_bot_answer(
    url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    assert intercept(CONV, "hello", now=T0) is None
    assert intercept(CONV, "4", now=T0) is None
    assert "could not check for an open case" in caplog.text
    assert "psid-42" not in caplog.text  # the log never names the resident


def test_unmigrated_database_lets_the_bot_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    # The autouse fixture points DATABASE_URL at an empty SQLite file: no tables at all.
    assert intercept(CONV, "hello", now=T0) is None


def test_default_clock_is_now(kb_url: str) -> None:
    _open(kb_url, now=dt.datetime.now(dt.UTC).replace(tzinfo=None))
    got: Optional[list[dict]] = intercept(CONV, "hello")
    assert got is not None and "NC-" in got[0]["text"]


def test_a_crisis_while_staff_have_the_case_makes_it_urgent_and_breaks_the_silence(kb_url: str) -> None:
    from bot.channels import safety_net

    case = _open(kb_url)
    assert intercept(CONV, "any news?", now=T0) is not None  # acknowledged, bot quiet
    quiet = intercept(CONV, "hello??", now=T0 + dt.timedelta(minutes=1))
    assert quiet == []
    said = intercept(CONV, "i can't cope, i'm going to kill myself", now=T0 + dt.timedelta(minutes=2))
    escalated = _in(kb_url, lambda s: s.get(Case, case.id))
    assert (escalated.priority, escalated.reason) == ("urgent", "crisis")
    out = safety_net.complete("i can't cope, i'm going to kill myself", said or [], silent_ok=True)
    assert "999" in out[0]["text"] and "116 123" in out[0]["text"]
