"""The durable outbound queue: every message to a resident is written here before it is sent, and goes
out in order per conversation, one at a time, whichever process or replica sends it.

All functions take a session and an explicit `now`, so tests can move the clock. See `OutboundMessage`
for what the columns and statuses mean.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Optional

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session, aliased

from knowledge.delivery.claims import DEFAULT_LEASE, Claimer, taken_over
from knowledge.models import CaseMessage, OutboundMessage

OPEN = ("pending", "sending")
FINAL = ("sent", "failed", "unknown", "outside_window")


@dataclass(frozen=True)
class Planned:
    """One message to queue. `target` holds user_id, account_id and reply_to (where it goes on the
    platform); `window_ends_at` is when the platform stops accepting it (None: no window);
    `give_up_at` is when retrying stops."""

    kind: str
    text: str
    target: dict[str, Optional[str]]
    give_up_at: dt.datetime
    window_ends_at: Optional[dt.datetime] = None
    buttons: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Claimed:
    """A row taken for sending by this process (`attempts` counts this one)."""

    id: int
    conversation_id: str
    channel: str
    kind: str
    text: str
    buttons: list[dict[str, str]]
    target: dict[str, Optional[str]]
    attempts: int
    window_ends_at: Optional[dt.datetime]
    give_up_at: Optional[dt.datetime]


def staff_status(status: str) -> str:
    """What staff are shown for a row: queued while it waits or is on its way."""
    return "queued" if status in OPEN else status


def queue(
    session: Session,
    conversation_id: str,
    channel: str,
    planned: Iterable[Planned],
    now: dt.datetime,
    inbound_event_id: Optional[int] = None,
    case_message_id: Optional[int] = None,
) -> list[int]:
    """Add messages to the end of the conversation's queue. Returns their row ids, in order."""
    rows = [
        OutboundMessage(
            conversation_id=conversation_id,
            channel=channel,
            kind=p.kind,
            status="pending",
            text=p.text,
            buttons=list(p.buttons) or None,
            target=dict(p.target),
            seq=i,
            inbound_event_id=inbound_event_id,
            case_message_id=case_message_id,
            attempts=0,
            window_ends_at=p.window_ends_at,
            give_up_at=p.give_up_at,
            created_at=now,
        )
        for i, p in enumerate(planned)
    ]
    session.add_all(rows)
    session.flush()
    return [r.id for r in rows]


def _earlier_open() -> Any:
    """SQL condition: an earlier row of the same conversation has not finished (so this one must wait)."""
    earlier = aliased(OutboundMessage)
    return exists().where(
        earlier.conversation_id == OutboundMessage.conversation_id,
        earlier.id < OutboundMessage.id,
        earlier.status.in_(OPEN),
    )


def claim_next(
    session: Session, conversation_id: str, claimer: Claimer, now: dt.datetime, lease: dt.timedelta = DEFAULT_LEASE
) -> Optional[Claimed]:
    """Take the conversation's next message for sending, if it is due and nothing earlier is unfinished.
    The conditional UPDATE is the lock: of two replicas, only one sees its row change."""
    head = session.execute(
        select(OutboundMessage)
        .where(OutboundMessage.conversation_id == conversation_id, OutboundMessage.status.in_(OPEN))
        .order_by(OutboundMessage.id)
        .limit(1)
    ).scalar_one_or_none()
    if head is None or head.status != "pending" or (head.next_attempt_at and head.next_attempt_at > now):
        return None
    result = session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == head.id, OutboundMessage.status == "pending", ~_earlier_open())
        .values(
            status="sending",
            claimed_by=claimer.replica,
            claim_token=claimer.token,
            lease_until=now + lease,
            attempts=OutboundMessage.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    return Claimed(
        head.id,
        head.conversation_id,
        head.channel,
        head.kind,
        head.text or "",
        list(head.buttons or []),
        dict(head.target or {}),
        head.attempts + 1,
        head.window_ends_at,
        head.give_up_at,
    )


def retry_later(
    session: Session, row_id: int, claimer: Claimer, at: dt.datetime, error: str, error_code: Optional[str]
) -> None:
    """Put a message we hold back in the queue, to be tried again at `at`."""
    session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == row_id, OutboundMessage.claim_token == claimer.token)
        .values(
            status="pending",
            next_attempt_at=at,
            error=error[:300],
            error_code=error_code,
            claimed_by=None,
            claim_token=None,
            lease_until=None,
        )
    )


def finish(
    session: Session,
    row_id: int,
    claimer: Claimer,
    status: str,
    now: dt.datetime,
    platform_message_id: Optional[str] = None,
    error: Optional[str] = None,
    error_code: Optional[str] = None,
) -> None:
    """Record the outcome of a message we hold (sent, failed, unknown, outside_window) and forget its words.
    Guarded only by our token, not the status: if our lease lapsed while the platform was slow and a sweeper
    wrote "unknown", what really happened is better. The last error stays unless a new one is given."""
    assert status in FINAL
    values = _final_values(status, now)
    values["platform_message_id"] = platform_message_id
    if error:
        values.update(error=error[:300], error_code=error_code)
    result = session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == row_id, OutboundMessage.claim_token == claimer.token)
        .values(**values)
    )
    if result.rowcount == 1:
        _show_on_case(session, [row_id], status)


def _final_values(status: str, now: dt.datetime) -> dict[str, Any]:
    # The claim stays on the row (token) so a late outcome from the holder can still be recorded.
    return {
        "status": status,
        "text": None,
        "buttons": None,
        "target": None,
        "lease_until": None,
        "next_attempt_at": None,
        "finished_at": now,
    }


def _show_on_case(session: Session, row_ids: list[int], status: str) -> None:
    """Staff replies: the case timeline shows the row's status."""
    case_lines = (
        session.execute(
            select(OutboundMessage.case_message_id).where(
                OutboundMessage.id.in_(row_ids), OutboundMessage.case_message_id.is_not(None)
            )
        )
        .scalars()
        .all()
    )
    if case_lines:
        session.execute(update(CaseMessage).where(CaseMessage.id.in_(case_lines)).values(delivery=staff_status(status)))


def abandon_stale(session: Session, channels: Iterable[str], claimer: Claimer, now: dt.datetime) -> int:
    """Messages whose sender died mid-send become unknown: the request may have reached the platform, so
    they are never sent again blindly. Returns how many."""
    stale = (
        session.execute(
            select(OutboundMessage.id).where(
                OutboundMessage.channel.in_(list(channels)),
                OutboundMessage.status == "sending",
                taken_over(OutboundMessage, claimer, now),
            )
        )
        .scalars()
        .all()
    )
    if not stale:
        return 0
    values = _final_values("unknown", now)
    values.update(error="the sender stopped during the send; the platform may have it", error_code=None)
    session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.id.in_(stale),
            OutboundMessage.status == "sending",
            taken_over(OutboundMessage, claimer, now),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    _show_on_case(session, list(stale), "unknown")
    return len(stale)


def due_conversations(session: Session, channels: Iterable[str], now: dt.datetime) -> list[str]:
    """Conversations on these channels with a message ready to go (its turn may still depend on earlier
    ones), oldest message first."""
    rows = session.execute(
        select(OutboundMessage.conversation_id, OutboundMessage.id)
        .where(
            OutboundMessage.channel.in_(list(channels)),
            OutboundMessage.status == "pending",
            (OutboundMessage.next_attempt_at.is_(None)) | (OutboundMessage.next_attempt_at <= now),
        )
        .order_by(OutboundMessage.id)
    ).all()
    seen: dict[str, None] = {}
    for conv, _ in rows:
        seen.setdefault(conv, None)
    return list(seen)


def renew(
    session: Session, claimer: Claimer, row_ids: Iterable[int], now: dt.datetime, lease: dt.timedelta = DEFAULT_LEASE
) -> None:
    """Extend the lease on the messages in `row_ids`, the ones this process is sending right now. Only
    those: a message whose outcome we could not record must be let go, so its lease lapses and a sweep
    marks it unknown, instead of holding up the rest of its conversation for as long as we live."""
    ids = list(row_ids)
    if not ids:
        return
    session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.id.in_(ids),
            OutboundMessage.claim_token == claimer.token,
            OutboundMessage.status == "sending",
        )
        .values(lease_until=now + lease)
        .execution_options(synchronize_session=False)
    )


def statuses(session: Session, row_ids: Iterable[int]) -> list[str]:
    """The status of each row, in the order given."""
    ids = list(row_ids)
    found = dict(
        session.execute(select(OutboundMessage.id, OutboundMessage.status).where(OutboundMessage.id.in_(ids))).all()
    )
    return [found.get(i, "failed") for i in ids]
