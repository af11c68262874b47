"""Retention: residents' data is deleted when the council's schedule says it is no longer needed.

Three periods (`Periods`, from the RETENTION_* settings; defaults from a typical council schedule):

- transcripts, 6 months after the conversation's last activity: Rasa's tracker events, the conversation
  record (platform ids), attachments, send attempts, delivery records and any other row naming the
  conversation; and the messages of a resolved case 6 months after the case's last activity. A
  conversation with an open case is never expired, whatever its age.
- cases, 3 years after they were resolved: the case itself, its history and anything else about it.
  Open cases are never expired.
- unanswered questions (what the bot couldn't match), 90 days after they were asked; the record of each
  handover the case caps turned away (`case_refusals`: a pseudonym of the conversation, the channel and
  why) goes after the same period, counted from the refusal. Both are kept only to spot patterns.

A conversation's last activity is the latest time anything about it was recorded, in either store. `apply`
runs daily in the console process and on demand (`councilbot privacy retention`); a run with something to
delete leaves one line in `privacy_audit` with the counts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Optional

from sqlalchemy import DateTime, Table, delete, func, select
from sqlalchemy.orm import Session

from knowledge.db import session_scope
from knowledge.delivery import uploads
from knowledge.models import Base, Case, CaseAudit, CaseRefusal, Conversation, PrivacyAudit, UnansweredQuestion
from knowledge.personal_data import report_data, tracker_events
from knowledge.personal_data.erasure import PHOTO_FILES, TRACKER_EVENTS, Report
from knowledge.settings import retention_days

ACTOR = "retention job"
RESOLVED = "resolved"


@dataclass(frozen=True)
class Periods:
    """How long each kind of record is kept; None keeps it for ever."""

    transcripts: Optional[dt.timedelta]
    cases: Optional[dt.timedelta]
    unanswered: Optional[dt.timedelta]

    @classmethod
    def from_env(cls) -> Periods:
        def days(name: str) -> Optional[dt.timedelta]:
            n = retention_days(name)
            return dt.timedelta(days=n) if n else None

        return cls(days("RETENTION_TRANSCRIPT_DAYS"), days("RETENTION_CASE_DAYS"), days("RETENTION_UNANSWERED_DAYS"))


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _conversation_tables() -> list[Table]:
    """Knowledge-base tables whose rows belong to a conversation and go with its transcript: any with a
    `conversation_id` column except cases, which keep their own (longer) period, and reports, which stay
    (a pothole isn't personal: `report_data.forget` clears the resident from them)."""
    return [
        t
        for t in reversed(Base.metadata.sorted_tables)
        if "conversation_id" in t.c and t is not Case.__table__ and t is not report_data.REPORTS_TABLE
    ]


def _case_tables() -> list[Table]:
    """Tables whose rows belong to a case (its messages, history and anything added later)."""
    return [t for t in reversed(Base.metadata.sorted_tables) if "case_id" in t.c]


def _last_activity(session: Session, tracker_last: dict[str, dt.datetime]) -> dict[str, dt.datetime]:
    """Each conversation's latest recorded time: the latest of every date column of every row naming it."""
    latest = dict(tracker_last)

    def note(conversation_id: str, when: Optional[dt.datetime]) -> None:
        if when is not None and (conversation_id not in latest or when > latest[conversation_id]):
            latest[conversation_id] = when

    for table in [*_conversation_tables(), Case.__table__, Conversation.__table__]:
        key = table.c.id if table is Conversation.__table__ else table.c.conversation_id
        for column in table.c:
            if isinstance(column.type, DateTime) and column.name != "sla_due_at":  # a deadline, not activity
                for cid, when in session.execute(select(key, func.max(column)).group_by(key)):
                    note(cid, when)
    return latest


def _count_or_delete(session: Session, table: Table, where, remove: bool) -> int:  # noqa: ANN001
    if remove:
        return session.execute(delete(table).where(where)).rowcount or 0
    return session.execute(select(func.count()).select_from(table).where(where)).scalar_one()


def _in(column, values: list) -> list:  # noqa: ANN001 - conditions, sliced: databases cap parameters
    return [column.in_(values[i : i + 500]) for i in range(0, len(values), 500)]


def apply(
    kb_url: str, tracker_url: str, periods: Periods, now: Optional[dt.datetime] = None, dry_run: bool = False
) -> Report:
    """Delete (or with `dry_run` only count) every record past its period, in the knowledge base at
    `kb_url` and Rasa's tracker store at `tracker_url`. Returns the rows per table."""
    now = now or _utcnow()
    counts: dict[str, int] = {}

    def add(name: str, n: int) -> None:
        if n:
            counts[name] = counts.get(name, 0) + n

    with (
        session_scope(kb_url) as session,
        tracker_events.open_store(
            tracker_url, commit=not dry_run, share=session.connection(), share_url=kb_url
        ) as tracker,
    ):
        open_cases = set(session.execute(select(Case.conversation_id).where(Case.status != RESOLVED)).scalars())
        old_cases = (
            sorted(
                session.execute(
                    select(Case.id).where(Case.status == RESOLVED, Case.resolved_at < now - periods.cases)
                ).scalars()
            )
            if periods.cases is not None
            else []
        )
        if periods.transcripts is not None:
            cutoff = now - periods.transcripts
            tracker_last = tracker_events.last_activity(tracker) if tracker is not None else {}
            expired = sorted(
                cid
                for cid, when in _last_activity(session, tracker_last).items()
                if when < cutoff and cid not in open_cases
            )
            files = uploads.stored_files(session, expired)  # named by the attachment rows about to go
            for name, n in report_data.forget(session, expired, not dry_run).items():
                add(name, n)
            for table in _conversation_tables():
                for where in _in(table.c.conversation_id, expired):
                    add(table.name, _count_or_delete(session, table, where, not dry_run))
            for where in _in(Conversation.id, expired):
                add("conversations", _count_or_delete(session, Conversation.__table__, where, not dry_run))
            add(PHOTO_FILES, len(files) if dry_run else uploads.delete_files(files))
            if tracker is not None and expired:
                add(
                    TRACKER_EVENTS,
                    tracker_events.count(tracker, expired) if dry_run else tracker_events.delete_for(tracker, expired),
                )
            quiet_cases = sorted(
                set(
                    session.execute(
                        select(Case.id).where(
                            Case.status == RESOLVED, Case.last_activity_at < cutoff, Case.resolved_at < cutoff
                        )
                    ).scalars()
                )
                - set(old_cases)
            )
            # The case's record (its history) stays for the cases period; only what was said goes now.
            for table in _case_tables():
                if table is not CaseAudit.__table__:
                    for where in _in(table.c.case_id, quiet_cases):
                        add(table.name, _count_or_delete(session, table, where, not dry_run))
        for table in [*_case_tables(), Case.__table__]:
            key = table.c.id if table is Case.__table__ else table.c.case_id
            for where in _in(key, old_cases):
                add(table.name, _count_or_delete(session, table, where, not dry_run))
        if periods.unanswered is not None:
            add(
                "unanswered_questions",
                _count_or_delete(
                    session,
                    UnansweredQuestion.__table__,
                    UnansweredQuestion.created_at < now - periods.unanswered,
                    not dry_run,
                ),
            )
            add(
                "case_refusals",
                _count_or_delete(
                    session, CaseRefusal.__table__, CaseRefusal.at < now - periods.unanswered, not dry_run
                ),
            )
        if not dry_run:
            # Half-written photo files a crash left behind go too.
            add(PHOTO_FILES, uploads.sweep_partial())
        if dry_run:
            session.rollback()
        elif counts:
            session.add(PrivacyAudit(action="retention", actor=ACTOR, counts=counts, at=now))
            session.flush()
    return Report("retention", counts, dry_run)
