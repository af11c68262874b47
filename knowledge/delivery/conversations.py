"""What the channels remember about conversations: deliveries seen (exactly-once), the inbound work queue
with its claims, attachments and the messaging window. (What is sent back lives in `knowledge.delivery.outbox`.)

All functions take a session and an explicit `now` where time matters, so tests can move the clock.
Times are naive UTC, like the rest of the database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, Optional

from sqlalchemy import delete, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from knowledge.delivery.claims import DEFAULT_LEASE, Claimer, taken_over
from knowledge.models import Attachment, Conversation, InboundEvent

# How long a delivery id is remembered. Platforms retry for hours (Meta for up to a day and a half), so a
# week covers every honest retry; anything older than this is refused outright as a replay.
DEFAULT_RETENTION = dt.timedelta(days=7)
# A message is tried this many times (a failed bot run, or a process that died while on it), then given up.
MAX_ATTEMPTS = 6
# Waits before trying a failed message again: long enough for a restarted action server to come back,
# short enough that the resident still gets the answer in the same sitting.
RETRY_BASE = dt.timedelta(seconds=10)
RETRY_MAX = dt.timedelta(minutes=5)
UNFINISHED = ("pending", "processing")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def record_delivery(
    session: Session,
    delivery_key: str,
    conversation_id: str,
    channel: str,
    event: dict[str, Any],
    now: Optional[dt.datetime] = None,
) -> Optional[int]:
    """Remember a delivery and queue it. Returns its id, or None if this key was already seen (a platform
    retry or a replay). The unique index decides, so two processes receiving the same retry can't both win.
    Call it in a session of its own: a duplicate rolls that session back."""
    row = InboundEvent(
        delivery_key=delivery_key,
        conversation_id=conversation_id,
        channel=channel,
        status="pending",
        attempts=0,
        event=event,
        received_at=now or utcnow(),
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        # Not a SAVEPOINT: pysqlite's SAVEPOINT support is unreliable, and this session does nothing else.
        session.rollback()
        return None
    return row.id


def _open(model: Any) -> Any:
    """SQL condition: a delivery that still has to be answered (so later ones of its conversation wait)."""
    return model.status.in_(UNFINISHED) | ((model.status == "failed") & (model.attempts < MAX_ATTEMPTS))


def _earlier_open() -> Any:
    earlier = aliased(InboundEvent)
    return exists().where(
        earlier.conversation_id == InboundEvent.conversation_id, earlier.id < InboundEvent.id, _open(earlier)
    )


def _claimable(claimer: Claimer, now: dt.datetime) -> Any:
    """Deliveries that may be (re)started now: new ones, failed ones whose wait is over, and ones whose
    holder is gone; never one that has used up its attempts (a message that crashes the process can't loop
    forever), and never while an earlier message of the same conversation is unfinished (order is kept
    across restarts and replicas)."""
    retry_left = InboundEvent.attempts < MAX_ATTEMPTS
    due = InboundEvent.next_attempt_at.is_(None) | (InboundEvent.next_attempt_at <= now)
    return (
        ((InboundEvent.status == "pending") & due)
        | ((InboundEvent.status == "failed") & retry_left & due)
        | ((InboundEvent.status == "processing") & retry_left & taken_over(InboundEvent, claimer, now))
    ) & ~_earlier_open()


def claim(
    session: Session,
    event_id: int,
    claimer: Claimer,
    now: Optional[dt.datetime] = None,
    lease: dt.timedelta = DEFAULT_LEASE,
) -> Optional[dict[str, Any]]:
    """Take a queued delivery for processing. Returns its event, or None if another worker has it, it is
    finished, or it must wait for an earlier message. The conditional UPDATE is the lock: only one claimer
    sees a changed row."""
    now = now or utcnow()
    result = session.execute(
        update(InboundEvent)
        .where(InboundEvent.id == event_id, _claimable(claimer, now))
        .values(
            status="processing",
            attempts=InboundEvent.attempts + 1,
            processed_at=now,
            claimed_by=claimer.replica,
            claim_token=claimer.token,
            lease_until=now + lease,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    return session.execute(select(InboundEvent.event).where(InboundEvent.id == event_id)).scalar_one()


def answer(session: Session, event_id: int, claimer: Claimer, now: Optional[dt.datetime] = None) -> bool:
    """Mark a delivery we hold done and forget its content. Call it in the transaction that queues its
    replies, so "answered" and "replies planned" are one fact. False if our claim was taken over (then
    queue nothing: the new holder answers it)."""
    result = session.execute(
        update(InboundEvent)
        .where(
            InboundEvent.id == event_id, InboundEvent.status == "processing", InboundEvent.claim_token == claimer.token
        )
        .values(status="done", event=None, processed_at=now or utcnow(), next_attempt_at=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def retry_delay(attempts: int) -> dt.timedelta:
    """How long to wait before the next try of a message tried `attempts` times."""
    return min(RETRY_BASE * 2 ** max(attempts - 1, 0), RETRY_MAX)


def fail(session: Session, event_id: int, claimer: Claimer, now: Optional[dt.datetime] = None) -> None:
    """A delivery we hold could not be answered: keep it for a later try (or give up after MAX_ATTEMPTS)."""
    now = now or utcnow()
    attempts = session.execute(select(InboundEvent.attempts).where(InboundEvent.id == event_id)).scalar_one_or_none()
    session.execute(
        update(InboundEvent)
        .where(
            InboundEvent.id == event_id, InboundEvent.status == "processing", InboundEvent.claim_token == claimer.token
        )
        .values(status="failed", processed_at=now, next_attempt_at=now + retry_delay(attempts or 1), lease_until=None)
        .execution_options(synchronize_session=False)
    )


def give_up_stuck(
    session: Session, channels: Iterable[str], claimer: Claimer, now: Optional[dt.datetime] = None
) -> int:
    """Deliveries whose every attempt ended with the process dying become failed, so they stop holding up
    their conversation. Returns how many."""
    now = now or utcnow()
    result = session.execute(
        update(InboundEvent)
        .where(
            InboundEvent.channel.in_(list(channels)),
            InboundEvent.status == "processing",
            InboundEvent.attempts >= MAX_ATTEMPTS,
            taken_over(InboundEvent, claimer, now),
        )
        .values(status="failed", processed_at=now, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def renew(
    session: Session,
    claimer: Claimer,
    event_ids: Iterable[int],
    now: Optional[dt.datetime] = None,
    lease: dt.timedelta = DEFAULT_LEASE,
) -> None:
    """Extend the lease on the deliveries in `event_ids`, the ones this process is working on right now
    (the heartbeat). Only those: a delivery we claimed but could not finish (say the database failed as
    we recorded the answer) must be let go, so its lease lapses and it is tried again, rather than kept
    for ever by a process that has stopped working on it."""
    ids = list(event_ids)
    if not ids:
        return
    session.execute(
        update(InboundEvent)
        .where(InboundEvent.id.in_(ids), InboundEvent.claim_token == claimer.token, InboundEvent.status == "processing")
        .values(lease_until=(now or utcnow()) + lease)
        .execution_options(synchronize_session=False)
    )


def unfinished(
    session: Session,
    channels: Iterable[str],
    claimer: Claimer,
    now: Optional[dt.datetime] = None,
    conversation_id: Optional[str] = None,
) -> list[tuple[int, str]]:
    """(id, conversation id) of deliveries on these channels (of one conversation, if given) that may be
    started now, oldest first: those left pending or failed, and those whose holder is gone."""
    now = now or utcnow()
    query = select(InboundEvent.id, InboundEvent.conversation_id).where(
        InboundEvent.channel.in_(list(channels)), _claimable(claimer, now)
    )
    if conversation_id is not None:
        query = query.where(InboundEvent.conversation_id == conversation_id)
    rows = session.execute(query.order_by(InboundEvent.id))
    return [(r.id, r.conversation_id) for r in rows]


def purge(session: Session, retention: dt.timedelta = DEFAULT_RETENTION, now: Optional[dt.datetime] = None) -> int:
    """Forget finished deliveries older than `retention`. Returns how many rows went."""
    cutoff = (now or utcnow()) - retention
    result = session.execute(
        delete(InboundEvent).where(InboundEvent.received_at < cutoff, InboundEvent.status.in_(["done", "failed"]))
    )
    return result.rowcount or 0


def touch_conversation(
    session: Session,
    conversation_id: str,
    channel: str,
    origin: str,
    platform_user_id: str,
    account_id: Optional[str],
    reply_to: Optional[str],
    at: dt.datetime,
) -> Conversation:
    """Create or update the conversation for a new inbound message: its latest public post to answer and
    the start of its messaging window."""
    conv = session.get(Conversation, conversation_id)
    if conv is None:
        conv = Conversation(
            id=conversation_id, channel=channel, origin=origin, platform_user_id=platform_user_id, created_at=at
        )
        session.add(conv)
    conv.account_id = account_id or conv.account_id
    if conv.last_inbound_at is None or at >= conv.last_inbound_at:  # a late retry of an older comment
        conv.reply_to = reply_to or conv.reply_to  # must not become the latest
        conv.last_inbound_at = at
    session.flush()
    return conv


def within_window(
    conv: Optional[Conversation], window: Optional[dt.timedelta], now: Optional[dt.datetime] = None
) -> bool:
    """May we send a free-form message now? `window` None means the platform has no such rule."""
    if window is None:
        return True
    if conv is None or conv.last_inbound_at is None:
        return False
    return (now or utcnow()) - conv.last_inbound_at <= window


def add_attachments(
    session: Session,
    conversation_id: str,
    channel: str,
    attachments: Iterable[dict[str, Any]],
    supported: Iterable[str],
    at: dt.datetime,
) -> int:
    """Keep references to what the resident sent. Returns how many were stored."""
    ok = set(supported)
    count = 0
    for a in attachments:
        session.add(
            Attachment(
                conversation_id=conversation_id,
                channel=channel,
                kind=a["kind"],
                url=a.get("url"),
                media_id=a.get("media_id"),
                mime_type=a.get("mime_type"),
                latitude=a.get("latitude"),
                longitude=a.get("longitude"),
                supported=a["kind"] in ok,
                received_at=at,
            )
        )
        count += 1
    return count
