"""A way back to the resident, in real Chromium (issue 12): out of hours a resident in the web chat asks
for a person, is offered to leave an email address, leaves one; an agent in the console sees it, replies by
email, and the message reaches a real local SMTP server.

"Out of hours" whatever the clock says: the servers run with today and tomorrow (London dates) as bank
holidays (BANK_HOLIDAYS), so BusinessHours says closed now and the handover makes the offer.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller

from bot.stack import BotStack
from knowledge.db import session_scope
from knowledge.staff import AGENT, create_user
from tests.conftest import free_port
from tests.e2e.conftest import running_bot

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
PASSWORD = "a long and careful password"
WAIT_MS = 30_000
STAFF_TEXT = "Hello, this is Casey. Your green bin will be collected on Thursday."


class Inbox:
    """An SMTP handler keeping every message the server accepted."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture(scope="module")
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler, port = Inbox(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def closed_bot(model: Path, tmp_path_factory: pytest.TempPathFactory, inbox: tuple[Inbox, int]) -> Iterator[BotStack]:
    today = dt.datetime.now(ZoneInfo("Europe/London")).date()
    env = {
        "BUSINESS_TIMEZONE": "Europe/London",
        "BANK_HOLIDAYS": f"{today},{today + dt.timedelta(days=1)}",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(inbox[1]),
        "SMTP_FROM": "Northshire Council <contact@northshire.example>",
        "SMTP_STARTTLS": "0",
    }
    with running_bot(model, tmp_path_factory.mktemp("contact_back"), env=env) as stack:
        yield stack


def resident_says(page: Any, text: str) -> None:
    page.get_by_label("Your message").fill(text)
    page.get_by_label("Your message").press("Enter")


def test_out_of_hours_the_resident_leaves_an_email_and_the_reply_arrives_by_email(
    closed_bot: BotStack, browser: Any, inbox: tuple[Inbox, int]
) -> None:
    bot, (mail, _) = closed_bot, inbox
    with session_scope(bot.kb_url) as session:  # type: ignore[attr-defined]
        create_user(session, "casey", "Casey Agent", AGENT, PASSWORD)

    resident = browser.new_context(viewport={"width": 375, "height": 667}).new_page()
    resident.goto(f"{bot.rasa_url}/webhooks/webchat/")
    resident.wait_for_selector("form[data-ready='true']")
    resident_says(resident, "can I speak to a person please")
    log = resident.locator("#chat-log")
    log.get_by_text(re.compile("send your email address or phone number here")).wait_for(timeout=WAIT_MS)
    assert "delete it with the case" in log.inner_text()
    reference = re.search(r"NC-\d{4}-\d{6}", log.inner_text()).group()

    resident_says(resident, "yes please, it's jane.doe@example.com")
    log.get_by_text("We'll reply to you by email at j…@example.com").wait_for(timeout=WAIT_MS)
    assert "jane.doe@example.com" not in log.inner_text().split("We'll reply to you")[-1]

    agent = browser.new_context().new_page()
    agent.goto(f"{bot.console_url}/login")
    agent.get_by_label("Username").fill("casey")
    agent.get_by_label("Password").fill(PASSWORD)
    agent.get_by_role("button", name="Sign in").click()
    agent.get_by_role("link", name=reference).click()
    agent.get_by_role("button", name="Claim this case").click()
    agent.get_by_text("You own this case now.").wait_for()
    assert "They'll see your reply when they next open the chat" in agent.locator("#reach").inner_text()
    assert agent.locator("#contact-email").inner_text() == "jane.doe@example.com"
    agent.get_by_label(re.compile("Reply by email")).fill(STAFF_TEXT)
    agent.get_by_role("button", name="Send by email").click()
    agent.get_by_text("Reply sent by email.").wait_for()

    deadline = time.monotonic() + 10
    while not mail.messages and time.monotonic() < deadline:
        time.sleep(0.1)
    [got] = mail.messages
    assert got["To"] == "jane.doe@example.com"
    assert reference in got["Subject"]
    assert STAFF_TEXT in got.get_body(("plain",)).get_content()
    assert "(by email: sent)" in agent.locator("#timeline").inner_text()
