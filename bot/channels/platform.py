"""What every social platform's webhook does, in one place: refuse anything not signed by the platform,
refuse anything malformed, store what is new, acknowledge at once, work afterwards.

A subclass says how its platform signs, verifies the subscription and shapes its JSON, and how replies go
out (`MetaInput`, `XInput`).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Optional

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import SQLAlchemyError

from bot.channels.config import DeliveryConfig, retention
from bot.channels.events import BadPayload, Incoming
from bot.channels.flood_gate import admit
from bot.channels.inbox import Inbox
from bot.channels.jsonsafe import UnsafeJson, loads
from bot.channels.outage import unstored
from bot.channels.responder import Responder
from bot.channels.sending import background
from bot.channels.sending.dispatch import Dispatcher
from bot.channels.sending.replies import Sender
from bot.channels.signatures import valid
from bot.platforms.api import close_shared_client
from knowledge.delivery.claims import Claimer

log = logging.getLogger(__name__)

# Meta batches up to 1,000 events in one delivery; real bodies stay well under this.
MAX_BODY_BYTES = 1024 * 1024
# How often the heartbeat renews our claims and unfinished work is looked for: failed deliveries and
# replies whose retry is due, and work a stopped process (or replica) left half-done. Well inside the
# claim lease (30 s by default), so a live process never loses its claims.
SWEEP_SECONDS = 5.0


async def _sweep(inbox: Inbox) -> None:
    """At start and then every SWEEP_SECONDS: renew claims, resume unfinished deliveries, send due
    replies, forget expired ids."""
    while True:
        try:
            await inbox.tick()
        except SQLAlchemyError as exc:  # the database is down: say so once a round, without a traceback
            log.error("could not look for unfinished deliveries: database unavailable (%s)", type(exc).__name__)
        except Exception:  # noqa: BLE001 - a bug must not end the sweeping either
            log.error("could not look for unfinished deliveries", exc_info=True)
        await asyncio.sleep(SWEEP_SECONDS)


class PlatformInput(InputChannel):
    """A platform webhook at `/webhooks/<name>/webhook` (GET: the platform's check; POST: events)."""

    #: every channel name this webhook's messages can carry, for resuming unfinished work
    channels: frozenset[str] = frozenset()
    signature_header: str = ""

    # --- what a platform defines -----------------------------------------------------------------------------
    def missing_settings(self) -> list[str]:
        raise NotImplementedError

    def expected_signature(self, body: bytes) -> str:
        raise NotImplementedError

    def verify_subscription(self, request: Request) -> HTTPResponse:
        raise NotImplementedError

    def parse(self, payload: Any) -> tuple[list[Incoming], list[str]]:
        raise NotImplementedError

    def sender(self) -> Sender:
        raise NotImplementedError

    def started(self, app: Any, inbox: Inbox) -> None:
        """The server has started and `inbox` is ready: start any background work of this platform's own
        (X's poller). Nothing by default."""

    async def stopping(self) -> None:
        """The server is stopping: end that background work, before the inbox finishes its queue."""

    # --- shared ----------------------------------------------------------------------------------------------
    @classmethod
    def from_credentials(cls, credentials: Optional[dict[str, Any]]) -> PlatformInput:
        if credentials:
            log.warning("%s: settings come from environment variables; credentials.yml values are ignored", cls.name())
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        module = inspect.getmodule(self)
        bp = Blueprint(f"custom_webhook_{type(self).__name__}", module.__name__ if module else None)
        app_ref: dict[str, Any] = {}

        async def latest_parse(conversation_id: str) -> Optional[dict[str, Any]]:
            agent = app_ref["app"].ctx.agent
            tracker = await agent.tracker_store.retrieve(conversation_id)
            return tracker.latest_message.parse_data if tracker and tracker.latest_message else None

        inbox: Optional[Inbox] = None
        missing = self.missing_settings()
        if missing:
            log.warning(
                "%s channel is not configured (unset: %s); its webhook answers 503", self.name(), ", ".join(missing)
            )
        else:
            delivery = DeliveryConfig.from_env()
            dispatcher = Dispatcher(self.sender(), self.channels, delivery, Claimer(delivery.replica_for(None, "rasa")))
            inbox = Inbox(
                self.channels,
                Responder(on_new_message, latest_parse, delivery.retry_for),
                retention(),
                dispatcher,
                lease=delivery.lease,
            )

        @bp.listener("before_server_start")
        async def _name(app: Any, _loop: Any) -> None:
            # Claims name this replica by host and port unless COUNCILBOT_REPLICA_ID says otherwise: the port
            # is known once the server is configured, before it takes any request.
            if inbox is not None and inbox.dispatcher is not None:
                port = getattr(getattr(app, "state", None), "port", None)
                claimer = Claimer(DeliveryConfig.from_env().replica_for(port, "rasa"))
                inbox.claimer = inbox.dispatcher.claimer = claimer

        @bp.listener("after_server_start")
        async def _resume(app: Any, _loop: Any) -> None:
            app_ref["app"] = app
            if inbox is not None:
                app.add_task(_sweep(inbox))
                self.started(app, inbox)

        @bp.listener("before_server_stop")
        async def _finish(_app: Any, _loop: Any) -> None:
            await self.stopping()  # no new messages from a poller while the queue drains
            await background.idle()  # replies to limited messages, crisis lines sent during an outage
            if inbox is not None:
                await inbox.idle()
            await close_shared_client()  # every reply has gone: let the platforms' connections go too

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if inbox else "not configured"})

        @bp.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            if inbox is None:
                return response.json({"error": "channel not configured"}, status=503)
            return self.verify_subscription(request)

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            app_ref["app"] = request.app
            if inbox is None:
                return response.json({"error": "channel not configured"}, status=503)
            body = request.body or b""
            if len(body) > MAX_BODY_BYTES:
                log.warning("%s webhook refused a %d-byte body", self.name(), len(body))
                return response.json({"error": "request body too large"}, status=413)
            if not valid(self.expected_signature(body), request.headers.get(self.signature_header)):
                log.warning(
                    "%s webhook refused a request with a missing or wrong %s", self.name(), self.signature_header
                )
                return response.json({"error": "invalid signature"}, status=403)
            try:
                # Text is repaired rather than refused: a 400 would make the platform resend the same
                # bytes, and the good messages in the batch would never get through.
                messages, skipped = self.parse(loads(body, repair_text=True))
            except (UnsafeJson, BadPayload) as exc:
                reason = str(exc)
                log.warning("%s webhook refused a signed but malformed request: %s", self.name(), reason)
                return response.json({"error": reason}, status=400)
            except Exception as exc:  # noqa: BLE001 - a shape the parser didn't foresee is still bad input
                # The exception's type only: its text could quote the body, which is residents' data.
                log.warning(
                    "%s webhook refused a signed request it could not read (%s)", self.name(), type(exc).__name__
                )
                return response.json({"error": "body is not shaped like this platform's webhook"}, status=400)
            admitted = await admit(messages, lambda: _started(inbox.dispatcher))
            try:
                queued, repeated = await inbox.accept(admitted)
            except Exception as exc:  # noqa: BLE001 - nothing stored: the platform must send it again
                return unstored(
                    self.name(), admitted, inbox.dispatcher.sender if inbox.dispatcher else self.sender(), exc
                )
            if skipped:
                log.info(
                    "%s webhook ignored %d event(s): %s", self.name(), len(skipped), ", ".join(sorted(set(skipped)))
                )
            return response.json({"status": "ok", "queued": queued, "repeated": repeated})

        return bp


def _started(dispatcher: Optional[Dispatcher]) -> Dispatcher:
    """The inbox's dispatcher, which the server's start hook sets before any webhook is served."""
    if dispatcher is None:
        raise RuntimeError("a webhook was served before the server's start hook made the dispatcher")
    return dispatcher
