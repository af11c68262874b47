"""Who holds a piece of queued work (an inbound message being answered, an outbound message being sent),
and when others may take it over.

A claim names the replica (a stable name for one slot of the service, such as host:port, the same after a
restart) and the incarnation (a random token per process start), with a lease the holder keeps renewing
while it works. Work is taken over when its lease has lapsed (the holder died or hung), or at once when the
same replica has restarted: a new incarnation of a replica knows the old one is gone.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_

DEFAULT_LEASE = dt.timedelta(seconds=30)


@dataclass(frozen=True)
class Claimer:
    """This process as a holder of work. `replica` must be unique among live processes (two live processes
    with one name would take each other's work); `token` is new at every start."""

    replica: str
    token: str = field(default_factory=lambda: secrets.token_hex(8))


def taken_over(model: Any, claimer: Claimer, now: dt.datetime) -> Any:
    """SQL condition: a claimed row of `model` whose holder is gone (lease lapsed, or an earlier
    incarnation of our own replica)."""
    return or_(
        model.lease_until.is_(None),
        model.lease_until < now,
        (model.claimed_by == claimer.replica) & (model.claim_token != claimer.token),
    )
