"""Is a street gritted: its gritting route in the gazetteer, and the gritting notices in force now.

Routes: `primary` streets are treated on every gritting run; `secondary` ones after prolonged snow, once the
primary routes are clear; `none` are not on a route. Whether the gritters are out tonight is not in the
gazetteer: editors say so with a notice on the `roads.gritting` service (knowledge/catalogue/notices.py),
for the whole council or one area (a ward's name or a postcode district such as NS1).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from knowledge.catalogue import notices
from knowledge.models import Notice
from knowledge.places.gazetteer import Row

SERVICE_KEY = "roads.gritting"
BIN_SERVICE_KEY = "bins.collection_day"


@dataclass(frozen=True)
class GrittingNotice:
    """A gritting notice as residents read it: `title`, `body`, and the `area` it is for (None: everywhere)."""

    title: str
    body: str
    area: str | None


def applies_to(notice: Notice, row: Row) -> bool:
    """Does the notice reach this street: no area, or the street's ward or postcode district?"""
    area = (notice.area or "").strip().upper()
    return not area or area in (row.ward.upper(), row.district.upper())


def gritting_notices(session: Session, row: Row, now: dt.datetime) -> list[GrittingNotice]:
    """The `roads.gritting` notices in force at `now` (naive UTC) that reach the street on `row`."""
    return [
        GrittingNotice(n.title, n.body, n.area)
        for n in notices.active(session, SERVICE_KEY, now=now)
        if applies_to(n, row)
    ]
