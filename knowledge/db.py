"""Engine and session factory. One engine per URL per process; sessions are short-lived."""

from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator, Optional

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from knowledge.settings import database_url


def get_engine(url: Optional[str] = None) -> Engine:
    """Engine for `url` (default: `DATABASE_URL`, read now, not at import). SQLite gets WAL so the
    action server can read while an editor writes."""
    return _engine_for(url or database_url())


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    # hide_parameters: a database error would otherwise put the statement's values (a resident's message,
    # their platform id) into the exception text and so into the logs.
    engine = create_engine(url, future=True, pool_pre_ping=True, hide_parameters=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()

    return engine


@contextmanager
def session_scope(url: Optional[str] = None) -> Iterator[Session]:
    """A transaction: commits on success, rolls back on error."""
    factory = sessionmaker(bind=get_engine(url), future=True, expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
