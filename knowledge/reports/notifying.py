"""Telling residents about their reports' status changes: each waiting notification, once due, goes on the
resident's own channel if the platform's rules let a bot message go now, else to the email address they
left on a case, else nowhere, and the console says why.

A bot message may go only while the resident's channel is FREE (inside the messaging window, or a channel
without one) or POLLED (web chat and REST: their page collects it). The HUMAN_AGENT tag and WhatsApp's
template are for people replying, not for the bot, so they are never used here.

Once per change per resident, even with two workers: each notification leaves `waiting` by a
compare-and-set in the same transaction that queues its message, so a second worker matches nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from knowledge.channels import Reach, channel, staff_reach
from knowledge.delivery import outbox
from knowledge.models import (
    Case,
    CaseContact,
    Conversation,
    Report,
    ReportNotification,
    ReportResident,
    ReportUpdate,
)
from knowledge.personal_data.privacy import pseudonym
from knowledge.reports import categories
from knowledge.reports.quiet_hours import next_allowed
from knowledge.reports.statuses import resident_words

log = logging.getLogger(__name__)

KIND = "report_update"
# How long a queued update may keep retrying on a channel with no window (the window's end otherwise).
RETRY_FOR = dt.timedelta(hours=24)
BATCH = 100

# Sends an email: (address, subject, body). bot/mail.py provides one; knowledge can't import bot.
Mailer = Callable[[str, str, str], None]


@dataclass(frozen=True)
class Delivered:
    """What became of one notification: `state` queued, emailed, unreachable or failed; `detail` why (for
    unreachable and failed), in words for staff."""

    notification_id: int
    report_id: int
    conversation_id: str
    state: str
    detail: Optional[str] = None


def message_for(report: Report, change: ReportUpdate, max_chars: Optional[int] = None) -> str:
    """What the resident reads: the reference, what the report is about, the status in plain words, and the
    public note staff or the back office added, if any. `max_chars` is the platform's longest message
    (Instagram Direct: 1,000): a note that would take the message past it is cut short, because the platform
    refuses a longer message and the resident would hear nothing at all."""
    category = categories.get(report.category)
    what = category.name if category else "your report"
    where = f" on {report.street}" if report.street else ""
    text = f"Update on your report {report.reference} ({what}{where}): {resident_words(change.status)}"
    if change.note:
        note = change.note
        room = None if max_chars is None else max_chars - len(text) - 2
        if room is not None and len(note) > room:
            note = note[: max(0, room - 1)].rstrip() + "…"
        text += f"\n\n{note}"
    return text


def _email_of(session: Session, conversation_id: str) -> Optional[str]:
    """The latest email address the resident left on any of their cases (case_contacts), if any."""
    return session.execute(
        select(CaseContact.email)
        .join(Case, Case.id == CaseContact.case_id)
        .where(Case.conversation_id == conversation_id, CaseContact.email.is_not(None), CaseContact.email != "")
        .order_by(CaseContact.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def _take(session: Session, notification_id: int, state: str, now: dt.datetime, detail: Optional[str] = None) -> bool:
    """Move a waiting notification to `state`; False if another worker already did."""
    return (
        session.execute(
            update(ReportNotification)
            .where(ReportNotification.id == notification_id, ReportNotification.state == "waiting")
            .values(state=state, detail=detail, done_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )


def deliver_due(session: Session, now: dt.datetime, mailer: Optional[Mailer] = None) -> list[Delivered]:
    """Deliver every notification due by `now`. `mailer` sends the email fallback (None: no email, so such
    residents are unreachable). The caller commits; a mail error leaves that notification failed.
    Nothing goes during the quiet hours: a change's `due_at` is set when it is made, but a worker that was down
    all evening (or a backlog) would otherwise send the afternoon's changes at 11pm."""
    if next_allowed(now) > now:
        return []
    rows = session.execute(
        select(ReportNotification, ReportResident, ReportUpdate, Report)
        .join(ReportResident, ReportResident.id == ReportNotification.resident_id)
        .join(ReportUpdate, ReportUpdate.id == ReportNotification.update_id)
        .join(Report, Report.id == ReportUpdate.report_id)
        .where(ReportNotification.state == "waiting", ReportNotification.due_at <= now)
        .order_by(ReportNotification.due_at, ReportNotification.id)
        .limit(BATCH)
    ).all()
    done: list[Delivered] = []
    for note, resident, change, report in rows:
        outcome = _deliver_one(session, note, resident, change, report, now, mailer)
        if outcome is not None:
            done.append(outcome)
    session.flush()
    return done


def _deliver_one(
    session: Session,
    note: ReportNotification,
    resident: ReportResident,
    change: ReportUpdate,
    report: Report,
    now: dt.datetime,
    mailer: Optional[Mailer],
) -> Optional[Delivered]:
    text = message_for(report, change)
    conv = session.get(Conversation, resident.conversation_id)

    def result(state: str, detail: Optional[str] = None) -> Delivered:
        return Delivered(note.id, report.id, resident.conversation_id, state, detail)

    reach = Reach.NONE
    if conv is not None and conv.origin == "private":
        reach = staff_reach(conv.channel, conv.last_inbound_at, now)
    if conv is not None and reach in (Reach.FREE, Reach.POLLED):
        if not _take(session, note.id, "queued", now):
            return None
        here = channel(conv.channel)
        if here.limits is not None:  # a platform's limit (web chat and REST have none)
            text = message_for(report, change, here.limits.max_chars)
        ends = None if here.window is None or conv.last_inbound_at is None else conv.last_inbound_at + here.window
        give_up = now + RETRY_FOR if ends is None else min(ends, now + RETRY_FOR)
        target = {"user_id": conv.platform_user_id, "account_id": conv.account_id, "reply_to": None}
        ids = outbox.queue(session, conv.id, conv.channel, [outbox.Planned(KIND, text, target, give_up, ends)], now)
        session.execute(
            update(ReportNotification)
            .where(ReportNotification.id == note.id)
            .values(outbound_message_id=ids[0])
            .execution_options(synchronize_session=False)
        )
        return result("queued")

    why = (
        "The conversation is no longer kept."
        if conv is None
        else "It was reported in a public comment, so there is no private conversation to update."
        if conv.origin != "private"
        else f"The resident's {channel(conv.channel).title or conv.channel} messaging window has closed."
    )
    email = _email_of(session, resident.conversation_id)
    if email and mailer is not None:
        if not _take(session, note.id, "emailed", now):
            return None
        try:
            mailer(email, f"Update on your report {report.reference}", text)
        except Exception as error:  # the mail server's trouble: staff see it, the resident isn't told twice
            log.warning(
                "report update for %s not emailed: %s", pseudonym(resident.conversation_id), type(error).__name__
            )
            detail = f"{why} Email failed ({type(error).__name__})."
            session.execute(
                update(ReportNotification)
                .where(ReportNotification.id == note.id)
                .values(state="failed", detail=detail)
                .execution_options(synchronize_session=False)
            )
            return result("failed", detail)
        return result("emailed")
    detail = f"{why} No email address was left."
    if not _take(session, note.id, "unreachable", now, detail):
        return None
    return result("unreachable", detail)
