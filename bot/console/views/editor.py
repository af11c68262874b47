"""Content editing (editors and admins). For now only a placeholder page at `/editor`."""

from __future__ import annotations

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.console.auth import require
from bot.console.templating import render
from knowledge.staff import EDITOR


@require(EDITOR)
async def index(request: Request) -> HTTPResponse:
    """GET /editor: the content area's home."""
    return render(request, "placeholder.html", title="Content",
                  message="Services, notices and the bot's answers will be editable here.")


def register(app: Sanic) -> None:
    app.add_route(index, "/editor", methods=["GET"], name="editor_index")
