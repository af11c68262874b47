"""What staff do to a case, end to end: the database change and, where the resident should hear about
it, the message on their channel. The console's views call these; so can scripts and tests.

Each function changes the case in one transaction first (so a refused change sends nothing), then sends,
then records how the sending went on the case's timeline.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Optional

from sqlalchemy import update
from sqlalchemy.orm import Session

from bot import mail
from bot.channels.sending.outbound import send_to_resident
from knowledge import answers
from knowledge.casework import cases, contact_back
from knowledge.channels import POLLED
from knowledge.db import session_scope
from knowledge.delivery.conversations import utcnow
from knowledge.models import Case, CaseMessage, StaffUser


@dataclass(frozen=True)
class Sent:
    """Outcome of a staff action that messages the resident: the timeline message id, whether this call
    created it (False: a double submit, nothing sent twice) and the delivery status shown to staff."""

    message_id: int
    created: bool
    delivery: str
    polled: bool = False  # web chat or REST: "queued" means the resident's page collects it, i.e. done
    channel: str = ""  # the conversation's channel, for wording its rules (window, length) to staff


def _staff(session: Session, user_id: int) -> StaffUser:
    user = session.get(StaffUser, user_id)
    if user is None or not user.active:
        raise cases.CaseError("Your account can't work cases.")
    return user


async def reply(case_id: int, staff_id: int, text: str, nonce: str) -> Sent:
    """Send a staff reply to the resident, once per form submission (`nonce`)."""

    def record() -> tuple[int, bool, str, str, Optional[str]]:
        with session_scope() as session:
            msg, created = cases.add_staff_reply(session, case_id, _staff(session, staff_id), text, nonce, utcnow())
            case = session.get(Case, case_id)
            return msg.id, created, case.conversation_id, case.channel, msg.delivery

    message_id, created, conversation_id, channel, delivery = await asyncio.to_thread(record)
    if not created:
        return Sent(message_id, False, delivery or "pending")
    status = await send_to_resident(conversation_id, channel, text.strip(), case_message_id=message_id, from_staff=True)
    await asyncio.to_thread(_set_delivery, message_id, status)
    return Sent(message_id, True, status, polled=channel in POLLED, channel=channel)


async def resolve(case_id: int, staff_id: int, outcome: str, note: str = "") -> Sent:
    """Resolve the case; the bot takes the conversation back and asks the one satisfaction question."""

    def record() -> tuple[int, str, str, answers.Reply]:
        with session_scope() as session:
            now = utcnow()
            case = cases.resolve(session, case_id, _staff(session, staff_id), outcome, note, now)
            question = answers.satisfaction_question(case.reference)
            msg = cases.add_bot_message(session, case, question.text, now, delivery="pending")
            msg.meta = {"buttons": question.buttons}
            return msg.id, case.conversation_id, case.channel, question

    message_id, conversation_id, channel, question = await asyncio.to_thread(record)
    status = await send_to_resident(
        conversation_id, channel, question.text, question.buttons, case_message_id=message_id
    )
    await asyncio.to_thread(_set_delivery, message_id, status)
    return Sent(message_id, True, status)


async def hand_back(case_id: int, staff_id: int) -> None:
    """Give the conversation back to the bot without asking for a rating."""

    def record() -> None:
        with session_scope() as session:
            cases.hand_back(session, case_id, _staff(session, staff_id), utcnow())

    await asyncio.to_thread(record)


async def reply_by_email(case_id: int, staff_id: int, text: str, nonce: str) -> Sent:
    """Send a staff reply to the email address the resident left for this case, once per form submission
    (`nonce`). The reply goes on the timeline first (delivery "pending", `meta.via` "email"), then to the
    mail server, then its outcome: "sent"; "failed" (it did not go) with the server's answer in
    `meta.error`, so nothing staff wrote is lost and it can be sent again by hand; or "unknown" (the server
    got the whole message but never confirmed it) with what happened in `meta.error`: staff check with
    the resident before resending."""

    def record() -> tuple[int, bool, Optional[str], str, str, str]:
        with session_scope() as session:
            if not mail.enabled():
                raise cases.CaseError("Replies by email are off: ask an administrator to set SMTP_HOST and SMTP_FROM.")
            contact = contact_back.contact_for(session, case_id)
            if contact is None or not contact.email:
                raise cases.CaseError("The resident left no email address for this case.")
            msg, created = cases.add_staff_reply(session, case_id, _staff(session, staff_id), text, nonce, utcnow())
            if created:
                msg.meta = {**(msg.meta or {}), "via": "email"}
            case = session.get(Case, case_id)
            council = answers.council(session)
            subject = answers.email_reply_subject(council.name, case.reference)
            body = answers.email_reply_body(council, case.reference, msg.text)
            return msg.id, created, msg.delivery, contact.email, subject, body

    message_id, created, delivery, to, subject, body = await asyncio.to_thread(record)
    if not created:
        return Sent(message_id, False, delivery or "pending")
    try:
        await asyncio.to_thread(mail.send, to, subject, body)
    except mail.MailUnknown as exc:
        # The server has the whole message and never answered: it may well have arrived. "failed" would
        # invite staff to send it again and the resident to get it twice.
        await asyncio.to_thread(_set_email_delivery, message_id, "unknown", str(exc)[:500])
        return Sent(message_id, True, "unknown")
    except mail.MailError as exc:
        await asyncio.to_thread(_set_email_delivery, message_id, "failed", str(exc)[:500])
        return Sent(message_id, True, "failed")
    await asyncio.to_thread(_set_email_delivery, message_id, "sent", None)
    return Sent(message_id, True, "sent")


def _set_email_delivery(message_id: int, status: str, error: Optional[str]) -> None:
    """Record how an email reply went; a failure or an unknown outcome keeps what happened for staff."""
    with session_scope() as session:
        msg = session.get(CaseMessage, message_id)
        meta = {**(msg.meta or {}), "error": error} if error else dict(msg.meta or {})
        session.execute(update(CaseMessage).where(CaseMessage.id == message_id).values(delivery=status, meta=meta))


def _set_delivery(message_id: int, status: str) -> None:
    with session_scope() as session:
        cases.set_delivery(session, message_id, status)
