"""The case page and the way back a resident left (issue 12), over real HTTP: how the resident can be
reached right now, next to the reply box; the contact they left (a tel: link for a number); replying by
email through a REAL local SMTP server (aiosmtpd on a loopback port), once per form; and with the mail
server down, the reply kept on the case with the failure and the server's answer."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from collections.abc import Iterator
from typing import Any, Optional

import httpx
import pytest
from aiosmtpd.controller import Controller

from knowledge.casework import cases, contact_back
from knowledge.db import session_scope
from knowledge.delivery import conversations
from knowledge.delivery.conversations import utcnow
from tests.bot.console_helpers import csrf_in, seeded_console, shown, signed_in
from tests.conftest import free_port

STAFF_TEXT = "Hello, we've booked a collection of your green bin for Thursday."


class Inbox:
    """An SMTP handler keeping every message the server accepted."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _mail_env(port: int) -> dict[str, str]:
    return {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_FROM": "Northshire Council <contact@northshire.example>",
        "SMTP_STARTTLS": "0",  # the test server speaks plain SMTP on loopback
        "SMTP_TIMEOUT_SECONDS": "5",
    }


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, smtp: tuple[Inbox, int]) -> Iterator[tuple[str, str]]:
    with seeded_console(tmp_path_factory, "contact", env=_mail_env(smtp[1])) as (base, db_url):
        yield base, db_url


@pytest.fixture(scope="module")
def console_mail_down(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    # A port nobody listens on: the mail server is down.
    with seeded_console(tmp_path_factory, "contact_down", env=_mail_env(free_port())) as (base, db_url):
        yield base, db_url


def open_case(
    db_url: str,
    conversation: str,
    channel: str,
    last_inbound: Optional[dt.datetime] = None,
    email_left: Optional[str] = None,
    phone_left: Optional[str] = None,
) -> str:
    """A case as the handover leaves it, with the conversation's last message and any contact left."""
    with session_scope(db_url) as session:
        if last_inbound is not None:
            conversations.touch_conversation(
                session, conversation, channel, "private", conversation.split(":")[1], None, None, last_inbound
            )
        case, _ = cases.open_case(
            session, conversation, channel, "asked", [{"author": "resident", "text": "my bin wasn't collected"}]
        )
        if email_left or phone_left:
            row = contact_back.open_offer(session, case, utcnow())
            row.email, row.phone, row.state = email_left, phone_left, contact_back.DONE
        return case.reference


def claimed(base: str, reference: str) -> httpx.Client:
    owner = signed_in(base, "agent")
    token = csrf_in(owner.get(f"/cases/{reference}").text)
    assert owner.post(f"/cases/{reference}/claim", data={"csrf_token": token}).status_code == 303
    return owner


def email_form(c: httpx.Client, reference: str, text: str = STAFF_TEXT) -> dict[str, str]:
    page = c.get(f"/cases/{reference}").text
    form = re.search(r'<form[^>]*id="email-form".*?</form>', page, re.S)
    assert form, "no email form on the case page"
    nonce = re.search(r'name="nonce" value="([^"]+)"', form.group(0)).group(1)
    return {"csrf_token": csrf_in(page), "nonce": nonce, "text": text}


def staff_lines(db_url: str, reference: str) -> list[tuple[str, Optional[str], dict]]:
    with session_scope(db_url) as session:
        case = cases.by_reference(session, reference)
        return [
            (m.text, m.delivery, dict(m.meta or {})) for m in cases.timeline(session, case.id) if m.author == "staff"
        ]


# --- reaching the resident ------------------------------------------------------------------------------------


def test_past_every_window_the_page_says_so_and_that_no_contact_was_left(console: tuple[str, str]) -> None:
    base, db = console
    ref = open_case(db, "messenger:gone", "messenger", last_inbound=utcnow() - dt.timedelta(days=9))
    page = shown(claimed(base, ref).get(f"/cases/{ref}"))
    assert "can't be reached on Messenger any more" in page
    assert "Meta allows replies up to 7 days after the resident's last message (9 days ago)" in page
    assert "They left no other contact." in page
    # Next to the reply box: the banner comes right before the reply form, with nothing between them.
    between = page[page.index('id="reach"') : page.index(f'action="/cases/{ref}/reply"')]
    assert between.count("<form") == 1  # the reply form's own tag


def test_inside_the_tag_window_the_page_gives_the_date(console: tuple[str, str]) -> None:
    base, db = console
    ref = open_case(db, "messenger:day3", "messenger", last_inbound=utcnow() - dt.timedelta(days=3))
    page = shown(signed_in(base, "agent").get(f"/cases/{ref}"))
    assert "human-agent tag, until" in page and "3 days ago" in page
    assert "can't be reached" not in page


def test_web_chat_residents_see_it_when_they_next_open_the_chat(console: tuple[str, str]) -> None:
    base, db = console
    ref = open_case(db, "web:reach", "webchat", last_inbound=utcnow() - dt.timedelta(hours=5))
    page = shown(signed_in(base, "agent").get(f"/cases/{ref}"))
    assert "They'll see your reply when they next open the chat; their last message was 5 hours ago." in page


def test_the_contact_left_is_shown_with_a_number_to_call(console: tuple[str, str]) -> None:
    base, db = console
    ref = open_case(
        db,
        "messenger:left",
        "messenger",
        last_inbound=utcnow() - dt.timedelta(days=8),
        email_left="fatima@example.org",
        phone_left="+447400123456",
    )
    page = signed_in(base, "agent").get(f"/cases/{ref}").text
    assert 'href="tel:+447400123456"' in page and "07400 123456" in page
    assert "fatima@example.org" in page
    assert "They left no other contact." not in page


# --- replying by email ----------------------------------------------------------------------------------------


def test_a_reply_by_email_reaches_the_mail_server_once(console: tuple[str, str], smtp: tuple[Inbox, int]) -> None:
    base, db = console
    inbox, _ = smtp
    ref = open_case(db, "web:mail", "webchat", email_left="jane.doe@example.com")
    owner = claimed(base, ref)
    form = email_form(owner, ref)
    before = len(inbox.messages)
    first, second = owner.post(f"/cases/{ref}/email", data=form), owner.post(f"/cases/{ref}/email", data=form)
    assert first.status_code == second.status_code == 303
    assert "Reply sent by email" in first.headers["location"].replace("+", " ")
    assert "already sent" in second.headers["location"].replace("+", " ")
    assert len(inbox.messages) == before + 1  # the double submit sent once
    got = inbox.messages[-1]
    assert inbox.recipients[-1] == ["jane.doe@example.com"]
    assert ref in got["Subject"] and "Northshire" in got["Subject"]
    body = got.get_body(("plain",)).get_content()
    assert STAFF_TEXT in body and ref in body and "Northshire" in body
    assert staff_lines(db, ref) == [(STAFF_TEXT, "sent", {"by": "Aggie Agent", "via": "email"})]
    page = shown(owner.get(f"/cases/{ref}"))
    assert "(by email: sent)" in page


def test_no_email_form_and_no_sending_without_an_address(console: tuple[str, str], smtp: tuple[Inbox, int]) -> None:
    base, db = console
    inbox, _ = smtp
    ref = open_case(db, "web:nomail", "webchat", phone_left="+447400123456")
    owner = claimed(base, ref)
    page = owner.get(f"/cases/{ref}").text
    assert 'id="email-form"' not in page
    before = len(inbox.messages)
    refused = owner.post(
        f"/cases/{ref}/email", data={"csrf_token": csrf_in(page), "nonce": "n-1", "text": "Hello by email"}
    )
    assert refused.status_code == 409 and "no email address" in shown(refused)
    assert len(inbox.messages) == before and staff_lines(db, ref) == []


def test_with_the_mail_server_down_the_reply_is_kept_and_marked_failed(console_mail_down: tuple[str, str]) -> None:
    base, db = console_mail_down
    ref = open_case(db, "web:down", "webchat", email_left="jane.doe@example.com")
    owner = claimed(base, ref)
    sent = owner.post(f"/cases/{ref}/email", data=email_form(owner, ref))
    assert sent.status_code == 303 and "could not be sent" in sent.headers["location"].replace("+", " ")
    [(text, delivery, meta)] = staff_lines(db, ref)
    assert (text, delivery, meta["via"]) == (STAFF_TEXT, "failed", "email")
    assert "Could not reach the mail server" in meta["error"]
    page = shown(owner.get(f"/cases/{ref}"))
    assert "(by email: failed)" in page and "Not delivered: Could not reach the mail server" in page
