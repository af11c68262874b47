"""Slowing down password guessing without handing anyone a switch to lock staff out.

The old rule locked an account for 15 minutes after 5 wrong passwords from anywhere: anyone who knew (or
guessed) a username could keep that member of staff out all day. The rules now:

1. **Per network address** (this module). An address with `ADDRESS_MAX_FAILURES` failed sign-ins (any
   usernames) within `ADDRESS_WINDOW` is refused until the oldest of them is older than the window,
   without its password being checked, so its further attempts neither count against any account nor
   learn anything. This is what stops guessing from one machine, and it never affects anyone elsewhere.
2. **Per account** (`knowledge.staff.authenticate`). `MAX_FAILED_LOGINS` (20) wrong passwords in a row,
   which from rule 1 takes several addresses (a distributed attack), lock the account for
   `LOCKOUT`, but only against addresses the account hasn't signed in from successfully in the last
   `KNOWN_FOR` (`known`). The real user at their usual desk still gets in during an attack; a guesser
   at a new address doesn't.

So an attacker failing from one address only throttles that address; to lock an account at all takes
several addresses, and even then the lock doesn't reach the places its owner works from.

The client's address is the connection's peer, or, behind a reverse proxy, taken from X-Forwarded-For
only when CONSOLE_TRUSTED_PROXIES says how many proxies append to it (`client_address`): otherwise anyone
could send the header and pick a fresh address for every guess.

State is in this process's memory: the console runs as one process, and losing it at a restart only
resets the counts (the account lock in the database remains). Memory is bounded: at most
`MAX_TRACKED` addresses and `MAX_KNOWN_PER_USER` known addresses per account are kept.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict, deque
from typing import Optional

from bot.client_address import client_address as shared_client_address

ADDRESS_MAX_FAILURES = 5
ADDRESS_WINDOW = dt.timedelta(minutes=15)
KNOWN_FOR = dt.timedelta(days=30)
MAX_TRACKED = 10_000
MAX_KNOWN_PER_USER = 20


def client_address(peer: Optional[str], forwarded_for: Optional[str], trusted_proxies: int) -> str:
    """Who is signing in (bot/client_address.py), or "unknown" when the connection has no address."""
    return shared_client_address(peer, forwarded_for, trusted_proxies) or "unknown"


class SignInThrottle:
    """Failed sign-ins per address, and each account's known good addresses. Times are naive UTC."""

    def __init__(self, max_failures: int = ADDRESS_MAX_FAILURES, window: dt.timedelta = ADDRESS_WINDOW):
        self.max_failures = max_failures
        self.window = window
        # address -> times of its recent failures, oldest first; least recently failing address first
        self._failures: OrderedDict[str, deque[dt.datetime]] = OrderedDict()
        # username -> address -> last successful sign-in from there
        self._known: dict[str, OrderedDict[str, dt.datetime]] = {}

    def _recent(self, address: str, now: dt.datetime) -> deque[dt.datetime]:
        times = self._failures.get(address, deque())
        while times and now - times[0] >= self.window:
            times.popleft()
        if not times:
            self._failures.pop(address, None)
        return times

    def blocked(self, address: str, now: dt.datetime) -> bool:
        """True while `address` has `max_failures` failures within the window."""
        return len(self._recent(address, now)) >= self.max_failures

    def failed(self, address: str, now: dt.datetime) -> None:
        """Count a failed sign-in from `address`."""
        times = self._recent(address, now)
        times.append(now)
        self._failures[address] = times
        self._failures.move_to_end(address)
        while len(self._failures) > MAX_TRACKED:
            self._failures.popitem(last=False)

    def succeeded(self, username: str, address: str, now: dt.datetime) -> None:
        """Remember that `username` signed in from `address` (see `known`)."""
        known = self._known.setdefault(username, OrderedDict())
        known[address] = now
        known.move_to_end(address)
        while len(known) > MAX_KNOWN_PER_USER:
            known.popitem(last=False)

    def known(self, username: str, address: str, now: dt.datetime) -> bool:
        """True if `username` signed in successfully from `address` within `KNOWN_FOR`."""
        addresses = self._known.get(username)
        when = addresses.get(address) if addresses is not None else None
        return when is not None and now - when < KNOWN_FOR
