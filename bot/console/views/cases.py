"""Handover cases (agents and admins). For now only a placeholder page at `/`; the case list and case
pages replace it."""

from __future__ import annotations

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.console.auth import require
from bot.console.templating import render
from knowledge.staff import AGENT


@require(AGENT)
async def index(request: Request) -> HTTPResponse:
    """GET /: the cases area's home."""
    return render(request, "placeholder.html", title="Cases",
                  message="Conversations handed over by the bot will be listed here.")


def register(app: Sanic) -> None:
    app.add_route(index, "/", methods=["GET"], name="cases_index")
