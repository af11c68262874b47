"""Before the bot sees a message: is a person handling this conversation, or is it the answer to "how did
we do?".

While a case is open the bot stays silent: the message goes onto the case for staff (the console shows it
at once) and the resident is told, now and then, that it was added. If the handover offered a way back
(knowledge/casework/contact_back.py), an email address or phone number in the message is kept on the case
and the resident told, masked, what we'll use. After staff resolve a case, a reply of
1-5 (or a thumb) is kept as the case's satisfaction score. The state lives in the database, so it
survives restarts and is shared by every Rasa replica.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterable
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.channels.safety_net import in_danger
from knowledge import answers
from knowledge.casework import cases, contact_back
from knowledge.casework.handover import expectation
from knowledge.db import session_scope
from knowledge.delivery.conversations import utcnow
from knowledge.models import CaseMessage
from knowledge.personal_data.privacy import pseudonym

log = logging.getLogger(__name__)

# The first message into an open case is acknowledged at once; after that at most every half hour, so a
# resident typing several short messages isn't answered line by line, and nobody waits in silence for long.
ACK_EVERY = dt.timedelta(minutes=30)
_RATING = re.compile(r"^\s*([1-5])(?:\s*/\s*5)?\s*[.!]?\s*$")
_THUMBS = {
    "👍": 5,
    "👍🏻": 5,
    "👍🏼": 5,
    "👍🏽": 5,
    "👍🏾": 5,
    "👍🏿": 5,
    "👎": 1,
    "👎🏻": 1,
    "👎🏼": 1,
    "👎🏽": 1,
    "👎🏾": 1,
    "👎🏿": 1,
}


def rating(text: str) -> Optional[int]:
    """1-5 if the message is only a score ("4", "5/5", a thumb), else None."""
    stripped = text.strip()
    if stripped in _THUMBS:
        return _THUMBS[stripped]
    m = _RATING.match(stripped)
    return int(m.group(1)) if m else None


def intercept(
    conversation_id: str,
    text: str,
    attachments: Iterable[str] = (),
    now: Optional[dt.datetime] = None,
    first: Optional[Callable[[Session], object]] = None,
) -> Optional[list[dict]]:
    """What to send instead of running the bot, or None to let the bot answer. An empty list means
    "stay silent" (the message went to staff). `first` runs in the same transaction before the check (the
    channels record the conversation there: one database round trip per message, not two). Blocking:
    call it in a thread from async code."""
    now = now or utcnow()
    try:
        with session_scope() as session:
            if first is not None:
                first(session)
            case = cases.paused_case(session, conversation_id, now)
            if case is not None:
                cases.add_resident_message(session, case, text, attachments, now)
                if in_danger(text):
                    # The bot is quiet, so staff are the help: the case jumps to urgent (the safety net
                    # gives the resident 999 and Samaritans meanwhile).
                    cases.open_case(session, conversation_id, case.channel, "crisis", [], now=now)
                # Decided before anything below speaks: the contact answer is not an acknowledgement.
                ack_due = not _acknowledged_recently(session, case.id, now)
                replies = []
                # While the offer of a way back is open, the message may hold an email address or number.
                said = contact_back.capture(session, case, text, now)
                if said is not None:
                    cases.add_bot_message(session, case, said, now)
                    replies.append({"text": said})
                if ack_due:
                    ack = answers.case_acknowledgement(case.reference, expectation(case, now))
                    cases.add_bot_message(session, case, ack, now)
                    replies.append({"text": ack})
                return replies
            score = rating(text)
            if score is not None and cases.record_satisfaction(session, conversation_id, score, now):
                return [{"text": answers.satisfaction_thanks()}]
    except Exception:  # noqa: BLE001 - a database problem must not silence the bot as well
        log.error("could not check for an open case in conversation %s", pseudonym(conversation_id), exc_info=True)
    return None


def _acknowledged_recently(session: Session, case_id: int, now: dt.datetime) -> bool:
    """True if the resident heard from us (bot acknowledgement or staff reply) within ACK_EVERY."""

    last = session.execute(
        select(CaseMessage.created_at)
        .where(CaseMessage.case_id == case_id, CaseMessage.author.in_(["bot", "staff"]))
        .order_by(CaseMessage.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return last is not None and now - last < ACK_EVERY
