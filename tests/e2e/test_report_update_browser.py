"""A report's status change reaches the web chat page in real Chromium: the update appears once, as from the
council with the reference, is collected (the console's "waiting" ends), and after a reload it is in the
conversation once, not shown twice.

The web chat runs as the Rasa server mounts it, in a Sanic app of its own with a stand-in for the trained
model (`python -m tests.e2e.test_report_update_browser --port P`, below): everything from the page to the
database is the real code, and no model is trained.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any, Optional

import pytest
from rasa.core.channels.channel import UserMessage, register
from sanic import Sanic
from sqlalchemy import select

from bot.channels.config import NO_RATE_LIMITS
from bot.channels.webchat import SENDER_PREFIX, WebChatInput
from knowledge.db import session_scope
from knowledge.models import OutboundMessage
from knowledge.reports import drafts, filing, notifying, updates
from knowledge.settings import PROJECT_ROOT
from tests.conftest import free_port
from tests.servers import running_server

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
PHONE = {"width": 375, "height": 667}
WAIT_MS = 30_000
SENDER_KEY = "councilbot.webchat.sender"
REPLY = "Thanks, got it."
# A weekday afternoon in December (GMT): outside the quiet hours, so the change is told at once.
CHANGED = dt.datetime(2026, 12, 1, 14, 0)


class _Trackers:
    """Rasa's tracker store as the web chat reads it: no conversation kept (the history shows the rest)."""

    async def retrieve(self, _conversation_id: str) -> Optional[Any]:
        return None

    async def retrieve_full_tracker(self, _conversation_id: str) -> Optional[Any]:
        return None


class _Agent:
    """Rasa's agent as `register` calls it: one text reply to every message."""

    tracker_store = _Trackers()

    async def handle_message(self, message: UserMessage) -> None:
        await message.output_channel.send_text_message(message.sender_id, REPLY)


def create_app() -> Sanic:
    app = Sanic("webchat_report_update_app")
    app.config.ACCESS_LOG = False
    app.ctx.agent = _Agent()
    register([WebChatInput()], app, route="/webhooks/")
    return app


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(base URL of the web chat app, its knowledge base URL)."""
    from knowledge.catalogue.content import load
    from knowledge.migrations import upgrade
    from knowledge.settings import CONTENT_DIR

    tmp = tmp_path_factory.mktemp("webchat-report")
    kb_url = f"sqlite:///{tmp / 'kb.db'}"
    upgrade(kb_url)
    with session_scope(kb_url) as session:
        load(session, CONTENT_DIR)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "DATABASE_URL": kb_url,
        "PYTHONPATH": str(PROJECT_ROOT),
        "COUNCILBOT_VAR_DIR": str(tmp / "var"),
        **NO_RATE_LIMITS,  # the test polls and reloads from one address far faster than a resident would
    }
    with running_server(
        [sys.executable, "-m", "tests.e2e.test_report_update_browser", "--port", str(port)],
        env,
        tmp / "app.log",
        f"{base}/webhooks/webchat/",
        "web chat app",
    ):
        yield base, kb_url


def staff_mark_fixed(kb_url: str, conversation_id: str) -> str:
    """The resident's pothole report is filed, then staff mark it fixed and the worker delivers; returns
    the reference."""
    with session_scope(kb_url) as session:
        values = {"street": "Mill Lane", "house_number": "14", "postcode": "NS1 2AB", "lat": 52.63, "lon": -1.13}
        drafts.save(session, conversation_id, "webchat", "pothole", {**values, "detail": "Yes"}, CHANGED)
        report = filing.file_report(session, conversation_id, CHANGED).report
        report_id, reference = int(report.id), str(report.reference)
    with session_scope(kb_url) as session:
        assert updates.change_status(session, report_id, "fixed", CHANGED) is not None
    with session_scope(kb_url) as session:
        assert [d.state for d in notifying.deliver_due(session, CHANGED)] == ["queued"]
    return reference


def wait_until_collected(kb_url: str) -> None:
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        with session_scope(kb_url) as session:
            if session.execute(select(OutboundMessage.status)).scalar_one() == "sent":
                return
        time.sleep(0.2)
    raise AssertionError("the page never said it had shown the update")


def test_the_update_appears_once_as_from_the_council_and_stays_after_a_reload(
    chat: tuple[str, str], browser: Any
) -> None:
    base, kb_url = chat
    page = browser.new_context(viewport=PHONE).new_page()
    page.goto(f"{base}/webhooks/webchat/")
    page.wait_for_selector("form[data-ready='true']")
    page.get_by_label("Your message").fill("pothole on mill lane")
    page.get_by_label("Your message").press("Enter")
    page.locator("#chat-log").get_by_text(REPLY).wait_for(timeout=WAIT_MS)
    sender = page.evaluate(f"localStorage.getItem('{SENDER_KEY}')")

    reference = staff_mark_fixed(kb_url, SENDER_PREFIX + sender)
    update = page.locator(".msg--council")
    update.first.wait_for(timeout=WAIT_MS)
    text = update.first.inner_text()
    assert f"Report {reference}" in text and "It's been fixed." in text
    assert "(a person)" not in update.first.text_content()  # from the council, not signed as staff
    wait_until_collected(kb_url)  # the next poll said it was shown
    assert update.count() == 1

    page.reload()
    page.wait_for_selector("form[data-ready='true']")
    assert update.count() == 1  # from the history
    with page.expect_response(lambda r: "/updates" in r.url, timeout=WAIT_MS):
        pass  # a poll after the reload: it doesn't bring the update again
    assert update.count() == 1 and "It's been fixed." in update.first.inner_text()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    create_app().run(host="127.0.0.1", port=args.port, access_log=False, motd=False, workers=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
