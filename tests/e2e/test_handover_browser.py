"""The whole handover in real Chromium: a resident asks for a person in the web chat, an agent signs in to
the console, claims the case, replies, and the reply appears in the resident's chat; the resident's next
message appears in the console without a refresh; the agent resolves, the resident rates, and the bot
answers again."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.stack import BotStack
from knowledge.db import session_scope
from knowledge.staff import AGENT, create_user

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
PASSWORD = "a long and careful password"
POTHOLE = "https://www.northshire.gov.uk/roads/report-a-pothole"
WAIT_MS = 30_000


def resident_says(page: Any, text: str) -> None:
    page.get_by_label("Your message").fill(text)
    page.get_by_label("Your message").press("Enter")


def test_agent_takes_over_replies_and_hands_back(bot: BotStack, browser: Any) -> None:
    with session_scope(bot.kb_url) as session:
        create_user(session, "casey", "Casey Agent", AGENT, PASSWORD)

    resident = browser.new_context(viewport={"width": 375, "height": 667}).new_page()
    resident.goto(f"{bot.rasa_url}/webhooks/webchat/")
    resident.wait_for_selector("form[data-ready='true']")
    resident_says(resident, "can I speak to a person please")
    log = resident.locator("#chat-log")
    log.get_by_text(re.compile(r"NC-\d{4}-\d{6}")).first.wait_for(timeout=WAIT_MS)
    reference = re.search(r"NC-\d{4}-\d{6}", log.inner_text()).group()

    agent = browser.new_context().new_page()
    agent.goto(f"{bot.console_url}/login")
    agent.get_by_label("Username").fill("casey")
    agent.get_by_label("Password").fill(PASSWORD)
    agent.get_by_role("button", name="Sign in").click()
    agent.get_by_role("link", name=reference).click()
    agent.get_by_role("button", name="Claim this case").click()
    agent.get_by_text("You own this case now.").wait_for()
    agent.get_by_label("Reply to the resident").fill("Hello, I'm Casey from the council. How can I help?")
    agent.get_by_role("button", name="Send reply").click()
    agent.get_by_text("Reply sent").wait_for()

    # The staff reply reaches the resident's web chat.
    log.get_by_text("Hello, I'm Casey from the council. How can I help?").wait_for(timeout=WAIT_MS)

    # The resident's answer reaches the console without a refresh, as text.
    resident_says(resident, "<b>The pothole</b> outside number 4 is huge")
    agent.locator("#timeline").get_by_text("<b>The pothole</b> outside number 4 is huge").wait_for(timeout=WAIT_MS)
    assert agent.locator("#timeline b").count() == 0
    assert "pothole" not in log.inner_text().split("number 4 is huge")[-1]  # the bot stayed quiet

    agent.get_by_label("Outcome").select_option("report_made")
    agent.get_by_role("button", name="Resolve and hand back to the bot").click()
    agent.get_by_text("Resolved.").wait_for()

    # The resident is asked one question, answers with a button, and the bot is back.
    log.get_by_text(re.compile("How did our team do")).wait_for(timeout=WAIT_MS)
    resident.get_by_role("button", name="5", exact=True).click()
    log.get_by_text("Thank you for your feedback").wait_for(timeout=WAIT_MS)
    resident_says(resident, "there's a pothole on my road")
    log.locator(f"a[href='{POTHOLE}']").wait_for(timeout=WAIT_MS)

    agent.reload()
    assert "Resident rated 5/5" in agent.content()
