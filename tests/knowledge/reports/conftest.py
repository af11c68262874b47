"""Fixtures for the report tests: a migrated knowledge base, a session factory, residents' conversations,
a controllable clock and the fake Open311 back office."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Optional

import pytest
from sqlalchemy.orm import Session

from knowledge.db import session_scope
from knowledge.models import Attachment, Conversation, Report
from knowledge.reports import drafts
from tests.fakes.open311 import FakeOpen311

# A Tuesday afternoon in December (GMT, so local time is UTC): outside the quiet hours.
NOW = dt.datetime(2026, 12, 1, 14, 0)
MILL_LANE = {
    "street": "Mill Lane",
    "house_number": "14",
    "postcode": "NS1 2AB",
    "ward": "Riverside",
    "lat": 52.6301,
    "lon": -1.1302,
    "address": "14 Mill Lane, Northshire NS1 2AB",
}

Factory = Callable[[], AbstractContextManager[Session]]


@pytest.fixture
def factory(kb_url: str) -> Factory:
    return lambda: session_scope(kb_url)


def add_conversation(
    factory: Factory,
    conversation_id: str,
    channel: str = "messenger",
    last_inbound_at: Optional[dt.datetime] = NOW,
    origin: str = "private",
) -> None:
    """A resident on `channel` whose last message came at `last_inbound_at`."""
    with factory() as s:
        s.add(
            Conversation(
                id=conversation_id,
                channel=channel,
                origin=origin,
                platform_user_id=conversation_id.split(":", 1)[1],
                account_id="page-1" if channel != "webchat" else None,
                last_inbound_at=last_inbound_at,
            )
        )


def add_photo(factory: Factory, conversation_id: str, url: Optional[str], channel: str = "messenger") -> int:
    with factory() as s:
        row = Attachment(
            conversation_id=conversation_id,
            channel=channel,
            kind="image",
            url=url,
            media_id=None if url else "upload-1",
            mime_type="image/jpeg",
        )
        s.add(row)
        s.flush()
        return int(row.id)


def save_draft(
    factory: Factory,
    conversation_id: str,
    category: str = "pothole",
    now: dt.datetime = NOW,
    channel: str = "messenger",
    **answers: Any,
) -> None:
    values = {**MILL_LANE, "detail": "Yes", "description": "Deep pothole by the bus stop"}
    values.update(answers)
    with factory() as s:
        drafts.save(s, conversation_id, channel, category, values, now)


@pytest.fixture
def fake() -> Iterator[FakeOpen311]:
    with FakeOpen311() as server:
        server.now = NOW
        yield server


@pytest.fixture
def open311_env(fake: FakeOpen311, monkeypatch: pytest.MonkeyPatch) -> FakeOpen311:
    """Settings pointing at the fake back office, with pothole mapped to its code PH."""
    monkeypatch.setenv("OPEN311_ENDPOINT", fake.url)
    monkeypatch.setenv("OPEN311_API_KEY", "test-key")
    monkeypatch.setenv("OPEN311_JURISDICTION", "northshire")
    monkeypatch.setenv("OPEN311_SERVICE_CODES", "pothole=PH,street_light=SL")
    monkeypatch.setenv("OPEN311_TIMEOUT_SECONDS", "5")
    return fake


def load_report(factory: Factory, report_id: int) -> Report:
    """The report as it is stored now, detached so a test can read it after the session closes."""
    with factory() as s:
        report = s.get(Report, report_id)
        assert report is not None
        s.expunge(report)
        return report
