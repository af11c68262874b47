"""Races that happen in production (two replicas, a double tap), run on SQLite and on PostgreSQL: filing,
status changes and telling residents each happen once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from knowledge.db import session_scope
from knowledge.models import OutboundMessage, Report, ReportNotification, ReportUpdate
from knowledge.reports import filing, notifying, updates
from tests.knowledge.reports.conftest import NOW, Factory, add_conversation, save_draft

ANN = "messenger:1001"


@pytest.fixture(params=["sqlite", "postgresql"])
def racing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Factory:
    """A session factory on a migrated knowledge base of each backend (PostgreSQL skips where absent)."""
    url = request.getfixturevalue("kb_url" if request.param == "sqlite" else "pg_schema_url")
    monkeypatch.setenv("DATABASE_URL", url)
    return lambda: session_scope(url)


def _together(work: Callable[[], Any], n: int = 2) -> list[Any]:
    """Run `work` in `n` threads released at once; the results, or the first error raised."""
    results: list[Any] = []
    errors: list[BaseException] = []
    start = threading.Barrier(n)

    def run() -> None:
        try:
            start.wait()
            results.append(work())
        except BaseException as error:  # noqa: BLE001 - raised below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    if errors:
        raise errors[0]
    return results


def _count(factory: Factory, model: type) -> int:
    with factory() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def test_two_yeses_at_once_file_one_report(racing: Factory) -> None:
    save_draft(racing, ANN)

    def yes() -> tuple[str, bool]:
        with racing() as s:
            filed = filing.file_report(s, ANN, NOW)
            return filed.report.reference, filed.new

    results = _together(yes)
    assert len({ref for ref, _ in results}) == 1 and sorted(new for _, new in results) == [False, True]
    assert _count(racing, Report) == 1


def test_the_same_change_from_two_places_at_once_is_told_once(racing: Factory) -> None:
    add_conversation(racing, ANN)
    save_draft(racing, ANN)
    with racing() as s:
        report_id = int(filing.file_report(s, ANN, NOW).report.id)

    def change() -> bool:
        with racing() as s:
            return (
                updates.change_status(s, report_id, "fixed", NOW, source="open311", open311_update_id="u9") is not None
            )

    assert sorted(_together(change)) == [False, True]
    assert _count(racing, ReportUpdate) == 2  # open, fixed
    assert _count(racing, ReportNotification) == 1

    def deliver() -> int:
        with racing() as s:
            return len(notifying.deliver_due(s, NOW))

    assert sorted(_together(deliver)) == [0, 1]
    assert _count(racing, OutboundMessage) == 1
