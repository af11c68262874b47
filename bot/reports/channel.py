"""Starts the reports worker with the Rasa server. Rasa starts background work only through its input
channels, so the worker rides on a channel of its own (credentials.yml names it) that serves one status
route and nothing residents use: it runs whichever platforms are configured, web chat alone included."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Optional

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.config import DeliveryConfig
from bot.reports.worker import ReportsWorker
from knowledge.delivery.claims import Claimer


class ReportsWorkerInput(InputChannel):
    """No messages come this way; `GET /webhooks/reports/` says whether this process holds the reports lease."""

    @classmethod
    def name(cls) -> str:
        return "reports"

    @classmethod
    def from_credentials(cls, credentials: Optional[dict[str, Any]]) -> InputChannel:
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        module = inspect.getmodule(self)
        bp = Blueprint(f"custom_webhook_{type(self).__name__}", module.__name__ if module else None)
        state: dict[str, Any] = {}

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            worker = state.get("worker")
            return response.json({"status": "ok", "working": bool(worker and worker.holding)})

        @bp.listener("after_server_start")
        async def _start(app: Any, _loop: Any) -> None:
            port = getattr(getattr(app, "state", None), "port", None)
            claimer = Claimer(DeliveryConfig.from_env().replica_for(port, "rasa-reports"))
            worker = ReportsWorker.from_settings(claimer)
            state["worker"] = worker
            state["task"] = asyncio.get_running_loop().create_task(worker.run())

        @bp.listener("before_server_stop")
        async def _stop(_app: Any, _loop: Any) -> None:
            task = state.pop("task", None)
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

        return bp
