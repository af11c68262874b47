"""Shared fixtures: a migrated, seeded knowledge base per test, free loopback ports, service checks."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.training import example_lines
from knowledge.settings import CONTENT_DIR, PROJECT_ROOT

CATALOGUE = PROJECT_ROOT.parent / "shared" / "demo-council" / "catalogue.yml"
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _no_default_database(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests never touch var/knowledge.db: code that opens the default database gets an empty one
    in the test's own directory (e2e tests set DATABASE_URL for their servers themselves)."""
    if request.node.get_closest_marker("e2e") is None:
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'unconfigured.db'}")


@pytest.fixture
def kb_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh SQLite knowledge base, migrated and loaded from the shipped seed content."""
    from knowledge.catalogue.content import load
    from knowledge.db import session_scope
    from knowledge.migrations import upgrade

    url = f"sqlite:///{tmp_path / 'kb.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    upgrade(url)
    with session_scope(url) as session:
        load(session, CONTENT_DIR)
    return url


@pytest.fixture
def content_copy(tmp_path: Path) -> Path:
    """A writable copy of the seed content to break in tests."""
    import shutil

    target = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, target)
    return target


@pytest.fixture(scope="session")
def catalogue() -> dict:
    """The demo council's catalogue (the spec the knowledge base must cover)."""
    if not CATALOGUE.exists():
        pytest.skip(f"catalogue not found at {CATALOGUE} (shared/ sits beside the checkout in CI)")
    return yaml.safe_load(CATALOGUE.read_text())


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """PostgreSQL at 127.0.0.1:5432 (database `test`), or skip saying why."""
    if not port_open("127.0.0.1", 5432):
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432; production-configuration tests skipped")
    yield POSTGRES_URL


@pytest.fixture
def pg_schema_url(postgres_url: str) -> Iterator[str]:
    """A migrated knowledge base in a throwaway schema on the PostgreSQL server (dropped afterwards), so
    PostgreSQL tests never meet each other's rows. Skips where PostgreSQL is absent."""
    import uuid

    from sqlalchemy import create_engine, text

    from knowledge.db import get_engine
    from knowledge.migrations import upgrade

    schema = f"test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_url, future=True)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{postgres_url}?options=-csearch_path%3D{schema}"
    try:
        upgrade(url)
        yield url
    finally:
        get_engine(url).dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not port_open("127.0.0.1", 6379):
        pytest.skip("Redis is not running on 127.0.0.1:6379; production-configuration tests skipped")
    return REDIS_URL


CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
# As the machine's probe found: without the background-networking flags Chromium keeps trying to reach
# Google's hosts, which this closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's headless Chromium driven by Playwright, or skip saying why. Per module: Playwright's sync
    API keeps an event loop running in this thread while it is open, which would break `asyncio.run` in
    any later test."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: `make browser` installs Debian's package (needs root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def danger_model():
    """The danger classifier trained as the model trains it: data/danger plus every ordinary training
    message as a negative, threshold calibrated on out-of-fold scores."""
    from knowledge.danger.classifier import DangerClassifier, load_examples
    from knowledge.danger.kinds import NOT_DANGER

    ordinary = set()
    for path in sorted((PROJECT_ROOT / "data" / "nlu").rglob("*.yml")):
        for item in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
            if "intent" in item and item["intent"] != "crisis":
                ordinary |= set(example_lines(item["examples"]))
    return DangerClassifier.train(load_examples() + [(t, NOT_DANGER) for t in sorted(ordinary)])
