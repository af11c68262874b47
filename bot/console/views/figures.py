"""Figures about the bot and the cases (any signed-in staff) at `/figures?days=N`; the same numbers as
`councilbot figures`."""

from __future__ import annotations

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.console.auth import require
from bot.console.data import in_db
from bot.console.params import int_arg
from bot.console.templating import render
from knowledge.casework.figures import compute


@require()
async def index(request: Request) -> HTTPResponse:
    """GET /figures."""
    days = min(max(int_arg(request, "days", 30) or 1, 1), 366)
    figures = await in_db(request, lambda session: compute(session, days))
    return render(request, "figures.html", title="Figures", fig=figures, days=days)


def register(app: Sanic) -> None:
    app.add_route(index, "/figures", methods=["GET"], name="figures_index")
