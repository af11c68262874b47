"""The platforms' API client over real HTTP against the fake platform: a reply survives rate limits and bad
minutes, gives up at once on what retrying can't fix, and never logs what the resident was told."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterator

import pytest

from bot.platforms.api import ApiClient, PlatformError, close_shared_client, shared_client
from tests.conftest import free_port
from tests.fakes.platform import FakePlatform

SECRET_TEXT = "Jean Smith at 14 Elm Road NG1 5DT"


@pytest.fixture(scope="module")
def _platform() -> Iterator[FakePlatform]:
    with FakePlatform() as platform:  # one per module: stopping it takes half a second
        yield platform


@pytest.fixture
def fake(_platform: FakePlatform) -> FakePlatform:
    _platform.reset()
    return _platform


def _client(url: str, **kw: float) -> ApiClient:
    options = {"attempts": 4, "backoff": 0.01, "max_backoff": 0.05, "timeout": 5.0}
    options.update(kw)
    return ApiClient("graph", url, "page-token-123", **options)  # type: ignore[arg-type]


def _post(client: ApiClient, path: str = "me/messages", text: str = "hello") -> dict:
    call = client.post(path, {"recipient": {"id": "psid"}, "message": {"text": text}})
    return asyncio.run(asyncio.wait_for(call, timeout=10))  # an uncapped Retry-After must fail, not hang


def _error(client: ApiClient, path: str = "me/messages", text: str = "hello") -> PlatformError:
    with pytest.raises(PlatformError) as info:
        _post(client, path, text)
    return info.value


def test_success_returns_the_platforms_json(fake: FakePlatform) -> None:
    data = _post(_client(fake.url))
    assert data["message_id"].startswith("m_")
    [call] = fake.calls
    assert (call.method, call.path) == ("POST", "/me/messages")
    assert call.body == {"recipient": {"id": "psid"}, "message": {"text": "hello"}}


def test_rate_limited_twice_then_sent(fake: FakePlatform) -> None:
    fake.fail_next(429, times=2)
    data = _post(_client(fake.url))
    assert data["message_id"].startswith("m_")
    assert len(fake.calls) == 3


def test_server_error_then_sent(fake: FakePlatform) -> None:
    fake.fail_next(500)
    assert _post(_client(fake.url))["message_id"].startswith("m_")
    assert len(fake.calls) == 2


def test_retry_after_is_honoured(fake: FakePlatform) -> None:
    fake.fail_next(429, retry_after="1")
    _post(_client(fake.url, backoff=0.01, max_backoff=5.0))
    first, second = fake.calls
    assert second.at - first.at >= 0.9  # the platform's 1 s, not our 10 ms backoff


def test_retry_after_is_capped(fake: FakePlatform) -> None:
    fake.fail_next(429, retry_after="3600")
    started = time.monotonic()
    _post(_client(fake.url, backoff=0.01, max_backoff=0.2))
    first, second = fake.calls
    assert 0.15 <= second.at - first.at < 2.0
    assert time.monotonic() - started < 3.0


def test_client_error_is_not_retried(fake: FakePlatform) -> None:
    fake.fail_next(400)
    err = _error(_client(fake.url))
    assert err.status == 400
    assert err.code == "400"  # the platform's error code, safe to log
    assert len(fake.calls) == 1


def test_forbidden_is_not_retried(fake: FakePlatform) -> None:
    fake.fail_next(403, times=3)
    assert _error(_client(fake.url)).status == 403
    assert len(fake.calls) == 1


def test_gives_up_after_all_attempts(fake: FakePlatform) -> None:
    fake.fail_next(503, times=10)
    err = _error(_client(fake.url, attempts=3))
    assert err.status == 503
    assert len(fake.calls) == 3


def test_connection_refused_is_a_platform_error() -> None:
    port = free_port()  # nothing listens here
    started = time.monotonic()
    err = _error(_client(f"http://127.0.0.1:{port}", attempts=2))
    assert err.status is None
    assert time.monotonic() - started < 5


def test_platform_that_never_answers_times_out() -> None:
    with socket.socket() as listener:  # accepts connections (backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        started = time.monotonic()
        err = _error(_client(f"http://127.0.0.1:{listener.getsockname()[1]}", attempts=2, timeout=0.2))
    assert err.status is None
    assert "Timeout" in str(err)
    assert time.monotonic() - started < 2


def test_bearer_token_goes_in_the_header_not_the_url(fake: FakePlatform) -> None:
    client = _client(fake.url)
    _post(client)
    asyncio.run(client.get("me", params={"fields": "id"}))
    for call in fake.calls:
        assert call.headers.get("Authorization") == "Bearer page-token-123"
        assert "page-token-123" not in call.path
    assert fake.calls[1].path == "/me?fields=id"


def test_base_url_trailing_slash_and_leading_path_slash(fake: FakePlatform) -> None:
    _post(_client(fake.url + "/v19.0/"), path="/me/messages")
    assert fake.calls[0].path == "/v19.0/me/messages"


def test_logs_have_the_status_never_the_text(fake: FakePlatform, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake.fail_next(503)
    _post(_client(fake.url), text=SECRET_TEXT)
    fake.fail_next(400)
    err = _error(_client(fake.url), text=SECRET_TEXT)
    logged = caplog.text
    assert "503" in logged and "400" in logged
    assert "/me/messages" in logged
    for secret in ("Jean", "Elm Road", "NG1 5DT", "page-token-123"):
        assert secret not in logged
        assert secret not in str(err)


def test_a_request_that_got_no_answer_is_not_sent_again(fake: FakePlatform) -> None:
    """The platform took the request and went quiet: it may have delivered it, so a second try could give the
    resident the same message twice. The outbound queue marks it unknown instead."""
    fake.stall_next(1, seconds=1.0)
    err = _error(_client(fake.url, attempts=4, timeout=0.2))
    assert err.maybe_delivered and not err.retryable
    assert len(fake.settle(quiet=1.2)) == 1


def test_what_the_queue_needs_to_retry_is_on_the_error(fake: FakePlatform) -> None:
    fake.fail_next(503, times=2, retry_after="7")
    err = _error(_client(fake.url, attempts=2, max_backoff=0.05))
    assert (err.status, err.retry_after, err.retryable, err.maybe_delivered) == (503, 7.0, True, False)
    fake.fail_next(400)
    assert _error(_client(fake.url)).retryable is False


def test_connection_refused_is_worth_retrying_later() -> None:
    err = _error(_client(f"http://127.0.0.1:{free_port()}", attempts=1))
    assert err.retryable and not err.maybe_delivered  # it never reached the platform


def test_calls_through_different_clients_reuse_one_connection(fake: FakePlatform) -> None:
    graph, whatsapp = _client(fake.url), ApiClient("whatsapp", fake.url, "wa-token", timeout=5.0)

    async def calls() -> None:
        for i in range(3):
            await graph.post("me/messages", {"message": {"text": f"hello {i}"}})
            await whatsapp.post("wa-1/messages", {"messaging_product": "whatsapp", "text": {"body": "hi"}})

    asyncio.run(calls())
    assert len(fake.calls) == 6
    assert len({c.peer for c in fake.calls}) == 1  # pooled: no new handshake per call
    # Each call still carries its own client's token.
    assert [c.headers["Authorization"] for c in fake.calls] == ["Bearer page-token-123", "Bearer wa-token"] * 3


def test_one_client_per_event_loop_and_a_closed_one_is_replaced() -> None:
    async def twice() -> tuple[object, object, object]:
        first, again = shared_client(), shared_client()
        await close_shared_client()
        return first, again, shared_client()

    first, again, after_close = asyncio.run(twice())
    assert first is again and after_close is not first
    other_loop, _, _ = asyncio.run(twice())
    assert other_loop is not first  # a new loop can't use connections opened on another
