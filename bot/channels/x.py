"""X: mentions of the council's account and direct messages to it, by webhook or by polling (X_MODE).

Webhook mode (the Account Activity API, enterprise tier): register `https://<host>/webhooks/x/webhook` as
the app's webhook and subscribe the council's account (README, "Connecting X"). X checks the URL with a CRC
request when registering and about hourly after.

Polling mode (the pay-per-use API): the Rasa server fetches new mentions and DMs every X_POLL_SECONDS
(`x_polling.py`) into the same inbound queue. The webhook stays open only if X_CONSUMER_SECRET is set (a
message that comes both ways is answered once); without the secret it refuses every request.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
from typing import Any, Optional

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import x_events
from bot.channels.config import DeliveryConfig, XConfig, api_timeout, retention
from bot.channels.events import Incoming
from bot.channels.flood_gate import admit
from bot.channels.inbox import Inbox
from bot.channels.platform import PlatformInput
from bot.channels.sending.replies import Sender
from bot.channels.sending.senders import XSender
from bot.channels.signatures import x_crc_response, x_signature
from bot.channels.x_polling import XApi, XPoller
from knowledge.channels import X_CHANNELS
from knowledge.settings import settings


class XInput(PlatformInput):
    channels = X_CHANNELS
    signature_header = "X-Twitter-Webhooks-Signature"

    def __init__(self) -> None:
        self.config = XConfig.from_env()
        self.polling = self.config.polling
        self._poller: Optional[asyncio.Task] = None

    @classmethod
    def name(cls) -> str:
        return "x"

    def missing_settings(self) -> list[str]:
        return self.config.missing()

    def expected_signature(self, body: bytes) -> str:
        if not self.config.consumer_secret:
            # Polling mode without the app secret: a signature made with an empty key must not pass, so
            # expect a value nobody can know.
            return secrets.token_hex(32)
        return x_signature(self.config.consumer_secret, body)

    def verify_subscription(self, request: Request) -> HTTPResponse:
        """The CRC check: HMAC the `crc_token` with the app secret. Pure computation, answered in
        microseconds (X allows 3 seconds)."""
        if not self.config.consumer_secret:
            return response.json({"error": "X webhook not configured (X_MODE=polling)"}, status=503)
        token = request.args.get("crc_token")
        if not token or len(token) > 1024:
            return response.json({"error": "crc_token missing"}, status=400)
        return response.json({"response_token": x_crc_response(self.config.consumer_secret or "", token)})

    def parse(self, payload: Any) -> tuple[list[Incoming], list[str]]:
        return x_events.parse(payload)

    def sender(self) -> Sender:
        return XSender(self.config.api())

    def started(self, app: Any, inbox: Inbox) -> None:
        if not self.polling:
            return
        s, delivery = settings(), DeliveryConfig.from_env()
        dispatcher = inbox.dispatcher

        async def admit_polled(messages: list[Incoming]) -> list[Incoming]:
            assert dispatcher is not None  # the inbox of a configured channel always has one
            return await admit(messages, lambda: dispatcher)

        poller = XPoller(
            XApi(self.config.api_url, self.config.access_token or "", api_timeout()),
            inbox.claimer,
            interval=dt.timedelta(seconds=s.x_poll_seconds),
            lease=delivery.lease,
            retention=retention(),
            admit=admit_polled,
            wake=inbox.resume,
        )
        self._poller = asyncio.get_running_loop().create_task(poller.run())

    async def stopping(self) -> None:
        task, self._poller = self._poller, None
        if task is not None:
            # A poll cut short stores nothing: its messages and cursor are one transaction, committed or not.
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
