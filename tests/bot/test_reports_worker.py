"""The reports worker: one replica at a time sends reports, reads the back office's changes and tells
residents, and rides out an Open311 outage without losing or doubling a report."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot.reports.worker import ReportsWorker
from knowledge.db import session_scope
from knowledge.delivery.claims import Claimer
from knowledge.models import OutboundMessage, Report
from knowledge.reports import filing
from knowledge.reports.open311 import Open311Client
from tests.fakes.open311 import FakeOpen311
from tests.knowledge.reports.conftest import NOW, add_conversation, save_draft

ANN = "messenger:1001"


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpen311]:
    with FakeOpen311() as server:
        server.now = NOW
        monkeypatch.setenv("OPEN311_ENDPOINT", server.url)
        monkeypatch.setenv("OPEN311_SERVICE_CODES", "pothole=PH")
        yield server


def _worker(kb_url: str, url: str, clock: Clock, replica: str) -> ReportsWorker:
    return ReportsWorker(
        Claimer(replica),
        Open311Client(url, timeout=5),
        session_factory=lambda: session_scope(kb_url),
        poll_every=dt.timedelta(minutes=5),
        clock=clock,
    )


def _file(kb_url: str) -> int:
    factory = lambda: session_scope(kb_url)  # noqa: E731
    add_conversation(factory, ANN)
    save_draft(factory, ANN)
    with session_scope(kb_url) as s:
        return int(filing.file_report(s, ANN, NOW).report.id)


def test_one_replica_works_and_the_resident_hears_back(kb_url: str, fake: FakeOpen311) -> None:
    report_id = _file(kb_url)
    clock = Clock(NOW)
    a, b = _worker(kb_url, fake.url, clock, "host-a:5005"), _worker(kb_url, fake.url, clock, "host-b:5005")
    asyncio.run(a.round())
    asyncio.run(b.round())
    assert a.holding and not b.holding
    assert len(fake.posts) == 1
    fake.add_update("1001", "ACTION_SCHEDULED", at=NOW + dt.timedelta(minutes=1))
    clock.at = NOW + dt.timedelta(minutes=6)
    asyncio.run(a.round())
    asyncio.run(b.round())
    with session_scope(kb_url) as s:
        assert s.get(Report, report_id).status == "action_scheduled"
        texts = s.execute(select(OutboundMessage.text)).scalars().all()
    assert len(texts) == 1 and "the repair is booked" in texts[0]


def test_an_hour_of_outage_loses_nothing_and_doubles_nothing(kb_url: str, fake: FakeOpen311) -> None:
    report_id = _file(kb_url)
    clock = Clock(NOW)
    worker = _worker(kb_url, fake.url, clock, "host-a:5005")
    fake.fail(500, times=1)  # first a 500 (may have filed: checked before posting again)
    asyncio.run(worker.round())
    fake.down()
    for minute in range(1, 60, 3):
        clock.at = NOW + dt.timedelta(minutes=minute)
        asyncio.run(worker.round())  # never raises
    fake.up()
    clock.at = NOW + dt.timedelta(minutes=80)
    asyncio.run(worker.round())
    clock.at = NOW + dt.timedelta(minutes=120)
    asyncio.run(worker.round())
    with session_scope(kb_url) as s:
        report = s.get(Report, report_id)
        assert (report.send_state, report.open311_id) == ("sent", "1001")
    assert len(fake.requests) == 1


def test_the_server_starts_the_worker_through_its_channel_in_credentials() -> None:
    from rasa.core.run import create_http_input_channels

    from knowledge.settings import PROJECT_ROOT

    channels = create_http_input_channels(None, str(PROJECT_ROOT / "credentials.yml"))
    assert "reports" in [c.name() for c in channels]
