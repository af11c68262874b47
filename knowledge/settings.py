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
