"""Handover cases: opening one with a reference number, the state machine staff work it through, the
timeline (transcript, replies, notes) and the audit of every change.

States: new -> assigned -> (waiting <-> assigned) -> resolved. `claim` is a compare-and-set in the
database, so two agents can never both own a case. Every function that changes a case writes a
`CaseAudit` row in the same transaction. Errors staff should read are `CaseError` with a plain message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Optional

from sqlalchemy import case as sql_case
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from knowledge.casework.business_hours import BusinessHours, idle_limit, sla_hours
from knowledge.delivery import invitations
from knowledge.delivery.conversations import utcnow
from knowledge.models import Case, CaseAudit, CaseMessage, CaseRefusal, ReferenceCounter, StaffUser
from knowledge.personal_data.privacy import pseudonym
from knowledge.settings import case_caps

REASONS = ("asked", "repeated_fallback", "crisis", "safeguarding", "complaint", "topic")
URGENT_REASONS = frozenset({"crisis", "safeguarding"})
OPEN_STATUSES = ("new", "assigned", "waiting")
OUTCOMES = ("answered", "referred", "report_made", "no_reply", "duplicate", "handed_back")
REFERENCE_PREFIX = "NC"
# How long after resolving a 1-5 reply counts as the answer to "how did we do?".
SATISFACTION_WINDOW = dt.timedelta(hours=24)


class CaseError(Exception):
    """A change staff asked for can't be made; the message says why, in words fit for the console."""


def _audit(session: Session, case: Case, actor: str, action: str, now: dt.datetime, **detail: Any) -> None:
    session.add(CaseAudit(case_id=case.id, actor=actor, action=action, detail=detail, at=now))


def next_reference(session: Session, now: dt.datetime) -> str:
    """NC-2026-000123: the year's next number. The UPDATE takes the counter row's lock (PostgreSQL) or the
    database's write lock (SQLite) until commit, so two handovers can't get the same number."""
    year = now.year
    bumped = session.execute(
        update(ReferenceCounter).where(ReferenceCounter.year == year).values(last=ReferenceCounter.last + 1)
    )
    if bumped.rowcount == 0:
        try:
            with session.begin_nested():
                session.add(ReferenceCounter(year=year, last=1))
        except IntegrityError:  # another process created the year's row first
            session.execute(
                update(ReferenceCounter).where(ReferenceCounter.year == year).values(last=ReferenceCounter.last + 1)
            )
    number = session.execute(select(ReferenceCounter.last).where(ReferenceCounter.year == year)).scalar_one()
    return f"{REFERENCE_PREFIX}-{year}-{number:06d}"


def open_case_for(session: Session, conversation_id: str) -> Optional[Case]:
    """The conversation's open case, if it has one."""
    return session.execute(
        select(Case)
        .where(Case.conversation_id == conversation_id, Case.status.in_(OPEN_STATUSES))
        .order_by(Case.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def priority_for(reason: str) -> str:
    """A new case's priority: urgent for crisis and safeguarding, else normal."""
    return "urgent" if reason in URGENT_REASONS else "normal"


def reply_due(priority: str, now: dt.datetime, hours: Optional[BusinessHours] = None) -> dt.datetime:
    """When a case of `priority` opened at `now` is due its first reply: the service-level target counted in
    the council's open hours."""
    return (hours or BusinessHours.from_env()).add(now, sla_hours(priority))


def open_case(
    session: Session,
    conversation_id: str,
    channel: str,
    reason: str,
    transcript: Iterable[dict],
    origin: str = "private",
    topic: Optional[str] = None,
    now: Optional[dt.datetime] = None,
    hours: Optional[BusinessHours] = None,
) -> tuple[Case, bool]:
    """Open a case for the conversation, or return the one already open (a resident never gets a second
    reference while one is open). Returns (case, created). `transcript` is the conversation so far:
    dicts with author (resident/bot), text, meta."""
    if reason not in REASONS:
        raise CaseError(f"unknown handover reason {reason!r}")
    now = now or utcnow()
    existing = open_case_for(session, conversation_id)
    if existing is not None:
        if reason in URGENT_REASONS and existing.priority != "urgent":
            existing.priority, existing.reason = "urgent", reason
            existing.sla_due_at = min(existing.sla_due_at, reply_due("urgent", now, hours))
            _audit(session, existing, "bot", "escalated", now, reason=reason)
        existing.last_activity_at = now
        return existing, False
    priority = priority_for(reason)
    case = Case(
        reference=next_reference(session, now),
        conversation_id=conversation_id,
        channel=channel or "unknown",
        origin=origin if origin in ("public", "private") else "private",
        reason=reason,
        priority=priority,
        status="new",
        topic=topic,
        tags=[],
        created_at=now,
        last_activity_at=now,
        sla_due_at=reply_due(priority, now, hours),
    )
    session.add(case)
    session.flush()
    for line in transcript:
        session.add(
            CaseMessage(
                case_id=case.id,
                author=line.get("author", "resident"),
                text=line.get("text") or "",
                meta=line.get("meta") or {},
                created_at=line.get("at") or now,
            )
        )
    _audit(session, case, "bot", "opened", now, reason=reason, priority=priority)
    return case, True


@dataclass(frozen=True)
class CapReached:
    """No new case: `cap` is sender_day or channel_hour (see `CaseRefusal`); `latest` is the
    conversation's most recent case, if it has one (its history records the refusal)."""

    cap: str
    latest: Optional[Case] = None


def check_caps(
    session: Session, conversation_id: str, channel: str, reason: str, now: Optional[dt.datetime] = None
) -> Optional[CapReached]:
    """Whether a new case for this conversation would go over a cap; if so, the refusal is recorded
    (`case_refusals`, and the latest case's audit). Call it only when the conversation has no open case.
    Urgent reasons are never capped: a flood must not stop a real crisis reaching staff."""
    if reason in URGENT_REASONS:
        return None
    now = now or utcnow()
    per_sender, per_channel = case_caps()
    cap: Optional[str] = None
    if (
        per_sender
        and session.execute(
            select(func.count(Case.id)).where(
                Case.conversation_id == conversation_id, Case.created_at > now - dt.timedelta(days=1)
            )
        ).scalar_one()
        >= per_sender
    ):
        cap = "sender_day"
    elif (
        per_channel
        and session.execute(
            select(func.count(Case.id)).where(Case.channel == channel, Case.created_at > now - dt.timedelta(hours=1))
        ).scalar_one()
        >= per_channel
    ):
        cap = "channel_hour"
    if cap is None:
        return None
    session.add(CaseRefusal(conversation=pseudonym(conversation_id), channel=channel, reason=reason, cap=cap, at=now))
    latest = session.execute(
        select(Case).where(Case.conversation_id == conversation_id).order_by(Case.id.desc()).limit(1)
    ).scalar_one_or_none()
    if latest is not None:
        _audit(session, latest, "bot", "cap_reached", now, cap=cap, reason=reason)
    return CapReached(cap, latest)


def paused_case(session: Session, conversation_id: str, now: Optional[dt.datetime] = None) -> Optional[Case]:
    """The open case that keeps the bot quiet in this conversation: open, and active within the idle limit
    (after that the bot takes the conversation back, though the case stays in the queue)."""
    case = open_case_for(session, conversation_id)
    limit = idle_limit()
    if case is None or (limit is not None and (now or utcnow()) - case.last_activity_at > limit):
        return None
    return case


def add_resident_message(
    session: Session, case: Case, text: str, attachments: Iterable[str] = (), now: Optional[dt.datetime] = None
) -> CaseMessage:
    """A resident's message while the case is open: onto the timeline, and a waiting case wakes up."""
    now = now or utcnow()
    msg = CaseMessage(
        case_id=case.id, author="resident", text=text, meta={"attachments": list(attachments)}, created_at=now
    )
    session.add(msg)
    case.last_activity_at = now
    if case.status == "waiting":
        case.status = "assigned" if case.assignee_id else "new"
        _audit(session, case, "resident", "replied", now)
    session.flush()
    return msg


def add_bot_message(
    session: Session, case: Case, text: str, now: Optional[dt.datetime] = None, delivery: Optional[str] = None
) -> CaseMessage:
    """Something the bot told the resident about the case (the reference, an acknowledgement)."""
    msg = CaseMessage(case_id=case.id, author="bot", text=text, meta={}, delivery=delivery, created_at=now or utcnow())
    session.add(msg)
    session.flush()
    return msg


def _get(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise CaseError("That case does not exist.")
    return case


def _name(session: Session, user_id: Optional[int]) -> str:
    user = session.get(StaffUser, user_id) if user_id else None
    return user.display_name if user else "someone else"


def claim(session: Session, case_id: int, staff: StaffUser, now: Optional[dt.datetime] = None) -> Case:
    """Take an unowned open case. Exactly one of several simultaneous claims succeeds: the UPDATE only
    matches while nobody owns the case."""
    now = now or utcnow()
    won = (
        session.execute(
            update(Case)
            .where(Case.id == case_id, Case.assignee_id.is_(None), Case.status.in_(OPEN_STATUSES))
            .values(assignee_id=staff.id, status=_claimed_status(), version=Case.version + 1, last_activity_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )
    case = _get(session, case_id)
    session.refresh(case)
    if not won:
        if case.status == "resolved":
            raise CaseError(f"{case.reference} is already resolved.")
        if case.assignee_id == staff.id:
            return case
        raise CaseError(f"{case.reference} was claimed by {_name(session, case.assignee_id)}.")
    _audit(session, case, staff.username, "claimed", now)
    return case


def _claimed_status() -> Any:
    """A waiting case stays waiting when claimed; anything else becomes assigned."""
    return sql_case((Case.status == "waiting", "waiting"), else_="assigned")


def assign(session: Session, case_id: int, actor: StaffUser, to: StaffUser, now: Optional[dt.datetime] = None) -> Case:
    """Give an open case to someone: its owner can pass it on, an admin can move any case."""
    now = now or utcnow()
    case = _require_open(session, case_id)
    if actor.role != "admin" and case.assignee_id not in (None, actor.id):
        raise CaseError(
            f"{case.reference} belongs to {_name(session, case.assignee_id)}; only they or an admin can reassign it."
        )
    if to.role not in ("agent", "admin") or not to.active:
        raise CaseError(f"{to.display_name} can't work cases.")
    before = case.assignee_id
    case.assignee_id, case.version = to.id, case.version + 1
    if case.status == "new":
        case.status = "assigned"
    _audit(
        session,
        case,
        actor.username,
        "assigned",
        now,
        to=to.username,
        before=_name(session, before) if before else None,
    )
    return case


def _require_open(session: Session, case_id: int) -> Case:
    case = _get(session, case_id)
    if case.status == "resolved":
        raise CaseError(
            f"{case.reference} is resolved, so it can't be changed. The resident's next message goes to the bot."
        )
    return case


def _require_owner(session: Session, case_id: int, staff: StaffUser) -> Case:
    """The open case if `staff` may work on it (reply, note, tag, resolve): its owner, or an admin."""
    case = _require_open(session, case_id)
    if case.assignee_id is None:
        raise CaseError(f"Claim {case.reference} before replying or resolving it, or adding notes or tags.")
    if case.assignee_id != staff.id and staff.role != "admin":
        raise CaseError(f"{case.reference} belongs to {_name(session, case.assignee_id)}.")
    return case


def add_staff_reply(
    session: Session, case_id: int, staff: StaffUser, text: str, nonce: str, now: Optional[dt.datetime] = None
) -> tuple[CaseMessage, bool]:
    """A reply for the resident. Returns (message, created); the same `nonce` again (a double-submitted
    form) returns the first message and created False, so it is sent once."""
    now = now or utcnow()
    text = (text or "").strip()
    if not text:
        raise CaseError("Write a reply before sending.")
    if len(text) > 4000:
        raise CaseError("Replies can be at most 4,000 characters.")
    if not nonce or len(nonce) > 64:
        raise CaseError("The form was incomplete; reload the page and try again.")
    earlier = session.execute(
        select(CaseMessage).where(CaseMessage.case_id == case_id, CaseMessage.client_nonce == nonce)
    ).scalar_one_or_none()
    if earlier is not None:
        return earlier, False
    case = _require_owner(session, case_id, staff)
    msg = CaseMessage(
        case_id=case.id,
        author="staff",
        staff_id=staff.id,
        text=text,
        client_nonce=nonce,
        delivery="pending",
        meta={"by": staff.display_name},
        created_at=now,
    )
    session.add(msg)
    if case.first_response_at is None:
        case.first_response_at = now
    case.last_activity_at, case.version = now, case.version + 1
    session.flush()
    _audit(session, case, staff.username, "replied", now, message_id=msg.id)
    return msg, True


def set_delivery(session: Session, message_id: int, status: str) -> None:
    """Record how sending a staff reply went (sent, failed, outside_window, queued)."""
    session.execute(update(CaseMessage).where(CaseMessage.id == message_id).values(delivery=status))


def add_note(
    session: Session, case_id: int, staff: StaffUser, text: str, now: Optional[dt.datetime] = None
) -> CaseMessage:
    """An internal note: on the timeline for staff, never sent to the resident."""
    now = now or utcnow()
    text = (text or "").strip()
    if not text:
        raise CaseError("Write a note before saving.")
    case = _require_owner(session, case_id, staff)  # the same rule as replies: the owner, or an admin
    msg = CaseMessage(
        case_id=case.id,
        author="note",
        staff_id=staff.id,
        text=text[:4000],
        meta={"by": staff.display_name},
        created_at=now,
    )
    session.add(msg)
    session.flush()
    _audit(session, case, staff.username, "noted", now, message_id=msg.id)
    return msg


def set_tags(
    session: Session, case_id: int, staff: StaffUser, tags: Iterable[str], now: Optional[dt.datetime] = None
) -> Case:
    """Replace the case's tags (lower-case, at most 20 of 40 characters). Only its owner or an admin."""
    case = _require_owner(session, case_id, staff)
    clean = sorted({t.strip().lower()[:40] for t in tags if t.strip()})[:20]
    _audit(session, case, staff.username, "tagged", now or utcnow(), before=case.tags or [], after=clean)
    case.tags = clean
    return case


def set_waiting(session: Session, case_id: int, staff: StaffUser, now: Optional[dt.datetime] = None) -> Case:
    """Waiting on the resident: still open (the bot stays quiet), off the top of the queue."""
    now = now or utcnow()
    case = _require_owner(session, case_id, staff)
    case.status, case.version = "waiting", case.version + 1
    _audit(session, case, staff.username, "waiting", now)
    return case


def resolve(
    session: Session,
    case_id: int,
    staff: StaffUser,
    outcome: str,
    note: str = "",
    now: Optional[dt.datetime] = None,
    ask_satisfaction: bool = True,
) -> Case:
    """Close the case: the bot takes the conversation back; the resident is asked one satisfaction question
    unless the case is handed back without a person's answer."""
    now = now or utcnow()
    if outcome not in OUTCOMES:
        raise CaseError(f"Choose an outcome: {', '.join(OUTCOMES)}.")
    case = _require_owner(session, case_id, staff)
    case.status, case.outcome, case.outcome_note = "resolved", outcome, (note or "").strip()[:2000] or None
    case.resolved_at, case.last_activity_at, case.version = now, now, case.version + 1
    case.satisfaction_asked_at = now if ask_satisfaction else None
    # A WhatsApp reply still held for the resident's answer belongs to this case: it must not go out later.
    invitations.withdraw(session, case.id, now)
    _audit(session, case, staff.username, "resolved", now, outcome=outcome)
    return case


def hand_back(session: Session, case_id: int, staff: StaffUser, now: Optional[dt.datetime] = None) -> Case:
    """Give the conversation back to the bot without a staff answer (e.g. the resident only needed a link)."""
    case = _get(session, case_id)
    if case.assignee_id is None and case.status != "resolved":
        claim(session, case_id, staff, now)
    return resolve(session, case_id, staff, "handed_back", now=now, ask_satisfaction=False)


def record_satisfaction(
    session: Session, conversation_id: str, score: int, now: Optional[dt.datetime] = None
) -> Optional[Case]:
    """Keep the resident's 1-5 answer on the case that just asked for it; None if no case is asking."""
    now = now or utcnow()
    case = session.execute(
        select(Case)
        .where(
            Case.conversation_id == conversation_id,
            Case.status == "resolved",
            Case.satisfaction.is_(None),
            Case.satisfaction_asked_at.is_not(None),
            Case.satisfaction_asked_at >= now - SATISFACTION_WINDOW,
        )
        .order_by(Case.resolved_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    if case is None or not 1 <= score <= 5:
        return None
    case.satisfaction = score
    _audit(session, case, "resident", "rated", now, score=score)
    return case


def timeline(session: Session, case_id: int, after_id: int = 0) -> list[CaseMessage]:
    return list(
        session.execute(
            select(CaseMessage)
            .where(CaseMessage.case_id == case_id, CaseMessage.id > after_id)
            .order_by(CaseMessage.id)
        ).scalars()
    )


def audit_trail(session: Session, case_id: int) -> list[CaseAudit]:
    return list(session.execute(select(CaseAudit).where(CaseAudit.case_id == case_id).order_by(CaseAudit.id)).scalars())


def _filtered(
    q: Any,
    status: Optional[str],
    channel: Optional[str],
    reason: Optional[str],
    assignee_id: Optional[int],
    unassigned: bool,
    priority: Optional[str] = None,
) -> Any:
    q = q.where(Case.status == status) if status else q.where(Case.status.in_(OPEN_STATUSES))
    if channel:
        q = q.where(Case.channel == channel)
    if reason:
        q = q.where(Case.reason == reason)
    if priority:
        q = q.where(Case.priority == priority)
    if assignee_id:
        q = q.where(Case.assignee_id == assignee_id)
    if unassigned:
        q = q.where(Case.assignee_id.is_(None))
    return q


def queue(
    session: Session,
    status: Optional[str] = None,
    channel: Optional[str] = None,
    reason: Optional[str] = None,
    assignee_id: Optional[int] = None,
    unassigned: bool = False,
    limit: int = 200,
) -> list[Case]:
    """Cases to work, urgent first, then by SLA due time. Default: every open case."""
    q = _filtered(select(Case), status, channel, reason, assignee_id, unassigned)
    urgent_first = sql_case((Case.priority == "urgent", 0), else_=1)
    return list(session.execute(q.order_by(urgent_first, Case.sla_due_at, Case.id).limit(limit)).scalars())


PAGE_SIZE = 50


@dataclass
class QueuePage:
    """One screen of the queue. `urgent`: every open urgent case the filters match, by SLA due time: on
    the first page whatever else there is, so a flood of other cases can never push one out of sight.
    `rows`: this page of the other matching cases (urgent first, then by SLA due time). `total`: all
    matching cases, urgent ones included; `urgent_elsewhere`: open urgent cases the filters hide."""

    urgent: list[Case]
    rows: list[Case]
    page: int
    pages: int
    total: int
    urgent_total: int
    urgent_elsewhere: int


def queue_page(
    session: Session,
    page: int = 1,
    per_page: int = PAGE_SIZE,
    status: Optional[str] = None,
    channel: Optional[str] = None,
    reason: Optional[str] = None,
    priority: Optional[str] = None,
    assignee_id: Optional[int] = None,
    unassigned: bool = False,
) -> QueuePage:
    """Page `page` (from 1; past the end means the last page) of the queue with these filters."""

    def matching(q: Any) -> Any:
        return _filtered(q, status, channel, reason, assignee_id, unassigned, priority)

    open_urgent = (Case.priority == "urgent") & Case.status.in_(OPEN_STATUSES)
    urgent_total = session.execute(matching(select(func.count(Case.id))).where(open_urgent)).scalar_one()
    rest_total = session.execute(matching(select(func.count(Case.id))).where(~open_urgent)).scalar_one()
    all_urgent = session.execute(select(func.count(Case.id)).where(open_urgent)).scalar_one()
    pages = max(1, -(-rest_total // per_page))
    page = min(max(1, page), pages)
    urgent = (
        list(session.execute(matching(select(Case)).where(open_urgent).order_by(Case.sla_due_at, Case.id)).scalars())
        if page == 1
        else []
    )
    urgent_first = sql_case((Case.priority == "urgent", 0), else_=1)
    rows = list(
        session.execute(
            matching(select(Case))
            .where(~open_urgent)
            .order_by(urgent_first, Case.sla_due_at, Case.id)
            .offset((page - 1) * per_page)
            .limit(per_page)
        ).scalars()
    )
    return QueuePage(urgent, rows, page, pages, urgent_total + rest_total, urgent_total, all_urgent - urgent_total)


def by_reference(session: Session, reference: str) -> Optional[Case]:
    return session.execute(select(Case).where(Case.reference == reference.strip().upper())).scalar_one_or_none()


def staff_messages_for(session: Session, conversation_id: str, after_id: int = 0) -> list[CaseMessage]:
    """What staff (and the bot about the case) sent into a conversation since `after_id`: for channels the
    resident polls, like the web chat."""
    case_ids = select(Case.id).where(Case.conversation_id == conversation_id)
    return list(
        session.execute(
            select(CaseMessage)
            .where(
                CaseMessage.case_id.in_(case_ids),
                CaseMessage.id > after_id,
                or_(CaseMessage.author == "staff", (CaseMessage.author == "bot") & (CaseMessage.delivery == "queued")),
            )
            .order_by(CaseMessage.id)
        ).scalars()
    )
