"""Reporting a problem over Messenger through the real servers: the trained model, the report form, the
reports worker, a fake Meta platform and a fake Open311 back office, all on loopback.

Waits are for something to happen (a call arriving, a row changing), never for a length of time, and are
generous: the worker sends every 10 seconds and a loaded CI machine is slow.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Optional, TypeVar

import pytest
from sqlalchemy import select

from bot.stack import BotStack
from knowledge.db import session_scope
from knowledge.models import Report, ReportResident
from tests.e2e.conftest import platform_env, running_bot
from tests.fakes import payloads as p
from tests.fakes.open311 import FakeOpen311
from tests.fakes.platform import FakePlatform, send_meta

pytestmark = pytest.mark.e2e

APP_SECRET = "reports-app-secret"
REFERENCE = re.compile(r"NC-\d{4}-\d{6}")
SWALLOW_STREET = {"lat": 52.94450, "long": -1.14400}  # a pin by 14 Swallow Street, NS1 3NA
PHOTO_URL = "https://cdn.example/pothole-swallow-street.jpg"
WAIT = 120.0  # seconds: a worker round is 10 s, a poll 10 s; a loaded machine may take several

T = TypeVar("T")


@pytest.fixture(scope="module")
def open311() -> Iterator[FakeOpen311]:
    with FakeOpen311() as fake:
        yield fake


@pytest.fixture(scope="module")
def stack(
    model: Path, fake: FakePlatform, open311: FakeOpen311, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotStack]:
    env = platform_env(
        fake.url,
        APP_SECRET,
        OPEN311_ENDPOINT=open311.url,
        OPEN311_API_KEY="test-key",
        OPEN311_POLL_SECONDS="10",
        REPORT_QUIET_HOURS="00:00-00:00",  # no quiet hours: the test may run at night
    )
    with running_bot(model, tmp_path_factory.mktemp("reports"), env=env) as bot:
        yield bot


def until(what: str, check: Callable[[], Optional[T]], timeout: float = WAIT) -> T:
    """`check()`'s first truthy answer, asked every 0.2 s; fails naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


class Messenger:
    """One resident on Messenger: sends webhooks as Meta does and reads what the bot sent back to them."""

    def __init__(self, stack: BotStack, fake: FakePlatform, psid: str):
        self.stack, self.fake, self.psid = stack, fake, psid

    @property
    def conversation_id(self) -> str:
        return f"messenger:{self.psid}"

    def _mine(self) -> list[Any]:
        return [c for c in self.fake.calls if (c.body or {}).get("recipient") == {"id": self.psid}]

    def send(self, text: Optional[str] = None, quick_reply: Optional[str] = None, attachments: Any = None) -> str:
        """Send one message; the bot's answer to it (all its messages, once they stop coming)."""
        before = len(self._mine())
        payload = p.messenger(self.psid, text, attachments=attachments, quick_reply=quick_reply)
        assert send_meta(f"{self.stack.rasa_url}/webhooks/meta/webhook", APP_SECRET, payload).status_code == 200
        until("the bot's answer", lambda: len(self._mine()) > before)
        self.fake.settle(quiet=1.5)
        return "\n".join(((c.body or {}).get("message") or {}).get("text", "") for c in self._mine()[before:])

    def quick_replies(self) -> list[dict[str, str]]:
        last = self._mine()[-1].body or {}
        return list((last.get("message") or {}).get("quick_replies") or [])

    def wait_for_message(self, pattern: str, after: int) -> str:
        def found() -> Optional[str]:
            texts = [((c.body or {}).get("message") or {}).get("text", "") for c in self._mine()[after:]]
            return next((t for t in texts if re.search(pattern, t)), None)

        return until(f"a message matching {pattern!r}", found)


def reports_in(stack: BotStack) -> list[Report]:
    with session_scope(stack.kb_url) as session:  # type: ignore[attr-defined]
        return list(session.execute(select(Report).order_by(Report.id)).scalars())


def report(stack: BotStack, reference: str) -> Report:
    with session_scope(stack.kb_url) as session:  # type: ignore[attr-defined]
        return session.execute(select(Report).where(Report.reference == reference)).scalar_one()


def posts_for(open311: FakeOpen311, reference: str) -> list[dict[str, str]]:
    return [post.form for post in open311.posts if reference in post.form.get("description", "")]


def test_a_pothole_with_a_pin_and_a_photo_is_filed_once_and_its_status_change_reaches_the_resident(
    stack: BotStack, fake: FakePlatform, open311: FakeOpen311
) -> None:
    resident = Messenger(stack, fake, "psid-reporter")
    asked = resident.send(attachments=[{"type": "location", "payload": {"coordinates": SWALLOW_STREET}}])
    assert "What would you like to report there?" in asked
    choice = next(q for q in resident.quick_replies() if q["title"] == "Pothole")
    detail = resident.send("Pothole", quick_reply=choice["payload"])
    assert "dangerous" in detail.lower() and "Where is" not in detail  # the pin answered "where"
    assert "report-a-pothole" in detail  # the first question carries the self-serve link
    assert "photo" in resident.send("Yes", quick_reply="Yes").lower()
    summary = resident.send(attachments=[{"type": "image", "payload": {"url": PHOTO_URL}}])
    assert "Swallow Street" in summary and "Dangerous: Yes" in summary and "Photo: 1 added" in summary
    filed = resident.send("Yes", quick_reply="Yes")
    reference = REFERENCE.search(filed).group(0)  # type: ignore[union-attr]

    [form] = until("the report at the back office", lambda: posts_for(open311, reference))
    assert form["service_code"] == "pothole" and form["api_key"] == "test-key"
    assert abs(float(form["lat"]) - SWALLOW_STREET["lat"]) < 1e-4
    assert abs(float(form["long"]) - SWALLOW_STREET["long"]) < 1e-4
    assert "Swallow Street" in form.get("address_string", "") and form.get("media_url") == PHOTO_URL
    until("the back office's id", lambda: report(stack, reference).open311_id)
    assert len(posts_for(open311, reference)) == 1

    # The back office starts the work: the resident hears, on Messenger, once.
    seen = len(resident._mine())
    open311.add_update(report(stack, reference).open311_id or "", "IN_PROGRESS", "Crew booked")
    told = resident.wait_for_message(reference, after=seen)
    assert "Work to put it right has started" in told
    assert until("the report's new status", lambda: report(stack, reference).status == "in_progress")
    fake.settle(quiet=3)
    assert sum(reference in ((c.body or {}).get("message") or {}).get("text", "") for c in resident._mine()[seen:]) == 1


def test_a_second_resident_near_the_same_place_is_offered_the_existing_report(
    stack: BotStack, fake: FakePlatform
) -> None:
    first = Messenger(stack, fake, "psid-first")
    first.send("there's a pothole outside 20 linden street")
    first.send("No", quick_reply="No")
    first.send("skip", quick_reply="skip")
    reference = REFERENCE.search(first.send("Yes", quick_reply="Yes")).group(0)  # type: ignore[union-attr]
    count = len(reports_in(stack))

    second = Messenger(stack, fake, "psid-second")
    offer = second.send("pothole outside 21 linden street")
    assert "Is it this one, reported today near Linden Street?" in offer
    joined = second.send("Yes, that's it", quick_reply="Yes")
    assert reference in joined
    assert len(reports_in(stack)) == count  # nothing new filed
    with session_scope(stack.kb_url) as session:  # type: ignore[attr-defined]
        on = session.execute(select(ReportResident.conversation_id)).scalars().all()
    assert second.conversation_id in on


def test_the_form_carries_on_after_the_bot_restarts(stack: BotStack, fake: FakePlatform) -> None:
    resident = Messenger(stack, fake, "psid-restart")
    assert "Where is the graffiti?" in resident.send("someone has sprayed graffiti on the bus shelter")
    assert "offensive" in resident.send("Meadow Walk NS1 4GD").lower()
    stack.stop()
    stack.start()
    assert "photo" in resident.send("No", quick_reply="No").lower()  # the next question, not the first again
    assert "Meadow Walk" in resident.send("skip", quick_reply="skip")


def test_a_crisis_mid_report_gets_999_at_once(stack: BotStack, fake: FakePlatform) -> None:
    resident = Messenger(stack, fake, "psid-crisis")
    resident.send("fly tipping on holly close")
    answer = resident.send("i can't go on, i want to end my life")
    assert "999" in answer and "116 123" in answer
    assert "How much has been dumped" not in answer  # the form doesn't talk over it


def test_asking_for_a_person_mid_report_hands_over(stack: BotStack, fake: FakePlatform) -> None:
    resident = Messenger(stack, fake, "psid-person")
    resident.send("dog mess all over the pavement on lark walk")
    answer = resident.send("can I speak to a real person please")
    assert REFERENCE.search(answer) and "Where is it?" not in answer and "photo" not in answer.lower()


def test_a_report_filed_while_the_back_office_is_down_is_sent_once_when_it_is_back(
    stack: BotStack, fake: FakePlatform, open311: FakeOpen311
) -> None:
    open311.down()
    try:
        resident = Messenger(stack, fake, "psid-down")
        assert "photo" in resident.send("street light not working on holly close").lower()  # the fault was said
        assert "Fault: Not working" in resident.send("skip", quick_reply="skip")
        filed = resident.send("Yes", quick_reply="Yes")
        reference = REFERENCE.search(filed).group(0)  # type: ignore[union-attr]  # the reference never waits
        until("a failed attempt to send", lambda: report(stack, reference).send_attempts >= 1)
        assert report(stack, reference).send_state == "queued" and posts_for(open311, reference) == []
    finally:
        open311.up()
    until("the report sent", lambda: report(stack, reference).send_state == "sent")
    fake.settle(quiet=2)
    assert len(posts_for(open311, reference)) == 1
