"""Retraining from the command line while residents keep writing: `councilbot train --force --swap` trains
a new model and the running bot swaps it in; every message sent meanwhile gets an answer, none is lost."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from knowledge.settings import PROJECT_ROOT
from tests.e2e import residents
from tests.e2e.conftest import running_bot

pytestmark = pytest.mark.e2e
POTHOLE = "https://www.northshire.gov.uk/roads/report-a-pothole"


def test_retrain_while_messages_keep_arriving(model: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    started_model = models / model.name
    started_model.write_bytes(model.read_bytes())
    with running_bot(started_model, tmp_path, env={"COUNCILBOT_MODELS_DIR": str(models)}) as stack:
        results: list[tuple[int, str]] = []
        stop = threading.Event()

        def keep_writing() -> None:
            while not stop.is_set():
                reply = residents.post(stack.webhook_url, f"r-{uuid.uuid4().hex[:8]}", "there's a pothole on Mill Lane")
                results.append(
                    (
                        reply.status_code,
                        " ".join(m.get("text") or "" for m in reply.json()) if reply.status_code == 200 else reply.text,
                    )
                )
                time.sleep(0.3)

        writer = threading.Thread(target=keep_writing, daemon=True)
        writer.start()
        env = {
            **os.environ,
            "COUNCILBOT_MODELS_DIR": str(models),
            "DATABASE_URL": stack.kb_url,
            "RASA_URL": stack.rasa_url,
            "COUNCILBOT_INTERNAL_TOKEN": stack.env["COUNCILBOT_INTERNAL_TOKEN"],
        }
        done = subprocess.run(
            [sys.executable, "-m", "bot.cli", "train", "--force", "--swap"],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        time.sleep(2)  # a few messages on the new model
        stop.set()
        writer.join(timeout=60)

    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "now answers with" in done.stdout
    assert len(results) >= 20
    assert [r for r in results if r[0] != 200 or POTHOLE not in r[1]] == []


def test_swap_route_refuses_without_the_internal_token(model: Path, tmp_path: Path) -> None:
    import httpx

    with running_bot(model, tmp_path) as stack:
        url = f"{stack.rasa_url}/webhooks/rest/model"
        assert httpx.post(url, json={"model": str(model)}, timeout=10).status_code == 404
        assert (
            httpx.post(url, json={"model": str(model)}, headers={"X-Internal-Token": "guess"}, timeout=10).status_code
            == 404
        )
        token = {"X-Internal-Token": stack.env["COUNCILBOT_INTERNAL_TOKEN"]}
        assert httpx.post(url, json={"model": "/etc/passwd"}, headers=token, timeout=10).status_code == 400
        # A real model, but outside the models folder: refused, so a token alone can't load arbitrary files.
        outside = tmp_path / "elsewhere.tar.gz"
        outside.write_bytes(model.read_bytes())
        assert httpx.post(url, json={"model": str(outside)}, headers=token, timeout=10).status_code == 400
        assert (
            httpx.post(
                url, json={"model": str(model.parent / ".." / "models" / model.name / "..")}, headers=token, timeout=10
            ).status_code
            == 400
        )
