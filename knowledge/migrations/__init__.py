"""Alembic migrations for the knowledge base; run with `councilbot db upgrade` (or `kb load`, which upgrades first)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from alembic import command
from alembic.config import Config

from knowledge.settings import database_url

MIGRATIONS_DIR = Path(__file__).resolve().parent


def alembic_config(url: Optional[str] = None) -> Config:
    """An Alembic config built in code, so no alembic.ini has to sit in the working directory."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' is Alembic's interpolation character; a password may contain it.
    cfg.set_main_option("sqlalchemy.url", (url or database_url()).replace("%", "%%"))
    return cfg


def upgrade(url: Optional[str] = None, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision`."""
    command.upgrade(alembic_config(url), revision)
