"""`councilbot run`: everything from a fresh checkout to a listening bot, then a clean stop on Ctrl-C."""

from __future__ import annotations

import signal
import time

from bot.channels.config import MetaConfig, XConfig
from bot.stack import BotStack, StartupError
from bot.training import ensure_model
from knowledge.catalogue.content import ContentInvalid, load
from knowledge.catalogue.editing import record_version
from knowledge.db import session_scope
from knowledge.migrations import upgrade
from knowledge.settings import CONTENT_DIR, Settings, database_url, settings


def prepare_database() -> str:
    """Migrate the knowledge base and load the seed content if it's empty. Editors' changes are kept:
    the seed is loaded only into an empty database."""
    upgrade()
    from knowledge.models import Service

    with session_scope() as session:
        if session.query(Service.id).first() is None:
            report = load(session, CONTENT_DIR)
            record_version(session, "system", "Seed content", f"loaded the seed content: {report}")
            return f"loaded seed content ({report})"
    return "kept existing content"


def run() -> int:
    settings = Settings.from_env()
    started = time.monotonic()
    try:
        print(f"Knowledge base: {prepare_database()}", flush=True)
    except ContentInvalid as exc:
        print(f"The seed content has problems:\n{exc}")
        return 1
    model = ensure_model(settings)
    print(f"Model: {model.name}. Starting servers...", flush=True)
    stack = BotStack(model, settings, quiet=False)
    stopping = False

    def _stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        stack.start()
    except StartupError as exc:
        print(f"Could not start: {exc}")
        return 1
    print(
        f"\nReady in {time.monotonic() - started:.0f}s.\n"
        f"  Web chat:      {stack.rasa_url}/webhooks/webchat/\n"
        f"  REST webhook:  POST {stack.webhook_url}  "
        '{"sender": "me", "message": "pothole"}\n'
        f"  Meta webhook:  {stack.rasa_url}/webhooks/meta/webhook ({_configured(MetaConfig.from_env())})\n"
        f"{_x_line(stack.rasa_url)}\n"
        f"  Staff console: {stack.console_url}/  {_console_hint()}\n"
        f"  Action server: {stack.action_url}\n"
        f"  Knowledge base: {_safe_url(database_url())}\n"
        "Press Ctrl-C to stop.",
        flush=True,
    )
    try:
        # A server that dies is started again (the others keep answering meanwhile: Rasa answers with the
        # safety net while the action server is down); one that keeps dying ends the run.
        while not stopping and (stack.supervise() or stack.running()):
            time.sleep(0.5)
    finally:
        print("\nStopping...", flush=True)
        stack.stop()
        print("Stopped.")
    return 0


def _console_hint() -> str:
    """Tell the first-time runner how to get in: the console has no default account."""
    from knowledge.models import StaffUser

    with session_scope() as session:
        if session.query(StaffUser.id).first() is None:
            return "(no accounts yet: councilbot users add YOURNAME --role admin)"
    return ""


def _x_line(rasa_url: str) -> str:
    """The banner's X line: the webhook's address, or that the bot polls X (X_MODE=polling)."""
    x = XConfig.from_env()
    if x.polling:
        return f"  X:             polling mentions and DMs every {settings().x_poll_seconds:.0f}s ({_configured(x)})"
    return f"  X webhook:     {rasa_url}/webhooks/x/webhook ({_configured(x)})"


def _configured(config: MetaConfig | XConfig) -> str:
    missing = config.missing()
    return "configured" if not missing else f"off: set {', '.join(missing)}"


def _safe_url(url: str) -> str:
    """The database URL without its password, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
