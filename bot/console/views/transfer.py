"""Import and export for content editors, under `/editor`:

- `GET /editor/import`: upload a CSV of services, with "Check (dry run)" and "Import";
- `POST /editor/import`: a check shows what the file would add, change (field by field) and retire, or every
  problem with its row; an import applies the file all-or-nothing and records it as a version;
- `GET /editor/export.csv`: every service as CSV, to edit in a spreadsheet and import again.

The file travels with the check's result: the page keeps its bytes (base64) in a hidden field together with a
fingerprint of the changes shown. "Import" there applies exactly what was shown, or, if someone published
since, shows the new changes to check instead. Nothing is stored between requests, and a changed hidden
field is no worse than a new upload: the file is checked again in full before anything is written.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import PurePath
from typing import Any, Optional

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.orm import Session

from bot.console.auth import require
from bot.console.data import in_db
from bot.console.params import int_arg
from bot.console.templating import render
from knowledge.catalogue import editing
from knowledge.catalogue.content import ContentInvalid
from knowledge.catalogue.editing import ConflictError, EditError
from knowledge.catalogue.transfer import COLUMNS, MAX_CSV_BYTES, ImportPlan, apply_import, as_text, export_csv, plan_csv
from knowledge.delivery.conversations import utcnow
from knowledge.staff import EDITOR

IMPORT_PATH = "/editor/import"
IMPORT_ROUTE = "transfer_import"
# The import form carries the file (as an upload, or a third larger as base64 in the check's hidden field),
# so it gets a larger body limit than the console's other forms. Between MAX_CSV_BYTES and this the page
# says the file is too big; past it Sanic refuses the body unread and the CSRF check, unable to read the
# form, answers 403 (console-wide behaviour for any oversized form).
IMPORT_BODY_LIMIT = 4 * MAX_CSV_BYTES
LIMIT_MB = MAX_CSV_BYTES // 1024 // 1024
TOO_BIG = (
    f"The file is too big: the most you can import at once is {LIMIT_MB} MB. A CSV of every service is "
    "far smaller, so check you chose the right file."
)


def _file_name(raw: Optional[str]) -> str:
    """The uploaded file's name as shown in messages: its last part, plain characters only."""
    name = PurePath((raw or "").replace("\\", "/")).name
    name = re.sub(r"[^A-Za-z0-9._ -]", "_", name).strip()[:100]
    return name or "upload.csv"


def _changes(d: dict) -> list[tuple[str, list[tuple[str, str, str]]]]:
    return [(key, [(c.field, as_text(c.before), as_text(c.after)) for c in changes]) for key, changes in d.items()]


async def _page(
    request: Request,
    *,
    status: int = 200,
    plan: Optional[ImportPlan] = None,
    data: bytes = b"",
    errors: Optional[dict[str, str]] = None,
    notice: Optional[str] = None,
    reason: str = "",
) -> HTTPResponse:
    errors = dict(errors or {})
    summary: list[tuple[Optional[str], str]] = [(field, message) for field, message in errors.items()]
    if plan is not None and plan.errors:
        summary.append(
            (
                None,
                f"{len(plan.errors)} problem(s) in {PurePath(plan.source).name}. Nothing was "
                "imported: fix them in the file and check it again.",
            )
        )
        summary += [(None, str(e)) for e in plan.errors]
    view: dict[str, Any] = {}
    if plan is not None and plan.ok:
        view = {
            "source": plan.source,
            "added": [(k, plan._services[k].get("title", "")) for k in plan.added],
            "changed": _changes(plan.changed),
            "retired": plan.retired,
            "unchanged": len(plan.unchanged),
            "has_changes": plan.has_changes,
            "fingerprint": plan.fingerprint,
            "upload": base64.b64encode(data).decode("ascii"),
        }
    return render(
        request,
        "transfer.html",
        status=status,
        title="Import and export",
        plan=view or None,
        errors=errors,
        error_summary=summary,
        notice=notice,
        reason=reason,
        columns=COLUMNS,
        limit_mb=LIMIT_MB,
    )


@require(EDITOR)
async def import_page(request: Request) -> HTTPResponse:
    """GET /editor/import."""
    notice = None
    number = int_arg(request, "version")
    if number is not None:
        found = await in_db(request, lambda s: editing.version(s, number))
        if found is not None:
            notice = f"Imported and published as version {found.number}: {found.summary}."
    return await _page(request, notice=notice)


def _upload(request: Request) -> tuple[Optional[bytes], str, Optional[str]]:
    """(file bytes, file name, problem): a new upload, else the file kept by a check's page."""
    sent = request.files.get("file") if request.files else None
    if sent is not None and (sent.body or sent.name):
        data, name = sent.body, sent.name
    else:
        kept = request.form.get("upload") or ""
        if not kept:
            return None, "", "Choose a CSV file to check or import."
        try:
            data = base64.b64decode(kept, validate=True)
        except (binascii.Error, ValueError):
            return None, "", "The form was damaged on the way. Choose the file again."
        name = request.form.get("filename") or ""
    if len(data) > MAX_CSV_BYTES:
        return None, "", TOO_BIG
    if not data.strip():
        return None, "", "That file is empty. Choose a CSV file with a header row and one row per service."
    return data, _file_name(name), None


@require(EDITOR)
async def import_post(request: Request) -> HTTPResponse:
    """POST /editor/import: `action` check (dry run) or import."""
    action = request.form.get("action") or "check"
    reason = (request.form.get("reason") or "").strip()
    data, name, problem = _upload(request)
    if problem is not None:
        return await _page(request, status=413 if problem == TOO_BIG else 400, errors={"file": problem}, reason=reason)
    assert data is not None
    if action != "import":
        plan = await in_db(request, lambda s: plan_csv(s, data, name))
        return await _page(request, status=200 if plan.ok else 400, plan=plan, data=data, reason=reason)

    expected = request.form.get("fingerprint") or ""
    author = request.ctx.user.username

    def work(session: Session) -> tuple[str, ImportPlan]:
        plan = plan_csv(session, data, name)
        if not plan.ok:
            return "invalid", plan
        if expected and plan.fingerprint != expected:
            return "moved", plan  # someone published since the check: show what it would do now
        if not reason:
            return "no-reason", plan
        return "done", apply_import(session, plan, author, reason, utcnow())

    try:
        outcome, plan = await in_db(request, work)
    except ContentInvalid as exc:  # the published council changed between planning and applying
        return await _page(request, status=400, errors={"file": str(exc)}, reason=reason)
    except ConflictError as exc:
        return await _page(request, status=409, errors={"file": str(exc)}, reason=reason)
    except EditError as exc:
        return await _page(request, status=400, errors=exc.fields, reason=reason)
    if outcome == "invalid":
        return await _page(request, status=400, plan=plan, data=data, reason=reason)
    if outcome == "moved":
        return await _page(
            request,
            status=409,
            plan=plan,
            data=data,
            reason=reason,
            errors={
                "file": "Someone published changes after you checked this file. Here is what it would change now: "
                "check it, then import again."
            },
        )
    if outcome == "no-reason":
        return await _page(
            request,
            status=400,
            plan=plan,
            data=data,
            reason=reason,
            errors={"reason": "Say why you are importing this file (for example: annual review of opening times)."},
        )
    if plan.version is None:
        return await _page(request, notice="Nothing to import: the file matches the published content.")
    return response.redirect(f"{IMPORT_PATH}?version={plan.version}", status=303)


@require(EDITOR)
async def export_csv_file(request: Request) -> HTTPResponse:
    """GET /editor/export.csv: every service, retired ones with active=false."""
    text = await in_db(request, export_csv)
    # The byte-order mark makes spreadsheets read the file as UTF-8.
    return response.raw(
        ("\ufeff" + text).encode("utf-8"),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="services-{utcnow():%Y-%m-%d}.csv"'},
    )


async def _raise_import_limit(request: Request, route: Any, **_: Any) -> None:
    """Signal handler: lift the body limit for the import form only, before the body is read."""
    if route is not None and route.name.endswith(f".{IMPORT_ROUTE}") and request.stream is not None:
        request.stream.request_max_size = IMPORT_BODY_LIMIT


def register(app: Sanic) -> None:
    app.add_route(import_page, IMPORT_PATH, methods=["GET"], name="transfer_page")
    app.add_route(import_post, IMPORT_PATH, methods=["POST"], name=IMPORT_ROUTE)
    app.add_route(export_csv_file, "/editor/export.csv", methods=["GET"], name="transfer_export_csv")
    app.signal("http.routing.after")(_raise_import_limit)
