"""Reports still being asked about: one draft per conversation, kept so a resident who drifts off can pick
up where they left off, for REPORT_DRAFT_DAYS.

`answers` is what the dialogue has gathered so far. Keys: street, house_number, postcode, ward, lat, lon,
address (the one line for the back office), detail (the answer to the category's question), description
(the resident's own words), photo_ids (attachment ids), joined (the id of an existing report the resident
chose instead of filing, if any). Values are JSON: strings, numbers, a list of ints for photo_ids.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge.models import ReportDraft
from knowledge.settings import settings


def _limit() -> dt.timedelta:
    return dt.timedelta(days=settings().report_draft_days)


def load(session: Session, conversation_id: str, now: dt.datetime) -> Optional[ReportDraft]:
    """The conversation's draft still to be finished, or None: none started, already filed, or untouched for
    longer than REPORT_DRAFT_DAYS (too old to trust: the pothole may be mended, the resident moved on)."""
    draft = session.execute(
        select(ReportDraft).where(ReportDraft.conversation_id == conversation_id)
    ).scalar_one_or_none()
    if draft is None or draft.filed_report_id is not None:
        return None
    if draft.updated_at < now - _limit():
        return None
    return draft


def save(
    session: Session,
    conversation_id: str,
    channel: str,
    category: str,
    answers: dict[str, Any],
    now: dt.datetime,
) -> ReportDraft:
    """Write the conversation's draft: `answers` replaces what was there. A filed or stale draft is replaced
    by a fresh one (a new report, new start), so an old "yes" can never file what is being asked now."""
    draft = session.get(ReportDraft, conversation_id)
    fresh = draft is None or draft.filed_report_id is not None or draft.updated_at < now - _limit()
    if draft is None:
        draft = ReportDraft(conversation_id=conversation_id)
        session.add(draft)
    if fresh:
        draft.started_at = now
        draft.filed_report_id = None
    draft.channel = channel
    draft.category = category
    draft.answers = dict(answers)  # a new object: SQLAlchemy sees a JSON column change only on assignment
    draft.updated_at = now
    session.flush()
    return draft


def discard(session: Session, conversation_id: str) -> None:
    """Forget the conversation's draft (the resident said no at the summary, or started something else).
    A filed draft is kept: it is what makes a repeated "yes" answer with the same report."""
    draft = session.get(ReportDraft, conversation_id)
    if draft is not None and draft.filed_report_id is None:
        session.delete(draft)
        session.flush()
