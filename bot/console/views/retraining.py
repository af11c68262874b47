"""Retrain now (editors and admins): `/editor/model` starts `councilbot train --swap` in the background, so
editors' example questions and new training data reach the model without a developer, and shows how the
last run went. The bot keeps answering throughout (bot/model_swap.py); one retrain runs at a time."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import subprocess
import sys
from typing import Any, Optional

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.console.auth import require
from bot.console.templating import render
from knowledge.settings import PROJECT_ROOT, var_dir
from knowledge.staff import EDITOR

log = logging.getLogger(__name__)
NOTICES = {
    "started": "Retraining has started. It takes a few minutes; the bot keeps answering meanwhile.",
    "running": "A retrain is already running.",
}


def _state(app: Sanic) -> dict[str, Any]:
    if not hasattr(app.ctx, "retrain"):
        app.ctx.retrain = {"running": False, "started": None, "finished": None, "ok": None, "summary": ""}
    return app.ctx.retrain


async def _retrain(app: Sanic, by: str) -> None:
    state = _state(app)
    log_path = var_dir() / "logs" / "retrain.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(log_path, "ab") as out:
            proc = await asyncio.to_thread(
                subprocess.Popen,
                [sys.executable, "-m", "bot.cli", "train", "--force", "--swap"],
                cwd=PROJECT_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            code = await asyncio.to_thread(proc.wait)
        lines = [line for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
        state["ok"] = code == 0
        state["summary"] = lines[-1] if lines and code == 0 else f"failed (exit code {code}); see {log_path}"
        log.info("console: retrain started by %s finished with exit code %s", by, code)
    except Exception as exc:  # noqa: BLE001 - the console must keep serving
        state["ok"], state["summary"] = False, f"could not run: {type(exc).__name__}"
        log.exception("console: retrain failed to run")
    finally:
        state["running"], state["finished"] = False, dt.datetime.now(dt.UTC).replace(tzinfo=None)


@require(EDITOR)
async def model_page(request: Request) -> HTTPResponse:
    """GET /editor/model."""
    return render(
        request,
        "model.html",
        title="Retrain the model",
        state=_state(request.app),
        notice=NOTICES.get(request.args.get("retrain", "")),
    )


@require(EDITOR)
async def retrain_now(request: Request) -> HTTPResponse:
    """POST /editor/model/retrain."""
    state = _state(request.app)
    if state["running"]:
        return response.redirect("/editor/model?retrain=running", status=303)
    state.update(running=True, started=dt.datetime.now(dt.UTC).replace(tzinfo=None), finished=None, ok=None, summary="")
    user: Optional[Any] = getattr(request.ctx, "user", None)
    task = asyncio.get_running_loop().create_task(_retrain(request.app, getattr(user, "username", "an editor")))
    request.app.ctx.background_tasks.add(task)
    task.add_done_callback(request.app.ctx.background_tasks.discard)
    return response.redirect("/editor/model?retrain=started", status=303)


def register(app: Sanic) -> None:
    app.add_route(model_page, "/editor/model", methods=["GET"], name="model_index")
    app.add_route(retrain_now, "/editor/model/retrain", methods=["POST"], name="model_retrain")
