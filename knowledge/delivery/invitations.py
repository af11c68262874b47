"""WhatsApp after 24 hours: an approved template invites the resident back, and staff replies wait for them.

WhatsApp allows only an approved template message once 24 hours have passed since the resident's last
message. So a staff reply then is held in the outbound queue (status `awaiting_resident`: kept, not sent,
not holding up the rest of the conversation) behind one template message inviting the resident to answer.
Their next message opens a new 24-hour window and releases the held replies, in the order staff wrote
them; the ordinary queue (claims, leases, one sender at a time) then sends each exactly once. If the
platform refuses the template, the held replies are marked failed with the reason, shown on their case.

Plain database work (no platform, no Rasa): the channel rules that decide *when* to invite live in
`knowledge/channels.py`; this module keeps the durable state. Every function takes a session and an
explicit `now`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Optional

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from knowledge.delivery import outbox
from knowledge.models import CaseMessage, Conversation, OutboundMessage

#: a staff reply held until the resident answers the template (outbound_messages.status, case delivery)
AWAITING = "awaiting_resident"
#: the outbound row kind of the template message itself
TEMPLATE = "template"
#: a held reply older than this when the resident finally answers is not sent: it answers a question from
#: weeks ago, and staff have long since had other ways to reach them (it stays on the case, marked why)
HELD_FOR = dt.timedelta(days=14)

# Meta's error codes for a refused template, worded for staff (the platform's own message text is not
# stored: it can quote the message or the number). From the WhatsApp Cloud API error-code reference.
_REFUSALS = {
    "131047": "more than 24 hours have passed and WhatsApp would not take the re-engagement template",
    "131026": "WhatsApp could not deliver to this number (not on WhatsApp, or an old app version)",
    "132000": "the template expects placeholders this message does not fill",
    "132001": "no approved template by that name exists in that language "
    "(check WHATSAPP_REPLY_TEMPLATE and WHATSAPP_TEMPLATE_LANGUAGE)",
    "132005": "the template's text is too long once filled in",
    "132007": "the template breaks WhatsApp's policy",
    "132012": "the template's placeholders are in the wrong format",
    "132015": "the template is paused for low quality",
    "132016": "the template is disabled for low quality",
}


def refusal_reason(code: Optional[str], error: Optional[str]) -> str:
    """Why the template was refused, for staff: Meta's code in words where we know it, else the call's
    error (status and code, never content)."""
    known = _REFUSALS.get((code or "").split("/")[0])
    if known:
        return f"{known} (WhatsApp error {code})"
    return error or "the platform refused it"


def invite_once(session: Session, conversation_id: str, now: dt.datetime) -> bool:
    """Claim the right to queue the template for this conversation: True for exactly one caller between two
    resident messages (the conditional UPDATE is the lock, so two consoles or replicas replying at once
    still send one template); False if one is already on its way or waiting for an answer."""
    result = session.execute(
        update(Conversation)
        .where(
            Conversation.id == conversation_id,
            or_(
                Conversation.invited_at.is_(None),
                Conversation.last_inbound_at.is_(None),
                Conversation.invited_at < Conversation.last_inbound_at,
            ),
        )
        .values(invited_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def hold(
    session: Session,
    conversation_id: str,
    channel: str,
    planned: Iterable[outbox.Planned],
    now: dt.datetime,
    case_message_id: Optional[int] = None,
) -> list[int]:
    """Queue a staff reply that must wait for the resident to answer the invitation. Returns the row ids."""
    ids = outbox.queue(session, conversation_id, channel, planned, now, case_message_id=case_message_id)
    session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id.in_(ids))
        .values(status=AWAITING)
        .execution_options(synchronize_session=False)
    )
    return ids


def release(
    session: Session,
    conversation_id: str,
    window_ends_at: Optional[dt.datetime],
    give_up_at: dt.datetime,
    now: Optional[dt.datetime] = None,
) -> int:
    """The resident has written again: their held replies become ordinary queued messages (in the order
    they were written, ahead of anything queued later), within the new window. A template still waiting to
    go is dropped (they have already come back); replies held longer than HELD_FOR are not sent. Idempotent:
    a second call (another replica, a retried message) finds nothing held. Returns how many were released."""
    now = now or give_up_at
    # The invitation is pointless now, and templates cost the council money: never send it after they wrote.
    session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.conversation_id == conversation_id,
            OutboundMessage.kind == TEMPLATE,
            OutboundMessage.status == "pending",
        )
        .values(status="failed", text=None, target=None, error="not needed: the resident wrote first", finished_at=now)
        .execution_options(synchronize_session=False)
    )
    stale = (
        session.execute(
            select(OutboundMessage.id).where(
                OutboundMessage.conversation_id == conversation_id,
                OutboundMessage.status == AWAITING,
                OutboundMessage.created_at < now - HELD_FOR,
            )
        )
        .scalars()
        .all()
    )
    _withdraw_rows(session, list(stale), now, f"not sent: the resident answered more than {HELD_FOR.days} days later")
    held = (
        session.execute(
            select(OutboundMessage.id).where(
                OutboundMessage.conversation_id == conversation_id, OutboundMessage.status == AWAITING
            )
        )
        .scalars()
        .all()
    )
    if not held:
        return 0
    result = session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id.in_(held), OutboundMessage.status == AWAITING)
        .values(status="pending", window_ends_at=window_ends_at, give_up_at=give_up_at, next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
    _case_lines(session, held, outbox.staff_status("pending"))
    return result.rowcount or 0


def refused(session: Session, conversation_id: str, now: dt.datetime, error: Optional[str], code: Optional[str]) -> int:
    """The platform refused the template: every reply waiting for it is failed with the reason (its words
    stay on the case, nothing is sent), each case gets a line saying why, and the conversation may be
    invited again by the next staff reply. Returns how many replies were failed."""
    reason = refusal_reason(code, error)
    held = session.execute(
        select(OutboundMessage.id, OutboundMessage.case_message_id).where(
            OutboundMessage.conversation_id == conversation_id, OutboundMessage.status == AWAITING
        )
    ).all()
    session.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id)
        .values(invited_at=None)
        .execution_options(synchronize_session=False)
    )
    if not held:
        return 0
    ids = [row.id for row in held]
    session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id.in_(ids), OutboundMessage.status == AWAITING)
        .values(
            status="failed",
            text=None,
            buttons=None,
            target=None,
            error=f"invitation template refused: {reason}"[:300],
            error_code=code,
            finished_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    _case_lines(session, ids, "failed")
    lines = [row.case_message_id for row in held if row.case_message_id is not None]
    cases = (
        set(session.execute(select(CaseMessage.case_id).where(CaseMessage.id.in_(lines))).scalars()) if lines else set()
    )
    for case_id in sorted(cases):
        session.add(
            CaseMessage(
                case_id=case_id,
                author="system",
                text=(
                    f"WhatsApp refused the invitation template: {reason}. The reply waiting for the resident "
                    "was not sent; its words stay on this case. Fix the template or reach the resident another way."
                ),
                meta={"template_error_code": code},
                created_at=now,
            )
        )
    session.flush()
    return len(ids)


def withdraw(session: Session, case_id: int, now: dt.datetime) -> int:
    """The case was resolved or handed back while staff replies on it were still held for the resident's
    answer: they are not sent (whenever the resident next writes, it may be about something else entirely);
    their words stay on the case, marked why. Returns how many were withdrawn."""
    rows = (
        session.execute(
            select(OutboundMessage.id)
            .join(CaseMessage, CaseMessage.id == OutboundMessage.case_message_id)
            .where(CaseMessage.case_id == case_id, OutboundMessage.status == AWAITING)
        )
        .scalars()
        .all()
    )
    return _withdraw_rows(session, list(rows), now, "not sent: the case was closed before the resident answered")


def _withdraw_rows(session: Session, ids: list[int], now: dt.datetime, why: str) -> int:
    if not ids:
        return 0
    session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id.in_(ids), OutboundMessage.status == AWAITING)
        .values(status="failed", text=None, buttons=None, target=None, error=why, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    _case_lines(session, ids, "withdrawn")
    return len(ids)


def _case_lines(session: Session, row_ids: list[int], delivery: str) -> None:
    """Show `delivery` on the case lines these rows carry."""
    lines = (
        session.execute(
            select(OutboundMessage.case_message_id).where(
                OutboundMessage.id.in_(row_ids), OutboundMessage.case_message_id.is_not(None)
            )
        )
        .scalars()
        .all()
    )
    if lines:
        session.execute(
            update(CaseMessage)
            .where(CaseMessage.id.in_(lines))
            .values(delivery=delivery)
            .execution_options(synchronize_session=False)
        )
