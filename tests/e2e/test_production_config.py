"""The production configuration: PostgreSQL knowledge base and tracker store, Redis lock store."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from bot.stack import BotStack
from tests.e2e.conftest import stack_settings

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]


def test_bot_runs_on_postgres_and_redis(model: Path, postgres_url: str, redis_url: str, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from knowledge.content import load
    from knowledge.db import session_scope
    from knowledge.migrations import upgrade
    from knowledge.settings import CONTENT_DIR

    schema = f"e2e_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_url, future=True)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    kb_url = f"{postgres_url}?options=-csearch_path%3D{schema}"
    try:
        monkeypatch.setenv("DATABASE_URL", kb_url)
        upgrade(kb_url)
        with session_scope(kb_url) as session:
            load(session, CONTENT_DIR)
        tracker_url = postgres_url.replace("+psycopg2", "")
        settings = stack_settings(tmp_path, tracker_store_url=tracker_url, redis_url=redis_url)
        sender = f"pg-{uuid.uuid4().hex[:10]}"
        with BotStack(model, settings, log_dir=tmp_path) as bot:
            reply = httpx.post(bot.webhook_url, json={"sender": sender, "message": "pothole outside my house"},
                               timeout=60).json()
            assert any("https://www.northshire.gov.uk/roads/report-a-pothole" in m.get("text", "") for m in reply)
        with admin.connect() as conn:
            stored = conn.execute(text("SELECT count(*) FROM public.events WHERE sender_id = :s"), {"s": sender})
            assert stored.scalar_one() > 0
    finally:
        from knowledge.db import get_engine

        get_engine(kb_url).dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()
