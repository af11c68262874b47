"""Database tables of the knowledge base.

A *service* is one self-serve page on the council's site that the bot can point a resident to. A
*redirect* is another body (NHS, police, GOV.UK…) that the bot sends residents to for things the council
doesn't do. *Council* holds the one row of council-wide details (name, phone, opening hours, crisis lines).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Column, Date, DateTime, Integer, String, Text, func
from sqlalchemy.orm import declarative_base

# SQLAlchemy 1.4 (pinned by Rasa 3.6) has no `mapped_column`; classic `Column` declarations move to 2.0 as is.
Base = declarative_base()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Council(Base):
    """Council-wide details; exactly one row (id 1)."""

    __tablename__ = "council"
    id = Column(Integer, primary_key=True)
    name = Column(String(200))
    site = Column(String(500))
    phone = Column(String(50))
    opening_hours = Column(String(200))
    out_of_hours_social_care = Column(String(50))
    emergency = Column(String(20))
    samaritans = Column(String(20))
    allowed_domains = Column(JSON, default=list)
    updated_at = Column(DateTime, default=_now, onupdate=_now)


class Service(Base):
    """A council service with its self-serve page. `key` is stable (e.g. `bins.missed`) and names the
    intent `svc_bins_missed`; everything residents read comes from the other columns."""

    __tablename__ = "services"
    id = Column(Integer, primary_key=True)
    key = Column(String(100), unique=True, index=True)
    title = Column(String(200))
    url = Column(String(500))
    summary = Column(Text)
    what_you_need = Column(JSON, default=list)
    phone = Column(String(50))
    eligibility = Column(Text, nullable=True)
    synonyms = Column(JSON, default=list)
    category = Column(String(100), index=True)
    owner = Column(String(200))
    review_by = Column(Date)
    always_human = Column(Boolean, default=False)
    active = Column(Boolean, default=True, server_default="1")
    updated_at = Column(DateTime, default=_now, onupdate=_now,
                                                    server_default=func.current_timestamp())


class Redirect(Base):
    """Another body the council sends residents to. `to_name` reads naturally after "contact"."""

    __tablename__ = "redirects"
    id = Column(Integer, primary_key=True)
    key = Column(String(100), unique=True, index=True)
    to_name = Column(String(300))
    url = Column(String(500), nullable=True)
    phone = Column(String(50), nullable=True)
    summary = Column(Text)
    synonyms = Column(JSON, default=list)
    updated_at = Column(DateTime, default=_now, onupdate=_now,
                                                    server_default=func.current_timestamp())


def as_dict(row: Any) -> dict:
    """Column values of a row, for export and comparison."""
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}
