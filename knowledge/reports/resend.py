"""What staff do about a report the back office hasn't got: send a rejected one again (or one held from
before a back office was connected), and settle one whose sending is in doubt.

Sending (sending.py) stops in two places where only a person can decide. *Rejected*: the back office said
no (the reason is in `send_error`); once the cause is fixed, staff send it again. *Uncertain and stuck*: a
POST's answer was lost and the back office can't be searched for it, so sending again might file it twice;
staff look in the back office and say either "it's there, its id is …" or "it isn't there, send it".

Each is a conditional UPDATE on the state it expects, so a second click, another member of staff, or the
sending worker moving on first, changes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from knowledge.models import Report

MAX_OPEN311_ID = 100  # the column's length


def stuck(report: Report, now: dt.datetime) -> bool:
    """True when the report's sending waits for a person: uncertain, with no next try planned, and nobody
    holding it (no claim, or a lapsed one: its worker died). sending.py leaves it so when the back office
    can't be searched."""
    return (
        report.send_state == "uncertain"
        and report.next_attempt_at is None
        and (report.claim_token is None or report.lease_until is None or report.lease_until < now)
    )


def stuck_condition(now: dt.datetime) -> Any:
    """`stuck` as an SQL condition."""
    return and_(
        Report.send_state == "uncertain",
        Report.next_attempt_at.is_(None),
        or_(Report.claim_token.is_(None), Report.lease_until.is_(None), Report.lease_until < now),
    )


# Settling takes the report out of any lapsed claim, so a worker that comes back to life can't write over it
# (sending.py's writes are compare-and-set on the claim).
_RELEASED: dict[str, Any] = {"claimed_by": None, "claim_token": None, "lease_until": None}


def retry_sending(session: Session, report_id: int, now: dt.datetime) -> bool:
    """Put a rejected report, or one held from before a back office was connected, on the send queue to go
    at once. True if this call did it; False if it is in neither state (any more). Safe to POST: a rejection
    means the back office filed nothing, and a held report was never sent. The caller checks that a back
    office is connected (OPEN311_ENDPOINT): without one a held report is where it should be."""
    done = session.execute(
        update(Report)
        .where(Report.id == report_id, Report.send_state.in_(("rejected", "held")))
        .values(send_state="queued", next_attempt_at=now, send_attempts=0, send_error=None, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    return done == 1


def send_anyway(session: Session, report_id: int, now: dt.datetime) -> bool:
    """A stuck report that staff found is NOT at the back office: queue it to be sent at once. True if this
    call did it; False if it isn't stuck (any more)."""
    done = session.execute(
        update(Report)
        .where(Report.id == report_id, stuck_condition(now))
        .values(send_state="queued", next_attempt_at=now, send_error=None, updated_at=now, **_RELEASED)
        .execution_options(synchronize_session=False)
    ).rowcount
    return done == 1


class IdInUse(ValueError):
    """The back-office id staff entered is already another report's; `str()` names that report, for staff."""


def found_there(session: Session, report_id: int, open311_id: str, now: dt.datetime) -> bool:
    """A stuck report that staff found at the back office with id `open311_id`: record it as sent (status
    updates are then polled for it). True if this call did it; False if it isn't stuck (any more). Raises
    ValueError for an empty or over-long id, IdInUse for an id another report already has (a mistyped id
    would send that report's updates to this report's residents too)."""
    open311_id = open311_id.strip()
    if not open311_id or len(open311_id) > MAX_OPEN311_ID or not open311_id.isprintable():
        raise ValueError(f"a back-office id is 1 to {MAX_OPEN311_ID} printable characters")
    other = session.execute(
        select(Report.reference).where(Report.open311_id == open311_id, Report.id != report_id).limit(1)
    ).scalar_one_or_none()
    if other is not None:
        raise IdInUse(f"The back office's id {open311_id} is already report {other}'s. Check the id and try again.")
    done = session.execute(
        update(Report)
        .where(Report.id == report_id, stuck_condition(now))
        .values(send_state="sent", open311_id=open311_id, sent_at=now, send_error=None, updated_at=now, **_RELEASED)
        .execution_options(synchronize_session=False)
    ).rowcount
    return done == 1
