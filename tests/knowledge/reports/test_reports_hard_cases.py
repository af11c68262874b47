"""Reports on a bad night and against hostile input: a resident who writes another report's reference into
their own, a back office that gives two reports one id, an update with an absurd id or date, and an answer
too big to hold. Each would lose a resident's report or stop every resident hearing back."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select, update

from knowledge.delivery.claims import Claimer
from knowledge.models import OutboundMessage, Report, ReportNotification, ReportUpdate
from knowledge.reports import filing, notifying, sending, updates
from knowledge.reports.open311 import Open311Client, Rejected, Unavailable
from tests.fakes.open311 import FakeOpen311
from tests.knowledge.reports.conftest import NOW, Factory, add_conversation, load_report, save_draft

ANN = "messenger:1001"
MALLORY = "messenger:6666"
BOB = "messenger:2002"
WORKER = Claimer("host-a:5005")


@pytest.fixture
def client(open311_env: FakeOpen311) -> Iterator[Open311Client]:
    with Open311Client.from_settings() as c:
        yield c


def _file(factory: Factory, who: str, now: dt.datetime = NOW, **answers: str) -> int:
    add_conversation(factory, who)
    save_draft(factory, who, now=now, **answers)
    with factory() as s:
        return int(filing.file_report(s, who, now).report.id)


def _status(factory: Factory, report_id: int) -> str:
    return load_report(factory, report_id).status


def test_a_reference_written_into_another_report_does_not_stand_in_for_the_real_one(
    factory: Factory, client: Open311Client, open311_env: FakeOpen311
) -> None:
    # References are numbered in order, so the next one is easy to guess and write into a description.
    mallory = _file(factory, MALLORY, description="Pothole. Reference: NC-2026-000002")
    assert sending.send_due(factory, client, NOW, WORKER) == 1
    ann = _file(factory, ANN)
    assert load_report(factory, ann).reference == "NC-2026-000002"
    open311_env.fail(500)  # Ann's POST may or may not have filed it: her report is looked for first
    assert sending.send_due(factory, client, NOW, WORKER) == 0
    assert load_report(factory, ann).send_state == "uncertain"

    assert sending.send_due(factory, client, NOW + dt.timedelta(minutes=5), WORKER) == 1
    # Ann's report really reached the back office, as a request of its own.
    assert len(open311_env.requests) == 2
    assert load_report(factory, ann).open311_id != load_report(factory, mallory).open311_id
    assert open311_env.requests[str(load_report(factory, ann).open311_id)].description.endswith(
        "Reference: NC-2026-000002"
    )


def test_two_reports_given_one_back_office_id_do_not_stop_everyone_hearing_back(
    factory: Factory, client: Open311Client, open311_env: FakeOpen311
) -> None:
    ann = _file(factory, ANN)
    bob = _file(factory, BOB, street="Swallow Street", postcode="NS1 3CD")
    assert sending.send_due(factory, client, NOW, WORKER) == 2
    # Staff settled a report in doubt with an id already in use (or the back office reused one).
    with factory() as s:
        s.execute(update(Report).where(Report.id == bob).values(open311_id="1001"))
    open311_env.add_update("1001", "ACTION_SCHEDULED", "Repair booked", at=NOW + dt.timedelta(minutes=30))
    assert updates.poll(factory, client, NOW + dt.timedelta(hours=1)) == 2
    assert _status(factory, ann) == _status(factory, bob) == "action_scheduled"


def test_an_update_with_a_huge_id_is_recorded_within_its_column_and_told(
    factory: Factory, client: Open311Client, open311_env: FakeOpen311
) -> None:
    ann = _file(factory, ANN)
    assert sending.send_due(factory, client, NOW, WORKER) == 1
    open311_env.add_update("1001", "ACTION_SCHEDULED", "Repair booked", at=NOW + dt.timedelta(minutes=30))
    open311_env.updates[-1]["update_id"] = "u" * 5_000_000  # PostgreSQL refuses more than String(100)
    assert updates.poll(factory, client, NOW + dt.timedelta(hours=1)) == 1
    assert _status(factory, ann) == "action_scheduled"
    with factory() as s:
        ids = s.execute(select(ReportUpdate.open311_update_id).where(ReportUpdate.source == "open311")).scalars()
        assert all(len(i or "") <= 100 for i in ids)
        assert s.execute(select(func.count()).select_from(ReportNotification)).scalar_one() == 1
    # Polled again, it is the same update: not told twice.
    assert updates.poll(factory, client, NOW + dt.timedelta(hours=2)) == 0


def test_an_update_dated_in_the_future_does_not_hide_the_next_ones(
    factory: Factory, client: Open311Client, open311_env: FakeOpen311
) -> None:
    ann = _file(factory, ANN)
    assert sending.send_due(factory, client, NOW, WORKER) == 1
    # A back office with a wrong clock dates one change in 2099 (and hands it out whatever the window).
    wrong_clock = [
        {
            "update_id": "wrong-clock-1",
            "service_request_id": "1001",
            "status": "ACTION_SCHEDULED",
            "updated_datetime": "2099-01-01T00:00:00Z",
        }
    ]
    canned = {"servicerequestupdates.json": json.dumps(wrong_clock).encode()}
    with Canned(canned) as broken, Open311Client(broken.url) as broken_client:
        assert updates.poll(factory, broken_client, NOW + dt.timedelta(hours=1)) == 1
    assert _status(factory, ann) == "action_scheduled"
    # Fixed later in the back office, at a sensible time: the resident still hears about it.
    open311_env.add_update("1001", "FIXED", "Filled in", at=NOW + dt.timedelta(hours=2))
    assert updates.poll(factory, client, NOW + dt.timedelta(hours=3)) == 1
    assert _status(factory, ann) == "fixed"


class Canned:
    """A broken Open311 server on loopback: each path name answers 200 with fixed bytes (`repeat` times
    over), whatever the query; `written` counts the bytes it managed to send before the client hung up."""

    def __init__(self, bodies: dict[str, bytes], repeat: int = 1, content_type: str = "application/json") -> None:
        self.bodies, self.repeat, self.content_type = bodies, repeat, content_type
        self.written = 0
        canned = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                self._answer()

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._answer()

            def _answer(self) -> None:
                body = canned.bodies.get(urlsplit(self.path).path.rsplit("/", 1)[-1], b"[]")
                self.send_response(200)
                self.send_header("Content-Type", canned.content_type)
                self.send_header("Content-Length", str(len(body) * canned.repeat))
                self.end_headers()
                try:
                    for _ in range(canned.repeat):
                        self.wfile.write(body)
                        canned.written += len(body)
                except OSError:
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/open311/v2/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Canned:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_an_answer_too_big_to_hold_is_not_read_to_the_end() -> None:
    chunk = b" " * 1_000_000
    # 200 MB of "JSON"
    with Canned({"services.json": chunk}, repeat=200) as huge, Open311Client(huge.url) as c, pytest.raises(Unavailable):
        c.services()
    assert huge.written < 100_000_000


def test_an_html_page_with_200_is_unavailable_not_a_crash() -> None:
    page = b"<html><body>Maintenance tonight</body></html>"
    html = Canned({"requests.json": page}, content_type="text/html")
    with html, Open311Client(html.url) as c, pytest.raises(Unavailable):
        c.post_request("PH", "Pothole", lat=52.63, long=-1.13)


def test_json_of_the_wrong_shape_is_unavailable_or_ignored_never_a_crash() -> None:
    bodies = {
        "requests.json": json.dumps({"service_requests": [{"service_request_id": {"x": 1}}]}).encode(),
        "servicerequestupdates.json": json.dumps({"service_requests_updates": "nope"}).encode(),
        "services.json": json.dumps([1, "two", None]).encode(),
    }
    with Canned(bodies) as odd, Open311Client(odd.url) as c:
        assert c.services() == []
        assert c.updates(NOW) == []
        posted = c.post_request("PH", "Pothole", lat=52.63, long=-1.13)
        assert posted.service_request_id is not None and len(posted.service_request_id) <= 100


def test_a_slow_back_office_never_gets_a_report_twice_from_two_replicas(
    factory: Factory, client: Open311Client, open311_env: FakeOpen311
) -> None:
    reports = [_file(factory, f"messenger:{n}") for n in (3001, 3002, 3003)]
    clock = {"now": NOW}
    file_it = open311_env._file
    replica_b = Claimer("host-b:5005")

    def slow_answer(form: dict[str, str]) -> Any:
        """Each POST takes 50 s (on the controllable clock); meanwhile the other replica does a round."""
        if form.get("api_key") == "test-key" and not clock.get("inside"):
            clock["now"] += dt.timedelta(seconds=50)
            clock["inside"] = True
            try:
                with Open311Client.from_settings() as other:
                    sending.send_due(factory, other, clock["now"], replica_b, clock=lambda: clock["now"])
            finally:
                clock["inside"] = False
        return file_it(form)

    open311_env._file = slow_answer  # type: ignore[method-assign]
    sending.send_due(factory, client, NOW, WORKER, clock=lambda: clock["now"])
    later = clock["now"] + dt.timedelta(minutes=10)
    open311_env._file = file_it  # type: ignore[method-assign]
    sending.send_due(factory, client, later, WORKER, clock=lambda: later)
    # Each report once at the back office, each with its own id.
    assert len(open311_env.requests) == 3
    assert sorted(str(load_report(factory, r).open311_id) for r in reports) == sorted(open311_env.requests)


def test_an_afternoon_change_is_not_sent_at_night_when_the_worker_was_down_all_evening(factory: Factory) -> None:
    report = _file(factory, ANN)
    with factory() as s:
        assert updates.change_status(s, report, "in_progress", NOW) is not None  # 14:00: due at once
    night = dt.datetime(2026, 12, 1, 23, 15)  # GMT: 23:15 local, inside the default quiet hours
    with factory() as s:
        assert notifying.deliver_due(s, night) == []
    with factory() as s:
        assert s.execute(select(func.count()).select_from(OutboundMessage)).scalar_one() == 0
    with factory() as s:
        assert [d.state for d in notifying.deliver_due(s, dt.datetime(2026, 12, 2, 8, 0))] == ["queued"]


class Drip(Canned):
    """A server that sends its answer's headers at once, then one byte at a time, each well inside the read
    timeout: a per-read timeout alone would wait for all of it."""

    def __init__(self, size: int, every: float) -> None:
        super().__init__({"services.json": b" "})
        self.size, self.every = size, every
        self.finished = threading.Event()
        drip = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(drip.size))
                self.end_headers()
                try:
                    for _ in range(drip.size):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        drip.written += 1
                        if drip.finished.wait(drip.every):
                            return
                except OSError:
                    pass

        self._server.RequestHandlerClass = Handler

    def __exit__(self, *exc: object) -> None:
        self.finished.set()
        super().__exit__(*exc)


def test_an_answer_dripped_a_byte_at_a_time_is_given_up() -> None:
    # 400 bytes, one every 0.05 s: 20 s in all; the client (0.5 s reads) gives up long before.
    drip = Drip(400, 0.05)
    with drip, Open311Client(drip.url, timeout=0.5) as c, pytest.raises(Unavailable):
        c.services()
    assert drip.written < 400


def test_a_long_note_still_fits_the_residents_platform(factory: Factory) -> None:
    # Instagram Direct takes 1,000 characters; staff may write a 1,000-character note.
    add_conversation(factory, "instagram:ig-77", channel="instagram")
    save_draft(factory, "instagram:ig-77", channel="instagram")
    with factory() as s:
        report = filing.file_report(s, "instagram:ig-77", NOW).report
        reference = report.reference
        note = "We will close the lane on Friday to fill it. " * 22  # 990 characters
        assert updates.change_status(s, int(report.id), "action_scheduled", NOW, note=note) is not None
    with factory() as s:
        assert [d.state for d in notifying.deliver_due(s, NOW)] == ["queued"]
        [text] = s.execute(select(OutboundMessage.text)).scalars().all()
    assert len(text) <= 1000
    assert reference in text and "the repair is booked" in text and "close the lane on Friday" in text


def test_the_open311_api_key_never_reaches_the_logs(
    factory: Factory, client: Open311Client, open311_env: FakeOpen311, caplog: pytest.LogCaptureFixture
) -> None:
    # GeoReport puts the key in the query string of GETs, and httpx logs every request's URL at INFO, the
    # level the Rasa server (where the worker runs) logs at.
    _file(factory, ANN)
    with caplog.at_level(logging.INFO):
        assert sending.send_due(factory, client, NOW, WORKER) == 1
        updates.poll(factory, client, NOW + dt.timedelta(hours=1))
        client.services()
    assert "servicerequestupdates.json" in caplog.text  # the requests are still logged, for on-call staff
    assert "test-key" not in caplog.text


def test_a_refusal_answered_with_200_is_a_refusal_not_an_outage() -> None:
    refusal = [{"code": 400, "description": "Location is outside our area"}]
    odd = Canned({"requests.json": json.dumps(refusal).encode()})
    with odd, Open311Client(odd.url) as c, pytest.raises(Rejected, match="Location is outside our area"):
        c.post_request("PH", "Pothole", lat=52.63, long=-1.13)
