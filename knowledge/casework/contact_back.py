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
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Optional
from urllib.parse import urlsplit

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge import answers
from knowledge.casework.cases import REFERENCE_PREFIX
from knowledge.channels import Reach
from knowledge.models import Case, CaseContact, Council

# How staff can reach a resident at the reply-due time without needing another way back.
_REACHABLE = (Reach.FREE, Reach.TAGGED, Reach.POLLED)

OPEN, RETRY, DONE = "open", "retry", "done"

# Anything with an @ in it is the resident's go at an email address ("my email is bob@").
_AT_WORD = re.compile(r"[^\s<>(),;:\"\[\]]*@[^\s<>(),;:\"\[\]]*")
# A run of digits (with the spaces, dots, dashes and brackets people put in numbers) that starts like a UK
# number: 0..., +44..., 0044..., 44... Amounts don't start that way; dates and times are taken out first.
_NUMBERISH = re.compile(r"(?<![\w+])(?:\+|00)?(?:44\s?\(?0?\)?|0)[\d\s().-]{4,}\d")
# Any digit run, to measure what else a message says besides the contact.
_DIGITS = re.compile(r"\+?\d[\d\s().-]*")
# Case references hold digit runs (NC-2026-000123): a resident quoting theirs isn't giving a number.
_REFERENCE = re.compile(rf"\b{REFERENCE_PREFIX}-\d{{4}}-\d{{6}}\b", re.I)
# Shapes that hold digits but are never a phone number: dates (01.02.2026, 01-02-26, 12/11, 2026-02-01),
# times and time ranges (09.00, 9:30), money (£250, £12.50) and flat numbers (0/2). Taken out before
# looking for numbers, so they can't pass for a phone number or use up the one retry.
_NOT_A_NUMBER = re.compile(
    r"\b\d{4}-\d{1,2}-\d{1,2}\b"
    r"|\b\d{1,2}[./-]\d{1,2}(?:[./-]\d{2,4})?\b"
    r"|\b\d{1,2}[.:]\d{2}\b"
    r"|£\s?\d[\d,]*(?:\.\d+)?"
)
# Words that say a number near them is the resident's phone number ("ring me on", "my mobile's").
_PHONE_CUES = re.compile(
    r"^(?:phone\w*|mobile|mob|moby|call|calling|tel|telephone|ring|rang|contact\w*|landline|text|txt|"
    r"whatsapp|number|numbers|num|nr|reach)$"
)
# Words that say an email address near them is the resident's own ("email is", "reply to").
_EMAIL_CUES = re.compile(r"^(?:e|email\w*|mail|contact\w*|reach|reply|write|address)$")
# Words that say the digits after them are some other number: an account, a ticket, a reference. They win
# over a cue ("account number 0012345678" is not a phone number).
_OTHER_NUMBER = re.compile(
    r"^(?:account|acc|acct|ticket|ref|reference|case|order|invoice|policy|reg|registration|permit|"
    r"application|claim|payment|card|crime|incident|uprn|pcn|bill|receipt|tracking|booking|penalty|membership)$"
)
# Words that don't count against "the message is mostly the contact" ("it's 07700 900123, thanks").
_FILLER_WORDS = (
    "a an and at cheers go here hi hello is it its me my mine of ok okay on or please pls s sure ta thank thanks "
    "that the this x xx yes yeah you"
)
_FILLER = frozenset(_FILLER_WORDS.split())
_WORD = re.compile(r"[a-z]+")
CUE_BEFORE, CUE_AFTER = 6, 4  # how many words either side of a contact a cue may be ("07700 900123 is my mobile")
MOSTLY = 2  # at most this many other words, and the message is the contact itself
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


def read(text: str, not_theirs: Collection[str] = ()) -> Found:
    """The email address and/or UK phone number the resident gives as theirs in `text`, or the reason
    their go at one failed. Checks syntax only: nothing here reaches DNS or the network.

    A contact counts only when it is meant as the resident's own: a cue near it ("my mobile's ...", "ring
    me on ...", "email is ...") or a message that is little else ("07700 900123 thanks"). So the number on
    a van's side, a date or a ticket number is an ordinary message, never a failed attempt.
    `not_theirs`: E.164 numbers and lower-case email domains that are the council's own ("I rang 0300 123
    4567"), never the resident's."""
    text = _NOT_A_NUMBER.sub(" when ", _REFERENCE.sub(" ", text or ""))
    mostly = _mostly(text)
    email, problem = _email_in(text, mostly, not_theirs)
    phone, phone_problem = _phone_in(_AT_WORD.sub(" email ", text), mostly, not_theirs)
    if email or phone:
        return Found(email=email, phone=phone)
    return Found(problem=problem or phone_problem)


def _mostly(text: str) -> bool:
    """Is the message little more than a contact ("+44 7400 123456 or sam@example.org", "it's 07700 900123")?"""
    rest = _DIGITS.sub(" ", _AT_WORD.sub(" ", text)).lower()
    return len([w for w in _WORD.findall(rest) if w not in _FILLER]) <= MOSTLY


def _meant(text: str, start: int, end: int, cues: re.Pattern[str], mostly: bool) -> bool:
    """Is the contact at text[start:end] given as the resident's own? Not after a word naming another kind
    of number ("ticket 0123456"); yes with a cue a few words either side, or when the message is mostly it."""
    before = _WORD.findall(text[:start].lower())[-CUE_BEFORE:]
    after = _WORD.findall(text[end:].lower())[:CUE_AFTER]
    if any(_OTHER_NUMBER.match(w) for w in before[-3:]):
        return False
    return mostly or any(cues.match(w) for w in before + after)


def _email_in(text: str, mostly: bool, not_theirs: Collection[str]) -> tuple[Optional[str], Optional[Problem]]:
    problem: Optional[Problem] = None
    for found in _AT_WORD.finditer(text):
        candidate = found.group(0).strip(_TRAILING)
        if candidate.lower().startswith("mailto:"):
            candidate = candidate[7:]
        if "@" not in candidate:
            continue
        name, _, domain = candidate.rpartition("@")
        if not name and "." not in domain:
            continue  # "@NorthshireCC": a handle on a social platform, not a go at an email address
        if not _meant(text, found.start(), found.end(), _EMAIL_CUES, mostly):
            continue  # someone else's address mentioned in passing
        if _is_own_domain(domain, not_theirs):
            continue  # the council's own address ("I emailed contact@northshire.gov.uk")
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


def _is_own_domain(domain: str, not_theirs: Collection[str]) -> bool:
    """Is `domain` one of `not_theirs` or below one (mail.northshire.gov.uk under northshire.gov.uk)?"""
    domain = domain.lower().strip(".")
    return any(domain == own or domain.endswith(f".{own}") for own in not_theirs if "+" not in own)


def _uk(number: phonenumbers.PhoneNumber) -> Optional[str]:
    """E.164 for a valid number on +44: Great Britain and the Crown Dependencies (Guernsey, Jersey and the
    Isle of Man mobiles, 07781, 07797, 07624..., are dialled as UK numbers)."""
    if number.country_code == 44 and phonenumbers.is_valid_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def _phone_in(text: str, mostly: bool, not_theirs: Collection[str]) -> tuple[Optional[str], Optional[Problem]]:
    for match in phonenumbers.PhoneNumberMatcher(text, "GB", leniency=phonenumbers.Leniency.VALID):
        phone = _uk(match.number)
        if phone and phone not in not_theirs and _meant(text, match.start, match.end, _PHONE_CUES, mostly):
            return phone, None
    problem: Optional[Problem] = None
    for run in _NUMBERISH.finditer(text):
        if not _meant(text, run.start(), run.end(), _PHONE_CUES, mostly):
            continue
        digits = re.sub(r"\D", "", run.group(0))
        # "447700900123" is how WhatsApp and some phones show a number: international without the plus.
        spelled = run.group(0)
        if digits.startswith("44") and not spelled.lstrip().startswith("0"):
            spelled = f"+{digits}"
        try:
            phone = _uk(phonenumbers.parse(spelled, "GB"))
        except phonenumbers.NumberParseException:
            problem = problem or Problem.PHONE_SHORT
            continue
        if phone:
            if phone in not_theirs:
                continue
            return phone, None
        national = digits[2:] if digits.startswith("44") else digits.lstrip("0")
        problem = problem or (Problem.PHONE_SHORT if len(national) < 9 else Problem.PHONE_INVALID)
    return None, problem


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


def keep_given(session: Session, case: Case, text: str, now: dt.datetime) -> Optional[str]:
    """Keep a contact the resident gave before any offer (in the message that asked for a person), as if
    they had given it after one. Returns the masked confirmation, or None if `text` holds no contact (a
    fumbled one isn't asked about here: the handover answer has more important things to say)."""
    if not read(text, _councils_own(session)).contact:
        return None
    open_offer(session, case, now)
    return capture(session, case, text, now)


def _councils_own(session: Session) -> frozenset[str]:
    """The council's own phone numbers (E.164) and its site's domain: residents quote them ("I rang 0300
    123 4567 twice"), and they are never the way back to the resident."""
    council = session.get(Council, 1)
    if council is None:
        return frozenset()
    own = set()
    for number in (council.phone, council.out_of_hours_social_care):
        try:
            parsed = phonenumbers.parse(number or "", "GB")
        except phonenumbers.NumberParseException:
            continue
        own.add(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
    domain = urlsplit(council.site or "").hostname or ""
    if domain:
        own.add(domain.lower().removeprefix("www."))
    return frozenset(own)


def capture(session: Session, case: Case, text: str, now: dt.datetime) -> Optional[str]:
    """Read a message into `case` for a contact while its offer is open. Returns what to tell the resident
    (the masked contact we'll use, or why it wasn't one and to try again), or None: no offer open, or
    nothing to say (an ordinary message, or a second failed attempt, dropped without more asking).

    Once a contact is kept, the case keeps listening while it is open: a new email address replaces the
    email address, a new number the number (the resident correcting a mistake, or a number we misread).
    After two failed attempts with nothing kept we stop asking, but a valid contact sent later is still
    kept: a resident who fumbled twice shouldn't lose the reply by email they then give correctly."""
    row = contact_for(session, case.id)
    kept = row is not None and bool(row.email or row.phone)
    if row is None:
        return None
    dropped = row.state == DONE and not kept
    found = read(text, _councils_own(session))
    if dropped and not found.contact:
        return None  # no more asking
    if found.contact:
        row.email = found.email or row.email
        row.phone = found.phone or row.phone
        row.state, row.given_at = DONE, now
        session.flush()
        return answers.contact_saved(
            mask_email(row.email) if row.email else None, mask_phone(row.phone) if row.phone else None
        )
    if found.problem is None:
        return None  # an ordinary message: it never uses up the retry
    if kept:
        return answers.contact_retry(found.problem.value, keeping=True)  # the one we have stays
    if row.state == OPEN:
        row.state = RETRY
        session.flush()
        return answers.contact_retry(found.problem.value)
    row.state = DONE  # asked once already: drop it, the case goes on as it is
    session.flush()
    return None
