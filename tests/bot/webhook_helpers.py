"""Shared by the platform webhook tests: `tests.bot.webhook_app` as a real process on a free loopback port,
over a given knowledge base, signing secrets set and replies going to a fake platform."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import httpx

from knowledge.settings import PROJECT_ROOT
from tests.conftest import free_port

APP_SECRET, VERIFY_TOKEN, X_SECRET = "test-app-secret", "verify-me-please", "x-consumer-secret"


@contextmanager
def running_webhooks(db_url: str, platform_url: str, log_path: Path,
                     env: Optional[dict[str, str]] = None) -> Iterator[str]:
    """Yields the base URL (`<base>/webhooks/meta/webhook`, `<base>/webhooks/x/webhook`); stops it after."""
    port = free_port()
    child_env = {**os.environ, "DATABASE_URL": db_url, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(PROJECT_ROOT),
                 "META_APP_SECRET": APP_SECRET, "META_VERIFY_TOKEN": VERIFY_TOKEN,
                 "META_PAGE_ACCESS_TOKEN": "page-token", "META_GRAPH_URL": platform_url,
                 "X_CONSUMER_SECRET": X_SECRET, "X_ACCESS_TOKEN": "x-user-token", "X_API_URL": platform_url,
                 **(env or {})}
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "tests.bot.webhook_app", "--port", str(port)],
                                cwd=PROJECT_ROOT, env=child_env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"webhook app exited with {proc.returncode}: {log_path.read_text()}")
                try:
                    if httpx.get(f"{base}/webhooks/meta/", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"webhook app did not start: {log_path.read_text()}")
                time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
