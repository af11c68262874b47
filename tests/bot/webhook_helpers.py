"""Shared by the platform webhook tests: `tests.bot.webhook_app` as a real process on a free loopback port,
over a given knowledge base, signing secrets set and replies going to a fake platform."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

from knowledge.settings import PROJECT_ROOT
from tests.conftest import free_port
from tests.servers import running_server

APP_SECRET, VERIFY_TOKEN, X_SECRET = "test-app-secret", "verify-me-please", "x-consumer-secret"


@contextmanager
def running_webhooks(
    db_url: str, platform_url: str, log_path: Path, env: Optional[dict[str, str]] = None
) -> Iterator[str]:
    """Yields the base URL (`<base>/webhooks/meta/webhook`, `<base>/webhooks/x/webhook`); stops it after."""
    port = free_port()
    child_env = {
        "DATABASE_URL": db_url,
        "PYTHONPATH": str(PROJECT_ROOT),
        "META_APP_SECRET": APP_SECRET,
        "META_VERIFY_TOKEN": VERIFY_TOKEN,
        "META_PAGE_ACCESS_TOKEN": "page-token",
        "META_GRAPH_URL": platform_url,
        "X_CONSUMER_SECRET": X_SECRET,
        "X_ACCESS_TOKEN": "x-user-token",
        "X_API_URL": platform_url,
        **(env or {}),
    }
    base = f"http://127.0.0.1:{port}"
    with running_server(
        [sys.executable, "-m", "tests.bot.webhook_app", "--port", str(port)],
        child_env,
        log_path,
        f"{base}/webhooks/meta/",
        "webhook app",
    ):
        yield base
