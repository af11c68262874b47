"""What a platform poller remembers: who may poll (a lease, so replicas poll once between them), how far
each timeline has been read (a cursor), and the messages found, stored with the cursor in one transaction.

Storing the new messages and moving the cursor past them is one fact: a process that dies before the commit
has done neither (the next poll finds the same messages again), and one that dies after has done both (the
next poll starts after them). The delivery key's unique index still refuses a message that also came by
webhook, or by a poll another process made before losing its lease.

All functions take a session and an explicit `now`; times are naive UTC.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Optional

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from knowledge.delivery.claims import Claimer, taken_over
from knowledge.models import InboundEvent, PollLease, XPollCursor


class LeaseLost(RuntimeError):
    """Another process holds the poller's lease now: what this one found must not be stored."""


@dataclass(frozen=True)
class Cursor:
    """How far a timeline has been read. `started` is False when the poller has never read it (so its
    history is not answered); `last_id` is the newest id taken in, or None if the timeline was empty."""

    started: bool
    last_id: Optional[str] = None


@dataclass(frozen=True)
class Found:
    """One message a poll found, ready for the inbound queue (`Incoming` fields, as `record_delivery` takes)."""

    delivery_key: str
    conversation_id: str
    channel: str
    event: dict[str, Any]


def hold(session: Session, name: str, claimer: Claimer, now: dt.datetime, lease: dt.timedelta) -> bool:
    """Take or renew the lease `name` for `claimer` until `now + lease`. True if we hold it. Call it in a
    session of its own: the first holder's insert may race another replica's and roll back."""
    if session.get(PollLease, name) is None:
        session.add(PollLease(name=name))
        try:
            session.flush()
        except IntegrityError:  # another replica created it this instant: it will be free next round
            session.rollback()
            return False
    result = session.execute(
        update(PollLease)
        .where(
            PollLease.name == name,
            (PollLease.claim_token == claimer.token) | taken_over(PollLease, claimer, now),
        )
        .values(claimed_by=claimer.replica, claim_token=claimer.token, lease_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def release(session: Session, name: str, claimer: Claimer) -> None:
    """Let the lease go at once (a clean stop), so another replica need not wait for it to lapse."""
    session.execute(
        update(PollLease)
        .where(PollLease.name == name, PollLease.claim_token == claimer.token)
        .values(lease_until=None)
        .execution_options(synchronize_session=False)
    )


def cursor(session: Session, account_id: str, endpoint: str) -> Cursor:
    """How far the `endpoint` timeline (mentions, dms) of `account_id` has been read."""
    row = session.execute(
        select(XPollCursor).where(XPollCursor.account_id == account_id, XPollCursor.endpoint == endpoint)
    ).scalar_one_or_none()
    return Cursor(started=False) if row is None else Cursor(started=True, last_id=row.last_id)


def store(
    session: Session,
    lease_name: str,
    claimer: Claimer,
    lease: dt.timedelta,
    account_id: str,
    endpoint: str,
    last_id: Optional[str],
    found: list[Found],
    now: dt.datetime,
) -> list[int]:
    """Queue the new messages in `found` and move the cursor to `last_id`, in the caller's transaction.
    Returns the ids of the queued inbound events (messages already queued, by a webhook or an earlier poll,
    are left alone). Raises LeaseLost, changing nothing, if `claimer` no longer holds the lease: a process
    that stalled past its lease must not move a cursor its successor is using. The lease row is updated
    first, so on PostgreSQL a successor's takeover waits for this transaction (and then finds the lease
    renewed) or this one waits for the takeover (and finds the lease gone)."""
    renewed = session.execute(
        update(PollLease)
        .where(PollLease.name == lease_name, PollLease.claim_token == claimer.token, PollLease.lease_until >= now)
        .values(lease_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    if renewed.rowcount != 1:
        raise LeaseLost(lease_name)
    keys = [f.delivery_key for f in found]
    seen = set(
        session.execute(select(InboundEvent.delivery_key).where(InboundEvent.delivery_key.in_(keys))).scalars()
        if keys
        else []
    )
    rows = []
    for f in found:
        if f.delivery_key in seen:
            continue
        seen.add(f.delivery_key)
        row = InboundEvent(
            delivery_key=f.delivery_key,
            conversation_id=f.conversation_id,
            channel=f.channel,
            status="pending",
            attempts=0,
            event=f.event,
            received_at=now,
        )
        session.add(row)
        rows.append(row)
    row = session.execute(
        select(XPollCursor).where(XPollCursor.account_id == account_id, XPollCursor.endpoint == endpoint)
    ).scalar_one_or_none()
    if row is None:
        session.add(XPollCursor(account_id=account_id, endpoint=endpoint, last_id=last_id, updated_at=now))
    else:
        row.last_id, row.updated_at = last_id, now
    # A webhook storing the same message between our select and here makes this flush (or the commit)
    # fail on the unique key: the whole transaction, cursor included, rolls back and the next poll retries.
    session.flush()
    return [r.id for r in rows]
