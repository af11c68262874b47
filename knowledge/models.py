"""Database tables of the knowledge base.

A *service* is one self-serve page on the council's site that the bot can point a resident to. A
*redirect* is another body (NHS, police, GOV.UK…) that the bot sends residents to for things the council
doesn't do. *Council* holds the one row of council-wide details (name, phone, opening hours, crisis lines).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from sqlalchemy import JSON, Boolean, Date, DateTime, Integer, String, Text, func
from sqlalchemy.orm import Mapped, declarative_base, mapped_column

Base = declarative_base()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Council(Base):
    """Council-wide details; exactly one row (id 1)."""

    __tablename__ = "council"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    site: Mapped[str] = mapped_column(String(500))
    phone: Mapped[str] = mapped_column(String(50))
    opening_hours: Mapped[str] = mapped_column(String(200))
    out_of_hours_social_care: Mapped[str] = mapped_column(String(50))
    emergency: Mapped[str] = mapped_column(String(20))
    samaritans: Mapped[str] = mapped_column(String(20))
    allowed_domains: Mapped[list] = mapped_column(JSON, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now, onupdate=_now)


class Service(Base):
    """A council service with its self-serve page. `key` is stable (e.g. `bins.missed`) and names the
    intent `svc_bins_missed`; everything residents read comes from the other columns."""

    __tablename__ = "services"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True, index=True)
    title: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(500))
    summary: Mapped[str] = mapped_column(Text)
    what_you_need: Mapped[list] = mapped_column(JSON, default=list)
    phone: Mapped[str] = mapped_column(String(50))
    eligibility: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    synonyms: Mapped[list] = mapped_column(JSON, default=list)
    category: Mapped[str] = mapped_column(String(100), index=True)
    owner: Mapped[str] = mapped_column(String(200))
    review_by: Mapped[dt.date] = mapped_column(Date)
    always_human: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now, onupdate=_now,
                                                    server_default=func.current_timestamp())


class Redirect(Base):
    """Another body the council sends residents to. `to_name` reads naturally after "contact"."""

    __tablename__ = "redirects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True, index=True)
    to_name: Mapped[str] = mapped_column(String(300))
    url: Mapped[Optional[str]] = mapped_column(String(500), nullable=True)
    phone: Mapped[Optional[str]] = mapped_column(String(50), nullable=True)
    summary: Mapped[str] = mapped_column(Text)
    synonyms: Mapped[list] = mapped_column(JSON, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now, onupdate=_now,
                                                    server_default=func.current_timestamp())


def as_dict(row: Any) -> dict:
    """Column values of a row, for export and comparison."""
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}
