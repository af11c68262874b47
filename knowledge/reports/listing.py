"""What the staff console shows of reports: the list (filters, counts per filter, a page at a time) and one
report with its residents, photos, status history and how each resident was told.

Queries, plus `lock_for_change` for the status form (what staff do about a report's sending is in
resend.py). Nothing here returns a resident's conversation id, platform id or contact details: residents are
shown by channel and when they joined, and a link to their case by its reference.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from sqlalchemy import and_, case, func, not_, select, update
from sqlalchemy.orm import Session

from knowledge.delivery.uploads import STORED_PREFIX
from knowledge.models import (
    Attachment,
    Case,
    OutboundMessage,
    Report,
    ReportNotification,
    ReportPhoto,
    ReportResident,
    ReportUpdate,
)
from knowledge.reports.categories import BY_KEY
from knowledge.reports.resend import stuck, stuck_condition
from knowledge.reports.statuses import OPEN_STATUSES, STATUSES

PAGE_SIZE = 50
MAX_REFERENCE = 30  # the column's length: anything longer is no reference of ours

# Where reports stand with the back office, grouped the way staff ask about them (Report.send_state's
# docstring has each state). "check": sending is in doubt and waits for a person (resend.stuck).
SEND_GROUPS: tuple[str, ...] = ("held", "waiting", "check", "sent", "rejected")


def send_condition(group: str, now: dt.datetime) -> Any:
    """SQL condition: the report is in send group `group` (a value of SEND_GROUPS) at `now`."""
    doubt = stuck_condition(now)
    on_the_way = Report.send_state.in_(("queued", "sending", "uncertain"))
    conditions = {
        "held": Report.send_state == "held",  # no Open311 endpoint: the report waits here, in the console
        "waiting": and_(on_the_way, not_(doubt)),  # on its way to the back office
        "check": doubt,
        "sent": Report.send_state == "sent",
        "rejected": Report.send_state == "rejected",
    }
    return conditions[group]


def send_group(report: Report, now: dt.datetime) -> str:
    """The send group (SEND_GROUPS) `report` is in at `now`."""
    if stuck(report, now):
        return "check"
    if report.send_state in ("queued", "sending", "uncertain"):
        return "waiting"
    return report.send_state if report.send_state in SEND_GROUPS else "waiting"


# Status filter values besides the statuses themselves: "" (any) and this, every status still being dealt with.
UNFINISHED = "unfinished"


@dataclass(frozen=True)
class Filters:
    """The list's filters; None means "any". `status` is one of STATUSES or UNFINISHED; `send` a key of
    SEND_GROUPS; `category` a key of knowledge/reports/categories.py; `ward` as the gazetteer names it."""

    ward: Optional[str] = None
    category: Optional[str] = None
    status: Optional[str] = None
    send: Optional[str] = None


@dataclass(frozen=True)
class Row:
    """One line of the list: the report and how many residents hear back about it."""

    report: Report
    residents: int


@dataclass
class ReportsPage:
    """One screen of the list, newest first. `total` counts every report the filters match; `counts` holds, for
    each filter (ward, category, status, send), how many reports each of its values would show with the
    other filters as chosen (so the numbers next to a filter's choices are what choosing them gives).
    `counts["status"][UNFINISHED]` is the sum of the still-open statuses."""

    rows: list[Row]
    page: int
    pages: int
    total: int
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


def _where(q: Any, filters: Filters, now: dt.datetime, skip: str = "") -> Any:
    """`q` narrowed by every filter but `skip` (the send state as it stands at `now`)."""
    if filters.ward and skip != "ward":
        q = q.where(Report.ward == filters.ward)
    if filters.category and skip != "category":
        q = q.where(Report.category == filters.category)
    if filters.status and skip != "status":
        if filters.status == UNFINISHED:
            q = q.where(Report.status.in_(sorted(OPEN_STATUSES)))
        else:
            q = q.where(Report.status == filters.status)
    if filters.send and skip != "send":
        q = q.where(send_condition(filters.send, now))
    return q


def _counts(session: Session, filters: Filters, now: dt.datetime, name: str, column: Any) -> dict[str, int]:
    rows = session.execute(
        _where(select(column, func.count(Report.id)), filters, now, skip=name).group_by(column)
    ).all()
    return {value: n for value, n in rows if value is not None}


def counts(session: Session, filters: Filters, now: dt.datetime) -> dict[str, dict[str, int]]:
    """How many reports each value of each filter would show, the other filters applied (see ReportsPage)."""
    by_group = session.execute(
        _where(
            select(*(func.sum(case((send_condition(g, now), 1), else_=0)) for g in SEND_GROUPS)), filters, now, "send"
        )
    ).one()
    by_status = _counts(session, filters, now, "status", Report.status)
    by_status[UNFINISHED] = sum(n for s, n in by_status.items() if s in OPEN_STATUSES)
    return {
        "ward": _counts(session, filters, now, "ward", Report.ward),
        "category": _counts(session, filters, now, "category", Report.category),
        "status": by_status,
        "send": {group: int(n or 0) for group, n in zip(SEND_GROUPS, by_group, strict=True)},
    }


def reports_page(
    session: Session, filters: Filters, now: dt.datetime, page: int = 1, per_page: int = PAGE_SIZE
) -> ReportsPage:
    """Page `page` (from 1; past the end means the last page) of the reports `filters` match at `now`, newest
    first."""
    total = session.execute(_where(select(func.count(Report.id)), filters, now)).scalar_one()
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    residents = select(func.count(ReportResident.id)).where(ReportResident.report_id == Report.id).scalar_subquery()
    found = session.execute(
        _where(select(Report, residents), filters, now)
        .order_by(Report.created_at.desc(), Report.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return ReportsPage([Row(r, n) for r, n in found], page, pages, total, counts(session, filters, now))


def needing_staff(session: Session, now: dt.datetime) -> dict[str, int]:
    """How many reports, whatever the filters, wait on a person before the back office gets them: "rejected"
    (refused: fix and send again) and "check" (in doubt: look in the back office)."""
    groups = ("rejected", "check")
    row = session.execute(select(*(func.sum(case((send_condition(g, now), 1), else_=0)) for g in groups))).one()
    return {group: int(n or 0) for group, n in zip(groups, row, strict=True)}


def wards(session: Session) -> list[str]:
    """Every ward that has a report, alphabetically (the ward filter's choices)."""
    return list(
        session.execute(select(Report.ward).where(Report.ward.is_not(None)).distinct().order_by(Report.ward)).scalars()
    )


def is_category(value: str) -> bool:
    return value in BY_KEY


def is_status_filter(value: str) -> bool:
    return value in STATUSES or value == UNFINISHED


def is_send_filter(value: str) -> bool:
    return value in SEND_GROUPS


# --- One report ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resident:
    """A resident on a report as staff see them: `number` (1 for the first to join), `channel` (its name),
    `how` (filed or joined), `joined_at`, and the reference of their latest handover case, if they have one.
    Never their conversation id or platform id."""

    id: int
    number: int
    channel: str
    how: str
    joined_at: dt.datetime
    case_reference: Optional[str]


@dataclass(frozen=True)
class Photo:
    """A photo sent with the report: `stored` when it is a web chat upload we keep (the console can show it),
    else it stays on the resident's platform (`channel`)."""

    attachment_id: int
    received_at: dt.datetime
    stored: bool
    channel: str


@dataclass(frozen=True)
class Told:
    """How one resident was (or wasn't yet) told about one status change. `state` is the notification's
    (waiting, queued, emailed, unreachable, failed); `outbound_status` the platform message's status when
    it went through the outbound queue (pending, sending, sent, failed, unknown, outside_window…); `detail`
    why it couldn't go, in the words the notifier recorded; `due_at` when a waiting one is planned."""

    resident_number: int
    channel: str
    state: str
    due_at: Optional[dt.datetime]
    detail: Optional[str]
    outbound_status: Optional[str]
    outbound_error: Optional[str]
    done_at: Optional[dt.datetime]


@dataclass(frozen=True)
class Change:
    """One entry of the status history with how each resident was told about it."""

    update: ReportUpdate
    told: list[Told]


@dataclass
class ReportDetail:
    report: Report
    residents: list[Resident]
    photos: list[Photo]
    history: list[Change]  # oldest first

    @property
    def last_update_id(self) -> int:
        """The newest history entry's id (0 with none): a status form sends it back, so a form sent twice,
        or after someone else's change, is noticed (see `changed_since`)."""
        return self.history[-1].update.id if self.history else 0


def by_reference(session: Session, reference: str) -> Optional[Report]:
    """The report with `reference` (as residents type it: any case, spaces around), or None."""
    reference = (reference or "").strip().upper()
    if not reference or len(reference) > MAX_REFERENCE:
        return None
    return session.execute(select(Report).where(Report.reference == reference)).scalar_one_or_none()


def _residents(session: Session, report_id: int) -> list[Resident]:
    rows = list(
        session.execute(
            select(ReportResident)
            .where(ReportResident.report_id == report_id)
            .order_by(ReportResident.joined_at, ReportResident.id)
        ).scalars()
    )
    conversations = [r.conversation_id for r in rows]
    latest_case: dict[str, str] = {}
    if conversations:
        for conversation_id, reference in session.execute(
            select(Case.conversation_id, Case.reference)
            .where(Case.conversation_id.in_(conversations))
            .order_by(Case.created_at, Case.id)
        ).all():
            latest_case[conversation_id] = reference  # later cases overwrite earlier ones
    return [
        Resident(r.id, i, r.channel, r.how, r.joined_at, latest_case.get(r.conversation_id))
        for i, r in enumerate(rows, start=1)
    ]


def _photos(session: Session, report_id: int) -> list[Photo]:
    rows = session.execute(
        select(Attachment)
        .join(ReportPhoto, ReportPhoto.attachment_id == Attachment.id)
        .where(ReportPhoto.report_id == report_id, Attachment.kind == "image")
        .order_by(Attachment.id)
    ).scalars()
    return [
        Photo(a.id, a.received_at, bool(a.media_id and a.media_id.startswith(STORED_PREFIX)), a.channel) for a in rows
    ]


def _history(session: Session, report_id: int, residents: Mapping[int, Resident]) -> list[Change]:
    updates = list(
        session.execute(
            select(ReportUpdate).where(ReportUpdate.report_id == report_id).order_by(ReportUpdate.at, ReportUpdate.id)
        ).scalars()
    )
    told: dict[int, list[Told]] = {u.id: [] for u in updates}
    if updates:
        notes = session.execute(
            select(ReportNotification, OutboundMessage.status, OutboundMessage.error)
            .outerjoin(OutboundMessage, OutboundMessage.id == ReportNotification.outbound_message_id)
            .where(ReportNotification.update_id.in_(list(told)))
            .order_by(ReportNotification.id)
        ).all()
        for n, out_status, out_error in notes:
            resident = residents.get(n.resident_id)
            told[n.update_id].append(
                Told(
                    resident.number if resident else 0,
                    resident.channel if resident else "",
                    n.state,
                    n.due_at,
                    n.detail,
                    out_status,
                    out_error,
                    n.done_at,
                )
            )
    return [Change(u, told[u.id]) for u in updates]


def report_detail(session: Session, reference: str) -> Optional[ReportDetail]:
    """The report with `reference` and everything its page shows, or None if there is no such report."""
    report = by_reference(session, reference)
    if report is None:
        return None
    residents = _residents(session, report.id)
    return ReportDetail(
        report, residents, _photos(session, report.id), _history(session, report.id, {r.id: r for r in residents})
    )


def photo_of(session: Session, report_id: int, attachment_id: int) -> Optional[Attachment]:
    """The attachment `attachment_id` if it is an image sent with report `report_id`, else None: a photo id
    alone, or one from another report, shows nothing."""
    return session.execute(
        select(Attachment)
        .join(ReportPhoto, ReportPhoto.attachment_id == Attachment.id)
        .where(
            ReportPhoto.report_id == report_id,
            Attachment.id == attachment_id,
            Attachment.kind == "image",
        )
    ).scalar_one_or_none()


def lock_for_change(session: Session, reference: str, now: dt.datetime) -> Optional[Report]:
    """The report with `reference`, held for a change until this transaction ends; None if there is none.

    Call it first in the transaction: it writes the row (its `updated_at`) before reading anything, so a
    second transaction changing the same report waits for this one to commit and then sees what it did (a
    row lock on PostgreSQL; on SQLite the database's write lock, taken before any read so the wait happens
    in the busy timeout rather than failing on a stale snapshot)."""
    reference = (reference or "").strip().upper()
    if not reference or len(reference) > MAX_REFERENCE:
        return None
    session.execute(
        update(Report)
        .where(Report.reference == reference)
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return by_reference(session, reference)


def residents_count(session: Session, report_id: int) -> int:
    """How many residents hear back about the report."""
    return int(
        session.execute(select(func.count(ReportResident.id)).where(ReportResident.report_id == report_id)).scalar_one()
    )


def changed_since(session: Session, report_id: int, last_update_id: int) -> bool:
    """True if the report's history has an entry newer than `last_update_id` (the newest the form showed)."""
    newer = session.execute(
        select(func.count(ReportUpdate.id)).where(ReportUpdate.report_id == report_id, ReportUpdate.id > last_update_id)
    ).scalar_one()
    return bool(newer)
