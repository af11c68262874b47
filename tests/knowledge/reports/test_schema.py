"""Migration 0014 builds exactly the report tables the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from knowledge.migrations import upgrade
from knowledge.models import Base

REPORT_TABLES = {
    "reports",
    "report_residents",
    "report_updates",
    "report_notifications",
    "report_photos",
    "report_drafts",
    "sync_cursors",
}


def _tables_in(diff: object) -> set[str]:
    """Table names a compare_metadata difference is about (nested lists for column changes)."""
    found: set[str] = set()
    items = diff if isinstance(diff, list) else [diff]
    for item in items:
        for part in item if isinstance(item, tuple) else ():
            name = getattr(part, "name", None)
            table = getattr(part, "table", None)
            if table is not None and getattr(table, "name", None):
                found.add(table.name)
            elif isinstance(part, str) and part in REPORT_TABLES:
                found.add(part)
            elif name in REPORT_TABLES:
                found.add(name)
    return found


def test_upgrade_head_on_an_empty_database_gives_the_models_report_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    upgrade(url)
    engine = create_engine(url, future=True)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    about_reports = [d for d in diffs if _tables_in(d) & REPORT_TABLES]
    assert about_reports == []
