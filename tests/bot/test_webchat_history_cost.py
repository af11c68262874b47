"""Review of issue 12 (web chat memory): `GET /history` reads the conversation's FULL tracker (every session)
through Rasa's SQL tracker store, whose async methods do their database work and event parsing on the
event loop. A long conversation (20 messages a minute are allowed, so 10,000 in a working day) stalls the
whole Rasa server for every history request, and history is limited only by the poll limit (600 a minute
an address). Before the fix: the event loop is blocked for far longer than any answer should wait."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.channels import webchat_memory
from bot.channels.webchat_memory import SENDER_PREFIX
from tests.bot.test_webchat_memory import _own_var_dir, start  # noqa: F401 - fixture

MESSAGES = 5000  # about four hours of one conversation at the per-sender limit


def test_history_of_a_long_conversation_does_not_stall_the_server(kb_url: str, tmp_path: Path) -> None:
    sender = "resident-longchat-0001"
    token = start(sender)
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "tracker.db"))
    tracker = DialogueStateTracker(SENDER_PREFIX + sender, [])
    t0 = time.time() - 86400
    for i in range(MESSAGES):
        tracker.update(UserUttered(f"message {i}", {"name": "greet", "confidence": 1.0}, timestamp=t0 + i))
        tracker.update(BotUttered(f"answer {i}", timestamp=t0 + i + 0.5))
    asyncio.run(store.save(tracker))
    lookup = webchat_memory.tracker_events(
        SimpleNamespace(ctx=SimpleNamespace(agent=SimpleNamespace(tracker_store=store)))
    )

    async def measure() -> tuple[int, float]:
        worst, stop = 0.0, False

        async def heartbeat() -> None:  # what every other resident's request experiences meanwhile
            nonlocal worst
            last = time.monotonic()
            while not stop:
                await asyncio.sleep(0.01)
                now = time.monotonic()
                worst, last = max(worst, now - last), now

        beat = asyncio.create_task(heartbeat())
        await asyncio.sleep(0.05)
        resp = await webchat_memory.history_response(sender, token, lookup)
        stop = True
        await beat
        return resp.status, worst

    status, stalled = asyncio.run(measure())
    assert status == 200
    assert stalled < 0.25, f"the event loop was blocked for {stalled:.2f}s by one history request"
