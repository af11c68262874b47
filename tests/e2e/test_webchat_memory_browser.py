"""The web chat remembers, in real Chromium against the trained model, the Rasa and action servers and the
staff console: a reload brings the conversation back (with its reference), "Start a new conversation"
forgets it, another browser's id never shows its history, a staff reply in a hidden tab changes the tab's
title and is announced, signed with the person's name, and a photo the resident attaches is on the case
for staff."""

from __future__ import annotations

import datetime as dt
import io
import re
import time
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select, update

from bot.channels.webchat import SENDER_PREFIX
from bot.stack import BotStack
from knowledge.db import session_scope
from knowledge.models import Attachment, Conversation
from knowledge.staff import AGENT, create_user

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
PASSWORD = "a long and careful password"
PHONE = {"width": 375, "height": 667}
WAIT_MS = 30_000
HIDDEN_WAIT_MS = 50_000  # a hidden tab polls every 30 s
REFERENCE = re.compile(r"NC-\d{4}-\d{6}")
SENDER_KEY = "councilbot.webchat.sender"
TOKEN_KEY = "councilbot.webchat.token"


def open_chat(browser: Any, bot: BotStack) -> Any:
    page = browser.new_context(viewport=PHONE).new_page()
    page.goto(f"{bot.rasa_url}/webhooks/webchat/")
    page.wait_for_selector("form[data-ready='true']")
    return page


def resident_says(page: Any, text: str) -> None:
    page.get_by_label("Your message").fill(text)
    page.get_by_label("Your message").press("Enter")


def ask_for_a_person(page: Any) -> str:
    """The resident asks for a person; returns the case reference the bot gave."""
    resident_says(page, "can I speak to a person please")
    log = page.locator("#chat-log")
    log.get_by_text(REFERENCE).first.wait_for(timeout=WAIT_MS)
    found = REFERENCE.search(log.inner_text())
    assert found
    return found.group()


def reload_chat(page: Any) -> None:
    page.reload()
    page.wait_for_selector("form[data-ready='true']")


def agent_signs_in(browser: Any, bot: BotStack, username: str, name: str) -> Any:
    with session_scope(bot.kb_url) as session:  # type: ignore[attr-defined]
        create_user(session, username, name, AGENT, PASSWORD)
    agent = browser.new_context().new_page()
    agent.goto(f"{bot.console_url}/login")
    agent.get_by_label("Username").fill(username)
    agent.get_by_label("Password").fill(PASSWORD)
    agent.get_by_role("button", name="Sign in").click()
    return agent


def agent_replies(agent: Any, bot: BotStack, reference: str, text: str) -> None:
    agent.goto(f"{bot.console_url}/cases/{reference}")
    agent.get_by_role("button", name="Claim this case").click()
    agent.get_by_text("You own this case now.").wait_for()
    agent.get_by_label("Reply to the resident").fill(text)
    agent.get_by_role("button", name="Send reply").click()
    agent.get_by_text("Reply sent").wait_for()


def wait_for_photos(bot: BotStack, count: int) -> None:
    """Until the knowledge base holds `count` web chat photos (the upload has been answered)."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        with session_scope(bot.kb_url) as session:  # type: ignore[attr-defined]
            n = session.execute(
                select(func.count()).select_from(Attachment).where(Attachment.channel == "webchat")
            ).scalar_one()
        if n >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"expected {count} web chat photos")


def hide(page: Any, hidden: bool) -> None:
    """Make the page believe it is hidden (another tab in front) or visible again, as the browser tells it."""
    state = "hidden" if hidden else "visible"
    page.evaluate(
        """(state) => {
            Object.defineProperty(document, "visibilityState", { configurable: true, get: () => state });
            Object.defineProperty(document, "hidden", { configurable: true, get: () => state === "hidden" });
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        state,
    )


def test_a_reload_brings_the_conversation_back_and_a_new_one_forgets_it(bot: BotStack, browser: Any) -> None:
    page = open_chat(browser, bot)
    reference = ask_for_a_person(page)
    log = page.locator("#chat-log")
    before = log.inner_text()

    reload_chat(page)
    log.get_by_text(reference).first.wait_for(timeout=WAIT_MS)
    assert "can I speak to a person please" in log.inner_text()
    assert log.inner_text() == before  # the same lines, in the same order
    # A return visit: a new tab on the same device (same storage) sees it too.
    again = page.context.new_page()
    again.goto(f"{bot.rasa_url}/webhooks/webchat/")
    again.wait_for_selector("form[data-ready='true']")
    again.locator("#chat-log").get_by_text(reference).first.wait_for(timeout=WAIT_MS)
    again.close()

    old_sender = page.evaluate(f"localStorage.getItem('{SENDER_KEY}')")
    page.get_by_role("button", name="Start a new conversation").click()
    assert log.inner_text().strip() == ""
    assert page.evaluate(f"localStorage.getItem('{SENDER_KEY}')") != old_sender
    assert page.evaluate(f"localStorage.getItem('{TOKEN_KEY}')") is None
    reload_chat(page)
    assert reference not in log.inner_text()
    # The new conversation is the bot's again, not the paused case's.
    resident_says(page, "there's a pothole on my road")
    log.locator("a[href*='pothole']").first.wait_for(timeout=WAIT_MS)


def test_a_contact_is_masked_on_reload_and_a_long_idle_conversation_is_forgotten(bot: BotStack, browser: Any) -> None:
    page = open_chat(browser, bot)
    resident_says(page, "my email is jane.doe@example.com")
    log = page.locator("#chat-log")
    log.locator(".msg--bot").first.wait_for(timeout=WAIT_MS)
    assert "jane.doe@example.com" in log.inner_text()  # as typed, on the screen it was typed on

    reload_chat(page)  # the next person at a shared computer
    log.get_by_text("j…@example.com").first.wait_for(timeout=WAIT_MS)
    assert "jane.doe" not in log.inner_text()

    sender = page.evaluate(f"localStorage.getItem('{SENDER_KEY}')")
    long_ago = dt.datetime.now() - dt.timedelta(days=31)  # past WEBCHAT_HISTORY_IDLE_DAYS (30)
    with session_scope(bot.kb_url) as session:  # type: ignore[attr-defined]
        session.execute(
            update(Conversation)
            .where(Conversation.id == SENDER_PREFIX + sender)
            .values(last_inbound_at=long_ago, updated_at=long_ago, created_at=long_ago)
        )
    reload_chat(page)
    page.wait_for_function(f"localStorage.getItem('{SENDER_KEY}') !== {sender!r}", timeout=WAIT_MS)
    assert log.inner_text().strip() == "" and page.evaluate(f"localStorage.getItem('{TOKEN_KEY}')") is None


def test_another_browsers_id_or_a_forged_token_never_shows_its_history(bot: BotStack, browser: Any) -> None:
    victim = open_chat(browser, bot)
    reference = ask_for_a_person(victim)
    victim_sender = victim.evaluate(f"localStorage.getItem('{SENDER_KEY}')")
    victim_token = victim.evaluate(f"localStorage.getItem('{TOKEN_KEY}')")

    for token in (None, victim_token[:-6] + "AAAAAA"):
        attacker = open_chat(browser, bot)
        attacker.evaluate(
            "([key, id, tkey, token]) => { localStorage.setItem(key, id);"
            " if (token) { localStorage.setItem(tkey, token); } else { localStorage.removeItem(tkey); } }",
            [SENDER_KEY, victim_sender, TOKEN_KEY, token],
        )
        reload_chat(attacker)
        log = attacker.locator("#chat-log")
        assert reference not in log.inner_text() and log.inner_text().strip() == ""
        if token:  # a forged pair is dropped: the page starts a new conversation of its own
            assert attacker.evaluate(f"localStorage.getItem('{SENDER_KEY}')") != victim_sender
        resident_says(attacker, "hello")
        log.locator(".msg--bot").first.wait_for(timeout=WAIT_MS)
        assert reference not in log.inner_text()
        attacker.context.close()

    # The victim's conversation is untouched.
    reload_chat(victim)
    victim.locator("#chat-log").get_by_text(reference).first.wait_for(timeout=WAIT_MS)


def test_a_staff_reply_in_a_hidden_tab_changes_the_title_and_is_announced(bot: BotStack, browser: Any) -> None:
    page = open_chat(browser, bot)
    title = page.title()
    reference = ask_for_a_person(page)
    hide(page, True)
    agent = agent_signs_in(browser, bot, "casey.hidden", "Casey Jones")
    agent_replies(agent, bot, reference, "Hello, this is Casey. I'm looking at your case now.")

    page.wait_for_function(
        "(base) => document.title.startsWith('(1) New reply') && document.title.endsWith(base)",
        arg=title,
        timeout=HIDDEN_WAIT_MS,
    )
    announcer = page.locator("#chat-announcer")
    page.wait_for_function(
        "() => document.getElementById('chat-announcer').textContent.includes('Casey (Customer Services)')",
        timeout=WAIT_MS,
    )
    assert announcer.get_attribute("aria-live") == "polite"
    staff = page.locator(".msg--staff").filter(has_text="I'm looking at your case now")
    staff.wait_for(timeout=WAIT_MS)
    # Told from the bot: the person's name on the bubble, and said first to a screen reader.
    assert staff.locator(".msg__from").inner_text() == "Casey (Customer Services)"
    assert "Casey (Customer Services) (a person) said:" in staff.inner_text()
    assert page.locator(".msg--bot .msg__from").count() == 0

    hide(page, False)
    page.wait_for_function("(base) => document.title === base", arg=title, timeout=WAIT_MS)

    # After a reload the reply is still there, still signed, and shown once.
    reload_chat(page)
    staff = page.locator(".msg--staff").filter(has_text="I'm looking at your case now")
    staff.wait_for(timeout=WAIT_MS)
    page.wait_for_timeout(5_000)  # a poll or two: nothing shown twice
    assert staff.count() == 1 and staff.locator(".msg__from").inner_text() == "Casey (Customer Services)"


def test_links_in_replies_are_links_and_text_is_never_html(bot: BotStack, browser: Any) -> None:
    page = open_chat(browser, bot)
    resident_says(page, "<img src=x onerror=alert(1)> javascript:alert(1) there's a pothole on my road")
    log = page.locator("#chat-log")
    link = log.locator("a[href^='https://']").first
    link.wait_for(timeout=WAIT_MS)
    assert log.locator("img").count() == 0 and log.locator("a[href^='javascript']").count() == 0
    reload_chat(page)  # the same from the history
    log.locator("a[href^='https://']").first.wait_for(timeout=WAIT_MS)
    assert log.locator("img").count() == 0 and log.locator("a[href^='javascript']").count() == 0
    assert "<img src=x onerror=alert(1)>" in log.inner_text()


def test_a_photo_attached_is_on_the_case_for_staff(bot: BotStack, browser: Any) -> None:
    page = open_chat(browser, bot)
    reference = ask_for_a_person(page)
    log = page.locator("#chat-log")

    page.get_by_label("Attach a photo").set_input_files(
        files=[{"name": "holiday.jpg", "mimeType": "image/jpeg", "buffer": b"just some text, not a photo\n" * 10}]
    )
    log.get_by_text("isn't a photo I can open").wait_for(timeout=WAIT_MS)

    photo = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(photo, "PNG")
    page.get_by_label("Attach a photo").set_input_files(
        files=[{"name": "pothole.png", "mimeType": "image/png", "buffer": photo.getvalue()}]
    )
    # Staff have the case (and told the resident just now), so the photo goes onto it without a bot note.
    wait_for_photos(bot, 1)
    assert log.get_by_text("You sent a photo.").count() == 2  # the refused file and the photo
    assert "kept the photo" not in log.inner_text()

    agent = agent_signs_in(browser, bot, "casey.photos", "Casey Photos")
    agent.goto(f"{bot.console_url}/cases/{reference}")
    assert "Attached: image" in agent.content()
    agent.goto(f"{bot.console_url}/cases/{reference}/photos")
    image = agent.get_by_role("img", name=re.compile("Photo 1 from the resident"))
    image.wait_for()
    agent.wait_for_function("() => document.querySelector('#photos img').naturalWidth > 0")
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [64, 48]
    assert agent.locator("#photos img").count() == 1  # the text file was never kept

    # The photo's file is for signed-in staff only.
    src = image.get_attribute("src")
    stranger = browser.new_context().new_page()
    response = stranger.goto(f"{bot.console_url}{src}")
    assert response is not None and (response.status != 200 or "image" not in response.headers.get("content-type", ""))

    # The resident's reload shows the photo in the conversation.
    reload_chat(page)
    log.get_by_text("You sent a photo.").first.wait_for(timeout=WAIT_MS)
