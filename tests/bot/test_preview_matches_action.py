"""The editors' preview shows exactly what the action would send the resident: the same text (notices, bin
type, the aspect asked), the same buttons, and the same handover line (with a stand-in for the reference,
as the preview opens no case). The model's reading comes from a local fake of Rasa's `/parse` route."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Optional

import pytest
from sqlalchemy import func, select

from actions.services import ActionAnswerService
from bot.console import preview as previews
from knowledge.catalogue import editing, notices
from knowledge.db import session_scope
from knowledge.models import Case, Service, UnansweredQuestion
from knowledge.service_reply import REFERENCE_PLACEHOLDER
from tests.actions.helpers import run, tracker
from tests.conftest import free_port

READINGS: dict[str, dict[str, Any]] = {}  # question -> what the fake model makes of it


class FakeParse(BaseHTTPRequestHandler):
    """Rasa's internal /parse route: the reading set for the question, in the route's JSON shape."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        data = json.dumps(READINGS[body["text"]]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def rasa() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", free_port()), FakeParse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def preview_of(
    kb_url: str,
    question: str,
    intent: str,
    confidence: float,
    entities: list[dict[str, Any]],
    key: str,
    change: Optional[Callable[[dict[str, Any]], None]] = None,
) -> previews.Preview:
    """The preview for `question` while editing service `key` (its published values as the draft)."""
    READINGS[question] = {
        "intent": intent,
        "confidence": confidence,
        "entities": [{"entity": e["entity"], "value": e["value"]} for e in entities],
    }
    with session_scope(kb_url) as session:
        svc = session.execute(select(Service).where(Service.key == key)).scalar_one()
        draft = {name: getattr(svc, name) for name in editing.EDITABLE}
    if change:
        change(draft)

    async def in_db(work: Callable[[Any], Any]) -> Any:
        with session_scope(kb_url) as session:
            return work(session)

    return asyncio.run(previews.make(question, draft, key, in_db))


def assert_same(
    kb_url: str,
    question: str,
    intent: str,
    key: str,
    entities: Optional[list[dict[str, Any]]] = None,
    confidence: float = 0.95,
    sender: str = "resident",
) -> tuple[previews.Preview, list[dict]]:
    entities = entities or []
    shown = preview_of(kb_url, question, intent, confidence, entities, key)
    sent = run(
        ActionAnswerService(), tracker(question, intent, confidence=confidence, entities=entities, sender=sender)
    )
    assert shown.problem is None
    assert shown.reply == sent[0]["text"]
    assert shown.buttons == [b["title"] for b in sent[0].get("buttons") or []]
    handover = [re.sub(r"NC-\d{4}-\d{6}", REFERENCE_PLACEHOLDER, m["text"]) for m in sent[1:]]
    assert handover == ([shown.handover] if shown.handover else [])
    return shown, sent


def test_a_notice_in_force_leads_both(kb_url: str, rasa: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RASA_URL", rasa)
    now = dt.datetime.utcnow()
    with session_scope(kb_url) as session:
        for area, title in ((None, "Gritting tonight"), ("NB7", "Road closed in NB7")):
            notices.create(
                session,
                "editor",
                {
                    "title": title,
                    "body": "Gritters are out from 6pm.",
                    "area": area,
                    "service_keys": ["roads.gritting"],
                    "starts_at": now - dt.timedelta(hours=1),
                    "ends_at": now + dt.timedelta(hours=10),
                },
            )
    shown, _ = assert_same(
        kb_url,
        "are the roads being gritted, i'm in nb1 2ab",
        "svc_roads_gritting",
        "roads.gritting",
        [{"entity": "postcode", "value": "nb1 2ab", "start": 0, "end": 7}],
    )
    assert shown.reply.startswith("Notice: Gritting tonight.") and "NB7" not in shown.reply
    assert shown.uses_draft and shown.handover is None


def test_always_a_person_shows_the_handover_line(kb_url: str, rasa: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RASA_URL", rasa)
    shown, _ = assert_same(kb_url, "i'm being evicted next week", "svc_housing_homeless", "housing.homeless")
    assert shown.handover and "passed this to our team" in shown.handover
    with session_scope(kb_url) as session:  # one case, opened by the action; none by the preview
        assert session.execute(select(func.count(Case.id))).scalar_one() == 1


def test_safeguarding_handover_is_urgent_in_both(kb_url: str, rasa: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RASA_URL", rasa)
    shown, _ = assert_same(
        kb_url, "worried my elderly neighbour is being neglected", "svc_safeguarding_adult", "safeguarding.adult"
    )
    assert shown.handover and "999" in shown.handover


def test_bin_type_entity_names_the_bin_in_both(kb_url: str, rasa: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RASA_URL", rasa)
    shown, _ = assert_same(
        kb_url,
        "recycling not collected",
        "svc_bins_missed",
        "bins.missed",
        [{"entity": "bin_type", "value": "recycling", "start": 0, "end": 9}],
    )
    assert "(recycling bin)" in shown.reply


def test_the_aspect_asked_is_answered_in_both(kb_url: str, rasa: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RASA_URL", rasa)
    with session_scope(kb_url) as session:
        cost = session.execute(select(Service.cost).where(Service.key == "bins.garden")).scalar_one()
    shown, _ = assert_same(kb_url, "how much is the garden waste bin", "svc_bins_garden", "bins.garden")
    assert cost.strip() in shown.reply


def test_low_confidence_is_flagged_for_editors_in_both(kb_url: str, rasa: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RASA_URL", rasa)
    shown, _ = assert_same(kb_url, "bin thing", "svc_bins_missed", "bins.missed", confidence=0.4)
    assert shown.unanswered
    with session_scope(kb_url) as session:  # the action noted it; the preview didn't
        assert session.execute(select(func.count(UnansweredQuestion.id))).scalar_one() == 1


def test_a_retired_service_offers_the_same_buttons(kb_url: str, rasa: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RASA_URL", rasa)
    with session_scope(kb_url) as session:
        session.execute(select(Service).where(Service.key == "roads.pothole")).scalar_one().active = False
    shown, sent = assert_same(kb_url, "pothole on my road", "svc_roads_pothole", "bins.missed")
    assert shown.buttons and "0300 123 4567" in shown.reply


def test_the_draft_is_what_the_preview_shows(kb_url: str, rasa: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RASA_URL", rasa)

    def always_a_person(draft: dict[str, Any]) -> None:
        draft.update(summary="A draft summary.", always_human=True)

    shown = preview_of(kb_url, "pothole on my road", "svc_roads_pothole", 0.9, [], "roads.pothole", always_a_person)
    assert "A draft summary." in shown.reply and shown.handover and shown.uses_draft
    with session_scope(kb_url) as session:  # nothing saved, no case
        assert session.execute(select(func.count(Case.id))).scalar_one() == 0
        assert (
            "A draft summary."
            not in session.execute(select(Service.summary).where(Service.key == "roads.pothole")).scalar_one()
        )
