"""Which messages give a way back (review of issue 12, findings 6, 7 and 9): a contact counts only when it
is meant as the resident's own (a cue near it, or a message that is little else); dates, times, money,
account and ticket numbers are never a go at a phone number, so they can't use up the one retry; Crown
Dependency mobiles on +44 are kept; a later contact replaces the one kept. Residents' real phrasing, the
real handover gate and database, an explicit clock (tests/bot/test_contact_back.py's)."""

from __future__ import annotations

import datetime as dt
from typing import Optional

import pytest

from bot.channels.handover_gate import ACK_EVERY, intercept
from knowledge import answers
from knowledge.casework import cases, contact_back
from knowledge.db import session_scope
from tests.bot.test_contact_back import EVENING, _contact, _offered

Problem = contact_back.Problem


@pytest.mark.parametrize(
    "message",
    [
        "it happened on 01.02.2026",
        "they came on 01-02-2026 and again 03-02-2026",
        "any time 09.00 - 10.00 is fine",
        "my council tax account is 0012345678",
        "my account number is 01614960001",  # a cue ("number") loses to the kind of number it names
        "ticket 0123456",
        "it's been there since 12/11",
        "they gave me a £250 fine",
        "flat 0/2, 14 Elm Road",
        "call me after 5",
        "bin day was 2026-02-01, collected 07:30 instead",
        "The van with 0161 496 0001 on the side dumped it",  # someone else's number, no cue: not a contact
        "my neighbour bob@example.com complained as well",  # someone else's address, mentioned in passing
        "I rang 0300 123 4567 twice and nobody answered",  # the council's own number (with not_theirs below)
        "I emailed contact@northshire.gov.uk last week",  # the council's own address
        "my email to bins@mail.northshire.gov.uk bounced",  # and below its own site
    ],
)
def test_ordinary_messages_are_neither_a_contact_nor_a_failed_attempt(message: str) -> None:
    found = contact_back.read(message, not_theirs={"+443001234567", "northshire.gov.uk"})
    assert found == contact_back.Found(), f"{message!r} read as {found}"


@pytest.mark.parametrize(
    "message, email, phone",
    [
        ("my mobile's 07400 123456", None, "+447400123456"),
        ("ring me on +44 7400 123456", None, "+447400123456"),
        ("07400 123456 is my mobile", None, "+447400123456"),  # the cue after the number
        ("text me 07400123456", None, "+447400123456"),
        ("tel: 07400-123-456", None, "+447400123456"),
        ("+44 (0)7400 123456", None, "+447400123456"),
        ("0044 7400 123456", None, "+447400123456"),
        ("447400123456", None, "+447400123456"),  # as WhatsApp shows it: international without the plus
        ("it's 07400 123456, thanks", None, "+447400123456"),  # mostly the number
        ("missed again on 01.02.2026, my number is 07400 123456", None, "+447400123456"),
        ("email is jo.bloggs@gmail.com thanks", "jo.bloggs@gmail.com", None),
        ("jo.bloggs@gmail.com", "jo.bloggs@gmail.com", None),
        ("reply to jo@example.org please, or call 020 7946 0000", "jo@example.org", "+442079460000"),
        # Guernsey, Jersey and the Isle of Man are on +44 and dialled as UK numbers (finding 9).
        ("my mobile is 07781 123456", None, "+447781123456"),
        ("jersey number 07797 712345", None, "+447797712345"),
        ("07624 123456", None, "+447624123456"),
    ],
)
def test_a_contact_meant_as_the_residents_own_is_read(message: str, email: Optional[str], phone: Optional[str]) -> None:
    assert contact_back.read(message) == contact_back.Found(email=email, phone=phone)


@pytest.mark.parametrize(
    "message, problem",
    [
        ("call me on 07700 90", Problem.PHONE_SHORT),
        ("my mobile is 07400 12345 6789", Problem.PHONE_INVALID),
        ("my email is bob@", Problem.EMAIL_NO_DOMAIN),
        ("jane@example", Problem.EMAIL_NO_DOMAIN),
    ],
)
def test_a_real_go_at_a_contact_that_fails_is_still_an_attempt(message: str, problem: Problem) -> None:
    assert contact_back.read(message) == contact_back.Found(problem=problem)


def test_two_messages_with_dates_leave_the_offer_open_for_the_email_given_next(kb_url: str) -> None:
    """Finding 6: describing the problem with dates used up the one retry and closed the offer, so the real
    address given next was lost. Dates are no attempt: nothing is asked, the address is kept."""
    handover = _offered()
    first = intercept("web:capture", "The bin was missed on 01.02.2026", now=EVENING + dt.timedelta(minutes=1))
    second = intercept("web:capture", "and again on 08.02.2026", now=EVENING + dt.timedelta(minutes=2))
    assert first == second == []  # no "that phone number looks too short" (acknowledged a minute ago)
    said = intercept(
        "web:capture", "you can email me at sam@example.org", now=EVENING + ACK_EVERY + dt.timedelta(minutes=5)
    )
    assert any("s…@example.org" in r["text"] for r in said)
    with session_scope(kb_url) as s:
        case = cases.by_reference(s, handover.reference)
        assert case is not None
        row = contact_back.contact_for(s, case.id)
        assert row is not None and row.email == "sam@example.org"


def test_a_number_that_is_not_the_residents_is_not_kept(kb_url: str) -> None:
    """Finding 7: any valid number in any message became the way back; staff would call the fly-tipper."""
    handover = _offered()
    said = intercept(
        "web:capture", "The van with 0161 496 0001 on the side dumped it", now=EVENING + dt.timedelta(minutes=1)
    )
    assert said == []
    row = _contact(kb_url, handover.reference)
    assert row is not None and row.phone is None and row.state == contact_back.OPEN  # still listening


def test_a_misread_number_is_replaced_by_the_residents_correction(kb_url: str) -> None:
    """Finding 7: the resident's correction a minute later was ignored. Now a later contact replaces it,
    and the confirmation says they can send a new one."""
    handover = _offered()
    said = intercept("web:capture", "the number on the van was 0161 496 0001", now=EVENING + dt.timedelta(minutes=1))
    assert len(said) == 1 and "ending 001" in said[0]["text"] and "send the right one here" in said[0]["text"]
    fixed = intercept(
        "web:capture", "no that's not me, my number is 07400 123456", now=EVENING + dt.timedelta(minutes=2)
    )
    assert len(fixed) == 1 and "ending 456" in fixed[0]["text"]
    row = _contact(kb_url, handover.reference)
    assert row is not None and row.phone == "+447400123456", f"kept {row.phone if row else None}"


def test_with_a_contact_kept_a_failed_change_keeps_the_old_one_and_says_so(kb_url: str) -> None:
    handover = _offered()
    intercept("web:capture", "07400 123456", now=EVENING + dt.timedelta(minutes=1))
    said = intercept("web:capture", "my new number is 07700 90", now=EVENING + dt.timedelta(minutes=2))
    assert [r["text"] for r in said] == [answers.contact_retry("phone_short", keeping=True)]
    assert "keep using the one you gave us before" in said[0]["text"]
    row = _contact(kb_url, handover.reference)
    assert row is not None and row.phone == "+447400123456"


def test_the_councils_own_number_is_never_kept_as_the_residents(kb_url: str) -> None:
    # The seeded council's phone is 0300 123 4567 (knowledge/content/council.yml).
    handover = _offered()
    said = intercept("web:capture", "I called 0300 123 4567 and it rang out", now=EVENING + dt.timedelta(minutes=1))
    assert said == []
    row = _contact(kb_url, handover.reference)
    assert row is not None and row.phone is None and row.state == contact_back.OPEN
