"""What the channels remember about conversations: deliveries seen (exactly-once), the work queue,
attachments, the messaging window and every send attempt.

All functions take a session and an explicit `now` where time matters, so tests can move the clock.
Times are naive UTC, like the rest of the database.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Optional

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from knowledge.models import Attachment, Conversation, InboundEvent, OutboundMessage

# How long a delivery id is remembered. Platforms retry for hours (Meta for up to a day and a half), so a
# week covers every honest retry; anything older than this is refused outright as a replay.
DEFAULT_RETENTION = dt.timedelta(days=7)
# A delivery left "processing" this long was being handled by a process that died; it may be retried.
STALE_PROCESSING = dt.timedelta(minutes=5)
MAX_ATTEMPTS = 3


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def record_delivery(session: Session, delivery_key: str, conversation_id: str, channel: str,
                    event: dict[str, Any], now: Optional[dt.datetime] = None) -> Optional[int]:
    """Remember a delivery and queue it. Returns its id, or None if this key was already seen (a platform
    retry or a replay). The unique index decides, so two processes receiving the same retry can't both win.
    Call it in a session of its own: a duplicate rolls that session back."""
    row = InboundEvent(delivery_key=delivery_key, conversation_id=conversation_id, channel=channel,
                       status="pending", attempts=0, event=event, received_at=now or utcnow())
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        # Not a SAVEPOINT: pysqlite's SAVEPOINT support is unreliable, and this session does nothing else.
        session.rollback()
        return None
    return row.id


def _claimable(now: dt.datetime) -> Any:
    """Deliveries that may be (re)started: new ones, failed ones, and ones a dead process left "processing";
    never one that has used up its attempts, so a message that crashes the process can't loop forever."""
    retry_left = InboundEvent.attempts < MAX_ATTEMPTS
    return ((InboundEvent.status == "pending")
            | ((InboundEvent.status == "failed") & retry_left)
            | ((InboundEvent.status == "processing") & retry_left & (InboundEvent.processed_at < now - STALE_PROCESSING)))


def claim(session: Session, event_id: int, now: Optional[dt.datetime] = None) -> Optional[dict[str, Any]]:
    """Take a queued delivery for processing. Returns its event, or None if another worker has it or it is
    finished. The conditional UPDATE is the lock: only one claimer sees a changed row."""
    now = now or utcnow()
    result = session.execute(
        update(InboundEvent).where(InboundEvent.id == event_id, _claimable(now))
        .values(status="processing", attempts=InboundEvent.attempts + 1, processed_at=now)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return None
    return session.execute(select(InboundEvent.event).where(InboundEvent.id == event_id)).scalar_one()


def finish(session: Session, event_id: int, ok: bool, now: Optional[dt.datetime] = None) -> None:
    """Mark a delivery done (and forget its content) or failed (kept for a retry)."""
    values: dict[str, Any] = {"status": "done" if ok else "failed", "processed_at": now or utcnow()}
    if ok:
        values["event"] = None
    session.execute(update(InboundEvent).where(InboundEvent.id == event_id).values(**values))


def unfinished(session: Session, channels: Iterable[str],
               now: Optional[dt.datetime] = None) -> list[tuple[int, str]]:
    """(id, conversation id) of deliveries still to do on these channels, oldest first: those left pending
    or failed by a stopped process, and those stuck "processing" past the stale limit."""
    now = now or utcnow()
    rows = session.execute(
        select(InboundEvent.id, InboundEvent.conversation_id)
        .where(InboundEvent.channel.in_(list(channels)), _claimable(now))
        .order_by(InboundEvent.id))
    return [(r.id, r.conversation_id) for r in rows]


def purge(session: Session, retention: dt.timedelta = DEFAULT_RETENTION, now: Optional[dt.datetime] = None) -> int:
    """Forget finished deliveries older than `retention`. Returns how many rows went."""
    cutoff = (now or utcnow()) - retention
    result = session.execute(delete(InboundEvent).where(InboundEvent.received_at < cutoff,
                                                        InboundEvent.status.in_(["done", "failed"])))
    return result.rowcount or 0


def touch_conversation(session: Session, conversation_id: str, channel: str, origin: str, platform_user_id: str,
                       account_id: Optional[str], reply_to: Optional[str], at: dt.datetime) -> Conversation:
    """Create or update the conversation for a new inbound message: its latest public post to answer and
    the start of its messaging window."""
    conv = session.get(Conversation, conversation_id)
    if conv is None:
        conv = Conversation(id=conversation_id, channel=channel, origin=origin, platform_user_id=platform_user_id,
                            created_at=at)
        session.add(conv)
    conv.account_id = account_id or conv.account_id
    if conv.last_inbound_at is None or at >= conv.last_inbound_at:  # a late retry of an older comment
        conv.reply_to = reply_to or conv.reply_to                    # must not become the latest
        conv.last_inbound_at = at
    session.flush()
    return conv


def within_window(conv: Optional[Conversation], window: Optional[dt.timedelta],
                  now: Optional[dt.datetime] = None) -> bool:
    """May we send a free-form message now? `window` None means the platform has no such rule."""
    if window is None:
        return True
    if conv is None or conv.last_inbound_at is None:
        return False
    return (now or utcnow()) - conv.last_inbound_at <= window


def add_attachments(session: Session, conversation_id: str, channel: str, attachments: Iterable[dict[str, Any]],
                    supported: Iterable[str], at: dt.datetime) -> int:
    """Keep references to what the resident sent. Returns how many were stored."""
    ok = set(supported)
    count = 0
    for a in attachments:
        session.add(Attachment(conversation_id=conversation_id, channel=channel, kind=a["kind"], url=a.get("url"),
                               media_id=a.get("media_id"), mime_type=a.get("mime_type"),
                               latitude=a.get("latitude"), longitude=a.get("longitude"),
                               supported=a["kind"] in ok, received_at=at))
        count += 1
    return count


def record_outbound(session: Session, conversation_id: str, channel: str, kind: str, status: str,
                    platform_message_id: Optional[str] = None, error: Optional[str] = None,
                    now: Optional[dt.datetime] = None) -> None:
    """Remember one send attempt and how it went."""
    session.add(OutboundMessage(conversation_id=conversation_id, channel=channel, kind=kind, status=status,
                                platform_message_id=platform_message_id, error=(error or None) and error[:300],
                                created_at=now or utcnow()))
