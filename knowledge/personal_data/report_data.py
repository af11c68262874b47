"""Residents' data in reports (issue 13), for erasure and retention.

A report is about a place, not a person: a pothole stays reported when the resident who reported it is
erased or their conversation expires, because the council still has to mend it and other residents may be
waiting to hear. What is the resident's goes: their place on the report (`report_residents`), the
notifications planned for them, their drafts (by `conversation_id`, with every such table), the link from
the report to their conversation (`reports.conversation_id` becomes ERASED), and their photos. Their own
words (`description`), the house number and the one-line address holding it are cleared too unless
another resident is still on the report (then the report is what those residents are waiting on).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.orm import Session

from knowledge.models import Attachment, Report, ReportNotification, ReportPhoto, ReportResident

# What `reports.conversation_id` (not nullable) says once the resident who filed it is gone.
ERASED = "erased"
REPORTS_TABLE = Report.__table__


def _slices(values: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(values), 500):  # databases cap the parameters of one statement
        yield values[i : i + 500]


def forget(session: Session, conversation_ids: Iterable[str], remove: bool) -> dict[str, int]:
    """Take the residents of `conversation_ids` off their reports (or with `remove` False, only count what
    would change). Run it before the rows naming those conversations are deleted: it finds the resident's
    notifications and photos through them. Returns rows per table (reports: rows kept but cleared)."""
    counts: dict[str, int] = {}

    def add(name: str, n: int) -> None:
        if n:
            counts[name] = counts.get(name, 0) + n

    ids = sorted(set(conversation_ids))
    for part in _slices(ids):
        residents = select(ReportResident.id).where(ReportResident.conversation_id.in_(part))
        photos = select(Attachment.id).where(Attachment.conversation_id.in_(part))
        add(
            "report_notifications",
            _count_or_delete(session, ReportNotification, ReportNotification.resident_id.in_(residents), remove),
        )
        add("report_photos", _count_or_delete(session, ReportPhoto, ReportPhoto.attachment_id.in_(photos), remove))
        filed = session.execute(select(Report.id).where(Report.conversation_id.in_(part))).scalars().all()
        for report_id in filed:
            others = exists().where(ReportResident.report_id == report_id, ReportResident.conversation_id.not_in(ids))
            alone = not session.execute(select(others)).scalar()
            if alone:
                add("report_photos", _count_or_delete(session, ReportPhoto, ReportPhoto.report_id == report_id, remove))
            if remove:
                values: dict[str, object] = {"conversation_id": ERASED}
                if alone:
                    report = session.get(Report, report_id)
                    place = ", ".join(p for p in (report.street, report.postcode) if p) if report else ""
                    values.update(description=None, house_number=None, address=place or None)
                session.execute(
                    update(Report)
                    .where(Report.id == report_id)
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
            add("reports", 1)
    return counts


def _count_or_delete(session: Session, model: type, where: object, remove: bool) -> int:
    if remove:
        return session.execute(delete(model).where(where).execution_options(synchronize_session=False)).rowcount or 0
    return int(session.execute(select(func.count()).select_from(model).where(where)).scalar_one())
