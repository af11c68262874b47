"""A test's own server as a real process on loopback: started, waited for until it answers, stopped after."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.stack import StartupError, wait_until_answers
from knowledge.settings import PROJECT_ROOT


@contextmanager
def running_server(
    cmd: list[str],
    env: dict[str, str],
    log_path: Path,
    health_url: str,
    name: str = "the server",
    timeout: float = 60.0,
) -> Iterator[subprocess.Popen]:
    """Run `cmd` from the project root with `env` over ours, its output appended to `log_path`; yield once
    `health_url` answers 200 (the log's text is in the error if it never does), and stop it afterwards."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=PROJECT_ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            try:
                wait_until_answers(health_url, time.monotonic() + timeout, proc, name, timeout=1, every=0.2)
            except StartupError as e:
                raise StartupError(f"{e}: {log_path.read_text()}") from None
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
