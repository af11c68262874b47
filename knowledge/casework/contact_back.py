"""A way back to the resident when their platform won't carry the reply: the offer, reading an email
address or phone number out of a message, and keeping it with the case.

When a case opens and the reply will come after the platform's messaging window has closed, or out of
hours (a web chat resident will have closed the tab), the handover answer offers (never requires) an
email address or phone number. While that offer is open, messages into the case are read for one: a real
one is kept on the case (`CaseContact`), something that looks like an attempt but isn't one is asked about
again once, with the reason, and then dropped. Everything else is an ordinary message into the case.

The contact is used only for this case: its row has a `case_id`, so retention and erasure delete it with
the case's messages. It is personal data: never log it, never show it unmasked to the resident's screen
(the chat may be on a shared screen).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Optional

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge import answers
from knowledge.casework.cases import REFERENCE_PREFIX
from knowledge.channels import Reach
from knowledge.models import Case, CaseContact

# How staff can reach a resident at the reply-due time without needing another way back.
_REACHABLE = (Reach.FREE, Reach.TAGGED, Reach.POLLED)

OPEN, RETRY, DONE = "open", "retry", "done"

# Anything with an @ in it is the resident's go at an email address ("my email is bob@").
_AT_WORD = re.compile(r"[^\s<>(),;:\"\[\]]*@[^\s<>(),;:\"\[\]]*")
# A run of digits (with the spaces, dots, dashes and brackets people put in numbers) that starts like a UK
# number: 0..., +44..., 0044... Dates and amounts don't start that way, so they are not taken for attempts.
_NUMBERISH = re.compile(r"(?<![\w+])(?:\+|00)?(?:44\s?\(?0?\)?|0)[\d\s().-]{4,}\d")
# Case references hold digit runs (NC-2026-000123): a resident quoting theirs isn't giving a number.
_REFERENCE = re.compile(rf"\b{REFERENCE_PREFIX}-\d{{4}}-\d{{6}}\b", re.I)
_TRAILING = ".,!?;:'\")]"


class Problem(StrEnum):
    """Why something that looked like a contact isn't one (worded for the resident in knowledge/answers.py)."""

    EMAIL_NO_NAME = "email_no_name"  # nothing before the @
    EMAIL_NO_DOMAIN = "email_no_domain"  # nothing, or no dotted domain, after the @
    EMAIL_INVALID = "email_invalid"  # anything else email-validator refuses
    PHONE_SHORT = "phone_short"  # too few digits to be a UK number
    PHONE_INVALID = "phone_invalid"  # right length, but no UK number is like it


@dataclass(frozen=True)
class Found:
    """What one message holds: a valid `email` and/or `phone` (E.164), or else the `problem` with the
    attempt it made. All empty: no attempt at a contact at all (an ordinary message)."""

    email: Optional[str] = None
    phone: Optional[str] = None
    problem: Optional[Problem] = None

    @property
    def contact(self) -> bool:
        return bool(self.email or self.phone)


def offer_wanted(reach_at_due: Reach, open_now: bool, public: bool = False) -> bool:
    """Should the handover answer offer to take an email address or phone number?

    `reach_at_due`: how staff could reach the resident at the reply-due time if the resident wrote nothing
    more (knowledge/channels.py `staff_reach` with the case's due time as "now", no template assumed: a
    template may be refused). Offer when that is neither a plain nor a human-agent-tagged message (the
    window will have closed), and whenever we are closed now (a web chat resident will have shut the tab
    long before anyone replies; on other channels the wait is long too). Never for a public comment or
    mention: their answer would be public, and land in another conversation."""
    if public:
        return False
    if not open_now:
        return True
    return reach_at_due not in _REACHABLE


def read(text: str) -> Found:
    """The email address and/or UK phone number in `text`, or the reason an attempt at one failed.
    Checks syntax only: nothing here reaches DNS or the network."""
    text = _REFERENCE.sub(" ", text or "")
    email, problem = _email_in(text)
    phone, phone_problem = _phone_in(_AT_WORD.sub(" ", text))
    if email or phone:
        return Found(email=email, phone=phone)
    return Found(problem=problem or phone_problem)


def _email_in(text: str) -> tuple[Optional[str], Optional[Problem]]:
    problem: Optional[Problem] = None
    for word in _AT_WORD.findall(text):
        candidate = word.strip(_TRAILING)
        if candidate.lower().startswith("mailto:"):
            candidate = candidate[7:]
        if "@" not in candidate:
            continue
        name, _, domain = candidate.rpartition("@")
        if not name and "." not in domain:
            continue  # "@NorthshireCC": a handle on a social platform, not a go at an email address
        try:
            valid = validate_email(candidate, check_deliverability=False)
        except EmailNotValidError:
            if not name:
                problem = problem or Problem.EMAIL_NO_NAME
            elif not domain or "." not in domain.strip("."):
                problem = problem or Problem.EMAIL_NO_DOMAIN
            else:
                problem = problem or Problem.EMAIL_INVALID
            continue
        return valid.normalized, None
    return None, problem


def _phone_in(text: str) -> tuple[Optional[str], Optional[Problem]]:
    for match in phonenumbers.PhoneNumberMatcher(text, "GB", leniency=phonenumbers.Leniency.VALID):
        if phonenumbers.region_code_for_number(match.number) == "GB":
            return phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164), None
    for run in _NUMBERISH.findall(text):
        digits = re.sub(r"\D", "", run)
        try:
            parsed = phonenumbers.parse(run, "GB")
        except phonenumbers.NumberParseException:
            return None, Problem.PHONE_SHORT
        if phonenumbers.is_valid_number(parsed) and phonenumbers.region_code_for_number(parsed) == "GB":
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), None
        national = digits[2:] if digits.startswith("44") else digits.lstrip("0")
        return None, Problem.PHONE_SHORT if len(national) < 9 else Problem.PHONE_INVALID
    return None, None


def mask_email(email: str) -> str:
    """j…@example.com: enough for the resident to recognise, too little for someone reading over their
    shoulder."""
    name, _, domain = email.rpartition("@")
    return f"{name[:1]}…@{domain}"


def mask_phone(phone: str) -> str:
    """The last three digits only ("…123"), as people check a number."""
    return f"…{phone[-3:]}"


def national_phone(phone: str) -> str:
    """A stored E.164 number as UK staff dial it (07700 900123)."""
    return phonenumbers.format_number(phonenumbers.parse(phone, "GB"), phonenumbers.PhoneNumberFormat.NATIONAL)


# --- On the case ---------------------------------------------------------------------------------------------


def contact_for(session: Session, case_id: int) -> Optional[CaseContact]:
    """The case's contact row (the offer and whatever the resident left), if an offer was ever made."""
    return session.execute(select(CaseContact).where(CaseContact.case_id == case_id)).scalar_one_or_none()


def open_offer(session: Session, case: Case, now: dt.datetime) -> CaseContact:
    """Record that the resident was offered a way back: their next messages are read for a contact."""
    row = contact_for(session, case.id)
    if row is None:
        row = CaseContact(case_id=case.id, state=OPEN, offered_at=now)
        session.add(row)
        session.flush()
    return row


def capture(session: Session, case: Case, text: str, now: dt.datetime) -> Optional[str]:
    """Read a message into `case` for a contact while its offer is open. Returns what to tell the resident
    (the masked contact we'll use, or why it wasn't one and to try again), or None: no offer open, or
    nothing to say (an ordinary message, or a second failed attempt, dropped without more asking)."""
    row = contact_for(session, case.id)
    if row is None or row.state == DONE:
        return None
    found = read(text)
    if found.contact:
        row.email = found.email or row.email
        row.phone = found.phone or row.phone
        row.state, row.given_at = DONE, now
        session.flush()
        return answers.contact_saved(
            mask_email(found.email) if found.email else None, mask_phone(found.phone) if found.phone else None
        )
    if found.problem is None:
        return None
    if row.state == OPEN:
        row.state = RETRY
        session.flush()
        return answers.contact_retry(found.problem.value)
    row.state = DONE  # asked once already: drop it, the case goes on as it is
    session.flush()
    return None
