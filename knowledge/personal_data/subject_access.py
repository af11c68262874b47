"""A subject access request: everything held about one resident, as one JSON document.

The resident is found as for erasure (`knowledge.personal_data.subjects`). The document has their conversations (the
channel's record and the transcript from Rasa's tracker store as readable lines, what they attached as
references, each attempt to send them something), their cases with every message and change, the questions
the bot couldn't answer, and rows of any other table that names their conversations or cases. Staff notes
are included: the person answering the request decides what, if anything, is exempt.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any, Optional

from sqlalchemy import select

from knowledge.db import session_scope
from knowledge.models import PrivacyAudit
from knowledge.personal_data import tracker_events
from knowledge.personal_data.erasure import TRACKER_EVENTS, Report
from knowledge.personal_data.subjects import Identifier, find_subject, rows_of

# Tables given their own place in the document; rows of any other table go under "other_records".
_PER_CONVERSATION = ("attachments", "outbound_messages", "inbound_events")
_PLACED = {"conversations", "cases", "case_messages", "case_audit", "unanswered_questions", *_PER_CONVERSATION}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _plain(value: Any) -> Any:
    """Dates as ISO text (UTC); anything else JSON can't hold as text."""
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value)


def export(
    identifier: Identifier, kb_url: str, tracker_url: str, actor: str, now: Optional[dt.datetime] = None
) -> tuple[dict[str, Any], Report]:
    """The document for the resident named by `identifier`, and how many rows of each table it holds.
    Leaves an audit line (kind of identifier and counts, never the identifier)."""
    now = now or _utcnow()
    with session_scope(kb_url) as session:
        with tracker_events.open_store(
            tracker_url, commit=False, share=session.connection(), share_url=kb_url
        ) as tracker:
            subject = find_subject(session, tracker, identifier)
            tables: dict[str, list[dict[str, Any]]] = {}
            for table, where in rows_of(subject):
                rows = [
                    dict(r) for r in session.execute(select(table).where(where).order_by(*table.primary_key)).mappings()
                ]
                if rows:
                    tables[table.name] = rows
            transcripts = (
                {c: tracker_events.transcript(tracker, c) for c in sorted(subject.conversation_ids)}
                if tracker is not None
                else {}
            )
        counts = {name: len(rows) for name, rows in tables.items()}
        if any(transcripts.values()):
            counts[TRACKER_EVENTS] = sum(len(lines) for lines in transcripts.values())
        session.add(
            PrivacyAudit(
                action="export",
                actor=actor[:100],
                identifier_kind=identifier.kind,
                subject_hash=identifier.audit_hash(),
                counts=counts,
                at=now,
            )
        )
    return _document(identifier, now, tables, transcripts), Report(identifier.kind, counts)


def _document(
    identifier: Identifier, now: dt.datetime, tables: dict[str, list[dict[str, Any]]], transcripts: dict[str, list[str]]
) -> dict[str, Any]:
    records = {name: list(rows) for name, rows in tables.items()}
    details = {row["id"]: row for row in records.pop("conversations", [])}
    conversations = []
    for cid in sorted(
        set(details)
        | {c for c, lines in transcripts.items() if lines}
        | {r["conversation_id"] for name in _PER_CONVERSATION for r in records.get(name, [])}
    ):
        entry: dict[str, Any] = {"id": cid, "details": details.get(cid), "transcript": transcripts.get(cid, [])}
        for name in _PER_CONVERSATION:
            entry[name] = [r for r in records.get(name, []) if r["conversation_id"] == cid]
        conversations.append(entry)
    messages, history = records.pop("case_messages", []), records.pop("case_audit", [])
    cases = [
        {
            **case,
            "messages": [m for m in messages if m["case_id"] == case["id"]],
            "history": [h for h in history if h["case_id"] == case["id"]],
        }
        for case in records.pop("cases", [])
    ]
    return {
        "about": "Everything the council's chatbot holds about one resident, for a subject access request. "
        "Times are UTC. Transcripts come from the chatbot's conversation history; attachments are "
        "references to files held by the messaging platform, not copies.",
        "generated_at": now.isoformat(),
        "identifier_kind": identifier.kind,
        "conversations": conversations,
        "cases": cases,
        "unanswered_questions": records.pop("unanswered_questions", []),
        "other_records": {name: rows for name, rows in records.items() if name not in _PLACED},
    }


def write(document: dict[str, Any], path: Path) -> None:
    """Write the document to `path`, readable by its owner only. Never overwrites: raises FileExistsError
    if something is already there, so one resident's export can't replace another's."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(document, f, indent=2, ensure_ascii=False, default=_plain)
        f.write("\n")
