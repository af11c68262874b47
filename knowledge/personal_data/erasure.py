"""Erasing one resident: everything the knowledge base and Rasa's tracker store hold about them.

`erase` finds the resident (`knowledge.personal_data.subjects`), deletes their rows from every store and leaves one line
in `privacy_audit` saying who erased what kind of identifier, when, and how many rows went from each table,
never the identifier itself. A dry run counts the same rows and changes nothing, the audit included.

Each store changes in one transaction. The tracker store commits first and the knowledge base last: if
the knowledge base then failed, it still holds the cases and messages the lookup starts from, so running
the same command again finishes the job. Running it again after success finds nothing and deletes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Optional

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from knowledge.db import session_scope
from knowledge.delivery import uploads
from knowledge.models import PrivacyAudit
from knowledge.personal_data import report_data, tracker_events
from knowledge.personal_data.subjects import Identifier, Subject, find_subject, rows_of

TRACKER_EVENTS = "tracker store: events"
PHOTO_FILES = "uploaded photo files"  # web chat photos kept on disk (knowledge/delivery/uploads.py)


@dataclass
class Report:
    """What an erasure or export touched: `counts` of rows per table, only tables with some."""

    identifier_kind: str
    counts: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _kb_rows(session: Session, subject: Subject, remove: bool) -> dict[str, int]:
    # Reports (issue 13) stay, cleared of the resident; first, while the rows leading to their
    # notifications and photos are still there.
    counts = report_data.forget(session, subject.conversation_ids, remove)
    for table, where in rows_of(subject):
        if table is report_data.REPORTS_TABLE:
            continue
        if remove:
            n = session.execute(delete(table).where(where)).rowcount or 0
        else:
            n = session.execute(select(func.count()).select_from(table).where(where)).scalar_one()
        if n:
            counts[table.name] = n
    return counts


def erase(
    identifier: Identifier,
    kb_url: str,
    tracker_url: str,
    actor: str,
    dry_run: bool = False,
    now: Optional[dt.datetime] = None,
) -> Report:
    """Erase (or with `dry_run` only count) everything about the resident named by `identifier`, in the
    knowledge base at `kb_url` and Rasa's tracker store at `tracker_url`. `actor` goes on the audit line."""
    with (
        session_scope(kb_url) as session,
        tracker_events.open_store(
            tracker_url, commit=not dry_run, share=session.connection(), share_url=kb_url
        ) as tracker,
    ):
        subject = find_subject(session, tracker, identifier)
        # Photos the resident uploaded are files named by their attachment rows: read the names before the
        # rows go.
        files = uploads.stored_files(session, subject.conversation_ids) if subject.conversation_ids else []
        counts = _kb_rows(session, subject, remove=not dry_run)
        if files:
            # Deleted before the knowledge base commits: if the commit then failed, the rows would still
            # name the (missing) files and a second run finishes; never the other way round, a file left
            # on disk that no row leads to.
            counts[PHOTO_FILES] = len(files) if dry_run else uploads.delete_files(files)
        if tracker is not None and subject.conversation_ids:
            ids = subject.conversation_ids
            n = tracker_events.count(tracker, ids) if dry_run else tracker_events.delete_for(tracker, ids)
            if n:
                counts[TRACKER_EVENTS] = n
        report = Report(identifier.kind, counts, dry_run)
        if dry_run:
            session.rollback()
        else:
            session.add(
                PrivacyAudit(
                    action="erase",
                    actor=actor[:100],
                    identifier_kind=identifier.kind,
                    subject_hash=identifier.audit_hash(),
                    counts=counts,
                    at=now or _utcnow(),
                )
            )
            session.flush()  # an error here rolls back the tracker store too
    return report
