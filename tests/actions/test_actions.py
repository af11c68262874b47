"""Actions answer from the knowledge base: right link, live edits, fallbacks that are never dead ends."""

from __future__ import annotations

from sqlalchemy import select

from actions.conversation import ActionHumanHandoff, ActionOutOfScope
from actions.fallback import ActionKnowledgeFallback
from actions.safety import ActionCrisis
from actions.services import ActionAnswerService, ActionRedirect
from knowledge.db import session_scope
from knowledge.models import Service
from tests.actions.helpers import run, tracker

MISSED_BIN = "https://www.northshire.gov.uk/bins/report-missed-collection"


def test_service_answer_has_link_summary_and_phone(kb_url: str) -> None:
    [msg] = run(ActionAnswerService(), tracker("bins not collected AGAIN", "svc_bins_missed"))
    assert MISSED_BIN in msg["text"]
    assert "0300 123 4567" in msg["text"]
    assert msg["text"].startswith("Report a missed bin collection")
    assert len(msg["text"]) < 500  # fits a phone screen


def test_every_service_intent_answers_with_its_own_url(kb_url: str) -> None:
    from knowledge.intents import intent_for_service

    with session_scope(kb_url) as session:
        services = [(s.key, s.url) for s in session.execute(select(Service)).scalars()]
    for key, url in services:
        [msg] = run(ActionAnswerService(), tracker("x", intent_for_service(key)))
        assert url in msg["text"], key


def test_an_edit_shows_on_the_next_message(kb_url: str) -> None:
    with session_scope(kb_url) as session:
        svc = session.execute(select(Service).where(Service.key == "roads.pothole")).scalar_one()
        svc.summary = "Potholes are now fixed within 3 days."
    [msg] = run(ActionAnswerService(), tracker("pothole", "svc_roads_pothole"))
    assert "fixed within 3 days" in msg["text"]


def test_bin_type_entity_shapes_the_answer(kb_url: str) -> None:
    t = tracker("recycling not collected", "svc_bins_missed",
                entities=[{"entity": "bin_type", "value": "recycling", "start": 0, "end": 9}])
    [msg] = run(ActionAnswerService(), t)
    assert "(recycling bin)" in msg["text"] and MISSED_BIN in msg["text"]


def test_retired_service_offers_alternatives(kb_url: str) -> None:
    with session_scope(kb_url) as session:
        session.execute(select(Service).where(Service.key == "roads.pothole")).scalar_one().active = False
    [msg] = run(ActionAnswerService(), tracker("pothole on my road", "svc_roads_pothole"))
    assert "report-a-pothole" not in msg["text"]
    assert "0300 123 4567" in msg["text"]


def test_redirect_answers_from_the_database(kb_url: str) -> None:
    [msg] = run(ActionRedirect(), tracker("need a gp appointment", "redirect_nhs"))
    assert "https://www.nhs.uk" in msg["text"] and "111" in msg["text"]
    [msg] = run(ActionRedirect(), tracker("power cut on our street", "redirect_power_cut"))
    assert "105" in msg["text"]


def test_crisis_gives_999_samaritans_and_out_of_hours(kb_url: str) -> None:
    [msg] = run(ActionCrisis(), tracker("i can't cope any more", "crisis"))
    assert "999" in msg["text"] and "116 123" in msg["text"] and "0300 123 9999" in msg["text"]


def test_crisis_still_answers_when_database_is_down(monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "sqlite:////nonexistent/dir/kb.db")
    [msg] = run(ActionCrisis(), tracker("help", "crisis"))
    assert "999" in msg["text"] and "116 123" in msg["text"]


def test_fallback_offers_up_to_three_services_and_a_phone(kb_url: str) -> None:
    # The model leans to fly-tipping, the text search to bulky waste: they disagree, so offer both.
    ranking = [{"name": "nlu_fallback", "confidence": 0.45}, {"name": "svc_env_fly_tipping", "confidence": 0.3},
               {"name": "svc_bins_bulky", "confidence": 0.25}, {"name": "svc_parks", "confidence": 0.05}]
    [msg] = run(ActionKnowledgeFallback(), tracker("old sofa dumped", "nlu_fallback", 0.45, ranking))
    payloads = [b["payload"] for b in msg["buttons"]]
    assert 1 <= len(payloads) <= 3
    assert "/svc_bins_bulky" in payloads and "/svc_env_fly_tipping" in payloads
    assert "/svc_parks" not in payloads  # too unlikely to offer
    assert "0300 123 4567" in msg["text"]


def test_fallback_answers_directly_when_search_and_model_agree(kb_url: str) -> None:
    ranking = [{"name": "nlu_fallback", "confidence": 0.45}, {"name": "svc_roads_pothole", "confidence": 0.4}]
    [msg] = run(ActionKnowledgeFallback(), tracker("pothole", "nlu_fallback", 0.45, ranking))
    assert "https://www.northshire.gov.uk/roads/report-a-pothole" in msg["text"]


def test_second_fallback_in_a_row_offers_a_person(kb_url: str) -> None:
    t = tracker("wibble", "nlu_fallback", 0.2, previous_intents=("nlu_fallback",))
    [msg] = run(ActionKnowledgeFallback(), t)
    assert "To talk to a person" in msg["text"]
    [first] = run(ActionKnowledgeFallback(), tracker("wibble", "nlu_fallback", 0.2))
    assert "To talk to a person" not in first["text"]


def test_asking_for_a_person_gets_phone_and_hours(kb_url: str) -> None:
    [msg] = run(ActionHumanHandoff(), tracker("can I speak to a human", "human_handoff"))
    assert "0300 123 4567" in msg["text"] and "Monday to Friday" in msg["text"]
    assert "reference number" in msg["text"]


def test_out_of_scope_is_polite_and_offers_a_way_out(kb_url: str) -> None:
    [msg] = run(ActionOutOfScope(), tracker("who will win the football", "out_of_scope"))
    assert "0300 123 4567" in msg["text"]


def test_database_failure_still_gets_a_reply_without_details(monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "sqlite:////nonexistent/dir/kb.db")
    [msg] = run(ActionAnswerService(), tracker("pothole", "svc_roads_pothole"))
    assert "went wrong on our side" in msg["text"] and "Traceback" not in msg["text"]
