"""A report's status changes, from staff in the console or from the back office over Open311, and the
notifications that tell every resident attached to the report, once per change.

`change_status` writes the change and one `ReportNotification` per resident (state waiting, due now or when
the quiet hours end); notifying.py sends them. `poll` reads the back office's changes (updates.py is the
only writer of `reports.status`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Optional

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from knowledge.models import Report, ReportNotification, ReportResident, ReportUpdate, SyncCursor
from knowledge.reports.open311 import Open311Client, Open311Error, Rejected
from knowledge.reports.quiet_hours import next_allowed
from knowledge.reports.statuses import OPEN_STATUSES, STATUSES, from_open311, is_open

log = logging.getLogger(__name__)

SessionFactory = Callable[[], AbstractContextManager[Session]]
CURSOR = "open311-updates"
# With no cursor yet (first poll), changes this far back are read.
FIRST_LOOK_BACK = dt.timedelta(days=1)
ID_BATCH = 50

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


def _mapped(ours: str, theirs: str) -> Optional[str]:
    """Our new status for the server's `theirs`, or None to keep `ours`. A plain server only says open or
    closed: "open" doesn't undo our finer open status, nor "closed" a finished one."""
    status = from_open311(theirs)
    if status is None or status == ours:
        return None
    if status == "open" and is_open(ours):
        return None
    if status == "closed" and not is_open(ours):
        return None
    return status


def poll(session_factory: SessionFactory, client: Open311Client, now: dt.datetime) -> int:
    """Read the back office's status changes and apply each once. Returns how many changed a report.

    First mySociety's servicerequestupdates since the stored cursor (the newest change time seen, in the
    server's own clock, kept in `sync_cursors` in the same transaction as the changes). A server without the
    extension answers 404: then each sent, still open report is fetched by id (GET requests). Network trouble
    raises nothing: the next poll tries again from the same cursor."""
    with session_factory() as session:
        cursor = session.get(SyncCursor, CURSOR)
        start = _cursor_time(cursor) or now - FIRST_LOOK_BACK
    try:
        found = client.updates(start, now)
    except Rejected as error:
        if error.status_code != 404:
            log.warning("Open311 refused the updates request: %s", error)
            return 0
        return _poll_by_id(session_factory, client, now)
    except Open311Error as error:
        log.info("Open311 updates not read this time: %s", error)
        return 0
    applied = 0
    with session_factory() as session:
        newest = start
        for change in found:
            # Never past the poll's own time: a change dated in 2099 by a wrong clock would otherwise move
            # the cursor there, and every later change would be asked for from 2099 and never found.
            if change.updated is not None and newest < change.updated <= now:
                newest = change.updated
            # Normally one report; two when staff settled a report in doubt with an id already in use or the
            # back office reused one: both are told, rather than one bad row stopping every poll for good.
            report_ids = (
                session.execute(
                    select(Report.id).where(Report.open311_id == change.service_request_id).order_by(Report.id)
                )
                .scalars()
                .all()
            )
            for report_id in report_ids:
                ours = session.execute(select(Report.status).where(Report.id == report_id)).scalar_one()
                status = _mapped(ours, change.status)
                if status is None:
                    continue
                row = change_status(
                    session,
                    report_id,
                    status,
                    now,
                    note=change.description or None,
                    source="open311",
                    open311_update_id=change.update_id,
                )
                applied += row is not None
        _store_cursor(session, newest, now)
    return applied


def _poll_by_id(session_factory: SessionFactory, client: Open311Client, now: dt.datetime) -> int:
    with session_factory() as session:
        pairs = session.execute(
            select(Report.id, Report.open311_id).where(
                Report.send_state == "sent", Report.open311_id.is_not(None), Report.status.in_(sorted(OPEN_STATUSES))
            )
        ).all()
    by_open311: dict[str, list[int]] = {}
    for rid, o in pairs:
        if o and not str(o).startswith("token:"):
            by_open311.setdefault(str(o), []).append(rid)
    ids = sorted(by_open311)
    applied = 0
    for i in range(0, len(ids), ID_BATCH):
        try:
            requests = client.get_requests(ids[i : i + ID_BATCH])
        except Open311Error as error:
            log.info("Open311 requests not read this time: %s", error)
            break
        with session_factory() as session:
            for request in requests:
                for report_id in by_open311.get(request.service_request_id, []):
                    ours = session.execute(select(Report.status).where(Report.id == report_id)).scalar_one()
                    status = _mapped(ours, request.status)
                    if status is not None:
                        row = change_status(
                            session, report_id, status, now, note=request.status_notes or None, source="open311"
                        )
                        applied += row is not None
    return applied


def _cursor_time(cursor: Optional[SyncCursor]) -> Optional[dt.datetime]:
    if cursor is None or not cursor.value:
        return None
    try:
        return dt.datetime.fromisoformat(cursor.value)
    except ValueError:
        return None


def _store_cursor(session: Session, value: dt.datetime, now: dt.datetime) -> None:
    cursor = session.get(SyncCursor, CURSOR)
    if cursor is None:
        session.add(SyncCursor(name=CURSOR, value=value.isoformat(), updated_at=now))
    else:
        cursor.value, cursor.updated_at = value.isoformat(), now
