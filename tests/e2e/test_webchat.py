"""The web chat page in headless Chromium, against the trained model and the real Rasa and action servers.

The page is opened at phone size and used as a resident would: by its labels, with the keyboard, by
tapping suggested replies. Its endpoint is also called directly to check the conversation is kept under
`web:<sender>` in the tracker store.
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from bot.stack import BotStack
from knowledge.db import session_scope
from knowledge.models import Council, Service

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PHONE = {"width": 375, "height": 667}
SMALLEST = {"width": 320, "height": 568}
POTHOLE = "there's a pothole on my road"
REPLY_TIMEOUT_MS = 30_000


def from_kb(bot: BotStack, column: Any, *where: Any) -> str:
    """One value from the knowledge base the running bot answers from."""
    with session_scope(bot.kb_url) as session:  # type: ignore[attr-defined]
        return session.execute(select(column).where(*where)).scalar_one()


@pytest.fixture(scope="module")
def pothole_url(bot: BotStack) -> str:
    return from_kb(bot, Service.url, Service.key == "roads.pothole")


@pytest.fixture(scope="module")
def page_url(bot: BotStack) -> str:
    return f"{bot.rasa_url}/webhooks/webchat/"


def open_chat(browser: Browser, url: str, viewport: dict[str, int]) -> tuple[Page, list[str]]:
    """A fresh touch-screen browser context on the chat page, and the errors it logs (a CSP violation, a
    script error, a failed request or an alert() box would show up there)."""
    context = browser.new_context(viewport=viewport, has_touch=True, is_mobile=True, device_scale_factor=2)
    page = context.new_page()
    errors: list[str] = []
    # The browser's own request for /favicon.ico (outside this channel, so 404) is not the page's error.
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and not msg.location.get("url", "").endswith("/favicon.ico")
            else None
        ),
    )
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: (errors.append(f"dialog opened: {dialog.message}"), dialog.dismiss()))
    page.goto(url)
    page.wait_for_selector("#chat-form[data-ready=true]", state="attached")
    return page, errors


@pytest.fixture
def phone(browser: Browser, page_url: str) -> Iterator[Page]:
    """The chat page at 375x667; fails the test if the page logged any error."""
    page, errors = open_chat(browser, page_url, PHONE)
    yield page
    page.context.close()
    assert errors == []


def say(page: Page, text: str) -> None:
    """Type `text` into the box found by its label and press Enter."""
    box = page.get_by_label("Your message")
    box.fill(text)
    box.press("Enter")


def sender_of(page: Page) -> str:
    return page.evaluate("localStorage.getItem('councilbot.webchat.sender')")


def tracker_rows(bot: BotStack, sender_id: str) -> list[dict]:
    """The tracker store's events for conversation `sender_id`, as Rasa saved them."""
    db = bot.settings.tracker_store_url.removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT data FROM events WHERE sender_id = ? ORDER BY id", (sender_id,)).fetchall()
    return [json.loads(data) for (data,) in rows]


def no_horizontal_scroll(page: Page) -> bool:
    return page.evaluate("document.scrollingElement.scrollWidth <= document.scrollingElement.clientWidth")


def test_pothole_report_gets_a_real_link_and_focus_stays_in_the_box(
    bot: BotStack, phone: Page, pothole_url: str
) -> None:
    council = from_kb(bot, Council.name, Council.id == 1)
    expect(phone.get_by_role("heading", level=1)).to_have_text(f"Ask {council}")
    expect(phone).to_have_title(f"Ask {council}")
    say(phone, POTHOLE)
    log = phone.get_by_role("log")
    link = log.locator(f'a[href="{pothole_url}"]')
    expect(link).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    expect(log.locator(".msg--user")).to_have_text(f"You said: {POTHOLE}")
    box = phone.get_by_label("Your message")
    expect(box).to_be_focused()
    expect(box).to_have_value("")
    expect(phone.get_by_role("status")).to_have_text("")  # the typing indicator is gone
    assert re.fullmatch(r"[0-9a-f-]{32,36}", sender_of(phone))
    assert tracker_rows(bot, f"web:{sender_of(phone)}")


def focused_outline(page: Page) -> dict[str, str]:
    return page.evaluate("""() => {
        const style = getComputedStyle(document.activeElement);
        return {id: document.activeElement.id, style: style.outlineStyle, width: style.outlineWidth};
    }""")


def test_keyboard_alone_reaches_the_box_and_send_with_visible_focus(phone: Page, pothole_url: str) -> None:
    phone.bring_to_front()
    for _ in range(5):  # the scrollable log is a tab stop first (so keyboard users can scroll it)
        phone.keyboard.press("Tab")
        if focused_outline(phone)["id"] == "chat-input":
            break
    box = focused_outline(phone)
    assert box["id"] == "chat-input"
    assert box["style"] != "none" and box["width"] != "0px"
    phone.keyboard.type("pothole")
    phone.keyboard.press("Tab")
    send = focused_outline(phone)
    assert send["id"] == "chat-send"
    assert send["style"] != "none" and send["width"] != "0px"
    phone.keyboard.press("Enter")
    expect(phone.get_by_role("log").locator(f'a[href="{pothole_url}"]')).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    expect(phone.get_by_label("Your message")).to_be_focused()


def test_no_horizontal_scrolling_at_320px(browser: Browser, page_url: str, pothole_url: str) -> None:
    page, errors = open_chat(browser, page_url, SMALLEST)
    try:
        assert no_horizontal_scroll(page)
        say(page, POTHOLE + " " + "and-a-very-long-unbroken-word" * 5)
        expect(page.get_by_role("log").locator(f'a[href="{pothole_url}"]')).to_be_visible(timeout=REPLY_TIMEOUT_MS)
        assert no_horizontal_scroll(page)
        sizes = page.evaluate("""() => [...document.querySelectorAll('p, label, input, button, a')]
            .map(e => parseFloat(getComputedStyle(e).fontSize))""")
        assert min(sizes) >= 16
    finally:
        page.context.close()
    assert errors == []


@pytest.mark.parametrize("text", ["<img src=x onerror=alert(1)>", "<b>hi</b> and <script>alert(2)</script>"])
def test_html_in_a_message_is_shown_as_text(phone: Page, text: str) -> None:
    say(phone, text)
    log = phone.get_by_role("log")
    expect(log.locator(".msg--user")).to_have_text(f"You said: {text}")
    expect(log.locator(".msg--bot").first).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    assert log.locator("img, b, script").count() == 0  # `phone` also fails the test if a dialog opened


def test_suggested_reply_buttons_send_their_payload(bot: BotStack, phone: Page) -> None:
    say(phone, "the thing with the stuff")
    log = phone.get_by_role("log")
    expect(log.locator(".msg--bot").first).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    choices = log.get_by_role("group", name="Suggested replies").get_by_role("button")
    expect(choices.first).to_be_visible()  # unclear words: the bot offers likely services, never a dead end
    title = choices.first.inner_text()
    choices.first.click()
    expect(log.locator(".msg--user").last).to_have_text(f"You said: {title}")
    expect(log.locator(".msg--bot")).to_have_count(2, timeout=REPLY_TIMEOUT_MS)
    expect(choices.first).to_be_disabled()
    expect(phone.get_by_label("Your message")).to_be_focused()
    url = from_kb(bot, Service.url, Service.title == title)
    expect(log.locator(f'a[href="{url}"]')).to_be_visible()


def test_an_unreachable_server_is_announced_and_the_text_kept(browser: Browser, page_url: str) -> None:
    page, _ = open_chat(browser, page_url, PHONE)  # the failed request is logged as an error, on purpose
    try:
        page.route("**/webhooks/webchat/webhook", lambda route: route.abort("connectionrefused"))
        say(page, "pothole")
        alert = page.get_by_role("alert")
        expect(alert).to_be_visible()
        expect(alert).to_contain_text("couldn't reach the chat")
        expect(page.get_by_label("Your message")).to_have_value("pothole")
        expect(page.get_by_role("status")).to_have_text("")
        page.unroute("**/webhooks/webchat/webhook")
        page.get_by_label("Your message").press("Enter")  # sending again clears the error
        expect(alert).to_be_hidden()
    finally:
        page.context.close()


def test_sender_id_lasts_on_the_device(browser: Browser, page_url: str) -> None:
    page, errors = open_chat(browser, page_url, PHONE)
    try:
        say(page, "hello")  # the id is made on first use
        expect(page.get_by_role("log").locator(".msg--bot").first).to_be_visible(timeout=REPLY_TIMEOUT_MS)
        first = sender_of(page)
        page.reload()
        page.wait_for_selector("#chat-form[data-ready=true]", state="attached")
        shown = page.get_by_role("log").locator(".msg--bot").count()  # the history brought back
        assert shown >= 1
        say(page, "pothole")
        page.wait_for_function(
            "n => document.querySelectorAll('#chat-log .msg--bot').length > n", arg=shown, timeout=REPLY_TIMEOUT_MS
        )
        assert sender_of(page) == first
    finally:
        page.context.close()
    assert errors == []
    other, _ = open_chat(browser, page_url, PHONE)
    try:  # another tab (here, another browser profile) is another conversation
        say(other, "hello")
        expect(other.get_by_role("log").locator(".msg--bot").first).to_be_visible(timeout=REPLY_TIMEOUT_MS)
        assert sender_of(other) != first
    finally:
        other.context.close()


def test_endpoint_answers_with_the_link_and_keeps_the_conversation_under_web(bot: BotStack, pothole_url: str) -> None:
    sender = str(uuid.uuid4())
    response = httpx.post(
        f"{bot.rasa_url}/webhooks/webchat/webhook",
        timeout=60,
        json={"sender": sender, "message": POTHOLE, "metadata": {"origin": "public"}},
    )
    assert response.status_code == 200, response.text
    replies = response.json()
    assert replies and all(set(r) <= {"text", "buttons"} for r in replies)
    assert pothole_url in "\n".join(r["text"] for r in replies)
    assert tracker_rows(bot, sender) == []
    events = tracker_rows(bot, f"web:{sender}")
    user = [e for e in events if e.get("event") == "user"]
    assert user and user[0]["input_channel"] == "webchat"
    # Rasa adds its own keys (model_id, assistant_id); the caller's "origin" never gets through.
    assert {k: user[0]["metadata"].get(k) for k in ("channel", "origin")} == {"channel": "webchat", "origin": "private"}


def test_endpoint_rejects_bad_requests_like_the_rest_webhook(bot: BotStack) -> None:
    url = f"{bot.rasa_url}/webhooks/webchat/webhook"
    for raw in (b"{not json", b'{"sender": "web-bad", "message": null}', b'{"sender": "a b", "message": "hi"}'):
        response = httpx.post(url, content=raw, headers={"Content-Type": "application/json"}, timeout=30)
        assert response.status_code == 400
        assert "error" in response.json() and "Traceback" not in response.text
    assert tracker_rows(bot, "web:web-bad") == []


def test_page_and_files_are_served_with_their_headers(page_url: str) -> None:
    page = httpx.get(page_url, timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    redirect = httpx.get(page_url.rstrip("/"), timeout=30)
    assert redirect.status_code == 308 and redirect.headers["location"].endswith("/webhooks/webchat/")
    for src in re.findall(r'(?:src|href)="(static/[^"]+)"', page.text):
        asset = httpx.get(page_url + src, timeout=30)
        assert asset.status_code == 200 and "immutable" in asset.headers["cache-control"]
        assert asset.headers["content-type"].split(";")[0] in {"text/css", "text/javascript"}
    for bad in ("static/webchat.html", "static/..%2Fwebchat.py", "static/../webchat.py", "static/nope.js"):
        assert httpx.get(page_url + bad, timeout=30).status_code == 404
