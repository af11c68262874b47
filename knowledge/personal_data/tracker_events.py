"""Rasa's tracker store seen from outside Rasa: what erasure, export and retention need of it.

Rasa's `SQLTrackerStore` keeps every conversation as rows of one `events` table in its own database
(`TRACKER_STORE_URL`): `sender_id` is the conversation id (`messenger:<psid>`, `whatsapp:<number>`...),
`type_name` the kind of event (`user` for what the resident said, `bot` for the bot's words, `slot` for
something it remembered, `action` and others for its own bookkeeping), `timestamp` seconds since 1970 (UTC)
and `data` the whole event as JSON text. Only that table is touched, through SQLAlchemy Core, so this
module needs nothing of Rasa and works on any database Rasa does.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, delete, func, inspect, select
from sqlalchemy.engine import Connection, make_url

from knowledge.db import get_engine

EVENTS = Table(
    "events",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255), nullable=False),
    Column("type_name", String(255), nullable=False),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)
# IN lists are sent in slices: databases limit how many parameters one statement may carry.
_SLICE = 500


def _slices(ids: Iterable[str]) -> Iterator[list[str]]:
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), _SLICE):
        yield ordered[start : start + _SLICE]


@contextmanager
def open_store(
    url: str, commit: bool, share: Optional[Connection] = None, share_url: Optional[str] = None
) -> Iterator[Optional[Connection]]:
    """A connection in a transaction on the tracker store at `url`, committed at the end if `commit`, else
    rolled back; None when the store has never been written to (no database file or no events table).
    When `url` is `share_url` (one database for both), `share` is used as is, inside its own transaction:
    a second connection to one SQLite file would wait on the first one's lock."""
    if share is not None and url == share_url:
        yield share if inspect(share).has_table("events") else None
        return
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and (not parsed.database or not Path(parsed.database).exists()):
        yield None  # opening it would create an empty file where Rasa has never written
        return
    with get_engine(url).connect() as conn:
        trans = conn.begin()
        try:
            yield conn if inspect(conn).has_table("events") else None
        except BaseException:
            trans.rollback()
            raise
        if commit:
            trans.commit()
        else:
            trans.rollback()


def count(conn: Connection, sender_ids: Iterable[str]) -> int:
    """How many events the conversations `sender_ids` have."""
    return sum(
        conn.execute(select(func.count()).select_from(EVENTS).where(EVENTS.c.sender_id.in_(part))).scalar_one()
        for part in _slices(sender_ids)
    )


def delete_for(conn: Connection, sender_ids: Iterable[str]) -> int:
    """Delete every event of the conversations `sender_ids`; returns how many went."""
    return sum(
        conn.execute(delete(EVENTS).where(EVENTS.c.sender_id.in_(part))).rowcount or 0 for part in _slices(sender_ids)
    )


def senders_mentioning(conn: Connection, needle: str, matches: Callable[[str], bool]) -> set[str]:
    """Conversations in which the resident wrote something that `matches`. `needle` is a fragment every
    match contains (the email address, the phone number's last digits), so the database sends back only
    the few rows worth reading."""
    rows = conn.execute(
        select(EVENTS.c.sender_id, EVENTS.c.data).where(
            EVENTS.c.type_name == "user", func.lower(EVENTS.c.data).contains(needle.lower(), autoescape=True)
        )
    )
    return {sender for sender, data in rows if matches(_user_text(data))}


def senders_named(conn: Connection, needle: str, names: Callable[[str], bool]) -> set[str]:
    """Conversations whose id itself `names` the resident (an integrator's `rest:ann@example.org`).
    `needle` is a fragment such an id contains, compared without regard to case."""
    rows = conn.execute(
        select(EVENTS.c.sender_id)
        .distinct()
        .where(func.lower(EVENTS.c.sender_id).contains(needle.lower(), autoescape=True))
    )
    return {sender for sender in rows.scalars() if names(sender)}


def _user_text(data: Optional[str]) -> str:
    try:
        return str(json.loads(data or "{}").get("text") or "")
    except (ValueError, AttributeError):
        return data or ""


def last_activity(conn: Connection) -> dict[str, dt.datetime]:
    """The time of each conversation's latest event (naive UTC)."""
    rows = conn.execute(select(EVENTS.c.sender_id, func.max(EVENTS.c.timestamp)).group_by(EVENTS.c.sender_id))
    return {sender: as_datetime(ts) for sender, ts in rows if ts is not None}


def as_datetime(timestamp: float) -> dt.datetime:
    """A tracker event's timestamp as naive UTC, like every time in the knowledge base."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).replace(tzinfo=None)


def transcript(conn: Connection, sender_id: str) -> list[str]:
    """The conversation as a person would read it: one line per thing said or remembered, oldest first."""
    rows = conn.execute(
        select(EVENTS.c.type_name, EVENTS.c.timestamp, EVENTS.c.data)
        .where(EVENTS.c.sender_id == sender_id)
        .order_by(EVENTS.c.id)
    )
    lines = []
    for type_name, timestamp, data in rows:
        line = readable(type_name, _load(data))
        if line:
            when = f"{as_datetime(timestamp):%Y-%m-%d %H:%M:%S} UTC" if timestamp is not None else "time unknown"
            lines.append(f"{when}  {line}")
    return lines


def _load(data: Optional[str]) -> dict[str, Any]:
    try:
        loaded = json.loads(data or "{}")
    except ValueError:
        return {"text": data}
    return loaded if isinstance(loaded, dict) else {}


def readable(type_name: str, event: dict[str, Any]) -> Optional[str]:
    """One event in words, or None for the bot's bookkeeping (actions run, sessions started)."""
    if type_name == "user":
        return f"resident: {event.get('text') or '(no text: a button, a photo or other attachment)'}"
    if type_name == "bot":
        extra = event.get("data") or {}
        if event.get("text"):
            return f"bot: {event['text']}"
        return "bot: (a message with buttons or an attachment)" if any(extra.values()) else None
    if type_name == "slot" and event.get("value") not in (None, "", [], {}):
        return f"bot remembered {event.get('name')}: {json.dumps(event.get('value'), ensure_ascii=False)}"
    return None
