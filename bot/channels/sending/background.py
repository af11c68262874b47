"""Replies sent after a webhook has already answered the platform (to rate-limited messages, or the crisis
lines while the database is down). The event loop keeps only weak references to tasks, so they are held
here until done, and the server waits for them before it stops."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

_running: set[asyncio.Task] = set()


def spawn(work: Coroutine[Any, Any, None]) -> None:
    """Run `work` in the background, kept alive until it finishes."""
    task = asyncio.get_running_loop().create_task(work)
    _running.add(task)
    task.add_done_callback(_running.discard)


async def idle() -> None:
    """Wait for every background reply still running (shutdown and tests)."""
    while _running:
        await asyncio.gather(*list(_running), return_exceptions=True)
