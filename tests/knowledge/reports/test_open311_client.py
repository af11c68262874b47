"""The Open311 client speaks GeoReport v2 JSON and sorts every failure into retry-later or refused."""

from __future__ import annotations

import datetime as dt

import pytest

from knowledge.reports.open311 import Open311Client, Rejected, Unavailable
from tests.fakes.open311 import FakeOpen311


def test_services_are_listed(fake: FakeOpen311) -> None:
    with Open311Client(fake.url) as client:
        assert [s.service_code for s in client.services()] == ["PH", "SL"]


def test_too_many_requests_and_a_refused_connection_did_nothing(fake: FakeOpen311) -> None:
    with Open311Client(fake.url) as client:
        fake.fail(429)
        with pytest.raises(Unavailable) as busy:
            client.post_request("PH", "x", lat=52.0, long=-1.0)
        assert busy.value.maybe_done is False
        fake.fail(503)
        with pytest.raises(Unavailable) as broken:
            client.post_request("PH", "x", lat=52.0, long=-1.0)
        assert broken.value.maybe_done is True  # the server may have filed it before failing
        fake.down()
        with pytest.raises(Unavailable) as refused:
            client.services()
        assert refused.value.maybe_done is False


def test_a_refusal_carries_the_servers_description(fake: FakeOpen311) -> None:
    fake.reject("lat/long outside our area")
    with Open311Client(fake.url) as client, pytest.raises(Rejected) as refused:
        client.post_request("PH", "x", lat=52.0, long=-1.0)
    assert str(refused.value) == "lat/long outside our area" and refused.value.status_code == 400


def test_a_server_without_the_updates_extension_answers_404(fake: FakeOpen311) -> None:
    fake.updates_supported = False
    with Open311Client(fake.url) as client, pytest.raises(Rejected) as missing:
        client.updates(dt.datetime(2026, 12, 1))
    assert missing.value.status_code == 404


def test_a_slow_server_is_unavailable_not_a_crash(fake: FakeOpen311) -> None:
    fake.delay = 3.0
    with Open311Client(fake.url, timeout=1.0) as client, pytest.raises(Unavailable) as slow:
        client.services()
    assert slow.value.maybe_done is True
