"""A report's status changes, from staff in the console or from the back office over Open311, and the
notifications that tell every resident attached to the report, once per change.

`change_status` writes the change and one `ReportNotification` per resident (state waiting, due now or when
the quiet hours end); notifying.py sends them. `poll` reads the back office's changes (updates.py is the
only writer of `reports.status`).
"""

from __future__ import annotations

import datetime as dt
from typing import Optional

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from knowledge.models import Report, ReportNotification, ReportResident, ReportUpdate
from knowledge.reports.quiet_hours import next_allowed
from knowledge.reports.statuses import STATUSES

SOURCES = ("staff", "open311", "bot")


class UnknownStatus(ValueError):
    """A status that isn't one of ours (statuses.STATUSES)."""


def change_status(
    session: Session,
    report_id: int,
    status: str,
    now: dt.datetime,
    *,
    note: Optional[str] = None,
    source: str = "staff",
    actor: Optional[str] = None,
    open311_update_id: Optional[str] = None,
) -> Optional[ReportUpdate]:
    """Move report `report_id` to `status` and plan telling its residents. `note` is public words from
    staff or the back office (sent to residents with the status); `source` staff, open311 or bot; `actor`
    the staff username; `open311_update_id` the back office's update id (an id already recorded is ignored).

    Returns the new ReportUpdate, or None when nothing changed: the status is the report's already, the
    update id was seen before, or another process changed the status in the same instant (its change wins
    and is the one residents hear about). Raises UnknownStatus, or LookupError for an unknown report."""
    if status not in STATUSES:
        raise UnknownStatus(f"{status!r} is not a report status")
    report = session.get(Report, report_id)
    if report is None:
        raise LookupError(f"no report {report_id}")
    if open311_update_id is not None and _seen(session, report_id, open311_update_id):
        return None
    before = report.status
    if before == status:
        return None
    # Compare-and-set: of two processes changing the same report at once, one wins; the other does nothing,
    # so residents hear about each change once.
    changed = session.execute(
        update(Report)
        .where(Report.id == report_id, Report.status == before)
        .values(status=status, status_changed_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.expire(report)
    if changed != 1:
        return None
    row = ReportUpdate(
        report_id=report_id,
        status=status,
        note=(note or "").strip() or None,
        source=source,
        actor=actor,
        open311_update_id=open311_update_id,
        at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # the same back-office update, recorded by another poller this instant
        return None
    due = next_allowed(now)
    residents = session.execute(select(ReportResident.id).where(ReportResident.report_id == report_id)).scalars()
    for resident_id in residents:
        session.add(
            ReportNotification(update_id=row.id, resident_id=resident_id, state="waiting", due_at=due, created_at=now)
        )
    session.flush()
    return row


def _seen(session: Session, report_id: int, open311_update_id: str) -> bool:
    return (
        session.execute(
            select(ReportUpdate.id).where(
                ReportUpdate.report_id == report_id, ReportUpdate.open311_update_id == open311_update_id
            )
        ).first()
        is not None
    )


def history(session: Session, report_id: int) -> list[ReportUpdate]:
    """The report's status changes, oldest first."""
    return list(
        session.execute(
            select(ReportUpdate).where(ReportUpdate.report_id == report_id).order_by(ReportUpdate.at, ReportUpdate.id)
        ).scalars()
    )
