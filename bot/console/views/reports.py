"""Reports residents filed in the chat (agents and admins): the list at `/reports` (filters by ward,
category, status and send state, with counts, newest first, a page at a time), a report at
`/reports/<reference>`, its photos at `/reports/<reference>/photos/<id>`, and form posts: change the
status (`/status`), which tells every resident on the report, send a rejected report again (`/retry`), and
settle one whose sending is in doubt (`/settle`: it is in the back office with this id, or it isn't).

Without an Open311 endpoint this is where reports wait and where their status is kept. The pages never
show a resident's conversation id, platform id or contact details: residents appear by channel and when
they joined, with a link to their case if they have one.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import quote, urlencode

from sanic import Sanic, response
from sanic.exceptions import NotFound
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.orm import Session

from bot.console.auth import require
from bot.console.data import in_db
from bot.console.params import check_id, parse_int
from bot.console.templating import render
from bot.console.views.photos import upload_file
from knowledge.casework.business_hours import BusinessHours
from knowledge.channels import channel
from knowledge.delivery.conversations import utcnow
from knowledge.models import Report
from knowledge.reports import listing, resend, statuses, updates
from knowledge.reports.categories import BY_KEY, CATEGORIES
from knowledge.settings import settings
from knowledge.staff import AGENT

log = logging.getLogger(__name__)

MAX_PAGE = 999_999
MAX_WARD = 60  # the column's length
# A public note is a sentence or two for residents, not a letter; with the status words and the reference
# the message still fits one Messenger message (2,000 characters).
MAX_NOTE = 1000
# The photo is a resident's personal data: no cache may keep a copy (as for case photos).

SEND_FILTER_WORDS = {
    "held": "Not sent: waiting here",
    "waiting": "Waiting to send",
    "check": "Check the back office",
    "sent": "Sent to the back office",
    "rejected": "Rejected by the back office",
}
SEND_STATE_WORDS = {
    "held": "Not sent: no back office is connected, so it waits here",
    "queued": "Waiting to send",
    "sending": "Sending now",
    "uncertain": "Waiting to send: the last try got no answer, so we check the back office before sending again",
    "check": "In doubt: it may have reached the back office. Check there (below) before it is sent again",
    "sent": "Sent",
    "rejected": "Rejected by the back office",
}
HOW_WORDS = {"filed": "Reported it", "joined": "Added to this report"}


def channel_title(name: str) -> str:
    """The channel as staff read it in a sentence: "Messenger", "the web chat"."""
    try:
        return channel(name).title or name.replace("_", " ")
    except KeyError:
        return name.replace("_", " ")


def is_polled(name: str) -> bool:
    """The resident collects our messages from their page (web chat, REST) rather than being sent them."""
    try:
        return channel(name).polled
    except KeyError:
        return False


def channel_heading(name: str) -> str:
    """The channel's name at the start of a line or a table cell: "The web chat"."""
    title = channel_title(name)
    return title[:1].upper() + title[1:]


def clock(value: dt.datetime, now: dt.datetime) -> str:
    """A stored time (naive UTC) as the council's clock says it, GOV.UK style: "8am", "5:30pm", with the
    day when it isn't today ("8am on 2 December")."""
    hours = BusinessHours.from_env()
    local, today = hours.local(value), hours.local(now)
    hour = local.hour % 12 or 12
    words = f"{hour}{'' if local.minute == 0 else f':{local.minute:02d}'}{'am' if local.hour < 12 else 'pm'}"
    if local.date() == today.date():
        return words
    return f"{words} on {local.day} {local.strftime('%B')}"


def told_words(told: listing.Told, now: dt.datetime) -> str:
    """How one resident was told about one change, in a few words for staff."""
    where = channel_title(told.channel)
    if told.state == "waiting":
        if told.due_at is not None and told.due_at > now:
            return f"Waiting for {clock(told.due_at, now)} (no messages at night)"
        return "About to be sent"
    if told.state == "emailed":
        return "Told by email"
    if told.state == "queued":
        out = told.outbound_status or "pending"
        if out == "sent" and is_polled(told.channel):
            return f"Told in {where}: their page collected it"
        if out == "sent":
            return f"Told on {where}"
        if out in ("pending", "sending") and is_polled(told.channel):
            # Their page collects it when it is next open (chat_history.council_updates); it may never be.
            return "Waiting for the resident to open the chat"
        if out in ("pending", "sending"):
            return f"Being sent on {where}"
        if out == "unknown":
            return f"May have been told on {where}: the platform didn't confirm it"
        if out == "outside_window":
            return f"Couldn't be told: {where}'s messaging window had closed"
        return f"Couldn't be told: {where} refused the message" + (
            f" ({told.outbound_error})" if told.outbound_error else ""
        )
    if told.state in ("unreachable", "failed"):
        return f"Couldn't be told. {told.detail}" if told.detail else "Couldn't be told."
    return told.state.replace("_", " ").capitalize()


def map_link(report: Report) -> Optional[str]:
    """An OpenStreetMap link to the report's point, or None without one."""
    if report.latitude is None or report.longitude is None:
        return None
    lat, lon = f"{report.latitude:.6f}", f"{report.longitude:.6f}"
    return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=18/{lat}/{lon}"


def category_title(key: str) -> str:
    """The category as a heading, its `name` without "a"/"an": "Pothole", "Fly-tipping"."""
    found = BY_KEY.get(key)
    if found is None:
        return key.replace("_", " ").capitalize()
    first, _, rest = found.name.partition(" ")
    words = rest if first in ("a", "an") and rest else found.name
    return words[:1].upper() + words[1:]


def open311_on() -> bool:
    """A back office is connected: it owns the reports' statuses."""
    return bool(settings().open311_endpoint)


# --- The list ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chosen:
    """The filters as the address gave them, once checked: `filters` to query with, `raw` to put back in the
    form and links, `ignored` one sentence per value that couldn't be used."""

    filters: listing.Filters
    raw: dict[str, str]
    ignored: list[str]


def read_filters(args: Any) -> Chosen:
    """The list's filters from the query string. A value that isn't one of the choices is ignored and said
    so on the page (a hand-typed or old link is not an error worth a 400)."""
    raw = {name: (args.get(name) or "").strip() for name in ("ward", "category", "status", "send")}
    ignored = []
    checks = (
        ("ward", lambda v: len(v) <= MAX_WARD and v.isprintable(), "ward"),
        ("category", listing.is_category, "kind of problem"),
        ("status", listing.is_status_filter, "status"),
        ("send", listing.is_send_filter, "sending state"),
    )
    for name, valid, what in checks:
        if raw[name] and not valid(raw[name]):
            ignored.append(f"“{raw[name][:40]}” isn't a {what} we know, so every {what} is shown.")
            raw[name] = ""
    filters = listing.Filters(**{k: (v or None) for k, v in raw.items()})
    return Chosen(filters, raw, ignored)


def _page_link(raw: dict[str, str], page: int) -> str:
    return "/reports?" + urlencode({**{k: v for k, v in raw.items() if v}, "page": page})


@require(AGENT)
async def list_page(request: Request) -> HTTPResponse:
    """GET /reports."""
    chosen = read_filters(request.args)
    page = parse_int(request.args.get("page"), "page number", 1, low=1, high=MAX_PAGE) or 1

    now = utcnow()

    def load(session: Session) -> dict[str, Any]:
        shown = listing.reports_page(session, chosen.filters, now, page)
        return {
            "shown": shown,
            "wards": listing.wards(session),
            "waiting_on_staff": listing.needing_staff(session, now),
        }

    data = await in_db(request, load)
    shown: listing.ReportsPage = data["shown"]
    wards = data["wards"]
    if chosen.filters.ward and chosen.filters.ward not in wards:
        wards = sorted([*wards, chosen.filters.ward])
    return render(
        request,
        "reports.html",
        title="Reports",
        shown=shown,
        filters=chosen.raw,
        ignored=chosen.ignored,
        wards=wards,
        waiting_on_staff=data["waiting_on_staff"],
        categories=CATEGORIES,
        statuses=statuses.STATUSES,
        staff_label=statuses.staff_label,
        unfinished=listing.UNFINISHED,
        send_filters=SEND_FILTER_WORDS,
        send_words=SEND_FILTER_WORDS,
        send_group=lambda report: listing.send_group(report, now),
        category_title=category_title,
        open311=open311_on(),
        previous_page=_page_link(chosen.raw, shown.page - 1) if shown.page > 1 else None,
        next_page=_page_link(chosen.raw, shown.page + 1) if shown.page < shown.pages else None,
    )


# --- One report -------------------------------------------------------------------------------------------------


async def _report_page(
    request: Request, reference: str, *, status: int = 200, error: Optional[str] = None, notice: Optional[str] = None
) -> HTTPResponse:
    detail = await in_db(request, lambda s: listing.report_detail(s, reference))
    if detail is None:
        raise NotFound("No such report")
    now = utcnow()
    report: Report = detail.report
    found = BY_KEY.get(report.category)
    details = [
        (found.detail_question if found and key == found.detail_key else key.replace("_", " ").capitalize(), value)
        for key, value in (report.details or {}).items()
    ]
    history = [
        {
            "change": change,
            "label": statuses.staff_label(change.update.status),
            "told": [(t.resident_number, channel_title(t.channel), told_words(t, now)) for t in change.told],
        }
        for change in detail.history
    ]
    return render(
        request,
        "report.html",
        status=status,
        title=report.reference,
        error_summary=error,
        notice=notice,
        report=report,
        category=category_title(report.category),
        status_label=statuses.staff_label(report.status),
        details=details,
        map_link=map_link(report),
        residents=detail.residents,
        how_words=HOW_WORDS,
        channel_title=channel_title,
        channel_heading=channel_heading,
        photos=detail.photos,
        history=history,
        last_update_id=detail.last_update_id,
        statuses=statuses.STATUSES,
        staff_label=statuses.staff_label,
        resident_words=statuses.resident_words,
        send_words=SEND_STATE_WORDS,
        stuck=resend.stuck(report, now),
        open311=open311_on(),
        max_note=MAX_NOTE,
        now=now,
    )


@require(AGENT)
async def report_page(request: Request, reference: str) -> HTTPResponse:
    """GET /reports/<reference>."""
    return await _report_page(request, reference, notice=request.args.get("done"))


def _back(reference: str, done: str) -> HTTPResponse:
    return response.redirect(f"/reports/{quote(reference)}?{urlencode({'done': done})}", status=303)


class Refused(Exception):
    """A change staff asked for that can't be made; the message says why, for the page."""


@require(AGENT)
async def change_status(request: Request, reference: str) -> HTTPResponse:
    """POST /reports/<reference>/status: a new status and an optional public note, told to every resident on
    the report. The form sends the newest history entry it showed (`seen`): if the history has moved on
    since (the same form sent twice, or someone else's change), nothing is changed."""
    form = request.form
    new_status = (form.get("status") or "").strip()
    note = (form.get("note") or "").strip()
    seen = parse_int(form.get("seen"), "form's history marker", 0) or 0
    actor = request.ctx.user.username
    if new_status not in statuses.STATUSES:
        return await _report_page(request, reference, status=400, error="Choose a status from the list.")
    if len(note) > MAX_NOTE:
        return await _report_page(
            request, reference, status=400, error=f"The note can be at most {MAX_NOTE:,} characters. Shorten it."
        )

    def change(session: Session) -> tuple[str, int]:
        now = utcnow()
        # Hold the report's row first, so a second copy of this form waits here until the first is committed
        # and then sees its history entry (both databases: a row lock on PostgreSQL, the write lock on SQLite).
        report = listing.lock_for_change(session, reference, now)
        if report is None:
            raise NotFound("No such report")
        if listing.changed_since(session, report.id, seen):
            raise Refused(
                "This report changed while you had it open (or the form was sent twice), so nothing was changed. "
                "Check its history below and try again if it's still needed."
            )
        if new_status == report.status:
            # A note goes to residents with a change of status; on its own it would be a message about nothing.
            raise Refused(f"The report is already “{statuses.staff_label(new_status)}”. Choose another status.")
        made = updates.change_status(
            session, report.id, new_status, now, note=note or None, source="staff", actor=actor
        )
        if made is None:
            raise Refused(f"The report is already “{statuses.staff_label(new_status)}”. Nothing was changed.")
        return report.reference, listing.residents_count(session, report.id)

    try:
        ref, residents = await in_db(request, change)
    except Refused as exc:
        return await _report_page(request, reference, status=409, error=str(exc))
    told = (
        "No resident is on this report, so nobody is told."
        if residents == 0
        else f"The {'resident' if residents == 1 else f'{residents} residents'} on it will be told."
    )
    return _back(ref, f"Status changed to “{statuses.staff_label(new_status)}”. {told}")


@require(AGENT)
async def retry(request: Request, reference: str) -> HTTPResponse:
    """POST /reports/<reference>/retry: send a rejected report to the back office again, or a held one once a
    back office is connected."""
    if not open311_on():
        return await _report_page(
            request, reference, status=409, error="No back office is connected, so there is nowhere to send it."
        )

    def go(session: Session) -> tuple[str, bool]:
        report = listing.by_reference(session, reference)
        if report is None:
            raise NotFound("No such report")
        return report.reference, resend.retry_sending(session, report.id, utcnow())

    ref, done = await in_db(request, go)
    if not done:
        return _back(ref, "Nothing was changed: it is already on its way to the back office, or there.")
    # Sending has no history table of its own: the log says who sent it again (a report isn't personal data).
    log.info("console: staff user %s queued report %s to send (again)", request.ctx.user.id, ref)
    return _back(ref, "It will be sent to the back office in a moment. This page shows how it went.")


@require(AGENT)
async def settle(request: Request, reference: str) -> HTTPResponse:
    """POST /reports/<reference>/settle: for a report whose sending is in doubt, what staff found in the back
    office: `found` = there (with its `open311_id`) or missing (send it now)."""
    found = request.form.get("found") or ""
    open311_id = (request.form.get("open311_id") or "").strip()
    if found not in ("there", "missing"):
        return await _report_page(request, reference, status=400, error="Say whether the report is in the back office.")
    if found == "missing" and not open311_on():
        return await _report_page(
            request, reference, status=409, error="No back office is connected, so there is nowhere to send it."
        )
    if found == "there" and not (0 < len(open311_id) <= resend.MAX_OPEN311_ID and open311_id.isprintable()):
        return await _report_page(
            request,
            reference,
            status=400,
            error=f"Enter the back office's id for this report (up to {resend.MAX_OPEN311_ID} characters).",
        )

    def go(session: Session) -> tuple[str, bool]:
        report = listing.by_reference(session, reference)
        if report is None:
            raise NotFound("No such report")
        now = utcnow()
        if found == "there":
            return report.reference, resend.found_there(session, report.id, open311_id, now)
        return report.reference, resend.send_anyway(session, report.id, now)

    try:
        ref, done = await in_db(request, go)
    except resend.IdInUse as exc:
        return await _report_page(request, reference, status=409, error=str(exc))
    if not done:
        return _back(ref, "Nothing was changed: its sending is no longer in doubt. This page shows where it stands.")
    log.info("console: staff user %s settled report %s whose sending was in doubt: %s", request.ctx.user.id, ref, found)
    if found == "there":
        return _back(ref, f"Recorded as sent, with the back office's id {open311_id}.")
    return _back(ref, "It will be sent to the back office in a moment. This page shows how it went.")


@require(AGENT)
async def photo_file(request: Request, reference: str, photo_id: int) -> HTTPResponse:
    """GET /reports/<reference>/photos/<id>: the file, if that photo was sent with this report."""
    check_id(photo_id, "photo")

    def load(session: Session) -> tuple[str, str]:
        report = listing.by_reference(session, reference)
        found = listing.photo_of(session, report.id, photo_id) if report is not None else None
        if found is None:
            raise NotFound("No such photo")
        return found.media_id or "", found.mime_type or "application/octet-stream"

    media_id, mime = await in_db(request, load)
    return await upload_file(media_id, mime)


def register(app: Sanic) -> None:
    app.add_route(list_page, "/reports", methods=["GET"], name="reports_index")
    app.add_route(report_page, "/reports/<reference:str>", methods=["GET"], name="report_page")
    app.add_route(change_status, "/reports/<reference:str>/status", methods=["POST"], name="report_status")
    app.add_route(retry, "/reports/<reference:str>/retry", methods=["POST"], name="report_retry")
    app.add_route(settle, "/reports/<reference:str>/settle", methods=["POST"], name="report_settle")
    app.add_route(photo_file, "/reports/<reference:str>/photos/<photo_id:int>", methods=["GET"], name="report_photo")
