"""`councilbot privacy erase | export | retention`, as the person answering a request runs them.

The `stores` fixture points DATABASE_URL and TRACKER_STORE_URL at a knowledge base and a tracker store
(SQLite, then PostgreSQL), which the commands open as the running bot would.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import main as councilbot
from knowledge.db import session_scope
from knowledge.models import PrivacyAudit
from tests.privacy_helpers import ANN_EMAIL, ANN_TEXTS, BOB_TEXTS, START, everything, populate, stores

__all__ = ["stores"]


def held(stores) -> str:  # noqa: ANN001
    return everything(stores.kb_url) + everything(stores.tracker_url)


def test_erase_dry_run_then_erase(stores, capsys: pytest.CaptureFixture) -> None:
    populate(stores)
    before = held(stores)
    assert councilbot(["privacy", "erase", "07700 900123", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Dry run: nothing was changed" in out
    assert "case_messages: 4 row(s) would go" in out and "tracker store: events" in out
    assert "900123" not in out  # output names the kind of identifier, never the identifier
    assert held(stores) == before

    assert councilbot(["privacy", "erase", "07700 900123", "--author", "dpo.smith"]) == 0
    assert councilbot(["privacy", "erase", ANN_EMAIL, "--author", "dpo.smith"]) == 0
    out = capsys.readouterr().out
    assert "Erased" in out and "conversations: 2 row(s) deleted" in out and ANN_EMAIL not in out
    after = held(stores)
    assert not any(t in after for t in (*ANN_TEXTS, "900123", ANN_EMAIL, ANN_EMAIL.upper()))
    assert all(t in after for t in BOB_TEXTS)
    with session_scope(stores.kb_url) as session:
        audit = session.execute(
            select(PrivacyAudit.action, PrivacyAudit.actor, PrivacyAudit.identifier_kind).order_by(PrivacyAudit.id)
        ).all()
    assert audit == [("erase", "dpo.smith", "phone"), ("erase", "dpo.smith", "email")]

    assert councilbot(["privacy", "erase", "07700 900123"]) == 0  # again: nothing left, no error
    assert "Nothing is held" in capsys.readouterr().out


def test_export_writes_a_new_file_and_never_overwrites(stores, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    refs = populate(stores)
    out = tmp_path / "request-42.json"
    assert councilbot(["privacy", "export", refs["ann"], "--out", str(out)]) == 0
    assert f"to {out}" in capsys.readouterr().out
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["cases"][0]["reference"] == refs["ann"]
    assert all(f"resident: {t}" in "\n".join(data["conversations"][0]["transcript"]) for t in ANN_TEXTS)
    assert not any(t in out.read_text(encoding="utf-8") for t in BOB_TEXTS)

    first = out.read_bytes()
    assert councilbot(["privacy", "export", refs["bob"], "--out", str(out)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == first


def test_retention_command(stores, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    # Questions asked 100 days ago are past the 90-day period; everything else was active today.
    populate(stores, at=START - dt.timedelta(days=100))
    assert councilbot(["privacy", "retention", "--dry-run"]) == 0
    assert "unanswered_questions: 3 row(s) would go" in capsys.readouterr().out
    assert councilbot(["privacy", "retention"]) == 0
    assert "Deleted 3 row(s)" in capsys.readouterr().out
    assert councilbot(["privacy", "retention"]) == 0
    assert "Deleted 0 row(s)" in capsys.readouterr().out
    monkeypatch.setenv("RETENTION_TRANSCRIPT_DAYS", "six months")
    assert councilbot(["privacy", "retention"]) == 1
    assert "RETENTION_TRANSCRIPT_DAYS must be a whole number of days" in capsys.readouterr().err


def test_unreadable_identifier_is_refused(stores, capsys: pytest.CaptureFixture) -> None:
    assert councilbot(["privacy", "erase", "NC-26-1", "--kind", "reference"]) == 1
    assert "A case reference looks like NC-2026-000123. Nothing was changed." in capsys.readouterr().err
