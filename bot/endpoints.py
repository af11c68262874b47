"""Rasa's endpoints file, built from settings so configuration lives only in environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.engine import make_url

from knowledge.settings import Settings

# Rasa's SQL tracker store, but with SQL parameters kept out of error messages and so out of the logs.
TRACKER_STORE_TYPE = "bot.tracker_store.QuietSQLTrackerStore"


def tracker_store_config(url: str) -> dict[str, Any]:
    """Rasa's SQL tracker store settings from a SQLAlchemy URL. Query options (a PostgreSQL
    `options=-csearch_path=...`) are passed on, so Rasa and `councilbot privacy` open the same tables."""
    parsed = make_url(url)
    config: dict[str, Any] = {"type": TRACKER_STORE_TYPE, "dialect": parsed.drivername, "db": parsed.database}
    for key, value in (
        ("url", parsed.host),
        ("port", parsed.port),
        ("username", parsed.username),
        ("password", parsed.password),
    ):
        if value:
            config[key] = value
    if parsed.query:
        config["query"] = dict(parsed.query)
    return config


def lock_store_config(url: str) -> dict[str, Any]:
    """Rasa's Redis lock store settings from a redis:// URL."""
    parsed = make_url(url)
    config: dict[str, Any] = {
        "type": "redis",
        "url": parsed.host or "127.0.0.1",
        "port": parsed.port or 6379,
        "db": int(parsed.database or 0),
    }
    if parsed.password:
        config["password"] = parsed.password
    return config


def build_endpoints(settings: Settings) -> dict[str, Any]:
    endpoints: dict[str, Any] = {
        "action_endpoint": {"url": f"http://{settings.host}:{settings.action_port}/webhook"},
        "tracker_store": tracker_store_config(settings.tracker_store_url),
    }
    if settings.redis_url:
        endpoints["lock_store"] = lock_store_config(settings.redis_url)
    return endpoints


def write_endpoints(settings: Settings, path: Path) -> Path:
    """Write the endpoints file (it may hold a database password, so only the owner can read it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(yaml.safe_dump(build_endpoints(settings), sort_keys=False))
    return path
