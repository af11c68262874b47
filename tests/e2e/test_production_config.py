"""The production configuration: PostgreSQL knowledge base and tracker store, Redis lock store."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from bot.stack import BotStack
from tests.e2e.conftest import stack_settings
from tests.fakes import payloads
from tests.fakes.platform import FakePlatform, send_meta

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]
POTHOLE = "https://www.northshire.gov.uk/roads/report-a-pothole"


def test_bot_runs_on_postgres_and_redis(
    model: Path, postgres_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from knowledge.catalogue.content import load
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
        psid = f"pg-psid-{uuid.uuid4().hex[:8]}"
        with FakePlatform() as fake:
            env = {
                "META_APP_SECRET": "s3cret",
                "META_VERIFY_TOKEN": "v",
                "META_PAGE_ACCESS_TOKEN": "t",
                "META_GRAPH_URL": fake.url,
            }
            with BotStack(model, settings, log_dir=tmp_path, env=env) as bot:
                reply = httpx.post(
                    bot.webhook_url, json={"sender": sender, "message": "pothole outside my house"}, timeout=60
                ).json()
                assert any(POTHOLE in m.get("text", "") for m in reply)
                # A Messenger message delivered twice: stored and deduplicated in PostgreSQL, answered once.
                delivery = payloads.messenger(psid, "pothole outside my house", mid=f"m_{psid}")
                for _ in range(2):
                    assert send_meta(f"{bot.rasa_url}/webhooks/meta/webhook", "s3cret", delivery).status_code == 200
                calls = fake.settle(at_least=1)
                assert len(calls) == 1 and POTHOLE in calls[0].body["message"]["text"]
        with admin.connect() as conn:
            stored = conn.execute(
                text("SELECT count(*) FROM public.events WHERE sender_id = :s"), {"s": f"rest:{sender}"}
            )
            assert stored.scalar_one() > 0
            seen = (
                conn.execute(
                    text(f"SELECT status FROM {schema}.inbound_events WHERE delivery_key = :k"),
                    {"k": f"messenger:m_{psid}"},
                )
                .scalars()
                .all()
            )
            assert seen == ["done"]
    finally:
        from knowledge.db import get_engine

        get_engine(kb_url).dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()
