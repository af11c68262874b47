"""The danger net in the Rasa pipeline wins over whatever the classifier or fallback decided, carries the
kind of danger, and takes away a `crisis` guess it doesn't back (so ordinary questions never open urgent
cases). The Welsh detector answers Welsh honestly instead of misreading it."""

from __future__ import annotations

from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.danger import DangerNet
from bot.nlu.language import WelshDetector


def _message(text: str, *ranking: tuple[str, float]) -> Message:
    msg = Message(data={TEXT: text})
    msg.set(INTENT, {"name": ranking[0][0], "confidence": ranking[0][1]}, add_to_output=True)
    msg.set(INTENT_RANKING_KEY, [{"name": n, "confidence": c} for n, c in ranking], add_to_output=True)
    return msg


def _net(danger_model) -> DangerNet:
    return DangerNet(DangerNet.get_default_config(), None, None, classifier=danger_model)  # type: ignore[arg-type]


def test_danger_overrides_a_confident_service_intent_and_keeps_the_ranking(danger_model) -> None:
    [msg] = _net(danger_model).process(
        [_message("bins missed again and i want to end my life", ("svc_bins_missed", 0.97), ("svc_bins_new_bin", 0.02))]
    )
    assert msg.get(INTENT) == {"name": "crisis", "confidence": 1.0}
    assert [r["name"] for r in msg.get(INTENT_RANKING_KEY)] == ["crisis", "svc_bins_missed", "svc_bins_new_bin"]
    assert msg.get("danger")["kind"] == "suicide"


def test_danger_overrides_the_fallback(danger_model) -> None:
    [msg] = _net(danger_model).process([_message("my mum has collapsed and isnt breathing", ("nlu_fallback", 0.35))])
    assert msg.get(INTENT)["name"] == "crisis"
    assert msg.get("danger")["kind"] == "medical"


def test_an_unbacked_crisis_guess_becomes_the_next_intent(danger_model) -> None:
    [msg] = _net(danger_model).process(
        [_message("can I get a single person discount on council tax", ("crisis", 0.51), ("svc_ctax_discounts", 0.40))]
    )
    assert msg.get(INTENT)["name"] == "svc_ctax_discounts"
    assert "crisis" not in [r["name"] for r in msg.get(INTENT_RANKING_KEY)]
    assert msg.get("danger") is None


def test_ordinary_message_is_left_alone(danger_model) -> None:
    [msg] = _net(danger_model).process([_message("these potholes are killing me", ("svc_roads_pothole", 0.8))])
    assert msg.get(INTENT) == {"name": "svc_roads_pothole", "confidence": 0.8}


def test_without_its_classifier_the_lexicon_still_decides() -> None:
    net = DangerNet(DangerNet.get_default_config(), None, None, classifier=None)  # type: ignore[arg-type]
    [msg] = net.process([_message("there's a strong smell of gas in the flat", ("svc_housing_repairs", 0.9))])
    assert msg.get("danger")["kind"] == "gas"


def test_welsh_is_recognised_and_english_is_not() -> None:
    [welsh, english] = WelshDetector().process(
        [
            _message("Pryd mae fy miniau yn cael eu casglu yr wythnos yma?", ("svc_bins_collection_day", 0.4)),
            _message("when are my bins collected on Heol y Parc", ("svc_bins_collection_day", 0.9)),
        ]
    )
    assert welsh.get(INTENT)["name"] == "language_welsh"
    assert english.get(INTENT)["name"] == "svc_bins_collection_day"


def test_the_danger_found_is_plain_json_for_the_tracker(danger_model) -> None:
    """Rasa stores parse data as JSON: numpy types from the classifier would lose the whole turn."""
    import json

    for text in ("everyone would be better off if i just wasnt here", "i think i'll skip the library today"):
        [msg] = _net(danger_model).process([_message(text, ("svc_libraries", 0.5))])
        json.dumps(msg.as_dict(only_output_properties=True))
    found = danger_model.assess("everyone would be better off if i just wasnt here")
    assert found is not None and type(found.urgent) is bool and type(found.score) is float


def test_in_welsh_only_the_lexicon_raises_an_alarm(danger_model) -> None:
    net = _net(danger_model)
    [ordinary, danger] = net.process(
        [
            _message("Pryd mae fy miniau yn cael eu casglu os gwelwch yn dda?", ("language_welsh", 1.0)),
            _message("Dw i eisiau marw, does dim pwynt", ("language_welsh", 1.0)),
        ]
    )
    assert ordinary.get(INTENT)["name"] == "language_welsh"
    assert ordinary.get("danger") is None or ordinary.get("danger")["urgent"] is False
    assert danger.get(INTENT)["name"] == "crisis" and danger.get("danger")["kind"] == "suicide"
