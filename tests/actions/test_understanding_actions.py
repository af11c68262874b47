"""The actions behind understanding: the danger answer by kind (and a service asked alongside), the numbers
added when the danger net is unsure, follow-ups answered from the conversation's slots, Welsh, and an
editor's example question for a topic the model has never seen."""

from __future__ import annotations

import datetime as dt

import yaml

from actions.conversation import ActionWelsh
from actions.safety import ActionCrisis
from actions.services import ActionAnswerService
from knowledge import answers
from knowledge.catalogue import editing
from knowledge.db import session_scope
from knowledge.models import Case
from knowledge.settings import PROJECT_ROOT
from tests.actions.helpers import run, run_with_events, tracker

DOMAIN = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))


def _svc(kb_url: str, key: str):
    with session_scope(kb_url) as session:
        svc = answers.service(session, key)
        session.expunge(svc)
        return svc


def test_danger_answer_leads_with_the_kind_then_the_service_also_asked(kb_url: str) -> None:
    t = tracker(
        "gas smell in the hall and when is my bin day",
        "crisis",
        1.0,
        ranking=[{"name": "crisis", "confidence": 1.0}, {"name": "svc_bins_collection_day", "confidence": 0.8}],
        danger={"kind": "gas", "score": 1.0, "source": "lexicon", "urgent": True},
        sender="gas-1",
    )
    messages = run(ActionCrisis(), t)
    assert "0800 111 999" in messages[0]["text"].splitlines()[0]
    assert _svc(kb_url, "bins.collection_day").url in messages[1]["text"]
    with session_scope(kb_url) as session:
        case = session.query(Case).filter_by(conversation_id="gas-1").one()
        assert case.priority == "urgent"


def test_a_weak_service_guess_is_not_added_to_a_danger_answer(kb_url: str) -> None:
    t = tracker(
        "my dad has collapsed",
        "crisis",
        1.0,
        ranking=[{"name": "crisis", "confidence": 1.0}, {"name": "svc_env_pests", "confidence": 0.2}],
        danger={"kind": "medical", "urgent": True},
    )
    messages = run(ActionCrisis(), t)
    assert messages[0]["text"].startswith("Call 999 now and ask for an ambulance")
    assert not any("pest" in m["text"].lower() for m in messages)


def test_unsure_danger_net_adds_the_numbers_and_opens_no_case(kb_url: str) -> None:
    t = tracker(
        "I won't be needing the garden waste bin after this month",
        "svc_bins_garden",
        0.7,
        danger={"kind": "suicide", "score": 0.2, "source": "model", "urgent": False},
        sender="uneasy-1",
    )
    [message] = run(ActionAnswerService(), t, DOMAIN)
    assert _svc(kb_url, "bins.garden").url in message["text"]
    with session_scope(kb_url) as session:
        assert message["text"].endswith(answers.caution_line(answers.council(session)))
    with session_scope(kb_url) as session:
        assert session.query(Case).filter_by(conversation_id="uneasy-1").count() == 0


def test_an_ordinary_answer_has_no_numbers_added(kb_url: str) -> None:
    [message] = run(ActionAnswerService(), tracker("bin not emptied", "svc_bins_missed"), DOMAIN)
    assert "Samaritans" not in message["text"]


def test_follow_up_cost_answers_the_last_service_from_its_cost_field(kb_url: str) -> None:
    garden = _svc(kb_url, "bins.garden")
    messages, events = run_with_events(
        ActionAnswerService(), tracker("how much is it", "ask_cost", 0.9, slots={"last_service": "bins.garden"}), DOMAIN
    )
    assert garden.url in messages[0]["text"] and garden.cost.strip() in messages[0]["text"]
    assert {"event": "slot", "name": "last_service", "value": "bins.garden", "timestamp": None} in events
    assert {"event": "slot", "name": "last_aspect", "value": "cost", "timestamp": None} in events


def test_same_for_another_service_keeps_the_aspect(kb_url: str) -> None:
    leisure = _svc(kb_url, "leisure")
    [message] = run(
        ActionAnswerService(),
        tracker(
            "same for the leisure centre?",
            "svc_leisure",
            0.8,
            slots={"last_service": "libraries", "last_aspect": "timing"},
        ),
        DOMAIN,
    )
    assert leisure.url in message["text"] and leisure.timing.strip() in message["text"]


def test_the_other_bin_after_a_missed_general_waste_bin(kb_url: str) -> None:
    [message] = run(
        ActionAnswerService(),
        tracker(
            "what about the other one",
            "followup_other",
            0.8,
            slots={"last_service": "bins.missed", "last_bin_type": "general"},
        ),
        DOMAIN,
    )
    assert _svc(kb_url, "bins.missed").url in message["text"] and "recycling bin" in message["text"]


def test_a_follow_up_with_nothing_before_it_offers_choices(kb_url: str) -> None:
    [message] = run(ActionAnswerService(), tracker("how much is it", "ask_cost", 0.9), DOMAIN)
    assert "0300 123 4567" in message["text"]


def test_welsh_gets_welsh_and_english_with_the_phone(kb_url: str) -> None:
    [message] = run(ActionWelsh(), tracker("Pryd mae'r biniau'n cael eu casglu?", "language_welsh", 1.0))
    assert "Gymraeg" in message["text"] and "Welsh" in message["text"] and "0300 123 4567" in message["text"]


def test_a_new_topic_example_wins_over_the_models_guess_but_not_over_a_trained_service(kb_url: str) -> None:
    with session_scope(kb_url) as session:
        editing.publish_service(
            session,
            "editor",
            {
                "key": "community.warm_spaces",
                "title": "Warm spaces",
                "url": "https://www.northshire.gov.uk/warm-spaces",
                "category": "community",
                "summary": "Warm places to spend the day.",
                "what_you_need": [],
                "phone": "0300 123 4567",
                "eligibility": "Anyone.",
                "cost": "Free.",
                "timing": "10am to 4pm.",
                "synonyms": ["warm space"],
                "examples": ["is there a warm space near me I can sit in"],
                "owner": "Communities",
                "review_by": dt.date(2027, 3, 31),
                "always_human": False,
            },
            0,
            "winter",
        )
        libraries = answers.service(session, "libraries")
        libraries_values = {n: getattr(libraries, n) for n in editing.EDITABLE}
        libraries_values["examples"] = ["is the library open on sundays"]
        editing.publish_service(session, "editor", libraries_values, libraries.version, "examples")
    [warm] = run(
        ActionAnswerService(), tracker("is there a warm space near me where i can sit", "svc_libraries", 0.6), DOMAIN
    )
    assert "warm-spaces" in warm["text"]
    [tip] = run(ActionAnswerService(), tracker("is the tip open on sundays", "svc_bins_recycling_centres", 0.7), DOMAIN)
    assert _svc(kb_url, "bins.recycling_centres").url in tip["text"]


def test_a_follow_up_the_model_could_not_place_answers_the_last_service(kb_url: str) -> None:
    from actions.fallback import ActionKnowledgeFallback

    t = tracker(
        "and the recycling?",
        "nlu_fallback",
        0.3,
        ranking=[{"name": "nlu_fallback", "confidence": 0.3}, {"name": "svc_bins_what_goes_where", "confidence": 0.2}],
        entities=[{"entity": "bin_type", "value": "recycling"}],
        slots={"last_service": "bins.collection_day", "last_aspect": "timing", "last_bin_type": "general"},
    )
    [message] = run(ActionKnowledgeFallback(), t, DOMAIN)
    day = _svc(kb_url, "bins.collection_day")
    assert day.url in message["text"] and "(recycling bin)" in message["text"] and day.timing.strip() in message["text"]


def test_a_follow_up_naming_another_service_keeps_the_question(kb_url: str) -> None:
    from actions.fallback import ActionKnowledgeFallback

    t = tracker(
        "and the tip?",
        "nlu_fallback",
        0.3,
        ranking=[
            {"name": "nlu_fallback", "confidence": 0.3},
            {"name": "svc_bins_recycling_centres", "confidence": 0.28},
        ],
        slots={"last_service": "libraries", "last_aspect": "timing"},
    )
    [message] = run(ActionKnowledgeFallback(), t, DOMAIN)
    tip = _svc(kb_url, "bins.recycling_centres")
    assert tip.url in message["text"] and tip.timing.strip() in message["text"]


def test_an_unsure_redirect_in_a_follow_up_answers_the_last_service(kb_url: str) -> None:
    from actions.services import ActionRedirect

    t = tracker(
        "we're on universal credit, do we qualify", "redirect_govuk", 0.55, slots={"last_service": "schools.free_meals"}
    )
    [message] = run(ActionRedirect(), t, DOMAIN)
    meals = _svc(kb_url, "schools.free_meals")
    assert meals.url in message["text"] and meals.eligibility.strip() in message["text"]
    [sure] = run(
        ActionRedirect(),
        tracker("how do I renew my passport", "redirect_govuk", 0.95, slots={"last_service": "schools.free_meals"}),
        DOMAIN,
    )
    assert "gov.uk" in sure["text"] and meals.url not in sure["text"]


def test_a_question_in_another_sentence_is_answered_after_the_danger_lines(kb_url: str) -> None:
    t = tracker(
        "My neighbour has collapsed and isn't breathing. Also when is my bin collection day?",
        "crisis",
        1.0,
        ranking=[{"name": "crisis", "confidence": 1.0}, {"name": "svc_asc_telecare", "confidence": 0.2}],
        danger={"kind": "medical", "urgent": True},
    )
    messages = run(ActionCrisis(), t)
    assert messages[0]["text"].startswith("Call 999 now and ask for an ambulance")
    assert _svc(kb_url, "bins.collection_day").url in messages[1]["text"]
