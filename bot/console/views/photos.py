"""Photos residents attached in the web chat (agents and admins): `/cases/<reference>/photos` shows every
photo of the case's conversation, and `/cases/<reference>/photos/<id>` is one photo's file.

The files live under the var dir (`knowledge/delivery/uploads.py`), never in a served folder: this view is
the only way to them, for signed-in staff, and only through a case, so a photo id alone (or a guessed one)
shows nothing unless it belongs to that case's conversation. Platform photos stay on the platform (their
rows hold a URL or media id only) and are listed here as "kept on <channel>".
"""

from __future__ import annotations

import asyncio
from typing import Any

from sanic import Sanic, response
from sanic.exceptions import NotFound
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.console.auth import require
from bot.console.data import in_db
from bot.console.templating import render, uk_time
from knowledge.casework import cases
from knowledge.delivery import uploads
from knowledge.models import Attachment, Case
from knowledge.staff import AGENT

# The photo is a resident's personal data: no cache may keep a copy.
PHOTO_HEADERS = {"Cache-Control": "no-store, private", "Content-Disposition": "inline"}


def _case(session: Session, reference: str) -> Case:
    case = cases.by_reference(session, reference)
    if case is None:
        raise NotFound("No such case")
    return case


@require(AGENT)
async def photos_page(request: Request, reference: str) -> HTTPResponse:
    """GET /cases/<reference>/photos."""

    def load(session: Session) -> dict[str, Any]:
        case = _case(session, reference)
        rows = session.execute(
            select(Attachment)
            .where(Attachment.conversation_id == case.conversation_id, Attachment.kind == "image")
            .order_by(Attachment.id)
        ).scalars()
        photos = [
            {
                "id": a.id,
                "at": uk_time(a.received_at, "%d %b %Y %H:%M"),
                "stored": bool(a.media_id and a.media_id.startswith(uploads.STORED_PREFIX)),
                "channel": a.channel.replace("_", " "),
            }
            for a in rows
        ]
        return {"case": case, "photos": photos}

    data = await in_db(request, load)
    return render(request, "photos.html", title=f"Photos for {data['case'].reference}", **data)


@require(AGENT)
async def photo_file(request: Request, reference: str, photo_id: int) -> HTTPResponse:
    """GET /cases/<reference>/photos/<id>: the file, if that photo belongs to this case's conversation."""

    def load(session: Session) -> tuple[str, str]:
        case = _case(session, reference)
        a = session.get(Attachment, photo_id)
        if a is None or a.conversation_id != case.conversation_id or a.kind != "image":
            raise NotFound("No such photo")
        return a.media_id or "", a.mime_type or "application/octet-stream"

    media_id, mime = await in_db(request, load)
    return await upload_file(media_id, mime)


async def upload_file(media_id: str, mime: str) -> HTTPResponse:
    """The bytes of a photo kept from a web chat upload (`media_id`), never cached; 404 for a platform
    photo (only the platform holds it) or one erased since."""
    path = uploads.path_of(media_id)
    if path is None:
        raise NotFound("This photo is kept on the resident's platform, or was deleted")
    body = await asyncio.to_thread(path.read_bytes)
    return response.raw(body, content_type=mime, headers=PHOTO_HEADERS)


def register(app: Sanic) -> None:
    app.add_route(photos_page, "/cases/<reference:str>/photos", methods=["GET"], name="case_photos")
    app.add_route(photo_file, "/cases/<reference:str>/photos/<photo_id:int>", methods=["GET"], name="case_photo")
