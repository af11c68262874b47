"""Retention on a moved clock, on SQLite and PostgreSQL: each kind of record goes when its period is over,
counted from the right moment, and an open case keeps everything of its conversation."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from knowledge.casework import cases
from knowledge.catalogue import unanswered
from knowledge.db import session_scope
from knowledge.models import (
    Attachment,
    Case,
    CaseAudit,
    CaseMessage,
    CaseRefusal,
    Conversation,
    OutboundMessage,
    PrivacyAudit,
    StaffUser,
    UnansweredQuestion,
)
from knowledge.personal_data.erasure import TRACKER_EVENTS
from knowledge.personal_data.retention import Periods, apply
from tests.privacy_helpers import (
    ANN_MESSENGER,
    ANN_WHATSAPP,
    BOB_MESSENGER,
    START,
    everything,
    populate,
    save_conversation,
    stores,
)

__all__ = ["stores"]

DEFAULTS = Periods(transcripts=dt.timedelta(days=183), cases=dt.timedelta(days=1096), unanswered=dt.timedelta(days=90))


def days(n: float) -> dt.datetime:
    return START + dt.timedelta(days=n)


def resolve(kb_url: str, reference: str, at: dt.datetime) -> None:
    with session_scope(kb_url) as session:
        staff = session.execute(select(StaffUser)).scalars().first()
        case = cases.by_reference(session, reference)
        cases.resolve(session, case.id, staff, "answered", now=at)
        case.last_activity_at = at


def count(kb_url: str, model, *where) -> int:  # noqa: ANN001
    with session_scope(kb_url) as session:
        return session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def tracker_has(stores, sender: str) -> bool:  # noqa: ANN001
    return sender.split(":")[1] in everything(stores.tracker_url)


def test_each_kind_of_record_goes_when_its_period_ends(stores) -> None:
    refs = populate(stores)
    resolve(stores.kb_url, refs["ann"], days(1))  # Ann's case resolved; Bob's stays open
    with session_scope(stores.kb_url) as session:  # a question asked later, still within 90 days at day 100
        unanswered.record(session, "what time does the tip open", "fallback", now=days(20))

    # Day 89: nothing is due yet.
    assert apply(stores.kb_url, stores.tracker_url, DEFAULTS, now=days(89)).counts == {}

    # Day 100: unanswered questions asked more than 90 days ago go, the later one stays.
    report = apply(stores.kb_url, stores.tracker_url, DEFAULTS, now=days(100))
    assert report.counts == {"unanswered_questions": 3}
    assert count(stores.kb_url, UnansweredQuestion) == 1

    # Day 190: six months after the last activity, Ann's transcripts go in both stores; her case stays, with
    # its history but without what was said. Bob's case is open: nothing of his goes, however old.
    report = apply(stores.kb_url, stores.tracker_url, DEFAULTS, now=days(190))
    assert report.counts[TRACKER_EVENTS] > 0 and report.counts["case_messages"] == 4
    assert not tracker_has(stores, ANN_MESSENGER) and not tracker_has(stores, ANN_WHATSAPP)
    assert tracker_has(stores, BOB_MESSENGER)
    for model in (Conversation, Attachment, OutboundMessage):
        column = model.id if model is Conversation else model.conversation_id
        assert count(stores.kb_url, model, column.in_([ANN_MESSENGER, ANN_WHATSAPP])) == 0
        assert count(stores.kb_url, model, column == BOB_MESSENGER) == 1
    ann_case = select(Case.id).where(Case.reference == refs["ann"]).scalar_subquery()
    assert count(stores.kb_url, Case, Case.reference == refs["ann"]) == 1
    assert count(stores.kb_url, CaseMessage, CaseMessage.case_id == ann_case) == 0
    assert count(stores.kb_url, CaseAudit, CaseAudit.case_id == ann_case) > 0
    assert count(stores.kb_url, CaseMessage, CaseMessage.case_id != ann_case) == 3  # Bob's two and a note

    # Three years after it was resolved, Ann's case goes; Bob's open case never does.
    assert apply(stores.kb_url, stores.tracker_url, DEFAULTS, now=days(1096)).counts == {}
    report = apply(stores.kb_url, stores.tracker_url, DEFAULTS, now=days(1098))
    assert report.counts == {"cases": 1, "case_audit": 4}
    assert count(stores.kb_url, Case) == 1 and count(stores.kb_url, Case, Case.status != "resolved") == 1
    assert apply(stores.kb_url, stores.tracker_url, DEFAULTS, now=days(5000)).counts.get("cases") is None

    with session_scope(stores.kb_url) as session:
        audit = session.execute(select(PrivacyAudit.action, PrivacyAudit.actor)).all()
    assert audit == [("retention", "retention job")] * 3  # one line per run that deleted something


def test_activity_in_either_store_keeps_the_conversation(stores) -> None:
    refs = populate(stores)
    resolve(stores.kb_url, refs["ann"], days(1))
    resolve(stores.kb_url, refs["bob"], days(1))
    # Ann wrote again on WhatsApp on day 100: only the tracker store knows.
    save_conversation(stores.tracker_url, ANN_WHATSAPP, [("user", "hello again")], days(100))
    apply(stores.kb_url, stores.tracker_url, DEFAULTS, now=days(190))
    assert tracker_has(stores, ANN_WHATSAPP) and count(stores.kb_url, Conversation, Conversation.id == ANN_WHATSAPP)
    assert not tracker_has(stores, ANN_MESSENGER) and not tracker_has(stores, BOB_MESSENGER)
    apply(stores.kb_url, stores.tracker_url, DEFAULTS, now=days(290))
    assert not tracker_has(stores, ANN_WHATSAPP)


def test_dry_run_changes_nothing_and_zero_keeps_for_ever(stores, monkeypatch: pytest.MonkeyPatch) -> None:
    refs = populate(stores)
    resolve(stores.kb_url, refs["ann"], days(1))
    before = everything(stores.kb_url) + everything(stores.tracker_url)
    dry = apply(stores.kb_url, stores.tracker_url, DEFAULTS, now=days(2000), dry_run=True)
    assert dry.counts["cases"] == 1 and dry.counts[TRACKER_EVENTS] > 0
    assert everything(stores.kb_url) + everything(stores.tracker_url) == before
    monkeypatch.setenv("RETENTION_TRANSCRIPT_DAYS", "0")
    monkeypatch.setenv("RETENTION_CASE_DAYS", "0")
    monkeypatch.setenv("RETENTION_UNANSWERED_DAYS", "0")
    assert apply(stores.kb_url, stores.tracker_url, Periods.from_env(), now=days(5000)).counts == {}
    monkeypatch.setenv("RETENTION_CASE_DAYS", "three years")
    with pytest.raises(ValueError, match="RETENTION_CASE_DAYS"):
        Periods.from_env()


def test_defaults_follow_the_council_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RETENTION_TRANSCRIPT_DAYS", "RETENTION_CASE_DAYS", "RETENTION_UNANSWERED_DAYS"):
        monkeypatch.delenv(name, raising=False)
    assert Periods.from_env() == DEFAULTS


def test_refused_handovers_go_after_the_unanswered_questions_period(stores, monkeypatch) -> None:  # noqa: ANN001
    """The case caps' record of each handover they turned away names the conversation (by pseudonym):
    it goes 90 days after the refusal, like the unanswered questions, and the audit line counts it."""
    monkeypatch.setenv("CASES_PER_SENDER_PER_DAY", "1")
    populate(stores)
    with session_scope(stores.kb_url) as session:
        assert cases.check_caps(session, ANN_MESSENGER, "messenger", "asked", now=days(0.1)) is not None
        assert cases.check_caps(session, BOB_MESSENGER, "messenger", "asked", now=days(0.5)) is not None
    assert "case_refusals" not in apply(stores.kb_url, stores.tracker_url, DEFAULTS, now=days(90.05)).counts
    report = apply(stores.kb_url, stores.tracker_url, DEFAULTS, now=days(90.3))
    assert report.counts["case_refusals"] == 1 and count(stores.kb_url, CaseRefusal) == 1
    with session_scope(stores.kb_url) as session:
        audit = session.execute(select(PrivacyAudit).order_by(PrivacyAudit.id.desc())).scalars().first()
        assert audit.action == "retention" and audit.counts["case_refusals"] == 1
    assert apply(stores.kb_url, stores.tracker_url, DEFAULTS, now=days(91)).counts.get("case_refusals") == 1
    assert count(stores.kb_url, CaseRefusal) == 0
