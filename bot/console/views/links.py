"""Review and links (editors and admins): `/editor/links` shows the latest link check of every service,
problems first, with a button to check again now, and the services due for a content review by owner."""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.console.auth import require
from bot.console.data import in_db
from bot.console.jobs import link_check_running, start_link_check
from bot.console.templating import render
from knowledge.catalogue.links import OUTCOMES, latest_results
from knowledge.catalogue.review import due_for_review
from knowledge.models import Service
from knowledge.staff import EDITOR

# What each outcome means to an editor, in the words the page uses.
OUTCOME_LABELS = {
    "gone": "Page gone",
    "error": "Error",
    "timeout": "No answer",
    "redirect": "Moved",
    "ok": "OK",
    None: "Not checked yet",
}
NOTICES = {
    "started": "Checking every service's link now. Reload this page in a minute or two to see the results.",
    "running": "A link check is already running. Reload this page in a minute or two to see the results.",
}


def _rank(outcome: Optional[str]) -> int:
    """Sort position: worst outcomes first, services never checked last."""
    return OUTCOMES.index(outcome) if outcome in OUTCOMES else len(OUTCOMES)


def _page_data(session: Session, today: dt.date) -> dict[str, Any]:
    """One row per active service (title, its current link, what the latest check found) and the review list."""
    services = {s.key: s for s in session.execute(select(Service).where(Service.active.is_(True))).scalars()}
    checks = {c.service_key: c for c in latest_results(session)}
    rows = []
    for key, service in services.items():
        check = checks.get(key)
        rows.append(
            {
                "key": key,
                "title": service.title or key,
                "url": service.url or "",
                "outcome": check.outcome if check else None,
                "label": OUTCOME_LABELS.get(check.outcome if check else None, check.outcome if check else ""),
                "status_code": check.status_code if check else None,
                "final_url": check.final_url if check else None,
                "detail": check.detail if check else None,
                "checked_at": check.checked_at if check else None,
                # The link was edited after its last check: the result is about the old address.
                "checked_url": check.url if check and check.url != (service.url or "") else None,
            }
        )
    rows.sort(key=lambda r: (_rank(r["outcome"]), r["title"].casefold()))
    due = [
        (owner, [{"key": s.key, "title": s.title or s.key, "review_by": s.review_by} for s in group])
        for owner, group in due_for_review(session, today).items()
    ]
    return {"rows": rows, "due": due}


@require(EDITOR)
async def links_page(request: Request) -> HTTPResponse:
    """GET /editor/links."""
    today = dt.date.today()
    data = await in_db(request, lambda session: _page_data(session, today))
    rows = data["rows"]
    problems = sum(1 for r in rows if r["outcome"] not in (None, "ok"))
    checked = [r["checked_at"] for r in rows if r["checked_at"]]
    return render(
        request,
        "links.html",
        title="Links and reviews",
        rows=rows,
        problems=problems,
        last_checked=max(checked) if checked else None,
        due_groups=data["due"],
        due=sum(len(services) for _, services in data["due"]),
        today=today,
        notice=NOTICES.get(request.args.get("check", "")),
        running=link_check_running(request.app),
    )


@require(EDITOR)
async def links_check_now(request: Request) -> HTTPResponse:
    """POST /editor/links/check: start a check in the background and come back to the page."""
    started = start_link_check(request.app)
    return response.redirect(f"/editor/links?check={'started' if started else 'running'}", status=303)


def register(app: Sanic) -> None:
    app.add_route(links_page, "/editor/links", methods=["GET"], name="links_index")
    app.add_route(links_check_now, "/editor/links/check", methods=["POST"], name="links_check")
