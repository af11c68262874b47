"""What the web chat's history may show and cost: contacts the resident typed are masked on a screen that
may be shared, a conversation idle too long is forgotten, and an address can't read history without end.
The handler is called as the route calls it (see tests/bot/test_webchat_memory.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any, Optional

import pytest
from sqlalchemy import update

from bot.channels import webchat_memory
from bot.channels.webchat import SENDER_PREFIX
from knowledge.db import session_scope
from knowledge.delivery.chat_history import masked
from knowledge.models import Conversation
from tests.bot.test_webchat_memory import _own_var_dir, events_for, history, start  # noqa: F401 - fixture


def history_from(sender: str, token: Optional[str], address: str) -> tuple[int, Any]:
    resp = asyncio.run(webchat_memory.history_response(sender, token, events_for(), address=address))
    return resp.status, json.loads(resp.body)


@pytest.mark.parametrize(
    "typed, hidden, shown",
    [
        ("email me at Jane.Doe@Example.com please", "Jane.Doe", "J…@example.com"),
        ("ring 07400 123456 after six", "123456", "…456"),
        ("my mobile is +44 7400 123456.", "7400 123456", "…456"),
    ],
)
def test_a_contact_the_resident_typed_is_masked_when_history_is_replayed(
    kb_url: str, typed: str, hidden: str, shown: str
) -> None:
    token = start("resident-masked-0001")
    tracker = events_for(("user", typed, 1000.0, None), ("bot", "Thanks", 1001.0, None))
    status, body = history("resident-masked-0001", token, tracker)
    assert status == 200
    resident = [m["text"] for m in body["messages"] if m["from"] == "resident"]
    assert len(resident) == 1 and hidden not in resident[0] and shown in resident[0], resident


def test_every_contact_in_one_message_is_masked_and_the_rest_is_kept() -> None:
    # Worded as a resident gives their own (contact_back.read may want a cue like "email me", "ring").
    text = masked("email me at a@example.org or b.c@example.net, else ring 07400 123456 or my landline 020 7946 0000")
    assert text == "email me at a…@example.org or b…@example.net, else ring …456 or my landline …000"


def test_a_line_without_a_contact_is_shown_as_typed() -> None:
    said = "pothole outside 12 Elm Road since 3 March, about 30cm"
    assert masked(said) == said


def test_history_of_a_conversation_idle_past_the_setting_is_refused_so_the_page_starts_afresh(
    kb_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBCHAT_HISTORY_IDLE_DAYS", "30")
    token = start("resident-idle-000001")
    assert history("resident-idle-000001", token, events_for())[0] == 200
    long_ago = dt.datetime.now() - dt.timedelta(days=31)
    with session_scope(kb_url) as session:
        session.execute(
            update(Conversation)
            .where(Conversation.id == SENDER_PREFIX + "resident-idle-000001")
            .values(last_inbound_at=long_ago, updated_at=long_ago, created_at=long_ago)
        )
    status, body = history("resident-idle-000001", token, events_for(("user", "my address", 1000.0, None)))
    # The same refusal as for a stranger, on which the page forgets the conversation (webchat.js restore()).
    assert status == 403 and set(body) == {"error"} and "my address" not in json.dumps(body)


def test_history_has_its_own_limit_per_address(kb_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBCHAT_HISTORY_PER_ADDRESS_PER_MINUTE", "3")
    token = start("resident-reload-00001")
    statuses = [history_from("resident-reload-00001", token, "198.51.100.23")[0] for _ in range(5)]
    # Four reads could straddle a minute's end; then the fifth is the one refused.
    assert statuses.count(200) in (3, 4) and statuses[-1] == 429, statuses
    assert history_from("resident-reload-00001", token, "198.51.100.99")[0] == 200  # another address isn't


def test_history_reads_the_tracker_without_blocking_the_server(kb_url: str, tmp_path: Path) -> None:
    """The store's retrieval runs on a worker thread: the event loop is free to answer meanwhile."""
    loop_threads: list[bool] = []

    class SlowStore:
        async def retrieve_full_tracker(self, _conversation_id: str) -> None:
            import threading
            import time

            loop_threads.append(threading.current_thread() is threading.main_thread())
            time.sleep(0.5)  # a long conversation's load, done synchronously as Rasa's SQL store does
            return None

    app: Any = type("App", (), {"ctx": type("Ctx", (), {"agent": type("Agent", (), {"tracker_store": SlowStore()})})})
    lookup = webchat_memory.tracker_events(app)
    token = start("resident-slowstore-01")

    async def measure() -> tuple[int, int]:
        beats = 0

        async def heartbeat() -> None:
            nonlocal beats
            while True:
                await asyncio.sleep(0.02)
                beats += 1

        beat = asyncio.create_task(heartbeat())
        resp = await webchat_memory.history_response("resident-slowstore-01", token, lookup)
        beat.cancel()
        return resp.status, beats

    status, beats = asyncio.run(measure())
    assert status == 200 and loop_threads == [False]
    assert beats >= 10  # ~25 expected in 0.5 s; none if the loop had been blocked


@pytest.mark.parametrize(
    "said, hidden",
    [
        ("the van had 0161 496 0001 on the side", "496 0001"),  # someone else's number: private all the same
        ("jo.bloggs@gmail.com", "bloggs"),  # an address alone, no "email me"
        ("+44 7400 123456", "123456"),
        ("Reach me: JANE.DOE@Example.COM!", "DOE"),
    ],
)
def test_any_address_or_number_is_masked_whoever_it_belongs_to(said: str, hidden: str) -> None:
    assert hidden.lower() not in masked(said).lower()


def test_dates_prices_and_house_numbers_are_shown_as_typed() -> None:
    said = "since 01.02.2026, fined £250, flat 0/2 at 14 Mill Lane, ref NC-2026-000123"
    assert masked(said) == said
