"""Handover cases (agents and admins): the queue at `/`, a case at `/cases/<reference>`, its actions as
form posts, and `/api/cases/<reference>/messages` that the case page polls so a resident's new messages
show without a refresh.

Every action is a POST with the session's CSRF token; a refused change (someone else's case, a resolved
one) shows the case again with the reason. Replies carry a one-time `nonce` so a double-submitted form
sends once.
"""

from __future__ import annotations

import secrets
from typing import Any, Optional
from urllib.parse import quote, urlencode

from sanic import Sanic, response
from sanic.exceptions import NotFound
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import casework, mail
from bot.console.auth import require
from bot.console.data import in_db
from bot.console.params import int_arg, parse_int
from bot.console.reach import banner
from bot.console.templating import render, uk_time
from knowledge import answers
from knowledge.casework import cases, contact_back
from knowledge.catalogue.search import search_services
from knowledge.channels import NAMES, TEMPLATE_ONLY, channel, private_side
from knowledge.delivery import invitations
from knowledge.delivery.conversations import utcnow
from knowledge.models import Attachment, Case, CaseMessage, Conversation, OutboundMessage, StaffUser
from knowledge.settings import settings
from knowledge.staff import AGENT

FILTERS = ("status", "channel", "reason", "priority", "owner")
CHANNELS = NAMES  # every channel, for the queue's filter


# Delivery statuses that need more than their name on the timeline (the page shows the rest as they are).
DELIVERY_WORDS = {
    invitations.AWAITING: "waiting for the resident to answer the invitation",
    "withdrawn": "not sent: the case was closed, or the resident answered too late, before it could go",
}


def _platform_errors(session: Session, lines: list[CaseMessage]) -> dict[int, str]:
    """Why the platform refused each failed staff line (the outbound row's short description and code,
    never message content), by case message id."""
    failed = [m.id for m in lines if m.delivery == "failed"]
    if not failed:
        return {}
    rows = session.execute(
        select(OutboundMessage.case_message_id, OutboundMessage.error, OutboundMessage.error_code)
        .where(OutboundMessage.case_message_id.in_(failed), OutboundMessage.status == "failed")
        .order_by(OutboundMessage.id)
    ).all()
    return {
        row.case_message_id: f"{row.error or 'the platform refused it'}"
        + (f" (error {row.error_code})" if row.error_code and str(row.error_code) not in (row.error or "") else "")
        for row in rows
    }


def _message_json(m: CaseMessage, names: dict[int, str], platform_error: Optional[str] = None) -> dict[str, Any]:
    meta = m.meta or {}
    return {
        "id": m.id,
        "author": m.author,
        "text": m.text,
        "at": uk_time(m.created_at, "%d %b %H:%M"),
        "by": names.get(m.staff_id or 0, meta.get("by") or ""),
        "intent": meta.get("intent"),
        "confidence": meta.get("confidence"),
        "links": meta.get("links") or [],
        "delivery": DELIVERY_WORDS.get(m.delivery or "", m.delivery),
        "attachments": meta.get("attachments") or [],
        "via": meta.get("via"),  # "email": a staff reply sent to the address the resident left
        # why sending failed: as the mail server answered, or as the platform did
        "error": meta.get("error") or platform_error,
    }


def _names(session: Session) -> dict[int, str]:
    return {u.id: u.display_name for u in session.execute(select(StaffUser)).scalars()}


MAX_PAGE_DIGITS = 6  # a million pages of 50: far beyond any queue; longer input is not a page number


def _page_number(raw: Optional[str]) -> Optional[int]:
    """The `page` query value as a page number (absent: 1), or None if it isn't one."""
    raw = (raw or "1").strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > MAX_PAGE_DIGITS or int(raw) < 1:
        return None
    return int(raw)


def _page_link(filters: dict[str, str], page: int) -> str:
    return "/?" + urlencode({**{k: v for k, v in filters.items() if v}, "page": page})


@require(AGENT)
async def queue_page(request: Request) -> HTTPResponse:
    """GET /: cases with filters, a page at a time. Every open urgent case the filters match is on the
    first page, above the rest, however many other cases there are."""
    chosen = {f: (request.args.get(f) or "").strip() for f in FILTERS}
    page = _page_number(request.args.get("page"))
    if page is None:
        return render(
            request,
            "error.html",
            status=400,
            title="That page doesn't exist",
            message="The page number must be a whole number from 1 upwards.",
        )
    me = request.ctx.user.id

    def load(session: Session) -> dict[str, Any]:
        shown = cases.queue_page(
            session,
            page,
            status=chosen["status"] or None,
            channel=chosen["channel"] or None,
            reason=chosen["reason"] or None,
            priority=chosen["priority"] or None,
            assignee_id=me if chosen["owner"] == "me" else None,
            unassigned=chosen["owner"] == "none",
        )
        return {"queue": shown, "names": _names(session)}

    data = await in_db(request, load)
    shown: cases.QueuePage = data["queue"]
    return render(
        request,
        "cases.html",
        title="Cases",
        queue=shown,
        cases=shown.urgent + shown.rows,
        names=data["names"],
        filters=chosen,
        now=utcnow(),
        statuses=cases.OPEN_STATUSES + ("resolved",),
        reasons=cases.REASONS,
        channels=CHANNELS,
        previous_page=_page_link(chosen, shown.page - 1) if shown.page > 1 else None,
        next_page=_page_link(chosen, shown.page + 1) if shown.page < shown.pages else None,
        first_page=_page_link(chosen, 1),
    )


async def _case_page(
    request: Request,
    reference: str,
    *,
    status: int = 200,
    error: Optional[str] = None,
    notice: Optional[str] = None,
    draft: str = "",
    email_draft: str = "",
) -> HTTPResponse:
    def load(session: Session) -> dict[str, Any]:
        case = cases.by_reference(session, reference)
        if case is None:
            raise NotFound("No such case")
        lines = cases.timeline(session, case.id)
        last_resident = next((m.text for m in reversed(lines) if m.author == "resident" and m.text), "")
        council = answers.council(session)
        suggestions = (
            [answers.service_answer(council, svc).text for svc in search_services(session, last_resident, limit=3)]
            if last_resident
            else []
        )
        agents = [
            u
            for u in session.execute(select(StaffUser).where(StaffUser.active.is_(True))).scalars()
            if u.role in ("agent", "admin")
        ]
        names = _names(session)
        errors = _platform_errors(session, lines)
        conversation = session.get(Conversation, case.conversation_id)
        reach = banner(
            case.channel,
            conversation.last_inbound_at if conversation is not None else None,
            contact_back.contact_for(session, case.id),
            utcnow(),
        )
        photos = session.execute(
            select(func.count(Attachment.id)).where(
                Attachment.conversation_id == case.conversation_id, Attachment.kind == "image"
            )
        ).scalar_one()
        return {
            "case": case,
            "reach": reach,
            "photos": photos,
            "lines": [_message_json(m, names, errors.get(m.id)) for m in lines],
            "names": names,
            "audit": cases.audit_trail(session, case.id),
            "suggestions": suggestions,
            "agents": agents,
        }

    data = await in_db(request, load)
    case: Case = data["case"]
    user: StaffUser = request.ctx.user
    owner = case.assignee_id == user.id or (user.role == "admin" and case.assignee_id is not None)
    return render(
        request,
        "case.html",
        status=status,
        title=case.reference,
        error_summary=error,
        notice=notice,
        nonce=secrets.token_urlsafe(16),
        email_nonce=secrets.token_urlsafe(16),
        email_on=mail.enabled(),
        can_work=owner and case.status != "resolved",
        outcomes=cases.OUTCOMES,
        draft=draft,
        email_draft=email_draft,
        now=utcnow(),
        **data,
    )


@require(AGENT)
async def case_page(request: Request, reference: str) -> HTTPResponse:
    """GET /cases/<reference>."""
    return await _case_page(request, reference, notice=request.args.get("done"))


def _back(reference: str, done: str) -> HTTPResponse:
    return response.redirect(f"/cases/{quote(reference)}?{urlencode({'done': done})}", status=303)


async def _case_id(request: Request, reference: str) -> int:
    case = await in_db(request, lambda s: cases.by_reference(s, reference))
    if case is None:
        raise NotFound("No such case")
    return case.id


async def _act(request: Request, reference: str, change: Any, done: str) -> HTTPResponse:
    """Run a database change to the case as the signed-in user; show the reason if it's refused."""
    case_id = await _case_id(request, reference)
    user_id = request.ctx.user.id
    try:
        await in_db(request, lambda s: change(s, case_id, s.get(StaffUser, user_id)))
    except cases.CaseError as exc:
        return await _case_page(request, reference, status=409, error=str(exc))
    return _back(reference, done)


@require(AGENT)
async def claim(request: Request, reference: str) -> HTTPResponse:
    return await _act(request, reference, lambda s, cid, me: cases.claim(s, cid, me), "You own this case now.")


@require(AGENT)
async def assign(request: Request, reference: str) -> HTTPResponse:
    to_id = parse_int(request.form.get("assignee"), "person to give the case to", low=1)

    def change(s: Session, cid: int, me: StaffUser) -> None:
        to = s.get(StaffUser, to_id) if to_id is not None else None
        if to is None:
            raise cases.CaseError("Choose who to give the case to.")
        cases.assign(s, cid, me, to)

    return await _act(request, reference, change, "Case reassigned.")


@require(AGENT)
async def note(request: Request, reference: str) -> HTTPResponse:
    text = request.form.get("note") or ""
    return await _act(request, reference, lambda s, cid, me: cases.add_note(s, cid, me, text), "Note added.")


@require(AGENT)
async def tags(request: Request, reference: str) -> HTTPResponse:
    given = (request.form.get("tags") or "").split(",")
    return await _act(request, reference, lambda s, cid, me: cases.set_tags(s, cid, me, given), "Tags saved.")


@require(AGENT)
async def waiting(request: Request, reference: str) -> HTTPResponse:
    return await _act(
        request, reference, lambda s, cid, me: cases.set_waiting(s, cid, me), "Marked as waiting on the resident."
    )


@require(AGENT)
async def reply(request: Request, reference: str) -> HTTPResponse:
    """POST /cases/<reference>/reply: send to the resident on their channel, once per form."""
    case_id = await _case_id(request, reference)
    text = request.form.get("text") or ""
    try:
        sent = await casework.reply(case_id, request.ctx.user.id, text, request.form.get("nonce") or "")
    except cases.CaseError as exc:
        return await _case_page(request, reference, status=409, error=str(exc), draft=text)
    if not sent.created:
        return _back(reference, "That reply was already sent.")
    words = {
        "sent": "Reply sent.",
        "queued": "Reply queued: it reaches the resident as soon as their channel "
        "takes it. This page shows when it has.",
        "unknown": "We don't know if the reply arrived: the platform did not answer. It was not sent again. "
        "Check with the resident before resending.",
        "failed": "The reply could not be delivered. It is on the case; try again or phone the resident.",
        "outside_window": _outside_window(sent.channel),
        "too_long": _too_long(sent.channel),
        invitations.AWAITING: "Reply held: WhatsApp allows only an approved template after 24 hours, so the "
        "resident has been invited to reply. Your reply goes as soon as they answer. This page shows when it has.",
    }
    if sent.polled and sent.delivery == "queued":
        # Web chat and REST residents collect replies from their page: waiting there is success.
        return _back(reference, "Reply sent: it shows on the resident's page when it next checks.")
    return _back(reference, words.get(sent.delivery, f"Reply {sent.delivery}."))


@require(AGENT)
async def email_reply(request: Request, reference: str) -> HTTPResponse:
    """POST /cases/<reference>/email: send the reply to the email address the resident left, once per form."""
    case_id = await _case_id(request, reference)
    text = request.form.get("text") or ""
    try:
        sent = await casework.reply_by_email(case_id, request.ctx.user.id, text, request.form.get("nonce") or "")
    except cases.CaseError as exc:
        return await _case_page(request, reference, status=409, error=str(exc), email_draft=text)
    if not sent.created:
        return _back(reference, "That email was already sent.")
    if sent.delivery == "failed":
        return _back(reference, "The email could not be sent. The reply and the mail server's answer are on the case.")
    if sent.delivery == "unknown":
        return _back(
            reference,
            "The email may have arrived: the mail server received it but did not confirm it. It was not sent "
            "again. Check with the resident before resending.",
        )
    return _back(reference, "Reply sent by email.")


def _outside_window(name: str) -> str:
    """Why a reply was not sent once the channel's messaging window had closed, with the window's length."""
    window = channel(name).window_words(staff=True) if name else ""
    rule = (
        f"the platform only allows replies within {window} of the resident's last message"
        if window
        else "the platform's messaging window has closed"
    )
    if name and channel(name).after_window == TEMPLATE_ONLY and not settings().whatsapp_reply_template:
        rule = "WhatsApp allows only an approved template after 24 hours; none is configured: WHATSAPP_REPLY_TEMPLATE"
    return f"Not sent: {rule}. Phone or email them instead."


def _too_long(name: str) -> str:
    """Why a private reply to a comment was refused: it must be one message within its inbox's limit."""
    limits = private_side(name).limits if name else None
    most = f"at most {limits.max_chars:,} characters" if limits else "one message"
    return f"Not sent: a private reply to a comment can be {most}. Shorten it and send again."


@require(AGENT)
async def resolve(request: Request, reference: str) -> HTTPResponse:
    case_id = await _case_id(request, reference)
    try:
        await casework.resolve(
            case_id, request.ctx.user.id, request.form.get("outcome") or "", request.form.get("outcome_note") or ""
        )
    except cases.CaseError as exc:
        return await _case_page(request, reference, status=409, error=str(exc))
    return _back(reference, "Resolved. The bot answers this resident again and has asked how we did.")


@require(AGENT)
async def hand_back(request: Request, reference: str) -> HTTPResponse:
    case_id = await _case_id(request, reference)
    try:
        await casework.hand_back(case_id, request.ctx.user.id)
    except cases.CaseError as exc:
        return await _case_page(request, reference, status=409, error=str(exc))
    return _back(reference, "Handed back: the bot answers this resident again.")


@require(AGENT)
async def messages_api(request: Request, reference: str) -> HTTPResponse:
    """GET /api/cases/<reference>/messages?after=<id>: timeline lines newer than `after`, and the status."""
    after = int_arg(request, "after", 0) or 0

    def load(session: Session) -> dict[str, Any]:
        case = cases.by_reference(session, reference)
        if case is None:
            raise NotFound("No such case")
        names = _names(session)
        lines = cases.timeline(session, case.id, after)
        errors = _platform_errors(session, lines)
        return {"status": case.status, "messages": [_message_json(m, names, errors.get(m.id)) for m in lines]}

    return response.json(await in_db(request, load), headers={"Cache-Control": "no-store"})


def register(app: Sanic) -> None:
    app.add_route(queue_page, "/", methods=["GET"], name="cases_index")
    app.add_route(case_page, "/cases/<reference:str>", methods=["GET"], name="case_page")
    for name, handler in (
        ("claim", claim),
        ("assign", assign),
        ("note", note),
        ("tags", tags),
        ("waiting", waiting),
        ("reply", reply),
        ("email", email_reply),
        ("resolve", resolve),
        ("hand-back", hand_back),
    ):
        app.add_route(
            handler, f"/cases/<reference:str>/{name}", methods=["POST"], name=f"case_{name.replace('-', '_')}"
        )
    app.add_route(messages_api, "/api/cases/<reference:str>/messages", methods=["GET"], name="case_messages_api")
