"""The per-address sign-in throttle and who counts as the client, with an explicit clock."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.console.throttle import (
    ADDRESS_MAX_FAILURES,
    ADDRESS_WINDOW,
    KNOWN_FOR,
    MAX_KNOWN_PER_USER,
    SignInThrottle,
    client_address,
)

T0 = dt.datetime(2026, 3, 2, 9, 0)


def test_an_address_is_paused_after_five_failures_until_the_oldest_leaves_the_window() -> None:
    t = SignInThrottle()
    for i in range(ADDRESS_MAX_FAILURES - 1):
        t.failed("203.0.113.9", T0 + dt.timedelta(minutes=i))
    assert not t.blocked("203.0.113.9", T0 + dt.timedelta(minutes=5))
    t.failed("203.0.113.9", T0 + dt.timedelta(minutes=5))
    assert t.blocked("203.0.113.9", T0 + dt.timedelta(minutes=5))
    assert not t.blocked("198.51.100.7", T0 + dt.timedelta(minutes=5))  # nobody else is affected
    assert t.blocked("203.0.113.9", T0 + ADDRESS_WINDOW - dt.timedelta(seconds=1))
    assert not t.blocked("203.0.113.9", T0 + ADDRESS_WINDOW)  # the first failure has aged out


def test_known_addresses_are_per_account_and_expire() -> None:
    t = SignInThrottle()
    t.succeeded("alice", "198.51.100.7", T0)
    assert t.known("alice", "198.51.100.7", T0 + KNOWN_FOR - dt.timedelta(seconds=1))
    assert not t.known("alice", "198.51.100.7", T0 + KNOWN_FOR)
    assert not t.known("bob", "198.51.100.7", T0)
    for n in range(MAX_KNOWN_PER_USER + 5):
        t.succeeded("alice", f"10.0.0.{n}", T0)
    assert not t.known("alice", "10.0.0.0", T0)  # memory is bounded: the oldest is forgotten
    assert t.known("alice", f"10.0.0.{MAX_KNOWN_PER_USER + 4}", T0)


@pytest.mark.parametrize(
    "peer,header,proxies,expected",
    [
        ("10.0.0.1", "203.0.113.9", 0, "10.0.0.1"),  # header ignored unless proxies trusted
        ("10.0.0.1", "203.0.113.9", 1, "203.0.113.9"),
        ("10.0.0.1", "1.2.3.4, 203.0.113.9", 1, "203.0.113.9"),  # the client's own entry proves nothing
        ("10.0.0.1", "1.2.3.4, 203.0.113.9, 10.0.0.5", 2, "203.0.113.9"),
        ("10.0.0.1", "203.0.113.9", 2, "10.0.0.1"),  # too short: the peer
        ("10.0.0.1", "not-an-address", 1, "10.0.0.1"),
        ("10.0.0.1", None, 1, "10.0.0.1"),
        ("10.0.0.1", " 2001:db8::1 ", 1, "2001:db8::1"),
    ],
)
def test_client_address(peer: str, header: str, proxies: int, expected: str) -> None:
    assert client_address(peer, header, proxies) == expected
