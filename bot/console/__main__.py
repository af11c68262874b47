"""`python -m bot.console [--host H] [--port P]`: run the staff console in one process.

Defaults from the environment: `COUNCILBOT_HOST` (127.0.0.1), `CONSOLE_PORT` (5010), `DATABASE_URL` (the
knowledge base, as everywhere), `CONSOLE_INSECURE_COOKIES=1` only for
plain http on loopback (cookies are Secure otherwise). The access log is off: request
lines would carry query strings; the console logs sign-ins and errors itself, never passwords or tokens.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Optional

from bot.console.app import create_app
from knowledge.settings import settings


def _log_to_stderr(level: str) -> None:
    # Our own loggers only: Sanic configures its own, and a root handler would print its lines twice.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("bot", "knowledge"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.console", description="Run the staff console.")
    config = settings()  # a bad setting stops the console here, naming the variable
    parser.add_argument("--host", default=config.host)
    parser.add_argument("--port", type=int, default=config.console_port)
    args = parser.parse_args(argv)
    _log_to_stderr(config.log_level)
    app = create_app()
    app.run(host=args.host, port=args.port, access_log=False, motd=False, workers=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
