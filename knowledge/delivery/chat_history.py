"""A web chat conversation as its resident saw it, for the page to show again after a reload or a return
visit (`GET /webhooks/webchat/history`), and staff replies signed as from a person.

Where it comes from. Neither store alone is complete:

- Rasa's tracker store holds every message the bot answered (what the resident typed or chose, what the
  bot said, with its buttons), but nothing the bot never saw: while a case is open the handover gate keeps
  the resident's messages and its acknowledgements on the case instead, and staff replies and the
  "how did we do?" question are sent by the console, not by Rasa.
- The case timeline holds exactly those, but only from the case's opening, and its first lines are a copy
  of the tracker's (the transcript handed over, and the handover reply with the reference).

So the history is the tracker's messages plus what the case timeline added after the case was opened
(lines written at the opening are the copy), plus the council's updates on the resident's reports that
the page has collected (`council_updates`; the outbound queue keeps their words, since neither store has
them), in time order. A bot line on the case that the tracker also
has (the handover reply when the case was already open) is shown once. Photos are read from `attachments`:
the tracker never sees them. What the history can't show: a line the safety net added to a reply on the
spot (999 when the bot's answer lacked it), which neither store keeps.

The page may be on a shared screen (a library computer), so an email address or phone number in the
resident's own lines is shown masked ("j…@example.com", "…123"), as the bot masks it when it answers
(`knowledge/casework/contact_back.py` decides what counts as one), and a conversation idle longer than
WEBCHAT_HISTORY_IDLE_DAYS is not shown again at all (`idle_too_long`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import phonenumbers
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from knowledge import answers
from knowledge.casework import cases
from knowledge.casework.contact_back import mask_email, mask_phone
from knowledge.channels import POLLED
from knowledge.models import (
    Attachment,
    Case,
    CaseMessage,
    Conversation,
    OutboundMessage,
    Report,
    ReportNotification,
    ReportUpdate,
    StaffUser,
)
from knowledge.reports.notifying import KIND as REPORT_UPDATE

SAME_LINE_WITHIN = dt.timedelta(minutes=2)  # a case's bot line and a tracker bot event this close, same text
MAX_LINES = 500  # a page never needs more; the oldest are left out
# An email address as residents type them (the mask keeps only its first letter and its domain).
_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")


@dataclass
class Line:
    """One message as the page shows it. `author` is resident, bot, staff or council (an update on one of
    the resident's reports: from the council, not from a person); `label` names the person for a staff line
    ("Casey (Customer Services)") or the report for a council one ("Report NC-2026-000123"); `reference` is
    that report's reference; `photo` marks a photo the resident attached (no text); `buttons` are the bot's
    choices [{title, payload}], kept only on the conversation's last line."""

    author: str
    text: str
    at: dt.datetime
    label: str = ""
    photo: bool = False
    buttons: list[dict[str, str]] = field(default_factory=list)
    reference: str = ""

    def as_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"from": self.author, "text": self.text}
        if self.label:
            shown["label"] = self.label
        if self.reference:
            shown["reference"] = self.reference
        if self.photo:
            shown["photo"] = True
        if self.buttons:
            shown["buttons"] = self.buttons
        return shown


def _when(timestamp: Any) -> Optional[dt.datetime]:
    try:
        return dt.datetime.fromtimestamp(float(timestamp), dt.UTC).replace(tzinfo=None)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _buttons(raw: Any) -> list[dict[str, str]]:
    return [
        {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
        for b in (raw if isinstance(raw, list) else [])
        if isinstance(b, dict)
    ]


def masked(text: str) -> str:
    """`text` with every email address and every valid phone number in it masked as the bot masks the
    contact a resident leaves ("j…@example.com", "…456"), whoever's it is: on a replayed screen a
    neighbour's number is as private as the resident's own, so this doesn't ask whether one was "meant"
    (contact_back.read does, for what to keep). Numbers are found by phonenumbers' matcher (UK and
    international), so dates, prices and house numbers stay as typed."""
    text = _EMAIL.sub(lambda m: mask_email(_lower_domain(m.group())), text)
    pieces, last = [], 0
    for match in phonenumbers.PhoneNumberMatcher(text, "GB", leniency=phonenumbers.Leniency.VALID):
        e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        pieces += [text[last : match.start], mask_phone(e164)]
        last = match.end
    return "".join(pieces) + text[last:]


def _lower_domain(email: str) -> str:
    name, _, domain = email.rpartition("@")
    return f"{name}@{domain.lower()}"


def idle_too_long(session: Session, conversation_id: str, now: dt.datetime, idle_days: float) -> bool:
    """Has the conversation been idle (no message from the resident, nor any row written for it) for more
    than `idle_days`? Its history is then not shown again: a device that was shared forgets it."""
    conv = session.get(Conversation, conversation_id)
    if conv is None:
        return False  # nothing to show anyway
    last = max(t for t in (conv.last_inbound_at, conv.updated_at, conv.created_at) if t is not None)
    return now - last > dt.timedelta(days=idle_days)


def tracker_lines(events: Iterable[dict[str, Any]]) -> list[Line]:
    """The resident's and the bot's messages from Rasa tracker events (as `Event.as_dict()` gives them).
    A button the resident chose is recorded as its payload ("/intent"); it is shown as the button's title,
    as the page showed it when it was chosen."""
    lines: list[Line] = []
    offered: dict[str, str] = {}  # payload -> title of the buttons the bot offered last
    for event in events:
        kind = event.get("event")
        at = _when(event.get("timestamp"))
        if at is None:
            continue
        if kind == "user":
            text = str(event.get("text") or "")
            lines.append(Line("resident", offered.get(text) or masked(text), at))
        elif kind == "bot":
            buttons = _buttons((event.get("data") or {}).get("buttons"))
            if buttons:
                offered = {b["payload"]: b["title"] for b in buttons}
            lines.append(Line("bot", str(event.get("text") or ""), at, buttons=buttons))
    return lines


def staff_names(session: Session) -> dict[int, str]:
    """Staff display names by id."""
    return {u.id: u.display_name for u in session.execute(select(StaffUser)).scalars()}


def sign(message: CaseMessage, names: dict[int, str], style: str, team: str) -> str:
    """The signature of a staff line (`answers.staff_label`), or "" for anyone else's."""
    if message.author != "staff":
        return ""
    return answers.staff_label(names.get(message.staff_id or 0, ""), style, team)


def case_lines(session: Session, conversation_id: str, style: str, team: str) -> list[Line]:
    """What the case timelines of this conversation added after each case was opened: the resident's
    messages while staff had it, the bot's acknowledgements and questions, staff replies (signed)."""
    names = staff_names(session)
    rows = session.execute(
        select(CaseMessage, Case.created_at)
        .join(Case, Case.id == CaseMessage.case_id)
        .where(
            Case.conversation_id == conversation_id,
            CaseMessage.author.in_(["resident", "bot", "staff"]),
            # Lines written when the case opened are the copy of the tracker's transcript.
            CaseMessage.created_at > Case.created_at,
        )
        .order_by(CaseMessage.id)
    ).all()
    lines = []
    for message, _opened in rows:
        if message.author == "resident" and not message.text:
            continue  # a photo on its own: shown from `attachments`
        buttons = _buttons((message.meta or {}).get("buttons")) if message.author != "resident" else []
        label = sign(message, names, style, team)
        text = masked(message.text or "") if message.author == "resident" else message.text or ""
        lines.append(Line(message.author, text, message.created_at, label, buttons=buttons))
    return lines


def photo_lines(session: Session, conversation_id: str) -> list[Line]:
    """A line for each photo the resident attached in this conversation."""
    times = session.execute(
        select(Attachment.received_at)
        .where(Attachment.conversation_id == conversation_id, Attachment.kind == "image")
        .order_by(Attachment.id)
    ).scalars()
    return [Line("resident", "", at, photo=True) for at in times]


def merge(
    tracker: Sequence[Line], case: Sequence[Line], photos: Sequence[Line], council: Sequence[Line] = ()
) -> list[Line]:
    """All lines in time order (ties keep tracker, then case, then photo, then council order). A case bot
    line the tracker also has is dropped. Buttons stay only on the last line (council updates aside), and
    only if it is the bot's: earlier choices no longer apply."""
    said = [(line.text, line.at) for line in tracker if line.author == "bot"]
    extra = [
        line
        for line in case
        if not (
            line.author == "bot" and any(t == line.text and abs(at - line.at) <= SAME_LINE_WITHIN for t, at in said)
        )
    ]
    ordered = sorted(
        [(line.at, 0, i, line) for i, line in enumerate(tracker)]
        + [(line.at, 1, i, line) for i, line in enumerate(extra)]
        + [(line.at, 2, i, line) for i, line in enumerate(photos)]
        + [(line.at, 3, i, line) for i, line in enumerate(council)],
        key=lambda item: item[:3],
    )
    lines = [item[3] for item in ordered][-MAX_LINES:]
    # A council update arrives on its own and asks nothing: the question before it still stands.
    talk = [line for line in lines if line.author != "council"]
    for line in talk[:-1]:
        line.buttons = []
    if talk and talk[-1].author == "resident":
        talk[-1].buttons = []
    return lines


def history(
    session: Session, conversation_id: str, events: Iterable[dict[str, Any]], style: str, team: str
) -> tuple[list[Line], int]:
    """The conversation's lines, and the id of the last message the page's poll for staff replies has
    already covered (so it doesn't show them twice)."""
    lines = merge(
        tracker_lines(events),
        case_lines(session, conversation_id, style, team),
        photo_lines(session, conversation_id),
        council_lines(session, conversation_id),
    )
    polled = cases.staff_messages_for(session, conversation_id)
    return lines, (polled[-1].id if polled else 0)


def staff_updates(session: Session, conversation_id: str, after: int, style: str, team: str) -> list[dict[str, Any]]:
    """Staff replies (signed) and the bot's messages about the case since message id `after`, for the
    page's poll: [{id, from, text, label?, buttons?}]."""
    names = staff_names(session)
    shown = []
    for m in cases.staff_messages_for(session, conversation_id, after):
        line = Line(m.author, m.text or "", m.created_at, sign(m, names, style, team))
        line.buttons = _buttons((m.meta or {}).get("buttons"))
        shown.append({"id": m.id, **line.as_json()})
    return shown


# --- The council's updates on the resident's reports (issue 13) -----------------------------------------------
#
# knowledge/reports/notifying.py queues a report's status change for a web chat or REST resident as an
# outbound row (kind "report_update", status pending) like any other channel's, but no dispatcher sends
# it: the resident's page collects it when it polls. The page says which updates it has shown (`seen`,
# the highest row id), and those become "sent" then, not when they are handed out: a poll whose answer
# never reached the page (a dropped connection, a closed tab) hands them out again, and a page that
# doesn't know about them (an old copy still open in a tab) leaves them waiting. Their words stay on the
# row once sent, for the history to show again; retention and erasure delete the row with the rest of the
# conversation.


def council_label(reference: str) -> str:
    """The line a council update shows above its text: which report it is about."""
    return f"Report {reference}"


def _council_rows(conversation_id: str) -> Any:
    """SELECT of (row, reference) for the conversation's report updates on a polled channel."""
    return (
        select(OutboundMessage, Report.reference)
        .join(ReportNotification, ReportNotification.outbound_message_id == OutboundMessage.id)
        .join(ReportUpdate, ReportUpdate.id == ReportNotification.update_id)
        .join(Report, Report.id == ReportUpdate.report_id)
        .where(
            OutboundMessage.conversation_id == conversation_id,
            OutboundMessage.kind == REPORT_UPDATE,
            OutboundMessage.channel.in_(sorted(POLLED)),
        )
        .order_by(OutboundMessage.id)
    )


def council_updates(session: Session, conversation_id: str, seen: int, now: dt.datetime) -> list[dict[str, Any]]:
    """The council's updates on the resident's reports that their page hasn't collected yet:
    [{update, from: "council", text, label, reference}], oldest first; `update` is the id the page sends
    back as `seen`. First, every update up to `seen` is recorded as collected at `now` (status sent), so
    it isn't handed out again; `seen` 0 records nothing. The caller has checked the owner token; the
    caller commits."""
    if seen > 0:
        session.execute(
            update(OutboundMessage)
            .where(
                OutboundMessage.conversation_id == conversation_id,
                OutboundMessage.kind == REPORT_UPDATE,
                OutboundMessage.channel.in_(sorted(POLLED)),
                OutboundMessage.status == "pending",
                OutboundMessage.id <= seen,
            )
            .values(status="sent", finished_at=now)
            .execution_options(synchronize_session=False)
        )
    rows = session.execute(_council_rows(conversation_id).where(OutboundMessage.status == "pending")).all()
    return [
        {"update": row.id, **Line("council", row.text or "", now, council_label(ref), reference=ref).as_json()}
        for row, ref in rows
        if row.text
    ]


def council_lines(session: Session, conversation_id: str) -> list[Line]:
    """The council's updates the page has collected, at the time it collected them (when the resident saw
    them), masked as the resident's own lines are: a note from staff may carry a phone number."""
    rows = session.execute(_council_rows(conversation_id).where(OutboundMessage.status == "sent")).all()
    return [
        Line("council", masked(row.text), row.finished_at or row.created_at, council_label(ref), reference=ref)
        for row, ref in rows
        if row.text
    ]
