"""Who a privacy request is about, and where their data is.

A resident asks to see or erase what the council holds about them and names themselves one of four ways
(an `Identifier`): a channel conversation id (`messenger:123`, `whatsapp:447700900123`), a case reference
they were given (NC-2026-000123), an email address or a phone number. `find_subject` turns that into a
`Subject`: the conversation ids that are theirs, the cases opened from those conversations, and the
unanswered questions they asked. Every store is then searched by those ids.

An email address or phone number finds the conversations in which it was written (by the resident in a
message, or by staff in a case), the conversations whose id holds it (a REST or web chat integrator may
name a conversation by the resident's address or number: `rest:ann@example.org`, `rest:+447700900123`)
and, for a phone number, the WhatsApp conversation, whose id is the number in international form without
the '+'.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Optional

from sqlalchemy import Table, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from knowledge.casework.cases import REFERENCE_PREFIX
from knowledge.channels import channel
from knowledge.models import (
    Base,
    Case,
    CaseContact,
    CaseMessage,
    CaseRefusal,
    Conversation,
    Report,
    UnansweredQuestion,
)
from knowledge.personal_data import tracker_events
from knowledge.personal_data.privacy import pseudonym

KINDS: tuple[str, ...] = ("conversation", "reference", "email", "phone")

_REFERENCE = re.compile(rf"^{REFERENCE_PREFIX}-\d{{4}}-\d{{6}}$", re.I)
_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE_INPUT = re.compile(r"^\+?[\d\s().-]+$")
# Separators people put inside a phone number ("07700 900 123", "+44 (0)7700-900123"), removed so the
# digits run together before comparing.
_INSIDE_NUMBER = re.compile(r"(?<=\d)[\s().-]{1,3}(?=\+?\d)")
_DIGIT_RUN = re.compile(r"\d{7,}")
# A number as it can stand in a conversation id: the whole run of digits, with any '+' before it.
_NUMBER_RUN = re.compile(r"\+?\d{7,}")
# A slow hash: a phone number is one of only some billions, so a fast hash could be reversed by trying
# them all; at about 50 ms a try that takes years. Fixed salt, so the same identifier always hashes alike.
_SALT = b"councilbot privacy audit v1"


class IdentifierError(ValueError):
    """The text given can't be read as the kind of identifier asked for."""


def normalise_phone(raw: str) -> str:
    """A phone number as digits in international form without '+': UK forms (07700 900123,
    +44 (0)7700 900123, 0044 7700 900123) become 447700900123, as WhatsApp names the conversation."""
    digits = re.sub(r"\D", "", raw)
    international = raw.strip().startswith("+") or digits.startswith("00")
    if digits.startswith("00"):
        digits = digits[2:]
    if international or (digits.startswith("44") and len(digits) >= 12):
        # "+44 (0)7700...": the trunk 0 has no place after the country code.
        return "44" + digits[3:] if digits.startswith("440") else digits
    if digits.startswith("0"):
        return "44" + digits[1:]
    return digits


@dataclass(frozen=True)
class Identifier:
    """How the resident named themselves. `value` is normalised: a reference in capitals, an email in
    lower case, a phone number as international digits; a conversation id as given."""

    kind: str
    value: str

    def audit_hash(self) -> str:
        """A one-way hash for the audit line, never the identifier itself."""
        key = f"{self.kind}:{self.value}".encode()
        return hashlib.scrypt(key, salt=_SALT, n=2**14, r=8, p=1, dklen=32).hex()

    @property
    def needle(self) -> str:
        """A fragment every text mentioning this email or phone contains, for the database to search by:
        the address itself, or the number's last three digits (people split numbers before those)."""
        return self.value if self.kind == "email" else self.value[-3:]

    def mentioned_in(self, text: str) -> bool:
        """Does `text` contain this email address or phone number, however the number is spaced?"""
        if not text:
            return False
        if self.kind == "email":
            return any(found.lower() == self.value for found in _EMAIL.findall(text))
        if self.kind == "phone":
            # The national part (7700900123 of 447700900123) is in every way of writing a UK number.
            core = self.value[2:] if self.value.startswith("44") and len(self.value) >= 12 else self.value
            return any(core in run for run in _DIGIT_RUN.findall(_INSIDE_NUMBER.sub("", text)))
        return False

    def names(self, conversation_id: str) -> bool:
        """Is `conversation_id` named by this email address or phone number (`rest:Ann@Example.org`,
        `rest:+447700900123`, `web:07700900123`)? Stricter than `mentioned_in`: a number must be a whole
        run of digits in the id, in any form `normalise_phone` reads as this number, so a long platform id
        that happens to contain the digits of someone's number is not taken for it."""
        if self.kind == "email":
            return self.mentioned_in(conversation_id)
        if self.kind == "phone":
            return any(
                normalise_phone(run) == self.value
                for run in _NUMBER_RUN.findall(_INSIDE_NUMBER.sub("", conversation_id))
            )
        return False


def parse_identifier(raw: str, kind: Optional[str] = None) -> Identifier:
    """Read `raw` as `kind`, or guess the kind: a reference, an email, a phone number, else a conversation
    id. Raises IdentifierError with a message for the person running the command."""
    text = raw.strip()
    if not text:
        raise IdentifierError("Say who the request is about: a conversation id, case reference, email or phone.")
    if kind is None:
        if _REFERENCE.match(text):
            kind = "reference"
        elif "@" in text and ":" not in text:
            kind = "email"
        elif _PHONE_INPUT.match(text) and len(re.sub(r"\D", "", text)) >= 9:
            kind = "phone"
        else:
            kind = "conversation"
    if kind == "reference":
        if not _REFERENCE.match(text):
            raise IdentifierError(f"A case reference looks like {REFERENCE_PREFIX}-2026-000123.")
        return Identifier("reference", text.upper())
    if kind == "email":
        if not _EMAIL.fullmatch(text):
            raise IdentifierError("That doesn't look like an email address.")
        return Identifier("email", text.lower())
    if kind == "phone":
        digits = normalise_phone(text)
        if not _PHONE_INPUT.match(text) or len(digits) < 9:
            raise IdentifierError("That doesn't look like a phone number.")
        return Identifier("phone", digits)
    if kind == "conversation":
        return Identifier("conversation", text)
    raise IdentifierError(f"The kind of identifier must be one of {', '.join(KINDS)}.")


@dataclass(frozen=True)
class Subject:
    """Everything that identifies one resident's data: their conversation ids (the Rasa sender ids, also
    the `conversation_id` of every knowledge-base table), the ids of cases opened from those
    conversations, and the unanswered questions that came from them or mention their email or phone."""

    identifier: Identifier
    conversation_ids: frozenset[str]
    case_ids: frozenset[int]
    unanswered_ids: frozenset[int]

    @property
    def found(self) -> bool:
        return bool(self.case_ids or self.unanswered_ids or self.conversation_ids)

    @property
    def pseudonyms(self) -> frozenset[str]:
        return pseudonyms_of(self.conversation_ids)


def pseudonyms_of(conversation_ids: Iterable[str]) -> frozenset[str]:
    """The one-way hashes by which tables that may not hold the id name these conversations
    (`unanswered_questions`, `case_refusals`): whole, and cut to their last 60 characters as
    `knowledge.catalogue.unanswered.record` stores them."""
    names = {pseudonym(c) for c in conversation_ids}
    return frozenset(names | {name[-60:] for name in names})


def rows_of(subject: Subject) -> list[tuple[Table, Any]]:
    """Every knowledge-base table holding something of `subject`, with the condition that picks it out,
    tables that refer to others first (so deleting in this order never breaks a foreign key).

    Found by column, not by a list, so a table added later is covered without changing this: any
    `conversation_id` column, any `case_id` column (the case's messages and history), plus the
    conversations themselves, the cases, the unanswered questions and the handovers the case caps
    turned away (`case_refusals`, by the conversations' pseudonyms)."""
    found = []
    for table in reversed(Base.metadata.sorted_tables):
        conditions = []
        if "conversation_id" in table.c and subject.conversation_ids:
            conditions.append(table.c.conversation_id.in_(sorted(subject.conversation_ids)))
        if "case_id" in table.c and subject.case_ids:
            conditions.append(table.c.case_id.in_(sorted(subject.case_ids)))
        if table is Conversation.__table__ and subject.conversation_ids:
            conditions.append(table.c.id.in_(sorted(subject.conversation_ids)))
        if table is UnansweredQuestion.__table__ and subject.unanswered_ids:
            conditions.append(table.c.id.in_(sorted(subject.unanswered_ids)))
        if table is CaseRefusal.__table__ and subject.conversation_ids:
            conditions.append(table.c.conversation.in_(sorted(subject.pseudonyms)))
        if conditions:
            found.append((table, or_(*conditions)))
    return found


def find_subject(session: Session, tracker: Optional[Connection], identifier: Identifier) -> Subject:
    """Look the resident up in the knowledge base (`session`) and the tracker store (`tracker`, None when
    it has never been written to)."""
    conversations: set[str] = set()
    if identifier.kind == "conversation":
        conversations.add(identifier.value)
    elif identifier.kind == "reference":
        conversations.update(
            session.execute(select(Case.conversation_id).where(Case.reference == identifier.value)).scalars()
        )
        # Reports (issue 13) take their references from the same sequence: one names who filed it.
        conversations.update(
            c
            for c in session.execute(
                select(Report.conversation_id).where(Report.reference == identifier.value)
            ).scalars()
            if c != "erased"
        )
    else:
        conversations.update(_conversations_mentioning(session, tracker, identifier))
        if identifier.kind == "phone":
            conversations.add(f"{channel('whatsapp').id_prefix}{identifier.value}")
    case_ids = (
        set(session.execute(select(Case.id).where(Case.conversation_id.in_(conversations))).scalars())
        if conversations
        else set()
    )
    hashes = sorted(pseudonyms_of(conversations))
    unanswered = (
        set(session.execute(select(UnansweredQuestion.id).where(UnansweredQuestion.conversation.in_(hashes))).scalars())
        if hashes
        else set()
    )
    if identifier.kind in ("email", "phone"):
        rows = session.execute(
            select(UnansweredQuestion.id, UnansweredQuestion.text).where(
                _contains(UnansweredQuestion.text, identifier.needle)
            )
        )
        unanswered.update(i for i, text in rows if identifier.mentioned_in(text))
    return Subject(identifier, frozenset(conversations), frozenset(case_ids), frozenset(unanswered))


def _contains(column, needle: str):  # noqa: ANN001, ANN202 - a SQLAlchemy expression either way
    return func.lower(column).contains(needle.lower(), autoescape=True)


def _conversations_mentioning(session: Session, tracker: Optional[Connection], identifier: Identifier) -> set[str]:
    found: set[str] = set()
    rows = session.execute(
        select(Case.conversation_id, CaseMessage.text)
        .join(Case, Case.id == CaseMessage.case_id)
        .where(_contains(CaseMessage.text, identifier.needle))
    )
    found.update(c for c, text in rows if identifier.mentioned_in(text))
    notes = session.execute(
        select(Case.conversation_id, Case.outcome_note).where(_contains(Case.outcome_note, identifier.needle))
    )
    found.update(c for c, text in notes if identifier.mentioned_in(text or ""))
    # The way back a resident left for a case (knowledge/casework/contact_back.py): the email as given, the
    # number in E.164 (+447700900123), which is "+" and the identifier's international digits.
    left = (
        func.lower(CaseContact.email) == identifier.value
        if identifier.kind == "email"
        else CaseContact.phone == f"+{identifier.value}"
    )
    found.update(
        session.execute(select(Case.conversation_id).join(CaseContact, CaseContact.case_id == Case.id).where(left))
        .scalars()
        .all()
    )
    if tracker is not None:
        found.update(tracker_events.senders_mentioning(tracker, identifier.needle, identifier.mentioned_in))
    found.update(_conversations_named_by(session, tracker, identifier))
    return found


def _conversations_named_by(session: Session, tracker: Optional[Connection], identifier: Identifier) -> set[str]:
    """Conversations whose id holds the email address or phone number, in any store: the conversation
    records and every column naming a conversation (found by column, like `rows_of`), and the tracker
    store, which may be all there is of a conversation the bot answered without a handover."""
    columns = [Conversation.__table__.c.id] + [
        table.c.conversation_id for table in Base.metadata.sorted_tables if "conversation_id" in table.c
    ]
    found: set[str] = set()
    for column in columns:
        ids = session.execute(select(column).distinct().where(_contains(column, identifier.needle))).scalars()
        found.update(c for c in ids if c and identifier.names(c))
    if tracker is not None:
        found.update(tracker_events.senders_named(tracker, identifier.needle, identifier.names))
    return found
