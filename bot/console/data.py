"""Database access from the console's async views."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from sanic.request import Request
from sqlalchemy.orm import Session

from knowledge.db import session_scope

T = TypeVar("T")


async def in_db(request: Request, work: Callable[[Session], T]) -> T:
    """`work(session)` in one transaction against the app's database (committed if it returns, rolled back
    if it raises), on a worker thread: database calls and password hashing block, and the event loop must
    keep serving other staff meanwhile. Objects it returns are detached but keep every loaded column."""
    url: str = request.app.ctx.database_url

    def run() -> T:
        with session_scope(url) as session:
            return work(session)

    return await asyncio.to_thread(run)
