"""`python -m tests.bot.webhook_app --port P`: the Meta and X webhooks as the Rasa server mounts them, in a
Sanic app of their own, with a stand-in for the trained model that answers every message "Thanks, got it".

Everything from the HTTP request to the reply sent to the (fake) platform is the real code; only Rasa's
agent is replaced, so these tests need no trained model and start in a second or two.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, Optional

from rasa.core.channels.channel import UserMessage, register
from sanic import Sanic

from bot.channels.meta import MetaInput
from bot.channels.x import XInput

REPLY = "Thanks, got it."


class _Trackers:
    """Rasa's tracker store as the channels read it: nothing understood yet."""

    async def retrieve(self, _conversation_id: str) -> Optional[Any]:
        return None


class _Agent:
    """Rasa's agent as `register` calls it."""

    tracker_store = _Trackers()

    async def handle_message(self, message: UserMessage) -> None:
        """What the model would do: one text reply to the resident."""
        await message.output_channel.send_text_message(message.sender_id, REPLY)


def create_app() -> Sanic:
    app = Sanic("webhook_test_app")
    app.config.ACCESS_LOG = False
    app.ctx.agent = _Agent()
    register([MetaInput(), XInput()], app, route="/webhooks/")
    return app


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # Everything goes to stderr, which the test reads: our loggers and Sanic's error logger (where an
    # unhandled exception's traceback would appear).
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    create_app().run(host="127.0.0.1", port=args.port, access_log=False, motd=False, workers=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
