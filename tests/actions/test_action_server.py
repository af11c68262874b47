"""The real action server, started as Rasa starts it, answering over HTTP on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from knowledge.settings import PROJECT_ROOT
from tests.conftest import free_port


@pytest.fixture
def action_server(kb_url: str):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": kb_url, "SANIC_HOST": "127.0.0.1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("action server did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _call(url: str, action: str, text: str, intent: str) -> httpx.Response:
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "intent_ranking": [{"name": intent, "confidence": 0.9}],
        "entities": [],
    }
    payload = {
        "next_action": action,
        "sender_id": "http-test",
        "version": "3.6.21",
        "domain": {},
        "tracker": {
            "sender_id": "http-test",
            "slots": {},
            "latest_message": latest,
            "events": [{"event": "user", "text": text, "parse_data": latest}],
            "paused": False,
            "latest_input_channel": "rest",
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
    }
    return httpx.post(f"{url}/webhook", json=payload, timeout=30)


def test_action_server_answers_with_the_link(action_server: str) -> None:
    response = _call(action_server, "action_answer_service", "pothole on Elm Road", "svc_roads_pothole")
    assert response.status_code == 200
    texts = [r["text"] for r in response.json()["responses"]]
    assert any("https://www.northshire.gov.uk/roads/report-a-pothole" in t for t in texts)


def test_action_server_lists_our_actions(action_server: str) -> None:
    names = {a["name"] for a in httpx.get(f"{action_server}/actions", timeout=10).json()}
    assert {
        "action_answer_service",
        "action_redirect",
        "action_crisis",
        "action_kb_fallback",
        "action_human_handoff",
        "action_out_of_scope",
    } <= names


def test_unknown_action_is_an_error_not_a_crash(action_server: str) -> None:
    response = _call(action_server, "action_does_not_exist", "hi", "greet")
    assert response.status_code == 404
    assert _call(action_server, "action_crisis", "help", "crisis").status_code == 200
