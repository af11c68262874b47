"""Configuration comes from the environment: SQLite by default, PostgreSQL and Redis by setting URLs."""

from __future__ import annotations

from pathlib import Path

from bot.endpoints import build_endpoints, write_endpoints
from bot.training import fingerprint
from knowledge.settings import Settings


def test_defaults_use_sqlite_and_no_redis(monkeypatch, tmp_path: Path) -> None:
    for name in ("TRACKER_STORE_URL", "REDIS_URL", "RASA_PORT", "ACTION_SERVER_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COUNCILBOT_VAR_DIR", str(tmp_path))
    endpoints = build_endpoints(Settings.from_env())
    assert endpoints["tracker_store"] == {
        "type": "bot.tracker_store.QuietSQLTrackerStore",
        "dialect": "sqlite",
        "db": str(tmp_path / "tracker.db"),
    }
    assert endpoints["action_endpoint"]["url"] == "http://127.0.0.1:5055/webhook"
    assert "lock_store" not in endpoints


def test_production_urls_become_rasa_settings(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRACKER_STORE_URL", "postgresql://bot:s3cret@db.internal:5433/rasa")
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6380/2")
    settings = Settings.from_env()
    endpoints = build_endpoints(settings)
    assert endpoints["tracker_store"] == {
        "type": "bot.tracker_store.QuietSQLTrackerStore",
        "dialect": "postgresql",
        "db": "rasa",
        "url": "db.internal",
        "port": 5433,
        "username": "bot",
        "password": "s3cret",
    }
    assert endpoints["lock_store"] == {"type": "redis", "url": "cache.internal", "port": 6380, "db": 2}
    path = write_endpoints(settings, tmp_path / "endpoints.yml")
    assert path.stat().st_mode & 0o077 == 0  # holds a password: owner only


def test_fingerprint_changes_with_training_data(tmp_path: Path) -> None:
    for name in ("config.yml", "domain.yml"):
        (tmp_path / name).write_text(name)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "nlu.yml").write_text("a")
    (tmp_path / "bot" / "nlu").mkdir(parents=True)
    first = fingerprint(tmp_path)
    assert fingerprint(tmp_path) == first
    (tmp_path / "data" / "nlu.yml").write_text("b")
    assert fingerprint(tmp_path) != first
    # The text cleaning and the danger lexicon change what the model learns too.
    second = fingerprint(tmp_path)
    (tmp_path / "knowledge" / "content").mkdir(parents=True)
    (tmp_path / "knowledge" / "understanding").mkdir(parents=True)
    (tmp_path / "knowledge" / "understanding" / "text.py").write_text("clean")
    assert fingerprint(tmp_path) != second
    third = fingerprint(tmp_path)
    (tmp_path / "knowledge" / "content" / "danger_lexicon.yml").write_text("kinds: {}")
    assert fingerprint(tmp_path) != third
