"""Engine and session factory. One engine per URL per process; sessions are short-lived."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Optional

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
    hide_values_in_errors(engine)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()

    return engine


def hide_values_in_errors(engine: Engine) -> None:
    """Keep only the first line of the database's own error message. `hide_parameters` drops the values we
    sent, but PostgreSQL adds its own DETAIL line with them ("Failing row contains (...)", "Key (id)=(...)
    already exists"): a resident's words and id. The first line still names the table, column or
    constraint, which is what debugging needs."""

    @event.listens_for(engine, "handle_error")
    def _first_line_only(context) -> None:  # noqa: ANN001 - SQLAlchemy's ExceptionContext
        for error in (context.original_exception, context.sqlalchemy_exception):
            if error is not None and len(error.args) == 1 and isinstance(error.args[0], str):
                error.args = (error.args[0].split("\n", 1)[0],)


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
