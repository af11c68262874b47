"""The console process applies the retention periods on its own schedule, logging only counts."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from sqlalchemy import func, select

from knowledge.db import session_scope
from knowledge.migrations import upgrade
from knowledge.models import PrivacyAudit, UnansweredQuestion
from tests.bot.console_helpers import client, running_console
from tests.privacy_helpers import ANN_UNANSWERED, START, Stores, populate


def questions(db_url: str) -> int:
    with session_scope(db_url) as session:
        return session.execute(select(func.count()).select_from(UnansweredQuestion)).scalar_one()


def test_scheduled_retention_runs_in_the_console(tmp_path: Path) -> None:
    stores = Stores("sqlite", f"sqlite:///{tmp_path / 'kb.db'}", f"sqlite:///{tmp_path / 'tracker.db'}")
    upgrade(stores.kb_url)
    populate(stores, at=START - dt.timedelta(days=100))  # three questions asked 100 days ago
    assert questions(stores.kb_url) == 3
    env = {
        "RETENTION_HOURS": "24",
        "RETENTION_FIRST_DELAY_SECONDS": "0.5",
        "LINK_CHECK_HOURS": "0",
        "TRACKER_STORE_URL": stores.tracker_url,
    }
    log = tmp_path / "console.log"
    with running_console(stores.kb_url, log, env=env) as base:
        deadline = time.monotonic() + 30
        # The log line follows the commit: wait for both, so stopping the console can't fall between them.
        while (questions(stores.kb_url) or "retention run" not in log.read_text()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert questions(stores.kb_url) == 0
        assert client(base).get("/healthz").status_code == 200
    with session_scope(stores.kb_url) as session:
        audit = session.execute(select(PrivacyAudit.actor, PrivacyAudit.counts)).all()
    assert audit == [("retention job", {"unanswered_questions": 3})]
    text = log.read_text()
    assert "retention run deleted 3 row(s): unanswered_questions 3" in text
    assert ANN_UNANSWERED not in text and "retention run failed" not in text
