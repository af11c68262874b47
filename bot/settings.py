"""Runtime settings for the Rasa side, from environment variables (listed in .env.example)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from knowledge.settings import PROJECT_ROOT, var_dir


@dataclass(frozen=True)
class Settings:
    """Where the servers listen and which stores they use.

    `tracker_store_url` is a SQLAlchemy URL for Rasa's conversation history (default: SQLite under var/);
    `redis_url`, when set, makes Rasa use a Redis lock store so several Rasa replicas can share a tracker
    store safely (default: Rasa's in-memory lock store, right for one process)."""

    host: str
    rasa_port: int
    action_port: int
    console_port: int
    tracker_store_url: str
    redis_url: Optional[str]
    models_dir: Path
    log_level: str

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            host=os.environ.get("COUNCILBOT_HOST", "127.0.0.1"),
            rasa_port=int(os.environ.get("RASA_PORT", "5005")),
            action_port=int(os.environ.get("ACTION_SERVER_PORT", "5055")),
            console_port=int(os.environ.get("CONSOLE_PORT", "5010")),
            tracker_store_url=os.environ.get("TRACKER_STORE_URL") or f"sqlite:///{var_dir() / 'tracker.db'}",
            redis_url=os.environ.get("REDIS_URL") or None,
            models_dir=Path(os.environ.get("COUNCILBOT_MODELS_DIR", PROJECT_ROOT / "models")),
            log_level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        )
