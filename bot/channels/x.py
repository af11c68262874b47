"""X's Account Activity webhook: mentions of the council's account and direct messages to it.

Register `https://<host>/webhooks/x/webhook` as the app's webhook and subscribe the council's account
(README, "Connecting X"). X checks the URL with a CRC request when registering and about hourly after.
"""

from __future__ import annotations

from typing import Any

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import x_events
from bot.channels.config import XConfig
from bot.channels.events import Incoming
from bot.channels.platform import PlatformInput
from bot.channels.sending.replies import Sender
from bot.channels.sending.senders import XSender
from bot.channels.signatures import x_crc_response, x_signature
from knowledge.channels import X_CHANNELS


class XInput(PlatformInput):
    channels = X_CHANNELS
    signature_header = "X-Twitter-Webhooks-Signature"

    def __init__(self) -> None:
        self.config = XConfig.from_env()

    @classmethod
    def name(cls) -> str:
        return "x"

    def missing_settings(self) -> list[str]:
        return self.config.missing()

    def expected_signature(self, body: bytes) -> str:
        return x_signature(self.config.consumer_secret or "", body)

    def verify_subscription(self, request: Request) -> HTTPResponse:
        """The CRC check: HMAC the `crc_token` with the app secret. Pure computation, answered in
        microseconds (X allows 3 seconds)."""
        token = request.args.get("crc_token")
        if not token or len(token) > 1024:
            return response.json({"error": "crc_token missing"}, status=400)
        return response.json({"response_token": x_crc_response(self.config.consumer_secret or "", token)})

    def parse(self, payload: Any) -> tuple[list[Incoming], list[str]]:
        return x_events.parse(payload)

    def sender(self) -> Sender:
        return XSender(self.config.api())
