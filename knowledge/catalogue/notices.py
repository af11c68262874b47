"""Time-limited notices ("Gritters are out tonight from 6pm on priority routes", "St Mary's Primary is
closed today because of snow") attached to services, optionally to one area.

The bot adds the notices active *now* to its answer for those services, and stops at `ends_at`: nothing
has to remember to take them down. All times are naive UTC; `now` is a parameter so tests can move the
clock.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge.delivery.conversations import utcnow
from knowledge.models import Notice, Service

# A postcode district (NB1, SW1A) or a ward's name ("Riverside", "St Mary's").
DISTRICT_RE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?$")
WARD_RE = re.compile(r"^[A-Za-z][A-Za-z .'&-]{1,59}$")
MAX_DURATION = dt.timedelta(days=92)  # a notice that runs for months is content, not a notice


class NoticeError(Exception):
    """The notice can't be saved; `fields` maps each form field to what is wrong."""

    def __init__(self, fields: dict[str, str]):
        self.fields = fields
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))


def normalise_area(area: Optional[str]) -> Optional[str]:
    """'nb1 ' -> 'NB1'; ward names keep their spelling; empty -> None."""
    area = (area or "").strip()
    if not area:
        return None
    return area.upper() if DISTRICT_RE.match(area.upper()) else area


def check(session: Session, values: dict[str, Any]) -> dict[str, str]:
    """Problems with a notice's values, by field."""
    problems: dict[str, str] = {}
    title, body = (values.get("title") or "").strip(), (values.get("body") or "").strip()
    if not title:
        problems["title"] = "Give the notice a short title."
    elif len(title) > 120:
        problems["title"] = f"The title is {len(title)} characters; keep it under 120."
    if not body:
        problems["body"] = "Write what residents need to know."
    elif len(body) > 500:
        problems["body"] = f"The text is {len(body)} characters; keep it under 500 so it fits a phone screen."
    keys = [k for k in values.get("service_keys") or [] if k]
    known = set(session.execute(select(Service.key).where(Service.active.is_(True))).scalars())
    if not keys:
        problems["service_keys"] = "Choose at least one service the notice is about."
    elif any(k not in known for k in keys):
        problems["service_keys"] = f"Unknown or retired service: {', '.join(k for k in keys if k not in known)}."
    starts, ends = values.get("starts_at"), values.get("ends_at")
    if not isinstance(starts, dt.datetime):
        problems["starts_at"] = "Give a start date and time."
    if not isinstance(ends, dt.datetime):
        problems["ends_at"] = "Give an end date and time."
    if isinstance(starts, dt.datetime) and isinstance(ends, dt.datetime):
        if ends <= starts:
            problems["ends_at"] = "The end must be after the start."
        elif ends - starts > MAX_DURATION:
            problems["ends_at"] = "A notice can run for at most 92 days; change the service's text instead."
    area = values.get("area")
    if area and not (DISTRICT_RE.match(area) or WARD_RE.match(area)):
        problems["area"] = "Use a postcode district like NB1, or a ward name."
    return problems


def create(session: Session, author: str, values: dict[str, Any], now: Optional[dt.datetime] = None) -> Notice:
    values = {**values, "area": normalise_area(values.get("area"))}
    problems = check(session, values)
    if problems:
        raise NoticeError(problems)
    notice = Notice(
        title=values["title"].strip(),
        body=values["body"].strip(),
        service_keys=list(values["service_keys"]),
        area=values["area"],
        starts_at=values["starts_at"],
        ends_at=values["ends_at"],
        created_by=author,
        created_at=now or utcnow(),
        updated_at=now or utcnow(),
    )
    session.add(notice)
    session.flush()
    return notice


def end(session: Session, notice_id: int, now: Optional[dt.datetime] = None) -> Notice:
    """Stop a notice now (it stays in the list as past)."""
    notice = session.get(Notice, notice_id)
    if notice is None:
        raise NoticeError({"notice": "That notice does not exist."})
    now = now or utcnow()
    if notice.ends_at > now:
        notice.ends_at = max(now, notice.starts_at)
    return notice


def active(
    session: Session, service_key: str, now: Optional[dt.datetime] = None, area: Optional[str] = None
) -> list[Notice]:
    """Notices for `service_key` in force at `now` (start inclusive, end exclusive). With the resident's
    `area` (postcode district) known, other areas' notices are left out; without it, area notices are
    kept and name their area."""
    now = now or utcnow()
    rows = session.execute(
        select(Notice).where(Notice.starts_at <= now, Notice.ends_at > now).order_by(Notice.starts_at)
    ).scalars()
    district = normalise_area(area)
    return [
        n
        for n in rows
        if service_key in (n.service_keys or [])
        and (n.area is None or district is None or n.area.upper() == district.upper())
    ]


def listing(session: Session, now: Optional[dt.datetime] = None) -> dict[str, list[Notice]]:
    """All notices as current, upcoming and past (most recent first) for the editors' page."""
    now = now or utcnow()
    rows = list(session.execute(select(Notice).order_by(Notice.starts_at.desc())).scalars())
    return {
        "current": [n for n in rows if n.starts_at <= now < n.ends_at],
        "upcoming": [n for n in rows if n.starts_at > now],
        "past": [n for n in rows if n.ends_at <= now][:50],
    }


def lines(notices: Iterable[Notice]) -> list[str]:
    """How notices read at the top of an answer."""
    return [f"Notice{f' for {n.area}' if n.area else ''}: {n.title}. {n.body}".replace("..", ".") for n in notices]
