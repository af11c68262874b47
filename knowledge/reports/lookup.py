"""Finding a report for a resident who asks about it ("what's happening with NC-2026-000123?").

Only residents attached to the report (`report_residents`: the one who filed it and those who joined it)
may read it; for anyone else the answer is the same as for a reference that doesn't exist, so references
can't be tried one after another to learn where other people live.
"""

from __future__ import annotations

import re
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge.models import Report, ReportResident

_REFERENCE = re.compile(r"NC\s*-?\s*(\d{4})\s*-?\s*(\d{1,6})", re.IGNORECASE)


def normalise(reference: str) -> Optional[str]:
    """NC-2026-000123 from how a resident may type it ("nc 2026 123", "NC-2026-000123."), or None."""
    match = _REFERENCE.search(reference or "")
    if match is None:
        return None
    return f"NC-{match.group(1)}-{int(match.group(2)):06d}"


def for_resident(session: Session, reference: str, conversation_id: str) -> Optional[Report]:
    """The report with `reference` if the resident of `conversation_id` is attached to it, else None."""
    wanted = normalise(reference)
    if wanted is None:
        return None
    return session.execute(
        select(Report)
        .join(ReportResident, ReportResident.report_id == Report.id)
        .where(Report.reference == wanted, ReportResident.conversation_id == conversation_id)
    ).scalar_one_or_none()


def for_conversation(session: Session, conversation_id: str) -> list[Report]:
    """Every report the resident of `conversation_id` is attached to, newest first."""
    return list(
        session.execute(
            select(Report)
            .join(ReportResident, ReportResident.report_id == Report.id)
            .where(ReportResident.conversation_id == conversation_id)
            .order_by(Report.created_at.desc(), Report.id.desc())
        ).scalars()
    )
