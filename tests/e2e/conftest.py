"""A trained model and the real Rasa + action servers on free loopback ports, shared by e2e tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import pytest

from bot.channels.config import NO_RATE_LIMITS
from bot.stack import BotStack
from bot.training import ensure_model
from knowledge.settings import Settings
from tests.conftest import free_port
from tests.fakes.platform import FakePlatform

PAGE_TOKEN = "page-token"  # what the bot sends to the fake Graph API as its page access token


@pytest.fixture(scope="session")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The model `make run` needs on a fresh checkout: the current training data plus the seed content's
    editors' example questions (the run loads the seed, and those examples are part of the fingerprint).
    Trained once here; `make run` after `make test` reuses it instead of training again."""
    from knowledge.catalogue.content import load
    from knowledge.db import session_scope
    from knowledge.migrations import upgrade
    from knowledge.settings import CONTENT_DIR

    seeded = f"sqlite:///{tmp_path_factory.mktemp('seed') / 'kb.db'}"
    upgrade(seeded)
    with session_scope(seeded) as session:
        load(session, CONTENT_DIR)
    return ensure_model(kb_url=seeded)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakePlatform]:
    """A fake Meta and X API on loopback, one for each test module, recording the bot's calls."""
    with FakePlatform() as platform:
        yield platform


def platform_env(fake_url: str, app_secret: str, verify_token: str = "verify", **extra: str) -> dict[str, str]:
    """Settings for the Meta channels with the fake at `fake_url` standing in for the Graph API: webhooks
    signed with `app_secret`, Meta's subscription check answered for `verify_token`, replies sent with
    PAGE_TOKEN. `extra` adds settings (or overrides these)."""
    return {
        "META_APP_SECRET": app_secret,
        "META_VERIFY_TOKEN": verify_token,
        "META_PAGE_ACCESS_TOKEN": PAGE_TOKEN,
        "META_GRAPH_URL": fake_url,
        **extra,
    }


def stack_settings(tmp: Path, **overrides: object) -> Settings:
    base = Settings.from_env()
    values = {
        **base.__dict__,
        "rasa_port": free_port(),
        "action_port": free_port(),
        "console_port": free_port(),
        "tracker_store_url": f"sqlite:///{tmp / 'tracker.db'}",
        **overrides,
    }
    return Settings(**values)


@contextmanager
def running_bot(model: Path, tmp: Path, env: Optional[dict[str, str]] = None) -> Iterator[BotStack]:
    """Servers over a fresh SQLite knowledge base and tracker store, as `make run` starts them."""
    from knowledge.catalogue.content import load
    from knowledge.db import session_scope
    from knowledge.migrations import upgrade
    from knowledge.settings import CONTENT_DIR

    kb_url = f"sqlite:///{tmp / 'kb.db'}"
    previous = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = kb_url  # inherited by both servers
    upgrade(kb_url)
    with session_scope(kb_url) as session:
        load(session, CONTENT_DIR)
    # Tests send far more from 127.0.0.1 than any resident would: limits are off unless a test sets them.
    stack = BotStack(model, stack_settings(tmp), log_dir=tmp / "logs", env={**NO_RATE_LIMITS, **(env or {})})
    stack.start()
    stack.kb_url = kb_url  # type: ignore[attr-defined]
    stack.tmp = tmp  # type: ignore[attr-defined]
    try:
        yield stack
    finally:
        stack.stop()
        if previous is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = previous


@pytest.fixture(scope="module")
def bot(model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotStack]:
    """The bot with no social platform configured."""
    with running_bot(model, tmp_path_factory.mktemp("bot")) as stack:
        yield stack
