"""The one place where a conversation leaves the bot for a person: open (or find) the case and say what
the resident should expect.

Called by the actions with everything a case needs: the conversation, its channel and origin, why, and
the transcript so far (so staff never ask the resident to repeat themselves).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Optional

from knowledge import answers, channels
from knowledge.casework import cases, contact_back
from knowledge.casework.business_hours import BusinessHours
from knowledge.db import session_scope
from knowledge.delivery.conversations import utcnow
from knowledge.models import Case


class HandoverReason(StrEnum):
    """Why the conversation should go to a person."""

    ASKED = "asked"
    REPEATED_FALLBACK = "repeated_fallback"
    CRISIS = "crisis"
    SAFEGUARDING = "safeguarding"
    COMPLAINT = "complaint"
    TOPIC = "topic"


@dataclass(frozen=True)
class Handover:
    """Result of asking for a person: the case's reference, whether it was opened just now (False: the
    resident already had one open), whether it is urgent, and when they'll hear back in plain words."""

    reason: HandoverReason
    reference: str
    created: bool
    urgent: bool
    expectation: str
    reply: str = ""
    #: set when no case was opened because of a cap (sender_day or channel_hour): `reference` is then the
    #: conversation's latest case, if any, and the resident should be given the phone number instead
    capped: Optional[str] = None
    #: the reply will come after the platform's window or out of hours: the answer offers to take an email
    #: address or phone number, and the case reads the next messages for one (contact_back.py)
    offer_contact: bool = False
    #: the resident gave an email address or phone number in the very message that asked for a person: the
    #: masked confirmation of what we'll use (knowledge/answers.py `contact_saved`), instead of the offer
    contact_saved: str = ""


def request_handover(
    conversation_id: str,
    channel: Optional[str],
    reason: HandoverReason,
    transcript: Iterable[dict] = (),
    origin: str = "private",
    topic: Optional[str] = None,
    reply_for: Optional[Callable[[Handover], str]] = None,
    offer_contact: bool = False,
    now: Optional[dt.datetime] = None,
    said: str = "",
) -> Handover:
    """Open a case for `conversation_id` (or return its open one). `reply_for` words what the bot will tell
    the resident (it needs the reference); that goes on the case's timeline too, in the same transaction,
    so staff see exactly what the resident was told. With `offer_contact`, a new case whose reply will come
    after the channel's window or out of hours offers a way back (`Handover.offer_contact`). If a new case would
    go over a cap (`cases.check_caps`) none is opened and the result says which cap (`capped`); `reply_for`
    is not called. `now`: the clock (tests), naive UTC. `said`: the resident's message that led here ("can
    someone ring me on 07400 123456"): a contact in it is kept at once, as if given after the offer."""
    now = now or utcnow()
    hours = BusinessHours.from_env()
    with session_scope() as session:
        if cases.open_case_for(session, conversation_id) is None:
            cap = cases.check_caps(session, conversation_id, channel or "unknown", reason.value, now)
            if cap is not None:
                return Handover(
                    reason=reason,
                    reference=cap.latest.reference if cap.latest else "",
                    created=False,
                    urgent=False,
                    expectation="",
                    capped=cap.cap,
                )
        case, created = cases.open_case(
            session,
            conversation_id,
            channel or "unknown",
            reason.value,
            transcript,
            origin=origin,
            topic=topic,
            now=now,
            hours=hours,
        )
        handover = Handover(
            reason=reason,
            reference=case.reference,
            created=created,
            urgent=case.priority == "urgent",
            expectation=hours.describe(now, case.sla_due_at),
        )
        if created and offer_contact and case.channel in channels.NAMES:
            # The resident just wrote, so their window starts now; what will it allow at the due time? No
            # WhatsApp template assumed: one may be refused, so the resident is offered another way then too.
            at_due = channels.staff_reach(case.channel, now, case.sla_due_at, template_ready=False)
            if contact_back.offer_wanted(at_due, hours.is_open(now), public=origin == "public"):
                contact_back.open_offer(session, case, now)
                handover = replace(handover, offer_contact=True)
        if said and origin != "public":
            saved = contact_back.keep_given(session, case, said, now)
            if saved:
                handover = replace(handover, offer_contact=False, contact_saved=saved)
        if reply_for is not None:
            text = reply_for(handover)
            cases.add_bot_message(session, case, text, now)
            handover = replace(handover, reply=text)
        return handover


def expectation(case: Case, now: dt.datetime, hours: Optional[BusinessHours] = None) -> str:
    """When a resident writing into an open case will hear back, in plain words: the reply-due time while
    the first reply is still to come (in open hours, as the handover promised), else that staff will see it."""
    if case.first_response_at is not None:
        return answers.AFTER_FIRST_REPLY
    if case.sla_due_at < now:
        return answers.REPLY_OVERDUE
    return (hours or BusinessHours.from_env()).describe(now, case.sla_due_at)
