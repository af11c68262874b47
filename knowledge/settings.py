"""Settings read from environment variables (the full list is in `.env.example`)."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONTENT_DIR = Path(__file__).resolve().parent / "content"


def var_dir() -> Path:
    """Where embedded defaults keep their files (SQLite databases, logs): `COUNCILBOT_VAR_DIR` or `var/`."""
    path = Path(os.environ.get("COUNCILBOT_VAR_DIR", PROJECT_ROOT / "var"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url() -> str:
    """SQLAlchemy URL of the knowledge base: `DATABASE_URL`, or a SQLite file under `var/`."""
    return os.environ.get("DATABASE_URL") or f"sqlite:///{var_dir() / 'knowledge.db'}"


def case_caps() -> tuple[int, int]:
    """(cases one conversation may open in 24 hours, cases one channel may open in an hour):
    CASES_PER_SENDER_PER_DAY (default 3) and CASES_PER_CHANNEL_PER_HOUR (default 60); 0 means no cap.
    Urgent cases (crisis, safeguarding) are opened whatever the caps say."""
    def count(name: str, default: int) -> int:
        raw = (os.environ.get(name) or "").strip()
        if not raw:
            return default
        if not raw.isdigit():
            raise ValueError(f"{name} must be a whole number, 0 or more, not {raw!r}")
        return int(raw)

    return count("CASES_PER_SENDER_PER_DAY", 3), count("CASES_PER_CHANNEL_PER_HOUR", 60)
