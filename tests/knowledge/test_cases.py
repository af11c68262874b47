"""Handover cases as staff work them: references, the state machine, the timeline, the audit, the queue,
and claims that race. Each step runs in its own transaction, as each console request does.

Clock: Tuesday 3 March 2026, 10:00 (GMT, so local time is UTC), office hours Mon-Fri 09:00-17:00.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable
from typing import Any, Optional

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from knowledge.casework import cases
from knowledge.casework.business_hours import BusinessHours, sla_hours
from knowledge.casework.cases import CaseError
from knowledge.db import get_engine, session_scope
from knowledge.models import Case, CaseMessage, ReferenceCounter, StaffUser

T0 = dt.datetime(2026, 3, 3, 10, 0)
HOURS = BusinessHours.parse()
CONV = "webchat:resident-1"
TRANSCRIPT = [
    {
        "author": "resident",
        "text": "my bin wasn't collected again",
        "meta": {"intent": "svc_bins_missed", "confidence": 0.93},
    },
    {
        "author": "bot",
        "text": "Sorry about that. Report a missed bin: https://www.northshire.gov.uk/bins",
        "meta": {"links": ["https://www.northshire.gov.uk/bins"]},
    },
    {"author": "resident", "text": "third time this month, I want to speak to someone", "meta": {"intent": "human"}},
]


# --- helpers -----------------------------------------------------------------------------------------------------


def _in(url: str, fn: Callable[[Session], Any]) -> Any:
    with session_scope(url) as s:
        return fn(s)


def _staff(url: str, username: str, role: str = "agent", name: Optional[str] = None, active: bool = True) -> StaffUser:
    def make(s: Session) -> StaffUser:
        user = StaffUser(
            username=username,
            display_name=name or username.title(),
            role=role,
            password_hash="not-a-real-hash",
            active=active,
        )
        s.add(user)
        s.flush()
        return user

    return _in(url, make)


def _open(
    url: str,
    conv: str = CONV,
    reason: str = "asked",
    now: dt.datetime = T0,
    transcript: Any = (),
    channel: str = "webchat",
    hours: Optional[BusinessHours] = HOURS,
    **kw: Any,
) -> tuple[Case, bool]:
    return _in(url, lambda s: cases.open_case(s, conv, channel, reason, transcript, now=now, hours=hours, **kw))


def _case(url: str, case_id: int) -> Case:
    return _in(url, lambda s: s.get(Case, case_id))


def _trail(url: str, case_id: int) -> list[tuple[str, str]]:
    return [(a.actor, a.action) for a in _in(url, lambda s: cases.audit_trail(s, case_id))]


def _claim(url: str, case_id: int, who: StaffUser, now: dt.datetime = T0) -> Case:
    return _in(url, lambda s: cases.claim(s, case_id, who, now))


def _reply(
    url: str,
    case_id: int,
    who: StaffUser,
    words: str = "We're sending the crew back today.",
    nonce: Optional[str] = None,
    now: dt.datetime = T0,
) -> tuple[CaseMessage, bool]:
    return _in(url, lambda s: cases.add_staff_reply(s, case_id, who, words, nonce or uuid.uuid4().hex, now))


def _resolve(
    url: str, case_id: int, who: StaffUser, outcome: str = "answered", now: dt.datetime = T0, **kw: Any
) -> Case:
    return _in(url, lambda s: cases.resolve(s, case_id, who, outcome, now=now, **kw))


@pytest.fixture
def alice(kb_url: str) -> StaffUser:
    return _staff(kb_url, "alice", name="Alice Smith")


@pytest.fixture
def bob(kb_url: str) -> StaffUser:
    return _staff(kb_url, "bob", name="Bob Jones")


@pytest.fixture
def boss(kb_url: str) -> StaffUser:
    return _staff(kb_url, "carol", role="admin", name="Carol Admin")


# --- opening ----------------------------------------------------------------------------------------------------


def test_references_count_up_within_the_year(kb_url: str) -> None:
    first, created1 = _open(kb_url, "webchat:a")
    second, created2 = _open(kb_url, "messenger:b", channel="messenger")
    assert (first.reference, created1) == ("NC-2026-000001", True)
    assert (second.reference, created2) == ("NC-2026-000002", True)
    third, _ = _open(kb_url, "webchat:c", now=dt.datetime(2027, 1, 4, 10, 0))
    assert third.reference == "NC-2027-000001"  # a new year starts again
    assert _in(kb_url, lambda s: cases.by_reference(s, " nc-2026-000002 ")).id == second.id


def test_new_case_is_new_unowned_and_keeps_what_it_was_told(kb_url: str) -> None:
    case, _ = _open(kb_url, transcript=TRANSCRIPT, topic="bins.missed", origin="public")
    assert (case.status, case.assignee_id, case.priority, case.reason) == ("new", None, "normal", "asked")
    assert (case.channel, case.origin, case.topic, case.created_at) == ("webchat", "public", "bins.missed", T0)
    assert case.sla_due_at == HOURS.add(T0, sla_hours("normal")) == dt.datetime(2026, 3, 5, 10, 0)


def test_unknown_origin_is_private_and_unknown_reason_refused(kb_url: str) -> None:
    case, _ = _open(kb_url, origin="sideways")
    assert case.origin == "private"
    with pytest.raises(CaseError, match="unknown handover reason"):
        _open(kb_url, "webchat:other", reason="bored")


def test_transcript_lines_are_on_the_timeline_with_what_the_bot_understood(kb_url: str) -> None:
    earlier = T0 - dt.timedelta(minutes=3)
    lines = TRANSCRIPT[:2] + [{**TRANSCRIPT[2], "at": earlier}]
    case, _ = _open(kb_url, transcript=lines)
    got = _in(kb_url, lambda s: cases.timeline(s, case.id))
    assert [(m.author, m.text, m.meta) for m in got] == [(t["author"], t["text"], t["meta"]) for t in TRANSCRIPT]
    assert [m.created_at for m in got] == [T0, T0, earlier]


def test_one_open_case_per_conversation(kb_url: str) -> None:
    first, _ = _open(kb_url, transcript=TRANSCRIPT)
    again, created = _open(
        kb_url,
        reason="repeated_fallback",
        now=T0 + dt.timedelta(minutes=5),
        transcript=[{"author": "resident", "text": "hello??"}],
    )
    assert (again.id, again.reference, created) == (first.id, first.reference, False)
    assert (again.priority, again.reason) == ("normal", "asked")  # not urgent: nothing changes
    assert again.last_activity_at == T0 + dt.timedelta(minutes=5)
    assert _in(kb_url, lambda s: s.execute(select(func.count()).select_from(Case)).scalar_one()) == 1
    assert len(_in(kb_url, lambda s: cases.timeline(s, first.id))) == 3


def test_crisis_escalates_the_open_case(kb_url: str) -> None:
    first, _ = _open(kb_url)
    later = T0 + dt.timedelta(minutes=5)
    again, created = _open(kb_url, reason="crisis", now=later)
    assert (again.id, created) == (first.id, False)
    assert (again.priority, again.reason) == ("urgent", "crisis")
    assert again.sla_due_at == HOURS.add(later, sla_hours("urgent")) == dt.datetime(2026, 3, 3, 11, 5)
    assert _trail(kb_url, first.id) == [("bot", "opened"), ("bot", "escalated")]
    assert _in(kb_url, lambda s: cases.audit_trail(s, first.id))[-1].detail == {"reason": "crisis"}


def test_escalation_never_makes_the_due_time_later(kb_url: str) -> None:
    evening = dt.datetime(2026, 3, 3, 16, 50)
    first, _ = _open(kb_url, now=evening, hours=BusinessHours.parse(), topic=None)
    # An hour-long urgent SLA would be later than a deliberately short normal one.
    _in(kb_url, lambda s: setattr(s.get(Case, first.id), "sla_due_at", evening + dt.timedelta(minutes=5)))
    again, _ = _open(kb_url, reason="safeguarding", now=evening + dt.timedelta(minutes=1))
    assert again.priority == "urgent"
    assert again.sla_due_at == evening + dt.timedelta(minutes=5)


@pytest.mark.parametrize("reason", ["crisis", "safeguarding"])
def test_urgent_reasons_get_the_urgent_sla_in_business_hours(
    kb_url: str, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLA_URGENT_HOURS", "2")
    monkeypatch.delenv("BUSINESS_HOURS", raising=False)
    friday = dt.datetime(2026, 11, 20, 16, 30)  # 4:30pm GMT
    case, _ = _open(kb_url, reason=reason, now=friday, hours=None)  # hours from the environment
    assert case.priority == "urgent"
    assert case.sla_due_at == dt.datetime(2026, 11, 23, 10, 30)  # 30 minutes Friday, 90 minutes Monday


def test_bank_holidays_from_env_push_the_sla(kb_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANK_HOLIDAYS", "2026-11-23")
    monkeypatch.delenv("SLA_URGENT_HOURS", raising=False)
    case, _ = _open(kb_url, reason="crisis", now=dt.datetime(2026, 11, 20, 16, 30), hours=None)
    assert case.sla_due_at == dt.datetime(2026, 11, 24, 9, 30)


def test_after_resolve_the_next_handover_is_a_new_case(kb_url: str, alice: StaffUser) -> None:
    first, _ = _open(kb_url)
    _claim(kb_url, first.id, alice)
    _resolve(kb_url, first.id, alice)
    second, created = _open(kb_url, now=T0 + dt.timedelta(hours=1))
    assert created and second.id != first.id and second.reference == "NC-2026-000002"


# --- claiming ---------------------------------------------------------------------------------------------------


def test_claim_assigns_and_is_audited(kb_url: str, alice: StaffUser) -> None:
    case, _ = _open(kb_url)
    later = T0 + dt.timedelta(minutes=7)
    claimed = _claim(kb_url, case.id, alice, later)
    assert (claimed.status, claimed.assignee_id, claimed.last_activity_at) == ("assigned", alice.id, later)
    assert claimed.version == case.version + 1
    trail = _in(kb_url, lambda s: cases.audit_trail(s, case.id))
    assert [(a.actor, a.action, a.at) for a in trail] == [("bot", "opened", T0), ("alice", "claimed", later)]


def test_claiming_someone_elses_case_names_them(kb_url: str, alice: StaffUser, bob: StaffUser) -> None:
    case, _ = _open(kb_url)
    _claim(kb_url, case.id, alice)
    with pytest.raises(CaseError, match="NC-2026-000001 was claimed by Alice Smith"):
        _claim(kb_url, case.id, bob)
    assert _case(kb_url, case.id).assignee_id == alice.id


def test_claiming_your_own_case_again_is_harmless(kb_url: str, alice: StaffUser) -> None:
    case, _ = _open(kb_url)
    first = _claim(kb_url, case.id, alice)
    again = _claim(kb_url, case.id, alice, T0 + dt.timedelta(minutes=1))
    assert (again.assignee_id, again.status, again.version) == (alice.id, "assigned", first.version)
    assert _trail(kb_url, case.id).count(("alice", "claimed")) == 1


def test_claiming_resolved_or_missing_cases(kb_url: str, alice: StaffUser, bob: StaffUser) -> None:
    case, _ = _open(kb_url)
    _claim(kb_url, case.id, alice)
    _resolve(kb_url, case.id, alice)
    with pytest.raises(CaseError, match="NC-2026-000001 is already resolved"):
        _claim(kb_url, case.id, bob)
    with pytest.raises(CaseError, match="does not exist"):
        _claim(kb_url, 9999, bob)


def test_assign_by_owner_or_admin_only(kb_url: str, alice: StaffUser, bob: StaffUser, boss: StaffUser) -> None:
    editor = _staff(kb_url, "ed", role="editor", name="Ed Itor")
    gone = _staff(kb_url, "gone", name="Left Company", active=False)
    case, _ = _open(kb_url)
    moved = _in(kb_url, lambda s: cases.assign(s, case.id, alice, bob, T0))  # unowned: anyone may give it
    assert (moved.assignee_id, moved.status) == (bob.id, "assigned")
    with pytest.raises(CaseError, match="belongs to Bob Jones; only they or an admin can reassign it"):
        _in(kb_url, lambda s: cases.assign(s, case.id, alice, alice, T0))
    back = _in(kb_url, lambda s: cases.assign(s, case.id, boss, alice, T0))
    assert back.assignee_id == alice.id
    with pytest.raises(CaseError, match="Ed Itor can't work cases"):
        _in(kb_url, lambda s: cases.assign(s, case.id, alice, editor, T0))
    with pytest.raises(CaseError, match="Left Company can't work cases"):
        _in(kb_url, lambda s: cases.assign(s, case.id, alice, gone, T0))
    trail = _in(kb_url, lambda s: cases.audit_trail(s, case.id))
    assert [(a.actor, a.action, a.detail) for a in trail if a.action == "assigned"] == [
        ("alice", "assigned", {"to": "bob", "before": None}),
        ("carol", "assigned", {"to": "alice", "before": "Bob Jones"}),
    ]


# --- replying ---------------------------------------------------------------------------------------------------


def test_reply_needs_a_claim_first(kb_url: str, alice: StaffUser) -> None:
    case, _ = _open(kb_url)
    with pytest.raises(CaseError, match="Claim NC-2026-000001 before replying"):
        _reply(kb_url, case.id, alice)
    assert _in(kb_url, lambda s: cases.timeline(s, case.id)) == []


def test_reply_to_someone_elses_case_names_them_but_an_admin_may(
    kb_url: str, alice: StaffUser, bob: StaffUser, boss: StaffUser
) -> None:
    case, _ = _open(kb_url)
    _claim(kb_url, case.id, alice)
    with pytest.raises(CaseError, match="NC-2026-000001 belongs to Alice Smith"):
        _reply(kb_url, case.id, bob)
    msg, created = _reply(kb_url, case.id, boss, "Covering for Alice: the crew is on its way.")
    assert created and msg.staff_id == boss.id and msg.meta == {"by": "Carol Admin"}


def test_reply_to_a_resolved_case_is_refused_clearly(kb_url: str, alice: StaffUser) -> None:
    case, _ = _open(kb_url)
    _claim(kb_url, case.id, alice)
    _resolve(kb_url, case.id, alice)
    with pytest.raises(
        CaseError,
        match="NC-2026-000001 is resolved, so it can't be changed. The resident's next message goes to the bot.",
    ):
        _reply(kb_url, case.id, alice)


@pytest.mark.parametrize(
    "words, message",
    [
        ("", "Write a reply before sending."),
        ("   \n ", "Write a reply before sending."),
        ("x" * 4001, "Replies can be at most 4,000 characters."),
    ],
)
def test_empty_and_overlong_replies_are_refused(kb_url: str, alice: StaffUser, words: str, message: str) -> None:
    case, _ = _open(kb_url)
    _claim(kb_url, case.id, alice)
    with pytest.raises(CaseError, match=message):
        _reply(kb_url, case.id, alice, words)
    assert _in(kb_url, lambda s: cases.timeline(s, case.id)) == []


def test_a_4000_character_reply_is_fine(kb_url: str, alice: StaffUser) -> None:
    case, _ = _open(kb_url)
    _claim(kb_url, case.id, alice)
    msg, created = _reply(kb_url, case.id, alice, " " + "x" * 4000 + "\n")
    assert created and msg.text == "x" * 4000


@pytest.mark.parametrize("nonce", ["", "n" * 65])
def test_reply_without_a_proper_form_nonce_is_refused(kb_url: str, alice: StaffUser, nonce: str) -> None:
    case, _ = _open(kb_url)
    _claim(kb_url, case.id, alice)
    with pytest.raises(CaseError, match="reload the page"):
        _in(kb_url, lambda s: cases.add_staff_reply(s, case.id, alice, "hello", nonce, T0))


def test_double_submitted_reply_is_sent_once(kb_url: str, alice: StaffUser) -> None:
    case, _ = _open(kb_url)
    _claim(kb_url, case.id, alice)
    first, created1 = _reply(kb_url, case.id, alice, "The crew is on its way.", nonce="form-1")
    second, created2 = _reply(
        kb_url, case.id, alice, "The crew is on its way.", nonce="form-1", now=T0 + dt.timedelta(seconds=1)
    )
    assert (created1, created2) == (True, False)
    assert second.id == first.id
    staff_lines = [m for m in _in(kb_url, lambda s: cases.timeline(s, case.id)) if m.author == "staff"]
    assert len(staff_lines) == 1
    assert (staff_lines[0].delivery, staff_lines[0].client_nonce) == ("pending", "form-1")
    assert _trail(kb_url, case.id).count(("alice", "replied")) == 1


def test_first_response_is_the_first_reply_only(kb_url: str, alice: StaffUser) -> None:
    case, _ = _open(kb_url)
    _claim(kb_url, case.id, alice, T0)
    _reply(kb_url, case.id, alice, "First.", now=T0 + dt.timedelta(minutes=20))
    _reply(kb_url, case.id, alice, "Second.", now=T0 + dt.timedelta(hours=2))
    after = _case(kb_url, case.id)
    assert after.first_response_at == T0 + dt.timedelta(minutes=20)
    assert after.last_activity_at == T0 + dt.timedelta(hours=2)


def test_set_delivery_records_how_sending_went(kb_url: str, alice: StaffUser) -> None:
    case, _ = _open(kb_url)
    _claim(kb_url, case.id, alice)
    msg, _ = _reply(kb_url, case.id, alice)
    _in(kb_url, lambda s: cases.set_delivery(s, msg.id, "outside_window"))
    assert _in(kb_url, lambda s: s.get(CaseMessage, msg.id)).delivery == "outside_window"


# --- notes, waiting, resolving ----------------------------------------------------------------------------------


def test_notes_are_internal_and_audited(kb_url: str, alice: StaffUser) -> None:
    case, _ = _open(kb_url)
    _claim(kb_url, case.id, alice)
    note = _in(kb_url, lambda s: cases.add_note(s, case.id, alice, "  Third missed collection: tell the depot. "))
    assert (note.author, note.text, note.meta, note.delivery) == (
        "note",
        "Third missed collection: tell the depot.",
        {"by": "Alice Smith"},
        None,
    )
    with pytest.raises(CaseError, match="Write a note"):
        _in(kb_url, lambda s: cases.add_note(s, case.id, alice, " "))
    assert ("alice", "noted") in _trail(kb_url, case.id)
    assert _in(kb_url, lambda s: cases.staff_messages_for(s, CONV)) == []  # never sent to the resident


def test_waiting_then_the_resident_writes_back(kb_url: str, alice: StaffUser) -> None:
    case, _ = _open(kb_url)
    _claim(kb_url, case.id, alice)
    with pytest.raises(CaseError, match="belongs to Alice Smith"):
        _in(kb_url, lambda s: cases.set_waiting(s, case.id, _staff(kb_url, "dave", name="Dave"), T0))
    waiting = _in(kb_url, lambda s: cases.set_waiting(s, case.id, alice, T0))
    assert waiting.status == "waiting"
    later = T0 + dt.timedelta(hours=3)
    _in(
        kb_url,
        lambda s: cases.add_resident_message(
            s, s.get(Case, case.id), "It's 12 Acacia Avenue", ["https://cdn.example/photo.jpg"], later
        ),
    )
    after = _case(kb_url, case.id)
    assert (after.status, after.assignee_id, after.last_activity_at) == ("assigned", alice.id, later)
    line = _in(kb_url, lambda s: cases.timeline(s, case.id))[-1]
    assert (line.author, line.text, line.meta) == (
        "resident",
        "It's 12 Acacia Avenue",
        {"attachments": ["https://cdn.example/photo.jpg"]},
    )
    assert _trail(kb_url, case.id)[-2:] == [("alice", "waiting"), ("resident", "replied")]


def test_claiming_a_waiting_case_keeps_it_waiting(kb_url: str, alice: StaffUser) -> None:
    case, _ = _open(kb_url)
    _claim(kb_url, case.id, alice)
    _in(kb_url, lambda s: cases.set_waiting(s, case.id, alice, T0))
    assert _claim(kb_url, case.id, alice).status == "waiting"


def test_resolve_needs_a_valid_outcome(kb_url: str, alice: StaffUser) -> None:
    case, _ = _open(kb_url)
    _claim(kb_url, case.id, alice)
    with pytest.raises(CaseError, match="Choose an outcome: answered, referred"):
        _resolve(kb_url, case.id, alice, outcome="sorted")
    with pytest.raises(CaseError, match="Choose an outcome"):
        _resolve(kb_url, case.id, alice, outcome="")
    assert _case(kb_url, case.id).status == "assigned"


def test_resolve_closes_the_case_and_asks_how_we_did(kb_url: str, alice: StaffUser, bob: StaffUser) -> None:
    case, _ = _open(kb_url)
    with pytest.raises(CaseError, match="Claim NC-2026-000001 before replying or resolving"):
        _resolve(kb_url, case.id, alice)
    _claim(kb_url, case.id, alice)
    with pytest.raises(CaseError, match="belongs to Alice Smith"):
        _resolve(kb_url, case.id, bob)
    later = T0 + dt.timedelta(hours=1)
    done = _resolve(kb_url, case.id, alice, "referred", now=later, note="  Passed to waste contractor. ")
    assert (done.status, done.outcome, done.outcome_note) == ("resolved", "referred", "Passed to waste contractor.")
    assert (done.resolved_at, done.satisfaction_asked_at, done.last_activity_at) == (later, later, later)
    assert done not in _in(kb_url, lambda s: cases.queue(s))
    assert _in(kb_url, lambda s: cases.paused_case(s, CONV, later)) is None  # the bot answers again
    with pytest.raises(CaseError, match="is resolved"):
        _resolve(kb_url, case.id, alice)


def test_hand_back_resolves_without_a_satisfaction_question(kb_url: str, alice: StaffUser) -> None:
    case, _ = _open(kb_url)
    back = _in(kb_url, lambda s: cases.hand_back(s, case.id, alice, T0))  # claims it on the way
    assert (back.status, back.outcome, back.assignee_id) == ("resolved", "handed_back", alice.id)
    assert back.satisfaction_asked_at is None and back.resolved_at == T0
    assert _trail(kb_url, case.id) == [("bot", "opened"), ("alice", "claimed"), ("alice", "resolved")]
    assert _in(kb_url, lambda s: cases.record_satisfaction(s, CONV, 5, T0 + dt.timedelta(minutes=1))) is None


def test_hand_back_of_someone_elses_case_is_refused(kb_url: str, alice: StaffUser, bob: StaffUser) -> None:
    case, _ = _open(kb_url)
    _claim(kb_url, case.id, alice)
    with pytest.raises(CaseError, match="belongs to Alice Smith"):
        _in(kb_url, lambda s: cases.hand_back(s, case.id, bob, T0))
    assert _case(kb_url, case.id).status == "assigned"


def test_notes_and_tags_on_someone_elses_case_are_refused_and_nothing_is_written(
    kb_url: str, alice: StaffUser, bob: StaffUser
) -> None:
    case, _ = _open(kb_url)
    with pytest.raises(CaseError, match="Claim NC-2026-000001 before"):
        _in(kb_url, lambda s: cases.add_note(s, case.id, bob, "Unclaimed: not mine to note."))
    _claim(kb_url, case.id, alice)
    with pytest.raises(CaseError, match="belongs to Alice Smith"):
        _in(kb_url, lambda s: cases.add_note(s, case.id, bob, "Bob was here."))
    with pytest.raises(CaseError, match="belongs to Alice Smith"):
        _in(kb_url, lambda s: cases.set_tags(s, case.id, bob, ["spam"], T0))
    assert [m.author for m in _in(kb_url, lambda s: cases.timeline(s, case.id))].count("note") == 0
    assert _case(kb_url, case.id).tags in (None, [])
    assert ("bob", "noted") not in _trail(kb_url, case.id) and ("bob", "tagged") not in _trail(kb_url, case.id)


def test_an_admin_may_note_and_tag_anyones_case(kb_url: str, alice: StaffUser, boss: StaffUser) -> None:
    case, _ = _open(kb_url)
    _claim(kb_url, case.id, alice)
    _in(kb_url, lambda s: cases.add_note(s, case.id, boss, "Checked by a supervisor."))
    _in(kb_url, lambda s: cases.set_tags(s, case.id, boss, ["reviewed"], T0))
    assert _case(kb_url, case.id).tags == ["reviewed"]


def test_every_change_is_audited_with_who_did_it(kb_url: str, alice: StaffUser, bob: StaffUser) -> None:
    case, _ = _open(kb_url)
    _claim(kb_url, case.id, alice)
    _reply(kb_url, case.id, alice)
    _in(kb_url, lambda s: cases.add_note(s, case.id, alice, "Checked the round sheet."))
    _in(kb_url, lambda s: cases.set_waiting(s, case.id, alice, T0))
    _in(kb_url, lambda s: cases.add_resident_message(s, s.get(Case, case.id), "Still nothing.", (), T0))
    _in(kb_url, lambda s: cases.assign(s, case.id, alice, bob, T0))
    _in(kb_url, lambda s: cases.set_tags(s, case.id, bob, ["Bins ", "repeat", "bins", ""], T0))
    _resolve(kb_url, case.id, bob, now=T0 + dt.timedelta(hours=1))
    _in(kb_url, lambda s: cases.record_satisfaction(s, CONV, 4, T0 + dt.timedelta(hours=2)))
    assert _trail(kb_url, case.id) == [
        ("bot", "opened"),
        ("alice", "claimed"),
        ("alice", "replied"),
        ("alice", "noted"),
        ("alice", "waiting"),
        ("resident", "replied"),
        ("alice", "assigned"),
        ("bob", "tagged"),
        ("bob", "resolved"),
        ("resident", "rated"),
    ]
    trail = _in(kb_url, lambda s: cases.audit_trail(s, case.id))
    assert trail[0].detail == {"reason": "asked", "priority": "normal"}
    assert trail[-3].detail == {"before": [], "after": ["bins", "repeat"]}
    assert trail[-2].detail == {"outcome": "answered"}
    assert trail[-1].detail == {"score": 4}
    assert _case(kb_url, case.id).tags == ["bins", "repeat"]


def test_a_refused_change_leaves_no_audit(kb_url: str, alice: StaffUser, bob: StaffUser) -> None:
    case, _ = _open(kb_url)
    _claim(kb_url, case.id, alice)
    for attempt in (
        lambda: _claim(kb_url, case.id, bob),
        lambda: _reply(kb_url, case.id, bob),
        lambda: _resolve(kb_url, case.id, bob),
    ):
        with pytest.raises(CaseError):
            attempt()
    assert _trail(kb_url, case.id) == [("bot", "opened"), ("alice", "claimed")]


# --- satisfaction -----------------------------------------------------------------------------------------------


def _resolved(url: str, who: StaffUser, at: dt.datetime = T0) -> Case:
    case, _ = _open(url, now=at)
    _claim(url, case.id, who, at)
    return _resolve(url, case.id, who, now=at)


def test_satisfaction_is_kept_once(kb_url: str, alice: StaffUser) -> None:
    case = _resolved(kb_url, alice)
    rated = _in(kb_url, lambda s: cases.record_satisfaction(s, CONV, 5, T0 + dt.timedelta(hours=1)))
    assert rated is not None and rated.id == case.id and rated.satisfaction == 5
    assert _in(kb_url, lambda s: cases.record_satisfaction(s, CONV, 1, T0 + dt.timedelta(hours=2))) is None
    assert _case(kb_url, case.id).satisfaction == 5


@pytest.mark.parametrize("score", [0, 6, -1, 45])
def test_satisfaction_must_be_one_to_five(kb_url: str, alice: StaffUser, score: int) -> None:
    case = _resolved(kb_url, alice)
    assert _in(kb_url, lambda s: cases.record_satisfaction(s, CONV, score, T0)) is None
    assert _case(kb_url, case.id).satisfaction is None
    assert _in(kb_url, lambda s: cases.record_satisfaction(s, CONV, 3, T0)).satisfaction == 3


def test_satisfaction_only_within_a_day_of_resolving(kb_url: str, alice: StaffUser) -> None:
    case = _resolved(kb_url, alice)
    too_late = T0 + cases.SATISFACTION_WINDOW + dt.timedelta(seconds=1)
    assert _in(kb_url, lambda s: cases.record_satisfaction(s, CONV, 4, too_late)) is None
    assert _case(kb_url, case.id).satisfaction is None
    just_in_time = T0 + cases.SATISFACTION_WINDOW
    assert _in(kb_url, lambda s: cases.record_satisfaction(s, CONV, 4, just_in_time)) is not None


def test_satisfaction_needs_a_resolved_case_that_asked(kb_url: str, alice: StaffUser) -> None:
    case, _ = _open(kb_url)
    assert _in(kb_url, lambda s: cases.record_satisfaction(s, CONV, 4, T0)) is None  # still open
    _claim(kb_url, case.id, alice)
    _resolve(kb_url, case.id, alice, ask_satisfaction=False)
    assert _in(kb_url, lambda s: cases.record_satisfaction(s, CONV, 4, T0)) is None
    assert _in(kb_url, lambda s: cases.record_satisfaction(s, "webchat:someone-else", 4, T0)) is None


# --- the bot's pause ----------------------------------------------------------------------------------------------


def test_open_case_pauses_the_bot_until_the_idle_limit(kb_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASE_IDLE_HOURS", "2")
    case, _ = _open(kb_url)
    assert _in(kb_url, lambda s: cases.paused_case(s, CONV, T0 + dt.timedelta(hours=1))).id == case.id
    assert _in(kb_url, lambda s: cases.paused_case(s, CONV, T0 + dt.timedelta(hours=2))).id == case.id
    idle = T0 + dt.timedelta(hours=2, seconds=1)
    assert _in(kb_url, lambda s: cases.paused_case(s, CONV, idle)) is None
    # ...though the case is still open and in the queue for staff.
    assert _case(kb_url, case.id).status == "new"
    assert [c.id for c in _in(kb_url, lambda s: cases.queue(s))] == [case.id]
    assert _in(kb_url, lambda s: cases.open_case_for(s, CONV)).id == case.id


def test_activity_keeps_the_pause_going(kb_url: str, alice: StaffUser, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASE_IDLE_HOURS", "2")
    case, _ = _open(kb_url)
    _claim(kb_url, case.id, alice, T0 + dt.timedelta(hours=1, minutes=30))
    assert _in(kb_url, lambda s: cases.paused_case(s, CONV, T0 + dt.timedelta(hours=3))) is not None
    _reply(kb_url, case.id, alice, now=T0 + dt.timedelta(hours=3))
    assert _in(kb_url, lambda s: cases.paused_case(s, CONV, T0 + dt.timedelta(hours=4, minutes=59))) is not None
    assert _in(kb_url, lambda s: cases.paused_case(s, CONV, T0 + dt.timedelta(hours=5, minutes=1))) is None


def test_default_idle_limit_is_three_days_and_zero_turns_it_off(kb_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CASE_IDLE_HOURS", raising=False)
    _open(kb_url)
    assert _in(kb_url, lambda s: cases.paused_case(s, CONV, T0 + dt.timedelta(hours=71))) is not None
    assert _in(kb_url, lambda s: cases.paused_case(s, CONV, T0 + dt.timedelta(hours=73))) is None
    monkeypatch.setenv("CASE_IDLE_HOURS", "0")
    assert _in(kb_url, lambda s: cases.paused_case(s, CONV, T0 + dt.timedelta(days=365))) is not None


def test_no_case_no_pause(kb_url: str) -> None:
    assert _in(kb_url, lambda s: cases.paused_case(s, CONV, T0)) is None


# --- the queue --------------------------------------------------------------------------------------------------


def test_queue_puts_urgent_first_then_the_soonest_due(
    kb_url: str, alice: StaffUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLA_URGENT_HOURS", "40")  # so the urgent case is due last, and still comes first
    early, _ = _open(kb_url, "webchat:early", now=T0)
    late, _ = _open(kb_url, "messenger:late", now=T0 + dt.timedelta(hours=2), channel="messenger", reason="complaint")
    urgent, _ = _open(kb_url, "webchat:urgent", now=T0 + dt.timedelta(hours=4), reason="crisis")
    gone, _ = _open(kb_url, "webchat:gone", now=T0 - dt.timedelta(hours=1))
    _claim(kb_url, gone.id, alice)
    _resolve(kb_url, gone.id, alice)
    assert late.sla_due_at > early.sla_due_at and urgent.sla_due_at > early.sla_due_at
    ids = lambda **kw: [c.id for c in _in(kb_url, lambda s: cases.queue(s, **kw))]  # noqa: E731
    assert ids() == [urgent.id, early.id, late.id]
    assert ids(channel="messenger") == [late.id]
    assert ids(reason="crisis") == [urgent.id]
    assert ids(status="resolved") == [gone.id]
    _claim(kb_url, early.id, alice)
    assert ids(assignee_id=alice.id) == [early.id]
    assert ids(unassigned=True) == [urgent.id, late.id]
    assert ids(status="assigned") == [early.id]
    assert ids(limit=1) == [urgent.id]


# --- what the web chat collects -----------------------------------------------------------------------------------


def test_staff_messages_for_a_polled_conversation(kb_url: str, alice: StaffUser) -> None:
    case, _ = _open(kb_url, transcript=TRANSCRIPT)
    _in(kb_url, lambda s: cases.add_bot_message(s, s.get(Case, case.id), "Your reference is NC-2026-000001.", T0))
    queued = _in(
        kb_url,
        lambda s: cases.add_bot_message(s, s.get(Case, case.id), "Your case is now closed.", T0, delivery="queued"),
    )
    _claim(kb_url, case.id, alice)
    _in(kb_url, lambda s: cases.add_note(s, case.id, alice, "Internal: resident was rude to the crew."))
    reply, _ = _reply(kb_url, case.id, alice, "The crew will come back tomorrow.")
    _in(kb_url, lambda s: cases.add_resident_message(s, s.get(Case, case.id), "thanks", (), T0))
    got = _in(kb_url, lambda s: cases.staff_messages_for(s, CONV))
    assert [(m.author, m.text) for m in got] == [
        ("bot", "Your case is now closed."),
        ("staff", "The crew will come back tomorrow."),
    ]
    assert [m.id for m in _in(kb_url, lambda s: cases.staff_messages_for(s, CONV, after_id=queued.id))] == [reply.id]
    assert _in(kb_url, lambda s: cases.staff_messages_for(s, "webchat:someone-else")) == []


def test_staff_messages_span_the_conversations_cases(kb_url: str, alice: StaffUser) -> None:
    first, _ = _open(kb_url)
    _claim(kb_url, first.id, alice)
    one, _ = _reply(kb_url, first.id, alice, "One.")
    _resolve(kb_url, first.id, alice)
    second, _ = _open(kb_url, now=T0 + dt.timedelta(hours=1))
    _claim(kb_url, second.id, alice)
    two, _ = _reply(kb_url, second.id, alice, "Two.")
    assert [m.id for m in _in(kb_url, lambda s: cases.staff_messages_for(s, CONV))] == [one.id, two.id]


# --- races --------------------------------------------------------------------------------------------------------


def _race(n: int, work: Callable[[int], Any]) -> tuple[list[Any], list[BaseException]]:
    """Run `work(i)` in n threads released together; returns (results, errors)."""
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        barrier.wait()
        try:
            value = work(i)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertions
            with lock:
                errors.append(exc)
        else:
            with lock:
                results.append(value)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return results, errors


def _claim_race(url: str, n: int) -> None:
    agents = [_staff(url, f"agent{i}", name=f"Agent {i}") for i in range(n)]
    case, _ = _open(url)
    get_engine(url)  # create the engine before the threads race for it
    won, lost = _race(n, lambda i: _claim(url, case.id, agents[i]).assignee_id)
    assert len(won) == 1, f"{len(won)} claims won: {lost}"
    assert len(lost) == n - 1
    owner = next(a for a in agents if a.id == won[0])
    assert all(
        isinstance(e, CaseError) and str(e) == f"{case.reference} was claimed by {owner.display_name}." for e in lost
    ), lost
    after = _case(url, case.id)
    assert (after.assignee_id, after.status, after.version) == (owner.id, "assigned", case.version + 1)
    assert [a for a in _trail(url, case.id) if a[1] == "claimed"] == [(owner.username, "claimed")]


def test_simultaneous_claims_have_one_winner_sqlite(kb_url: str) -> None:
    _claim_race(kb_url, 8)


def test_simultaneous_handovers_get_distinct_references_sqlite(kb_url: str) -> None:
    get_engine(kb_url)
    made, errors = _race(10, lambda i: _open(kb_url, f"webchat:r{i}")[0].reference)
    assert errors == []
    assert sorted(made) == [f"NC-2026-{n:06d}" for n in range(1, 11)]


@pytest.fixture
def pg_url(pg_schema_url: str) -> str:
    return pg_schema_url


@pytest.mark.postgres
def test_simultaneous_claims_have_one_winner_postgres(pg_url: str) -> None:
    _claim_race(pg_url, 8)


@pytest.mark.postgres
def test_simultaneous_handovers_get_distinct_consecutive_references_postgres(pg_url: str) -> None:
    get_engine(pg_url)
    made, errors = _race(20, lambda i: _open(pg_url, f"messenger:r{i}", channel="messenger")[0].reference)
    assert errors == []
    assert sorted(made) == [f"NC-2026-{n:06d}" for n in range(1, 21)]
    assert _in(pg_url, lambda s: s.get(ReferenceCounter, 2026)).last == 20
    more, _ = _open(pg_url, "messenger:late", channel="messenger")
    assert more.reference == "NC-2026-000021"


@pytest.mark.postgres
def test_case_life_on_postgres(pg_url: str) -> None:
    """The same state machine on the production database (JSON columns, CASE expressions, nonce index)."""
    alice = _staff(pg_url, "alice", name="Alice Smith")
    case, _ = _open(pg_url, transcript=TRANSCRIPT, reason="crisis")
    assert case.priority == "urgent"
    _claim(pg_url, case.id, alice)
    _in(pg_url, lambda s: cases.set_waiting(s, case.id, alice, T0))
    assert _claim(pg_url, case.id, alice).status == "waiting"
    first, _ = _reply(pg_url, case.id, alice, nonce="n1")
    again, created = _reply(pg_url, case.id, alice, nonce="n1")
    assert (again.id, created) == (first.id, False)
    _resolve(pg_url, case.id, alice)
    assert _in(pg_url, lambda s: cases.record_satisfaction(s, CONV, 5, T0)).satisfaction == 5
    assert [m.meta for m in _in(pg_url, lambda s: cases.timeline(s, case.id))][:3] == [t["meta"] for t in TRANSCRIPT]
    assert _trail(pg_url, case.id) == [
        ("bot", "opened"),
        ("alice", "claimed"),
        ("alice", "waiting"),
        ("alice", "replied"),
        ("alice", "resolved"),
        ("resident", "rated"),
    ]
