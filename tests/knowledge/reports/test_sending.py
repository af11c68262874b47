"""Filed reports reach the back office over Open311 exactly once: through outages, server errors, lost
answers and refusals."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import update

from knowledge.delivery.claims import Claimer
from knowledge.models import Report
from knowledge.reports import filing, resend, sending
from knowledge.reports.open311 import Open311Client
from tests.fakes.open311 import FakeOpen311
from tests.knowledge.reports.conftest import NOW, Factory, add_conversation, add_photo, load_report, save_draft

ANN = "messenger:1001"
CAT = "webchat:web-3"
WORKER = Claimer("host-a:5005")


@pytest.fixture
def client(open311_env: FakeOpen311) -> Iterator[Open311Client]:
    with Open311Client.from_settings() as c:
        yield c


def _file(factory: Factory, who: str = ANN, channel: str = "messenger", url: str = "https://cdn.example/p1.jpg") -> int:
    add_conversation(factory, who, channel=channel)
    photo = add_photo(factory, who, url or None, channel=channel)
    save_draft(factory, who, channel=channel, photo_ids=[photo])
    with factory() as s:
        return int(filing.file_report(s, who, NOW).report.id)


def test_a_pothole_is_filed_once_with_the_right_fields(
    factory: Factory, client: Open311Client, open311_env: FakeOpen311
) -> None:
    report_id = _file(factory)
    assert sending.send_due(factory, client, NOW, WORKER) == 1
    assert sending.send_due(factory, client, NOW + dt.timedelta(minutes=5), WORKER) == 0
    assert len(open311_env.posts) == 1
    form = open311_env.posts[0].form
    assert form["service_code"] == "PH"
    assert (float(form["lat"]), float(form["long"])) == (52.6301, -1.1302)
    assert form["address_string"] == "14 Mill Lane, Northshire NS1 2AB"
    assert "Deep pothole by the bus stop" in form["description"]
    assert form["description"].endswith("Reference: NC-2026-000001")
    assert form["media_url"] == "https://cdn.example/p1.jpg"
    assert form["attribute[dangerous]"] == "Yes"
    assert (form["api_key"], form["jurisdiction_id"]) == ("test-key", "northshire")
    report = load_report(factory, report_id)
    assert (report.send_state, report.open311_id, report.sent_at) == ("sent", "1001", NOW)


def test_a_web_chat_upload_is_not_offered_as_a_public_url(
    factory: Factory, client: Open311Client, open311_env: FakeOpen311
) -> None:
    _file(factory, CAT, channel="webchat", url="")
    sending.send_due(factory, client, NOW, WORKER)
    assert "media_url" not in open311_env.posts[0].form


def test_down_for_an_hour_then_sent_exactly_once(
    factory: Factory, client: Open311Client, open311_env: FakeOpen311
) -> None:
    report_id = _file(factory)
    open311_env.down()
    for minute in range(0, 61, 2):
        assert sending.send_due(factory, client, NOW + dt.timedelta(minutes=minute), WORKER) == 0
    report = load_report(factory, report_id)
    assert report.send_state == "queued" and report.next_attempt_at is not None
    assert report.next_attempt_at <= NOW + dt.timedelta(minutes=61 + 15)  # backoff is capped
    open311_env.up()
    back = NOW + dt.timedelta(minutes=90)
    assert sending.send_due(factory, client, back, WORKER) == 1
    assert sending.send_due(factory, client, back + dt.timedelta(hours=1), WORKER) == 0
    assert len(open311_env.posts) == 1 and len(open311_env.requests) == 1
    assert load_report(factory, report_id).send_state == "sent"


def test_a_server_error_is_checked_before_posting_again(
    factory: Factory, client: Open311Client, open311_env: FakeOpen311
) -> None:
    report_id = _file(factory)
    open311_env.fail(500)
    assert sending.send_due(factory, client, NOW, WORKER) == 0
    assert load_report(factory, report_id).send_state == "uncertain"
    assert sending.send_due(factory, client, NOW + dt.timedelta(seconds=10), WORKER) == 0  # backing off
    assert sending.send_due(factory, client, NOW + dt.timedelta(minutes=5), WORKER) == 1
    # Looked for first (not there: the 500 filed nothing), then posted once more.
    assert any("requests.json" in path and "service_code=PH" in path for path in open311_env.gets)
    assert len(open311_env.requests) == 1
    assert load_report(factory, report_id).send_state == "sent"


def test_a_lost_answer_is_found_on_the_server_and_not_posted_again(
    factory: Factory, client: Open311Client, open311_env: FakeOpen311
) -> None:
    report_id = _file(factory)
    open311_env.lose_next_answer()
    assert sending.send_due(factory, client, NOW, WORKER) == 0
    report = load_report(factory, report_id)
    assert report.send_state == "uncertain" and report.open311_id is None
    assert sending.send_due(factory, client, NOW + dt.timedelta(minutes=5), WORKER) == 1
    assert len(open311_env.posts) == 1
    report = load_report(factory, report_id)
    assert (report.send_state, report.open311_id) == ("sent", "1001")


def test_a_rejected_report_is_shown_with_the_servers_words_and_not_retried(
    factory: Factory, client: Open311Client, open311_env: FakeOpen311
) -> None:
    report_id = _file(factory)
    open311_env.reject("Service code PH is not accepted at this location")
    assert sending.send_due(factory, client, NOW, WORKER) == 0
    assert sending.send_due(factory, client, NOW + dt.timedelta(hours=2), WORKER) == 0
    assert len(open311_env.posts) == 1
    report = load_report(factory, report_id)
    assert report.send_state == "rejected"
    assert report.send_error == "Service code PH is not accepted at this location"


def test_a_worker_that_died_before_posting_leaves_the_report_to_another(
    factory: Factory, client: Open311Client, open311_env: FakeOpen311
) -> None:
    report_id = _file(factory)
    with factory() as s:  # claimed by a worker that then died, before the uncertain mark
        s.execute(
            update(Report)
            .where(Report.id == report_id)
            .values(send_state="sending", claimed_by="host-b:5005", claim_token="dead", lease_until=NOW)
        )
    assert sending.send_due(factory, client, NOW - dt.timedelta(seconds=1), WORKER) == 0  # lease still held
    assert sending.send_due(factory, client, NOW + dt.timedelta(minutes=1), WORKER) == 1
    assert len(open311_env.posts) == 1


def test_backoff_doubles_and_is_capped() -> None:
    assert [sending.backoff(n).total_seconds() for n in (1, 2, 3)] == [30, 60, 120]
    assert sending.backoff(50) == dt.timedelta(minutes=15)


def test_staff_can_send_a_rejected_report_again_but_never_a_sent_one(
    factory: Factory, client: Open311Client, open311_env: FakeOpen311
) -> None:
    report_id = _file(factory)
    open311_env.reject("Unknown service_code")
    sending.send_due(factory, client, NOW, WORKER)
    open311_env.reject(None)  # the council fixed the service code
    with factory() as s:
        assert resend.retry_sending(s, report_id, NOW + dt.timedelta(hours=1)) is True
    assert sending.send_due(factory, client, NOW + dt.timedelta(hours=1), WORKER) == 1
    with factory() as s:
        assert resend.retry_sending(s, report_id, NOW + dt.timedelta(hours=2)) is False
    assert len(open311_env.requests) == 1
