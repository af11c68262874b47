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
from typing import Optional

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


def send_due(session_factory: SessionFactory, client: Open311Client, now: dt.datetime, claimer: Claimer) -> int:
    """Send every report due now. Returns how many reached the back office (sent) in this round."""
    with session_factory() as session:
        taken = _claim(session, claimer, now)
    sent = 0
    for report_id in taken:
        try:
            if _send_one(session_factory, client, report_id, now, claimer):
                sent += 1
        except Exception:  # one report's surprise must not stop the others; its lease lapses, it is retried
            log.exception("report %s: sending failed unexpectedly", report_id)
    return sent


def _held(report: Report, claimer: Claimer) -> bool:
    return report.claim_token == claimer.token and report.send_state in ("sending", "uncertain")


def _send_one(
    session_factory: SessionFactory, client: Open311Client, report_id: int, now: dt.datetime, claimer: Claimer
) -> bool:
    with session_factory() as session:
        report = session.get(Report, report_id)
        if report is None or not _held(report, claimer):
            return False
        code = report.open311_service_code or service_code(report.category)
        if report.send_state == "uncertain":
            try:
                found = _find_on_server(client, report, code, now)
            except Unavailable as error:
                _retry(report, now, f"Couldn't check the back office: {error}", state="uncertain")
                return False
            except Rejected as error:
                # The server can't be searched: re-POSTing could file it twice, so staff decide.
                report.send_state, report.next_attempt_at = "uncertain", None
                report.send_error = f"It may have reached the back office; check there before sending again ({error})"
                _release(report)
                return False
            if found is not None:
                _sent(report, found, now)
                log.info("report %s was already at the back office", report_id)
                return True
        # From here the outcome may be lost: say so durably before the request goes.
        report.send_state = "uncertain"
        report.send_attempts += 1
        report.lease_until = now + LEASE
        description = description_for(report)
        media_url = media_url_for(session, report)
        category = categories.get(report.category)
        detail = (report.details or {}).get(category.detail_key) if category else None
        attributes = {category.detail_key: str(detail)} if category and detail else {}
        lat, lon, address = report.latitude, report.longitude, report.address
    try:
        posted = client.post_request(
            code,
            description,
            lat=lat,
            long=lon,
            address_string=address,
            media_url=media_url,
            attributes=attributes,
        )
    except Unavailable as error:
        with session_factory() as session:
            report = session.get(Report, report_id)
            if report is not None and _held(report, claimer):
                # A refused connection filed nothing; anything else may have: check first next time.
                state = "uncertain" if error.maybe_done else "queued"
                _retry(report, now, f"The back office didn't answer: {error}", state=state)
        return False
    except Rejected as error:
        with session_factory() as session:
            report = session.get(Report, report_id)
            if report is not None and _held(report, claimer):
                report.send_state, report.send_error, report.next_attempt_at = "rejected", str(error), None
                _release(report)
        log.warning("report %s rejected by the back office (HTTP %s)", report_id, error.status_code)
        return False
    with session_factory() as session:
        report = session.get(Report, report_id)
        if report is None or not _held(report, claimer):
            return False
        _sent(report, posted.service_request_id or f"token:{posted.token}", now)
    return True


def _find_on_server(client: Open311Client, report: Report, code: str, now: dt.datetime) -> Optional[str]:
    """The back office's id for `report` if a request carrying its reference is there."""
    candidates = client.get_requests(
        service_code=code, start=report.created_at - SEARCH_SLACK, end=max(now, report.created_at) + SEARCH_SLACK
    )
    for request in candidates:
        if report.reference in request.description:
            return request.service_request_id
    return None


def _retry(report: Report, now: dt.datetime, error: str, state: str) -> None:
    report.send_state = state
    report.send_error = error[:300]
    report.next_attempt_at = now + backoff(max(1, report.send_attempts))
    _release(report)


def _sent(report: Report, open311_id: str, now: dt.datetime) -> None:
    report.send_state, report.open311_id, report.sent_at = "sent", open311_id, now
    report.send_error, report.next_attempt_at = None, None
    _release(report)


def _release(report: Report) -> None:
    report.claimed_by, report.claim_token, report.lease_until = None, None, None
