"""A way back to the resident (issue 12): when the handover offers to take an email address or phone
number, and what happens to the messages that answer it. Real SQLite database, the real channel table
(with the offer on, as the action server asks for it), an explicit clock; default hours Mon-Fri 9-5 London."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any, Optional

import pytest
from sqlalchemy.orm import Session

from bot.channels.handover_gate import ACK_EVERY, intercept
from knowledge import answers, service_reply
from knowledge.casework import cases, contact_back
from knowledge.casework.handover import Handover, HandoverReason, request_handover
from knowledge.channels import Reach
from knowledge.db import session_scope
from knowledge.models import CaseContact

IN_HOURS = dt.datetime(2026, 3, 3, 10, 0)  # Tuesday 10am in London (GMT in March)
EVENING = dt.datetime(2026, 3, 3, 20, 0)  # Tuesday 8pm: closed
SATURDAY = dt.datetime(2026, 3, 7, 11, 0)


def _in(url: str, fn: Callable[[Session], Any]) -> Any:
    with session_scope(url) as s:
        return fn(s)


def _hand_over(conv: str, channel: str, now: dt.datetime, origin: str = "private") -> Handover:
    """Ask for a person as the action server does, with its reply wording and its channel rules."""
    return request_handover(
        conv,
        channel,
        HandoverReason.ASKED,
        origin=origin,
        reply_for=lambda h: answers.handover_answer(
            None, h.reference, h.created, h.urgent, h.expectation, h.offer_contact
        ),
        offer_contact=True,
        now=now,
    )


def _contact(url: str, reference: str) -> Optional[CaseContact]:
    def load(s: Session) -> Optional[CaseContact]:
        case = cases.by_reference(s, reference)
        row = contact_back.contact_for(s, case.id)
        if row is not None:
            s.expunge(row)
        return row

    return _in(url, load)


# --- the offer ------------------------------------------------------------------------------------------------


def test_in_hours_on_messenger_there_is_no_offer(kb_url: str) -> None:
    # Due two working days later: past 24 hours, but within Meta's 7 days for a person's tagged reply.
    got = _hand_over("messenger:in-hours", "messenger", IN_HOURS)
    assert got.created and not got.offer_contact
    assert answers.CONTACT_OFFER not in got.reply
    assert _contact(kb_url, got.reference) is None


def test_out_of_hours_on_messenger_the_answer_offers_a_way_back(kb_url: str) -> None:
    got = _hand_over("messenger:evening", "messenger", EVENING)
    assert got.offer_contact
    assert "email address or phone number" in got.reply
    assert "only for this case and delete it with the case" in got.reply
    assert got.reply.index("Your reference is") < got.reply.index(answers.CONTACT_OFFER)
    assert _contact(kb_url, got.reference).state == contact_back.OPEN


def test_web_chat_out_of_hours_offers_in_hours_does_not(kb_url: str) -> None:
    assert _hand_over("web:weekend", "webchat", SATURDAY).offer_contact
    assert not _hand_over("web:tuesday", "webchat", IN_HOURS).offer_contact


def test_whatsapp_in_hours_offers_since_only_a_template_could_reach_them_at_the_due_time(kb_url: str) -> None:
    assert _hand_over("whatsapp:447400123456", "whatsapp", IN_HOURS).offer_contact


def test_a_public_comment_is_never_asked_for_contact_details(kb_url: str) -> None:
    assert not _hand_over("facebook_comment:9", "facebook_comment", EVENING, origin="public").offer_contact


def test_asking_again_for_a_person_does_not_repeat_the_offer(kb_url: str) -> None:
    first = _hand_over("web:again", "webchat", EVENING)
    again = _hand_over("web:again", "webchat", EVENING + dt.timedelta(minutes=5))
    assert first.offer_contact and not again.created and not again.offer_contact


def test_offer_rule_itself() -> None:
    assert not contact_back.offer_wanted(Reach.TAGGED, open_now=True)
    assert not contact_back.offer_wanted(Reach.FREE, open_now=True)
    assert not contact_back.offer_wanted(Reach.POLLED, open_now=True)
    assert contact_back.offer_wanted(Reach.NONE, open_now=True)
    assert contact_back.offer_wanted(Reach.TEMPLATE, open_now=True)  # a template may be refused
    assert contact_back.offer_wanted(Reach.POLLED, open_now=False)
    assert contact_back.offer_wanted(Reach.TAGGED, open_now=False)
    assert not contact_back.offer_wanted(Reach.NONE, open_now=False, public=True)


# --- capture --------------------------------------------------------------------------------------------------


def _offered(conv: str = "web:capture", channel: str = "webchat") -> Handover:
    got = _hand_over(conv, channel, EVENING)
    assert got.offer_contact
    return got


@pytest.mark.parametrize(
    "message, email, phone, shown, hidden",
    [
        ("you can email me at jane.doe@example.com", "jane.doe@example.com", None, "j…@example.com", "jane.doe"),
        ("07400 123456", None, "+447400123456", "ending 456", "07400"),
        ("my landline is (020) 7946 0000 thanks", None, "+442079460000", "ending 000", "7946"),
        ("+44 7400 123456 or sam@example.org", "sam@example.org", "+447400123456", "s…@example.org", "sam@"),
    ],
)
def test_a_real_contact_is_kept_and_confirmed_masked(  # noqa: PLR0913 - one row of the table above
    kb_url: str, message: str, email: Optional[str], phone: Optional[str], shown: str, hidden: str
) -> None:
    handover = _offered()
    replies = intercept("web:capture", message, now=EVENING + dt.timedelta(minutes=1))
    texts = [r["text"] for r in replies]
    # Only the contact answer: the handover answer a minute ago was the acknowledgement.
    assert len(texts) == 1
    assert shown in texts[0] and "We'll reply to you" in texts[0]
    assert hidden not in texts[0]
    row = _contact(kb_url, handover.reference)
    assert (row.email, row.phone, row.state) == (email, phone, contact_back.DONE)
    assert "send the right one here" in texts[0]  # a new one replaces it (review finding 7)
    # A later number while the case is open replaces the number (and leaves the email address as it was).
    later = intercept("web:capture", "sorry, my number is 020 7946 0001", now=EVENING + dt.timedelta(minutes=2))
    assert len(later) == 1 and "ending 001" in later[0]["text"]
    row = _contact(kb_url, handover.reference)
    assert (row.email, row.phone) == (email, "+442079460001")


def test_an_attempt_is_asked_again_once_then_no_more_asking(kb_url: str) -> None:
    handover = _offered()
    first = intercept("web:capture", "my email is bob@", now=EVENING + dt.timedelta(minutes=1))
    assert first[0]["text"] == answers.contact_retry("email_no_domain")
    assert "after the @" in first[0]["text"]
    assert _contact(kb_url, handover.reference).state == contact_back.RETRY
    second = intercept("web:capture", "07700 90", now=EVENING + dt.timedelta(minutes=2))
    assert second == []  # dropped, no more asking (and acknowledged a minute ago)
    row = _contact(kb_url, handover.reference)
    assert (row.state, row.email, row.phone) == (contact_back.DONE, None, None)
    # Another wrong one gets no more asking...
    assert intercept("web:capture", "my email is sam@", now=EVENING + dt.timedelta(minutes=3)) == []
    # ...but a valid address sent later is still kept: they fumbled, they didn't change their mind.
    got = intercept("web:capture", "sam@example.org", now=EVENING + dt.timedelta(minutes=4))
    assert _contact(kb_url, handover.reference).email == "sam@example.org"
    assert len(got) == 1 and "s…@example.org" in got[0]["text"]


def test_a_short_number_is_asked_about_with_its_reason(kb_url: str) -> None:
    _offered()
    got = intercept("web:capture", "call me on 07700 90", now=EVENING + dt.timedelta(minutes=1))
    assert got[0]["text"] == answers.contact_retry("phone_short")
    assert "too short" in got[0]["text"]


def test_a_message_with_no_contact_is_an_ordinary_case_message(kb_url: str) -> None:
    handover = _offered()
    assert intercept("web:capture", "It's the bins on Elm Road again", now=EVENING + dt.timedelta(minutes=1)) == []
    later = EVENING + ACK_EVERY + dt.timedelta(minutes=1)
    got = intercept("web:capture", f"ref {handover.reference}, number 12", now=later)
    ack = answers.case_acknowledgement(handover.reference, "")
    assert len(got) == 1 and got[0]["text"].startswith(ack.strip())
    assert _contact(kb_url, handover.reference).state == contact_back.OPEN  # still listening


@pytest.mark.parametrize(
    "text, problem",
    [
        ("@NorthshireCC any news?", None),  # a handle, not an email address
        ("see you at 3pm, the 12th", None),
        ("it's at 12 Elm Road NS1 2AB", None),
        ("jane@example", contact_back.Problem.EMAIL_NO_DOMAIN),
        ("@example.com", contact_back.Problem.EMAIL_NO_NAME),
        ("07700 90", contact_back.Problem.PHONE_SHORT),
        ("+44 7700 90", contact_back.Problem.PHONE_SHORT),
        ("07700 900 123 456", contact_back.Problem.PHONE_INVALID),
    ],
)
def test_what_counts_as_an_attempt(text: str, problem: Optional[contact_back.Problem]) -> None:
    found = contact_back.read(text)
    assert not found.contact and found.problem == problem


def test_masks_show_too_little_to_read_over_a_shoulder() -> None:
    assert contact_back.mask_email("jane.doe@example.com") == "j…@example.com"
    assert contact_back.mask_phone("+447400123456") == "…456"


def test_without_an_offer_a_contact_is_not_stored(kb_url: str) -> None:
    handover = _hand_over("messenger:no-offer", "messenger", IN_HOURS)
    intercept("messenger:no-offer", "jane@example.com", now=IN_HOURS + dt.timedelta(minutes=1))
    assert _contact(kb_url, handover.reference) is None


def test_the_editors_preview_shows_the_offer_as_web_chat_would(kb_url: str) -> None:
    with session_scope(kb_url) as s:
        council = answers.council(s)
        closed = service_reply.handover_line(council, HandoverReason.ASKED, now=EVENING)
        open_now = service_reply.handover_line(council, HandoverReason.ASKED, now=IN_HOURS)
    assert answers.CONTACT_OFFER in closed and answers.CONTACT_OFFER not in open_now
    sent = _hand_over("web:preview", "webchat", EVENING)
    assert sent.reply.replace(sent.reference, service_reply.REFERENCE_PLACEHOLDER) == closed


def test_the_contact_is_never_logged(kb_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    handover = _offered()
    intercept("web:capture", "jane.doe@example.com or 07400 123456", now=EVENING + dt.timedelta(minutes=1))
    assert _contact(kb_url, handover.reference).email == "jane.doe@example.com"  # it was read
    for trace in ("jane.doe", "7400123456", "07400 123456"):
        assert trace not in caplog.text


def test_a_contact_in_a_public_comment_asking_for_a_person_is_not_kept(kb_url: str) -> None:
    """A comment is public and its follow-up goes elsewhere: nothing is kept from it, nothing confirmed."""
    handover = request_handover(
        "facebook_comment:pub-1",
        "facebook_comment",
        HandoverReason.ASKED,
        origin="public",
        reply_for=lambda h: answers.handover_answer(
            None, h.reference, h.created, h.urgent, h.expectation, h.offer_contact, h.contact_saved
        ),
        offer_contact=True,
        now=EVENING,
        said="ring me on 07400 123456",
    )
    assert handover.contact_saved == "" and "ending 456" not in handover.reply
    assert _contact(kb_url, handover.reference) is None
