"""Duplicates: open reports of the same kind close to where a resident is reporting, offered before another
is filed ("is it this one, reported on Tuesday?"), and joining one so the resident hears back about it.

Two residents filing the same pothole at the same instant both get a report of their own: nothing locks a
place, and holding one resident's "yes" for another's would make the slower wait on the faster. Both
reports are open and found here, so the next resident is offered them (nearest first), and staff can mark
one a duplicate (its residents are told, in plain words, that it is being dealt with on the other).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Optional

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from knowledge.models import Report, ReportResident
from knowledge.reports.statuses import OPEN_STATUSES
from knowledge.settings import settings

EARTH_RADIUS_METRES = 6_371_000.0


@dataclass(frozen=True)
class Nearby:
    """An open report near the resident's place: `metres` away (straight line). `report.created_at` says
    when it was reported."""

    report: Report
    metres: float


def distance_metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two points in degrees (haversine; plenty for tens of metres)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_METRES * math.asin(min(1.0, math.sqrt(a)))


def open_nearby(
    session: Session,
    category: str,
    lat: float,
    lon: float,
    now: dt.datetime,
    metres: Optional[float] = None,
) -> list[Nearby]:
    """Open reports of `category` within `metres` (default REPORT_DUPLICATE_METRES) of (lat, lon), nearest
    first. Reports made after `now` are left out (a clock passed in by tests and replays)."""
    limit = settings().report_duplicate_metres if metres is None else metres
    # A box around the point narrows the rows in SQL (plain comparisons, any database); the exact distance
    # is then measured here.
    dlat = limit / 111_000.0 + 1e-6
    dlon = limit / (111_000.0 * max(0.01, math.cos(math.radians(lat)))) + 1e-6
    rows = session.execute(
        select(Report).where(
            Report.category == category,
            Report.status.in_(sorted(OPEN_STATUSES)),
            Report.created_at <= now,
            Report.latitude.between(lat - dlat, lat + dlat),
            Report.longitude.between(lon - dlon, lon + dlon),
        )
    ).scalars()
    found = [Nearby(r, distance_metres(lat, lon, r.latitude, r.longitude)) for r in rows]
    return sorted((n for n in found if n.metres <= limit), key=lambda n: (n.metres, n.report.id))


def join(session: Session, report_id: int, conversation_id: str, channel: str, now: dt.datetime) -> bool:
    """Attach the resident to report `report_id` so they hear about its changes. True if they were added;
    False if they were already on it (filed it or joined before) or there is no such report."""
    if session.get(Report, report_id) is None:
        return False
    existing = session.execute(
        select(ReportResident.id).where(
            ReportResident.report_id == report_id, ReportResident.conversation_id == conversation_id
        )
    ).first()
    if existing is not None:
        return False
    try:
        with session.begin_nested():
            session.add(
                ReportResident(
                    report_id=report_id, conversation_id=conversation_id, channel=channel, how="joined", joined_at=now
                )
            )
    except IntegrityError:  # the same resident's other message joined them this instant
        return False
    return True
