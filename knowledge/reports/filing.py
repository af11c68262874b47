"""Filing a conversation's draft as a report: a reference the resident can quote, exactly once.

"Yes" can arrive twice (a double tap, a platform's retried delivery, two replicas answering the same
resident). The draft row decides: the report is filed by the transaction whose conditional UPDATE sets
`report_drafts.filed_report_id` (only while it is still empty); any other gets the report that won. The
winner's report, resident, photos and first status change are written in that same transaction, so a crash
leaves either all of it or none. Sending to the back office happens later (sending.py): the reference never
waits for it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Optional

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from knowledge.casework.cases import next_reference
from knowledge.models import Attachment, Report, ReportDraft, ReportPhoto, ReportResident, ReportUpdate
from knowledge.reports import categories
from knowledge.settings import settings


class FilingError(Exception):
    """The draft can't be filed; the message says what is missing, in words fit for a log or the console."""


class NoDraft(FilingError):
    """The conversation has no report being asked about (never started, or discarded)."""


class IncompleteDraft(FilingError):
    """The draft lacks what a report needs (a known category and a place): nothing is filed."""


@dataclass(frozen=True)
class Filed:
    """The conversation's report. `new` is True for the call that filed it, False when it had already been
    filed (a repeated "yes"): the resident gets the same reference either way."""

    report: Report
    new: bool


def service_code(category: str) -> str:
    """The Open311 service code for `category`: from OPEN311_SERVICE_CODES ("pothole=PH,street_light=SL"),
    else the category key itself."""
    for pair in settings().open311_service_codes.split(","):
        key, _, code = pair.partition("=")
        if key.strip() == category and code.strip():
            return code.strip()
    return category


def _number(value: Any) -> Optional[float]:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any, limit: int) -> Optional[str]:
    text = str(value).strip() if value not in (None, "") else ""
    return text[:limit] or None


def _has_place(answers: dict[str, Any]) -> bool:
    """A place the back office can find: a point, or a street or postcode."""
    point = _number(answers.get("lat")) is not None and _number(answers.get("lon")) is not None
    return point or bool(_text(answers.get("street"), 120) or _text(answers.get("postcode"), 10))


def check(draft: ReportDraft) -> None:
    """Raise IncompleteDraft unless `draft` has a known category and a place."""
    if categories.get(draft.category) is None:
        raise IncompleteDraft("The report has no category we know.")
    if not _has_place(draft.answers or {}):
        raise IncompleteDraft("The report has no place: a pin, a street or a postcode is needed.")


def file_report(session: Session, conversation_id: str, now: dt.datetime) -> Filed:
    """File the conversation's draft, once. Raises NoDraft (nothing being asked about) or IncompleteDraft
    (no category or place); returns Filed(report, new). The caller commits."""
    draft = session.get(ReportDraft, conversation_id)
    if draft is None:
        raise NoDraft("There is no report being asked about in this conversation.")
    if draft.filed_report_id is not None:
        return Filed(_report(session, draft.filed_report_id), new=False)
    check(draft)

    report = _new_report(session, draft, now)
    # The decision: only one transaction can move filed_report_id from empty to its report. A loser's UPDATE
    # waits for the winner's commit (row lock in PostgreSQL, write lock in SQLite) and then matches nothing.
    won = session.execute(
        update(ReportDraft)
        .where(ReportDraft.conversation_id == conversation_id, ReportDraft.filed_report_id.is_(None))
        .values(filed_report_id=report.id, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        # Someone filed it first: take our report back (never committed, so nobody saw it; its reference
        # number is skipped, which is harmless) and answer with theirs.
        session.execute(delete(Report).where(Report.id == report.id).execution_options(synchronize_session=False))
        session.expunge(report)
        session.expire(draft)
        filed_id = session.execute(
            select(ReportDraft.filed_report_id).where(ReportDraft.conversation_id == conversation_id)
        ).scalar_one_or_none()
        if filed_id is None:  # discarded meanwhile: nothing to answer with
            raise NoDraft("The report was discarded while it was being filed.")
        return Filed(_report(session, filed_id), new=False)

    session.add(
        ReportResident(
            report_id=report.id, conversation_id=conversation_id, channel=draft.channel, how="filed", joined_at=now
        )
    )
    session.add(ReportUpdate(report_id=report.id, status="open", source="bot", at=now))
    for attachment_id in _photo_ids(session, conversation_id, draft.answers or {}):
        session.add(ReportPhoto(report_id=report.id, attachment_id=attachment_id))
    session.expire(draft)
    session.flush()
    return Filed(report, new=True)


def _report(session: Session, report_id: int) -> Report:
    return session.execute(select(Report).where(Report.id == report_id)).scalar_one()


def _new_report(session: Session, draft: ReportDraft, now: dt.datetime) -> Report:
    answers: dict[str, Any] = draft.answers or {}
    category = categories.BY_KEY[draft.category]
    detail = _text(answers.get("detail"), 300)
    report = Report(
        reference=next_reference(session, now),
        category=draft.category,
        status="open",
        conversation_id=draft.conversation_id,
        channel=draft.channel,
        street=_text(answers.get("street"), 120),
        house_number=_text(answers.get("house_number"), 20),
        postcode=_text(answers.get("postcode"), 10),
        ward=_text(answers.get("ward"), 60),
        address=_text(answers.get("address"), 300),
        latitude=_number(answers.get("lat")),
        longitude=_number(answers.get("lon")),
        description=_text(answers.get("description"), 4000),
        details={category.detail_key: detail} if detail else {},
        created_at=now,
        updated_at=now,
        status_changed_at=now,
        open311_service_code=service_code(draft.category),
        # Without a back office to send to, the report waits for staff in the console's queue.
        send_state="queued" if settings().open311_endpoint else "held",
        send_attempts=0,
        next_attempt_at=now if settings().open311_endpoint else None,
    )
    session.add(report)
    session.flush()
    return report


def _photo_ids(session: Session, conversation_id: str, answers: dict[str, Any]) -> list[int]:
    """The draft's photos that really are this conversation's images (an id from elsewhere is ignored)."""
    wanted: list[int] = []
    for raw in answers.get("photo_ids") or []:
        try:
            wanted.append(int(raw))
        except (TypeError, ValueError):
            continue
    if not wanted:
        return []
    found = session.execute(
        select(Attachment.id).where(
            Attachment.id.in_(wanted), Attachment.conversation_id == conversation_id, Attachment.kind == "image"
        )
    ).scalars()
    return sorted(set(found))
