"""Status changes from the back office are applied once, however often it is polled."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from knowledge.delivery.claims import Claimer
from knowledge.models import Report, ReportNotification, ReportUpdate
from knowledge.reports import filing, sending, updates
from knowledge.reports.open311 import Open311Client
from tests.fakes.open311 import FakeOpen311
from tests.knowledge.reports.conftest import NOW, Factory, add_conversation, save_draft

ANN = "messenger:1001"


@pytest.fixture
def client(open311_env: FakeOpen311) -> Iterator[Open311Client]:
    with Open311Client.from_settings() as c:
        yield c


def _sent(factory: Factory, client: Open311Client) -> int:
    add_conversation(factory, ANN)
    save_draft(factory, ANN)
    with factory() as s:
        report_id = int(filing.file_report(s, ANN, NOW).report.id)
    assert sending.send_due(factory, client, NOW, Claimer("host-a:5005")) == 1
    return report_id


def _counts(factory: Factory, report_id: int) -> tuple[str, int, int]:
    with factory() as s:
        status = s.execute(select(Report.status).where(Report.id == report_id)).scalar_one()
        changes = s.execute(select(func.count()).select_from(ReportUpdate)).scalar_one()
        notes = s.execute(select(func.count()).select_from(ReportNotification)).scalar_one()
        return status, changes, notes


def test_a_polled_update_is_applied_once_across_two_polls(
    factory: Factory, client: Open311Client, open311_env: FakeOpen311
) -> None:
    report_id = _sent(factory, client)
    open311_env.add_update("1001", "ACTION_SCHEDULED", "Repair booked", at=NOW + dt.timedelta(hours=1))
    assert updates.poll(factory, client, NOW + dt.timedelta(hours=2)) == 1
    assert updates.poll(factory, client, NOW + dt.timedelta(hours=3)) == 0
    assert _counts(factory, report_id) == ("action_scheduled", 2, 1)
    with factory() as s:
        last = updates.history(s, report_id)[-1]
        assert (last.source, last.note, last.open311_update_id) == ("open311", "Repair booked", "u1")
    open311_env.add_update("1001", "FIXED", at=NOW + dt.timedelta(hours=4))
    assert updates.poll(factory, client, NOW + dt.timedelta(hours=5)) == 1
    assert _counts(factory, report_id) == ("fixed", 3, 2)


def test_without_the_extension_sent_reports_are_fetched_by_id(
    factory: Factory, client: Open311Client, open311_env: FakeOpen311
) -> None:
    report_id = _sent(factory, client)
    open311_env.updates_supported = False
    open311_env.add_update("1001", "open")  # a plain server only says open: nothing to tell anyone
    assert updates.poll(factory, client, NOW + dt.timedelta(hours=1)) == 0
    open311_env.add_update("1001", "closed", "Filled in")
    assert updates.poll(factory, client, NOW + dt.timedelta(hours=2)) == 1
    assert updates.poll(factory, client, NOW + dt.timedelta(hours=3)) == 0
    assert _counts(factory, report_id) == ("closed", 2, 1)


def test_a_back_office_that_is_down_loses_nothing(
    factory: Factory, client: Open311Client, open311_env: FakeOpen311
) -> None:
    report_id = _sent(factory, client)
    open311_env.add_update("1001", "IN_PROGRESS", at=NOW + dt.timedelta(minutes=30))
    open311_env.fail(500)
    assert updates.poll(factory, client, NOW + dt.timedelta(hours=1)) == 0
    assert updates.poll(factory, client, NOW + dt.timedelta(hours=2)) == 1
    assert _counts(factory, report_id)[0] == "in_progress"
