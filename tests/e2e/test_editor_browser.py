"""An editor changes the pothole answer in real Chromium, previews it, publishes, and a resident's next
message over the REST webhook shows the new text with no retraining; a rollback brings the old text back."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from bot.stack import BotStack
from knowledge.db import session_scope
from knowledge.staff import EDITOR, create_user

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
PASSWORD = "an editor's long password"
OLD = "Dangerous potholes are made safe within 24 hours."
NEW = "Every pothole you report is inspected within 2 working days."


def resident_reply(bot: BotStack, text: str = "there's a pothole on my road") -> str:
    r = httpx.post(bot.webhook_url, json={"sender": f"r-{uuid.uuid4().hex[:8]}", "message": text}, timeout=60)
    return " ".join(m.get("text", "") for m in r.json())


def test_editor_changes_previews_publishes_and_rolls_back(bot: BotStack, browser: Any) -> None:
    with session_scope(bot.kb_url) as session:
        create_user(session, "eddie", "Eddie Editor", EDITOR, PASSWORD)
    assert OLD in resident_reply(bot)

    page = browser.new_context().new_page()
    page.goto(f"{bot.console_url}/login")
    page.get_by_label("Username").fill("eddie")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Search").fill("pothole")
    page.get_by_role("button", name="Find").click()
    page.get_by_role("link", name="Report a pothole").click()

    summary = page.get_by_label("What it's for")
    summary.fill(summary.input_value().replace(OLD, NEW))
    page.get_by_label("A resident's question").fill("there's a massive pothole on my road")
    page.get_by_role("button", name="Preview").click()
    result = page.locator("#preview-result")
    result.wait_for()
    assert "Report a pothole" in result.inner_text() and "your draft" in result.inner_text()
    assert re.search(r"\d+% sure", result.inner_text())
    assert NEW in result.inner_text()
    assert OLD in resident_reply(bot)  # a preview publishes nothing

    page.get_by_label("Why are you changing this?").fill("New inspection target from the highways team")
    page.get_by_role("button", name="Publish").click()
    page.get_by_text(re.compile(r"Published as version \d+")).wait_for()
    published = resident_reply(bot)
    assert NEW in published and OLD not in published  # live on the next message, no retraining

    page.get_by_role("link", name="Versions").first.click()
    rows = page.locator("#versions tbody tr")
    assert "New inspection target" in rows.first.inner_text()
    page.locator("#versions tbody tr").nth(1).get_by_role("button").click()
    page.get_by_text(re.compile(r"Rolled back")).wait_for()
    assert OLD in resident_reply(bot)
