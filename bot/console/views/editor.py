"""Content editors' pages (editor and admin roles), under `/editor`:

- `/editor` services: search and filter by category, owner and review date;
- `/editor/services/<key>` (and `/editor/services/new`): every field, with Save draft, Preview and Publish
  (publishing needs a reason); Retire / Restore;
- `/editor/versions`: every publish with who, when and why; a diff between two; roll back to one;
- `/editor/notices`: time-limited notices for services, optionally for one area.

Residents only ever see published content; a publish is live on their next message.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional
from urllib.parse import quote, urlencode

from sanic import Sanic, response
from sanic.exceptions import NotFound
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.console import preview as previews
from bot.console.auth import require
from bot.console.data import in_db
from bot.console.params import check_id, int_arg
from bot.console.templating import render
from knowledge.casework.business_hours import BusinessHours
from knowledge.catalogue import editing, notices
from knowledge.delivery.conversations import utcnow
from knowledge.models import Service
from knowledge.staff import EDITOR

FIELD_LABELS = {
    "key": "Key",
    "title": "Title",
    "url": "Link",
    "category": "Category",
    "summary": "What it's for",
    "what_you_need": "What you need (one per line)",
    "phone": "Phone",
    "eligibility": "Who can use it",
    "cost": "What it costs",
    "timing": "When (opening times, how long it takes)",
    "examples": "Questions residents ask (one per line)",
    "synonyms": "Words residents use (one per line)",
    "owner": "Owner",
    "review_by": "Review by",
    "always_human": "Always pass to a person",
}


def _values_of(svc: Service) -> dict[str, Any]:
    return {name: getattr(svc, name) for name in editing.EDITABLE}


def _form_view(values: dict[str, Any]) -> dict[str, str]:
    """Values as the form's text boxes show them."""
    shown: dict[str, Any] = {}
    for name in editing.EDITABLE:
        value = values.get(name)
        if name in editing.LIST_FIELDS:
            shown[name] = "\n".join(value or [])
        elif isinstance(value, dt.date):
            shown[name] = value.isoformat()
        elif name == "always_human":
            shown[name] = bool(value)
        else:
            shown[name] = "" if value is None else str(value)
    return shown


@require(EDITOR)
async def services(request: Request) -> HTTPResponse:
    """GET /editor: the services, searchable."""
    q = (request.args.get("q") or "").strip()
    category, owner = request.args.get("category") or "", request.args.get("owner") or ""
    review = request.args.get("review") or ""
    today = utcnow().date()

    def load(session: Session) -> dict[str, Any]:
        query = select(Service).order_by(Service.category, Service.title)
        if q:
            like = f"%{q.lower()}%"
            query = query.where(or_(Service.title.ilike(like), Service.key.ilike(like), Service.summary.ilike(like)))
        if category:
            query = query.where(Service.category == category)
        if owner:
            query = query.where(Service.owner == owner)
        if review == "due":
            query = query.where(Service.review_by <= today)
        every = list(session.execute(select(Service)).scalars())
        return {
            "rows": list(session.execute(query).scalars()),
            "categories": sorted({s.category for s in every}),
            "owners": sorted({s.owner for s in every}),
        }

    data = await in_db(request, load)
    return render(
        request,
        "editor_services.html",
        title="Content",
        services=data["rows"],
        q=q,
        category=category,
        owner=owner,
        review=review,
        categories=data["categories"],
        owners=data["owners"],
        today=today,
    )


async def _service_page(
    request: Request,
    key: Optional[str],
    *,
    values: Optional[dict[str, Any]] = None,
    base_version: Optional[int] = None,
    errors: Optional[dict[str, str]] = None,
    status: int = 200,
    notice: Optional[str] = None,
    preview: Any = None,
    question: str = "",
    conflict: Optional[str] = None,
) -> HTTPResponse:
    author = request.ctx.user.username

    def load(session: Session) -> dict[str, Any]:
        svc = session.execute(select(Service).where(Service.key == key)).scalar_one_or_none() if key else None
        if key and svc is None:
            raise NotFound("No such service")
        draft = editing.draft_for(session, author, key) if key else None
        return {"svc": svc, "draft": draft}

    data = await in_db(request, load)
    svc, draft = data["svc"], data["draft"]
    if values is None:
        if draft is not None:
            values = editing.form_values(draft.data)
            base_version = draft.base_version
            notice = notice or "You have an unpublished draft of this service: residents still see the published text."
        else:
            values = _values_of(svc) if svc else {"key": "", "always_human": False}
    if base_version is None:
        base_version = svc.version if svc else 0
    summary = [(name, message) for name, message in (errors or {}).items()]
    return render(
        request,
        "editor_service.html",
        status=status,
        title=svc.title if svc else "New service",
        svc=svc,
        form=_form_view(values),
        labels=FIELD_LABELS,
        errors=errors or {},
        error_summary=conflict or summary,
        base_version=base_version,
        notice=notice,
        preview=preview,
        question=question,
        is_new=svc is None,
    )


@require(EDITOR)
async def service_page(request: Request, key: str) -> HTTPResponse:
    """GET /editor/services/<key>."""
    return await _service_page(request, key, notice=request.args.get("done"))


@require(EDITOR)
async def new_service_page(request: Request) -> HTTPResponse:
    """GET /editor/services/new."""
    return await _service_page(request, None)


async def _save(request: Request, key: Optional[str]) -> HTTPResponse:
    """POST /editor/services/<key> (or /new): the form's button says draft, preview or publish."""
    form = {name: request.form.get(name) for name in editing.EDITABLE}
    form["what_you_need"] = request.form.get("what_you_need") or ""
    form["synonyms"] = request.form.get("synonyms") or ""
    if key:
        form["key"] = key  # a service's key never changes: it names the model's intent
    values = editing.form_values(form)
    base = request.form.get("base_version") or "0"
    base_version = int(base) if base.isdigit() else 0
    action = request.form.get("action") or "draft"
    author = request.ctx.user.username

    if action == "preview":
        question = request.form.get("question") or ""
        result = await previews.make(question, values, values["key"], lambda fn: in_db(request, fn))
        return await _service_page(
            request, key, values=values, base_version=base_version, preview=result, question=question
        )
    if action == "draft":
        problems = await in_db(request, lambda s: editing.check_service(s, values))
        if not values.get("key"):
            return await _service_page(
                request,
                key,
                values=values,
                base_version=base_version,
                status=400,
                errors={"key": "Give the service a key before saving a draft."},
            )
        await in_db(request, lambda s: editing.save_draft(s, author, values["key"], values, base_version))
        note = "Draft saved. Residents still see the published text."
        if problems:
            note += " It has problems to fix before it can be published."
        return await _service_page(
            request, values["key"], values=values, base_version=base_version, errors=problems, notice=note
        )
    reason = request.form.get("reason") or ""
    try:
        version = await in_db(request, lambda s: editing.publish_service(s, author, values, base_version, reason))
    except editing.EditError as exc:
        return await _service_page(
            request, key, values=values, base_version=base_version, errors=exc.fields, status=400
        )
    except editing.ConflictError as exc:
        return await _service_page(
            request, key, values=values, base_version=base_version, status=409, conflict=str(exc)
        )
    done = f"Published as version {version.number}. Residents see it on their next message."
    return response.redirect(f"/editor/services/{quote(values['key'])}?{urlencode({'done': done})}", status=303)


@require(EDITOR)
async def save_service(request: Request, key: str) -> HTTPResponse:
    return await _save(request, key)


@require(EDITOR)
async def save_new_service(request: Request) -> HTTPResponse:
    return await _save(request, None)


@require(EDITOR)
async def retire_service(request: Request, key: str) -> HTTPResponse:
    """POST /editor/services/<key>/retire (or /restore)."""
    active = request.path.endswith("/restore")
    reason = request.form.get("reason") or ("Restored" if active else "Retired")
    try:
        version = await in_db(request, lambda s: editing.set_active(s, request.ctx.user.username, key, active, reason))
    except editing.EditError as exc:
        return await _service_page(request, key, errors=exc.fields, status=400)
    done = f"{'Restored' if active else 'Retired'} (version {version.number})."
    return response.redirect(f"/editor/services/{quote(key)}?{urlencode({'done': done})}", status=303)


# --- versions ----------------------------------------------------------------------------------------------
@require(EDITOR)
async def versions_page(request: Request) -> HTTPResponse:
    """GET /editor/versions (with ?a=&b= a diff between two)."""
    a, b = int_arg(request, "a"), int_arg(request, "b")

    def load(session: Session) -> dict[str, Any]:
        rows = editing.versions(session)
        diff = editing.diff(session, a, b) if a is not None and b is not None else None
        return {"rows": rows, "diff": diff}

    try:
        data = await in_db(request, load)
    except editing.EditError as exc:
        data = {"rows": await in_db(request, editing.versions), "diff": None}
        return render(
            request,
            "editor_versions.html",
            status=400,
            title="Versions",
            versions=data["rows"],
            diff=None,
            error_summary=str(exc),
            notice=None,
        )
    return render(
        request,
        "editor_versions.html",
        title="Versions",
        versions=data["rows"],
        diff=data["diff"],
        error_summary=None,
        notice=request.args.get("done"),
    )


@require(EDITOR)
async def rollback(request: Request, number: int) -> HTTPResponse:
    """POST /editor/versions/<n>/rollback."""
    check_id(number, "version")
    reason = request.form.get("reason") or f"Roll back to version {number}"
    try:
        version = await in_db(request, lambda s: editing.rollback(s, request.ctx.user.username, number, reason))
    except editing.EditError as exc:
        return render(
            request,
            "editor_versions.html",
            status=400,
            title="Versions",
            versions=await in_db(request, editing.versions),
            diff=None,
            error_summary=str(exc),
            notice=None,
        )
    done = f"Rolled back: version {version.number} has the content of version {number}."
    return response.redirect(f"/editor/versions?{urlencode({'done': done})}", status=303)


# --- notices -----------------------------------------------------------------------------------------------
def _local_input(value: Optional[str], hours: BusinessHours) -> Optional[dt.datetime]:
    """A datetime-local field (council's local time) as naive UTC."""
    try:
        local = dt.datetime.fromisoformat((value or "").strip())
    except ValueError:
        return None
    return hours.utc(local.replace(tzinfo=hours.tz))


async def _notices_page(
    request: Request, *, errors: Optional[dict[str, str]] = None, form: Optional[dict] = None, status: int = 200
) -> HTTPResponse:
    def load(session: Session) -> dict[str, Any]:
        return {
            "lists": notices.listing(session),
            "services": list(
                session.execute(select(Service).where(Service.active.is_(True)).order_by(Service.title)).scalars()
            ),
        }

    data = await in_db(request, load)
    return render(
        request,
        "editor_notices.html",
        status=status,
        title="Notices",
        lists=data["lists"],
        services=data["services"],
        errors=errors or {},
        error_summary=list((errors or {}).items()),
        form=form or {"service_keys": []},
        notice=request.args.get("done"),
    )


@require(EDITOR)
async def notices_page(request: Request) -> HTTPResponse:
    """GET /editor/notices."""
    return await _notices_page(request)


@require(EDITOR)
async def add_notice(request: Request) -> HTTPResponse:
    """POST /editor/notices."""
    hours = BusinessHours.from_env()
    starts, ends = request.form.get("starts_at") or "", request.form.get("ends_at") or ""
    form = {
        "title": request.form.get("title") or "",
        "body": request.form.get("body") or "",
        "area": request.form.get("area") or "",
        "service_keys": request.form.getlist("service_keys") or [],
        "starts_at": starts,
        "ends_at": ends,
    }
    values = {**form, "starts_at": _local_input(starts, hours), "ends_at": _local_input(ends, hours)}
    try:
        await in_db(request, lambda s: notices.create(s, request.ctx.user.username, values))
    except notices.NoticeError as exc:
        return await _notices_page(request, errors=exc.fields, form=form, status=400)
    return response.redirect(f"/editor/notices?{urlencode({'done': 'Notice saved.'})}", status=303)


@require(EDITOR)
async def end_notice(request: Request, notice_id: int) -> HTTPResponse:
    """POST /editor/notices/<id>/end."""
    check_id(notice_id, "notice")
    try:
        await in_db(request, lambda s: notices.end(s, notice_id))
    except notices.NoticeError as exc:
        return await _notices_page(request, errors=exc.fields, status=404)
    return response.redirect(f"/editor/notices?{urlencode({'done': 'Notice ended.'})}", status=303)


def register(app: Sanic) -> None:
    app.add_route(services, "/editor", methods=["GET"], name="editor_index")
    app.add_route(new_service_page, "/editor/services/new", methods=["GET"], name="editor_new_service")
    app.add_route(save_new_service, "/editor/services/new", methods=["POST"], name="editor_save_new_service")
    app.add_route(service_page, "/editor/services/<key:str>", methods=["GET"], name="editor_service")
    app.add_route(save_service, "/editor/services/<key:str>", methods=["POST"], name="editor_save_service")
    app.add_route(retire_service, "/editor/services/<key:str>/retire", methods=["POST"], name="editor_retire")
    app.add_route(retire_service, "/editor/services/<key:str>/restore", methods=["POST"], name="editor_restore")
    app.add_route(versions_page, "/editor/versions", methods=["GET"], name="editor_versions")
    app.add_route(rollback, "/editor/versions/<number:int>/rollback", methods=["POST"], name="editor_rollback")
    app.add_route(notices_page, "/editor/notices", methods=["GET"], name="editor_notices")
    app.add_route(add_notice, "/editor/notices", methods=["POST"], name="editor_add_notice")
    app.add_route(end_notice, "/editor/notices/<notice_id:int>/end", methods=["POST"], name="editor_end_notice")
