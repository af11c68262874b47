"""Figures about the bot and the cases (any signed-in staff). For now only a placeholder at `/figures`."""

from __future__ import annotations

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.console.auth import require
from bot.console.templating import render


@require()
async def index(request: Request) -> HTTPResponse:
    """GET /figures: the figures area's home."""
    return render(request, "placeholder.html", title="Figures",
                  message="Counts of conversations, handovers and response times will be shown here.")


def register(app: Sanic) -> None:
    app.add_route(index, "/figures", methods=["GET"], name="figures_index")
