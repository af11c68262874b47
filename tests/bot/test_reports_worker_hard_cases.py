"""The reports worker on a bad night: when the database refuses a write, the log says which step failed and
why in kind, never the resident's platform id or the words of their update (a database error's message
carries the statement's parameters)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from bot.reports.worker import ReportsWorker
from knowledge.db import session_scope
from knowledge.delivery.claims import Claimer
from knowledge.reports import filing, updates
from knowledge.reports.open311 import Open311Client
from tests.fakes.open311 import FakeOpen311
from tests.knowledge.reports.conftest import NOW, add_conversation, save_draft

ANN = "messenger:psid-ann-4711"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpen311]:
    with FakeOpen311() as server:
        server.now = NOW
        monkeypatch.setenv("OPEN311_ENDPOINT", server.url)
        monkeypatch.setenv("OPEN311_SERVICE_CODES", "pothole=PH")
        yield server


def test_a_refused_write_logs_no_resident_data(
    kb_url: str, fake: FakeOpen311, caplog: pytest.LogCaptureFixture
) -> None:
    factory = lambda: session_scope(kb_url)  # noqa: E731
    add_conversation(factory, ANN)
    save_draft(factory, ANN, description="Deep pothole outside my house")
    with session_scope(kb_url) as s:
        report_id = int(filing.file_report(s, ANN, NOW).report.id)
    with session_scope(kb_url) as s:
        updates.change_status(s, report_id, "action_scheduled", NOW, note="Booked for Friday, ring 07700 900123")
    # The database refuses to queue the message (as a full disk or a locked database would).
    engine = create_engine(kb_url, future=True)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TRIGGER refuse BEFORE INSERT ON outbound_messages "
                "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
            )
        )
    engine.dispose()
    worker = ReportsWorker(
        Claimer("host-a:5005"),
        Open311Client(fake.url, timeout=5),
        session_factory=factory,
        poll_every=dt.timedelta(minutes=5),
        clock=lambda: NOW,
    )
    with caplog.at_level(logging.DEBUG):
        asyncio.run(worker.round())
    logged = caplog.text + "".join(str(r.exc_info) for r in caplog.records if r.exc_info)
    assert "telling residents failed" in logged  # staff on call still see which step failed
    for secret in ("psid-ann-4711", "07700 900123", "Mill Lane", "Deep pothole"):
        assert secret not in logged
