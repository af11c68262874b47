"""Unanswered questions (editors and admins): `/editor/unanswered?days=N&kind=K` shows what residents asked
that the bot couldn't answer well, grouped by similarity, biggest group first, so editors know what content
is missing; `/editor/unanswered/export` downloads the ticked messages as candidate NLU training examples
for a developer to label. The same data as `councilbot unanswered`."""

from __future__ import annotations

from typing import Optional

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.console.auth import require
from bot.console.data import in_db
from bot.console.params import int_arg
from bot.console.templating import render
from knowledge.catalogue.unanswered import KINDS, NothingToExport, export_candidates, groups
from knowledge.staff import EDITOR

PERIODS = (7, 30, 90)
# A whole group's checkbox carries all its ids; more than this in one export is not a considered choice.
MAX_EXPORT = 5000


def _filters(request: Request) -> tuple[int, Optional[str]]:
    days = min(max(int_arg(request, "days", 30) or 1, 1), 366)
    kind = request.args.get("kind") or None
    return days, kind if kind in KINDS else None


async def _page(request: Request, *, status: int = 200, error: Optional[str] = None) -> HTTPResponse:
    days, kind = _filters(request)
    found = await in_db(request, lambda session: groups(session, days=days, kinds=[kind] if kind else None))
    summary = [("examples", error)] if error else []
    return render(
        request,
        "unanswered.html",
        status=status,
        title="Unanswered questions",
        groups=found,
        days=days,
        kind=kind,
        kinds=KINDS,
        periods=sorted({*PERIODS, days}),
        error_summary=summary,
        total=sum(g.count for g in found),
    )


@require(EDITOR)
async def index(request: Request) -> HTTPResponse:
    """GET /editor/unanswered."""
    return await _page(request)


def _chosen_ids(request: Request) -> list[int]:
    """The ticked messages: every `ids` field is one message's id or a comma-separated list of them
    (a wording's, or a whole group's)."""
    ids: list[int] = []
    for value in request.form.getlist("ids") or []:
        ids += [int(part) for part in value.split(",") if part.strip().isdigit()]
    return list(dict.fromkeys(ids))


@require(EDITOR)
async def export(request: Request) -> HTTPResponse:
    """POST /editor/unanswered/export: a YAML download of the ticked messages, marked as exported."""
    ids = _chosen_ids(request)
    if not ids:
        return await _page(request, status=400, error="Select at least one message to export.")
    if len(ids) > MAX_EXPORT:
        return await _page(request, status=400, error=f"Select at most {MAX_EXPORT} messages at a time.")
    try:
        text = await in_db(request, lambda session: export_candidates(session, ids))
    except NothingToExport:
        return await _page(request, status=400, error="None of the selected messages exists any more.")
    return response.text(
        text,
        content_type="text/yaml; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="candidate-examples.yml"'},
    )


def register(app: Sanic) -> None:
    app.add_route(index, "/editor/unanswered", methods=["GET"], name="unanswered_index")
    app.add_route(export, "/editor/unanswered/export", methods=["POST"], name="unanswered_export")
