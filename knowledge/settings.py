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


def whole_number(name: str, default: int, what: str = "a whole number, 0 or more") -> int:
    """Setting `name` as a whole number 0 or more (`default` if unset); anything else stops with a clear
    error naming the setting, rather than a limit silently off."""
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()):  # isdigit alone lets '²' through to int(), which fails
        raise ValueError(f"{name} must be {what}, not {raw!r}")
    return int(raw)


def case_caps() -> tuple[int, int]:
    """(cases one conversation may open in 24 hours, cases one channel may open in an hour):
    CASES_PER_SENDER_PER_DAY (default 3) and CASES_PER_CHANNEL_PER_HOUR (default 60); 0 means no cap.
    Urgent cases (crisis, safeguarding) are opened whatever the caps say."""
    return whole_number("CASES_PER_SENDER_PER_DAY", 3), whole_number("CASES_PER_CHANNEL_PER_HOUR", 60)


# How long residents' data is kept (README "Residents' data"), in days; 0 keeps that kind for ever.
# Defaults follow a typical council retention schedule for contact records.
RETENTION_DEFAULTS = {
    "RETENTION_TRANSCRIPT_DAYS": 183,  # conversations, tracker events, case messages, attachments: 6 months
    "RETENTION_CASE_DAYS": 1096,       # cases, 3 years after they were resolved
    "RETENTION_UNANSWERED_DAYS": 90,   # questions the bot couldn't answer, kept for editors
}


def retention_days(name: str) -> int:
    """One of RETENTION_DEFAULTS from the environment: a whole number of days, 0 meaning keep for ever."""
    return whole_number(name, RETENTION_DEFAULTS[name], "a whole number of days (0 keeps for ever)")
