"""Meta's webhook: Messenger, Facebook page comments, Instagram messages and comments, WhatsApp.

Subscribe the app's Page, Instagram and WhatsApp Business Account webhooks to
`https://<host>/webhooks/meta/webhook` (README, "Connecting Meta").
"""

from __future__ import annotations

from typing import Any

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import meta_events
from bot.channels.config import MetaConfig
from bot.channels.events import Incoming
from bot.channels.platform import PlatformInput
from bot.channels.sending.replies import Sender
from bot.channels.sending.senders import MetaSender
from bot.channels.signatures import meta_signature, valid
from knowledge.channels import META_CHANNELS


class MetaInput(PlatformInput):
    channels = META_CHANNELS
    signature_header = "X-Hub-Signature-256"

    def __init__(self) -> None:
        self.config = MetaConfig.from_env()

    @classmethod
    def name(cls) -> str:
        return "meta"

    def missing_settings(self) -> list[str]:
        return self.config.missing()

    def expected_signature(self, body: bytes) -> str:
        return meta_signature(self.config.app_secret or "", body)

    def verify_subscription(self, request: Request) -> HTTPResponse:
        """Meta's handshake: echo `hub.challenge` only if `hub.verify_token` is ours."""
        args = request.args
        if args.get("hub.mode") == "subscribe" and valid(self.config.verify_token or "", args.get("hub.verify_token")):
            return response.text(args.get("hub.challenge") or "")
        return response.json({"error": "verification failed"}, status=403)

    def parse(self, payload: Any) -> tuple[list[Incoming], list[str]]:
        return meta_events.parse(payload)

    def sender(self) -> Sender:
        return MetaSender(self.config.graph(), self.config.whatsapp())
