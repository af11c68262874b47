"""Sending filed reports to the back office over Open311: queued, retried, and never filed twice.

A report goes through `send_state`: queued -> sending (claimed: `claimed_by`/`claim_token` until
`lease_until`) -> uncertain (committed just before the POST) -> sent, or back to queued after a failure
that certainly sent nothing (with `next_attempt_at`, backing off), or rejected (the server said no).

Why uncertain: a POST whose answer is lost (a timeout after the server filed it, a process that dies
mid-request) may or may not have filed the report. Such a row is never POSTed again blindly: it is first
looked for on the server (GET requests.json by service code and a time window around its filing, matching
our reference, which every description carries), and re-POSTed only if it isn't there. A `sending` row
whose holder died was never POSTed (the uncertain mark comes first), so it simply goes back to the queue.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Optional

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from knowledge.delivery.claims import Claimer, taken_over
from knowledge.models import Attachment, Report, ReportPhoto
from knowledge.reports import categories
from knowledge.reports.filing import service_code
from knowledge.reports.open311 import Open311Client, Rejected, Unavailable

log = logging.getLogger(__name__)

SessionFactory = Callable[[], AbstractContextManager[Session]]

FIRST_RETRY = dt.timedelta(seconds=30)
MAX_RETRY = dt.timedelta(minutes=15)  # an outage of hours still sends within a quarter of an hour of its end
LEASE = dt.timedelta(minutes=2)  # longer than one POST or GET may take (OPEN311_TIMEOUT_SECONDS)
# The window searched on the server for an uncertain report: its clocks may differ from ours.
SEARCH_SLACK = dt.timedelta(hours=2)
BATCH = 20


def backoff(attempts: int) -> dt.timedelta:
    """Wait before attempt `attempts + 1`: 30 s, doubling, at most 15 minutes."""
    return min(MAX_RETRY, FIRST_RETRY * (2 ** min(max(0, attempts - 1), 10)))  # 2**n of a large n overflows


def description_for(report: Report) -> str:
    """What the back office reads: the resident's words, the category's answer, and our reference (the
    last line, which is also how an uncertain report is recognised on the server)."""
    lines = [report.description or categories.BY_KEY[report.category].name.capitalize()]
    category = categories.get(report.category)
    if category is not None:
        answer = (report.details or {}).get(category.detail_key)
        if answer:
            lines.append(f"{category.detail_question} {answer}")
    lines.append(f"Reference: {report.reference}")
    return "\n\n".join(lines)


def media_url_for(session: Session, report: Report) -> Optional[str]:
    """A public URL of the report's first photo that has one: platform photos with an http(s) URL. Web chat
    uploads are kept on our own disk, not public, so none is sent for them."""
    urls = session.execute(
        select(Attachment.url)
        .join(ReportPhoto, ReportPhoto.attachment_id == Attachment.id)
        .where(ReportPhoto.report_id == report.id)
        .order_by(ReportPhoto.id)
    ).scalars()
    for url in urls:
        if url and url.lower().startswith(("https://", "http://")):
            return str(url)
    return None


def _due(claimer: Claimer, now: dt.datetime) -> object:
    """SQL condition: a report this process may take now."""
    free = taken_over(Report, claimer, now)
    return or_(
        and_(
            Report.send_state == "queued",
            or_(Report.next_attempt_at.is_(None), Report.next_attempt_at <= now),
            free,
        ),
        # An uncertain row with no next attempt waits for staff (the server can't be searched).
        and_(Report.send_state == "uncertain", Report.next_attempt_at <= now, free),
        # Its holder died before the uncertain mark: nothing was POSTed.
        and_(Report.send_state == "sending", free),
    )


def _claim(session: Session, claimer: Claimer, now: dt.datetime) -> list[int]:
    """Take up to BATCH due reports (compare-and-set per row, so two workers never take the same one)."""
    ids = session.execute(select(Report.id).where(_due(claimer, now)).order_by(Report.id).limit(BATCH)).scalars().all()
    taken = []
    for report_id in ids:
        row = session.execute(select(Report.send_state).where(Report.id == report_id)).scalar_one()
        state = "uncertain" if row == "uncertain" else "sending"
        done = session.execute(
            update(Report)
            .where(Report.id == report_id, _due(claimer, now))
            .values(send_state=state, claimed_by=claimer.replica, claim_token=claimer.token, lease_until=now + LEASE)
            .execution_options(synchronize_session=False)
        ).rowcount
        if done == 1:
            taken.append(report_id)
    return taken


def send_due(
    session_factory: SessionFactory,
    client: Open311Client,
    now: dt.datetime,
    claimer: Claimer,
    clock: Optional[Callable[[], dt.datetime]] = None,
) -> int:
    """Send every report due now. Returns how many reached the back office (sent) in this round. When the
    server is unavailable the rest of the round's reports are let go untried: they would only wait on it
    too, and the worker's next round comes soon.

    `clock` is the time as the round goes on (the worker passes the real clock; without one, `now`). The round's
    claims last LEASE from `now`; a slow back office (a minute an answer) would let them lapse while reports
    still wait their turn, and another replica could then take and post a report this one is posting. So no
    report is started once half the lease has gone (the rest are let go for the next round), and each POST's
    own lease runs from the time it starts."""
    clock = clock or (lambda: now)
    with session_factory() as session:
        taken = _claim(session, claimer, now)
    sent = 0
    for i, report_id in enumerate(taken):
        current = clock()
        if current - now > LEASE / 2:
            _let_go(session_factory, taken[i:], claimer)
            break
        try:
            outcome = _send_one(session_factory, client, report_id, current, claimer)
        except Exception:  # one report's surprise must not stop the others; its lease lapses, it is retried
            log.exception("report %s: sending failed unexpectedly", report_id)
            continue
        if outcome == SENT:
            sent += 1
        elif outcome == UNAVAILABLE:
            _let_go(session_factory, taken[i + 1 :], claimer)
            break
    return sent


SENT, UNAVAILABLE, OTHER = "sent", "unavailable", "other"
_HELD_STATES = ("sending", "uncertain")


def _write(session_factory: SessionFactory, report_id: int, claimer: Claimer, **values: Any) -> bool:
    """Change the report only while this process still holds it (compare-and-set on the claim token, so a
    worker whose lease lapsed can never overwrite the one that took over). True if written."""
    with session_factory() as session:
        return (
            session.execute(
                update(Report)
                .where(
                    Report.id == report_id,
                    Report.claim_token == claimer.token,
                    Report.send_state.in_(_HELD_STATES),
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            ).rowcount
            == 1
        )


_RELEASED: dict[str, Any] = {"claimed_by": None, "claim_token": None, "lease_until": None}


def _let_go(session_factory: SessionFactory, report_ids: list[int], claimer: Claimer) -> None:
    """Give back claimed reports not tried this round: a `sending` one was never posted, so it is queued."""
    for report_id in report_ids:
        with session_factory() as session:
            session.execute(
                update(Report)
                .where(Report.id == report_id, Report.claim_token == claimer.token, Report.send_state == "sending")
                .values(send_state="queued", **_RELEASED)
                .execution_options(synchronize_session=False)
            )
            session.execute(
                update(Report)
                .where(Report.id == report_id, Report.claim_token == claimer.token)
                .values(**_RELEASED)
                .execution_options(synchronize_session=False)
            )


@dataclass(frozen=True)
class _Outgoing:
    """What one report's POST needs, read while it is held."""

    state: str
    attempts: int
    created_at: dt.datetime
    reference: str
    code: str
    description: str
    media_url: Optional[str]
    attributes: dict[str, str]
    lat: Optional[float]
    lon: Optional[float]
    address: Optional[str]


def _read(session_factory: SessionFactory, report_id: int, claimer: Claimer) -> Optional[_Outgoing]:
    with session_factory() as session:
        report = session.get(Report, report_id)
        if report is None or report.claim_token != claimer.token or report.send_state not in _HELD_STATES:
            return None
        category = categories.get(report.category)
        detail = (report.details or {}).get(category.detail_key) if category else None
        return _Outgoing(
            state=report.send_state,
            attempts=report.send_attempts + 1,
            created_at=report.created_at,
            reference=report.reference,
            code=report.open311_service_code or service_code(report.category),
            description=description_for(report),
            media_url=media_url_for(session, report),
            attributes={category.detail_key: str(detail)} if category and detail else {},
            lat=report.latitude,
            lon=report.longitude,
            address=report.address,
        )


def _retry_values(attempts: int, now: dt.datetime, error: str, state: str) -> dict[str, Any]:
    return {
        "send_state": state,
        "send_attempts": attempts,
        "send_error": error[:300],
        "next_attempt_at": now + backoff(attempts),
        **_RELEASED,
    }


def _sent_values(open311_id: str, attempts: int, now: dt.datetime) -> dict[str, Any]:
    return {
        "send_state": "sent",
        "open311_id": open311_id[:100],
        "sent_at": now,
        "send_attempts": attempts,
        "send_error": None,
        "next_attempt_at": None,
        **_RELEASED,
    }


def _send_one(
    session_factory: SessionFactory, client: Open311Client, report_id: int, now: dt.datetime, claimer: Claimer
) -> str:
    out = _read(session_factory, report_id, claimer)
    if out is None:
        return OTHER
    if out.state == "uncertain":
        try:
            found = _find_on_server(client, out, now)
        except Unavailable as error:
            _write(
                session_factory,
                report_id,
                claimer,
                **_retry_values(out.attempts, now, f"Couldn't check the back office: {error}", "uncertain"),
            )
            return UNAVAILABLE
        except Rejected as error:
            # The server can't be searched: posting again could file it twice, so staff decide.
            error_text = f"It may have reached the back office: check there before sending it again ({error})"
            _write(
                session_factory,
                report_id,
                claimer,
                send_state="uncertain",
                send_error=error_text[:300],
                next_attempt_at=None,
                **_RELEASED,
            )
            return OTHER
        if found is not None:
            if _write(session_factory, report_id, claimer, **_sent_values(found, out.attempts, now)):
                log.info("report %s was already at the back office", report_id)
                return SENT
            return OTHER
    # From here the outcome may be lost: say so durably before the request goes.
    marked = _write(
        session_factory, report_id, claimer, send_state="uncertain", send_attempts=out.attempts, lease_until=now + LEASE
    )
    if not marked:
        return OTHER
    try:
        posted = client.post_request(
            out.code,
            out.description,
            lat=out.lat,
            long=out.lon,
            address_string=out.address,
            media_url=out.media_url,
            attributes=out.attributes,
        )
    except Unavailable as error:
        # A refused connection filed nothing; anything else may have: looked for first next time.
        state = "uncertain" if error.maybe_done else "queued"
        values = _retry_values(out.attempts, now, f"The back office didn't answer: {error}", state)
        _write(session_factory, report_id, claimer, **values)
        return UNAVAILABLE
    except Rejected as error:
        _write(
            session_factory,
            report_id,
            claimer,
            send_state="rejected",
            send_error=str(error)[:300],
            next_attempt_at=None,
            **_RELEASED,
        )
        log.warning("report %s refused by the back office (HTTP %s)", report_id, error.status_code)
        return OTHER
    open311_id = posted.service_request_id or f"token:{posted.token}"
    return SENT if _write(session_factory, report_id, claimer, **_sent_values(open311_id, out.attempts, now)) else OTHER


def _find_on_server(client: Open311Client, out: _Outgoing, now: dt.datetime) -> Optional[str]:
    """The back office's id for the report if a request carrying its reference is there."""
    candidates = client.get_requests(
        service_code=out.code, start=out.created_at - SEARCH_SLACK, end=max(now, out.created_at) + SEARCH_SLACK
    )
    for request in candidates:
        if _reference_line(request.description) == f"Reference: {out.reference}":
            return request.service_request_id
    return None


def _reference_line(description: str) -> str:
    """The last line of a request's description: where `description_for` puts our reference. Only the last
    line counts: a resident may type another report's reference into their own words (references are
    numbered in order, so easy to guess), and a match there would record someone else's report as sent."""
    lines = [line.strip() for line in (description or "").strip().splitlines()]
    return lines[-1] if lines else ""
