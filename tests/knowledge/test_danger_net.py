"""The danger net: every kind of danger is caught (by the reviewed lexicon, or by the classifier trained on
data/danger), ordinary messages that only sound like danger are not, and the reply leads with the line
for the kind. The messages here are written for these tests, not taken from any data file."""

from __future__ import annotations

from typing import Optional

import pytest

from knowledge import answers
from knowledge.danger.classifier import DangerClassifier, load_examples
from knowledge.danger.kinds import NOT_DANGER, Danger, DangerKind
from knowledge.danger.lexicon import DangerLexicon, default_lexicon, normalise

# (message, kind) written in residents' voices for these tests.
DANGERS = [
    ("honestly i'm going to kill myself tonight, nobody would notice", DangerKind.SUICIDE),
    ("been self-harming again and the urge is really bad", DangerKind.SUICIDE),
    ("I just want to die, I can't cope any more with any of it", DangerKind.SUICIDE),
    ("took all my tablets an hour ago", DangerKind.SUICIDE),
    ("my boyfriend is hitting me right now, he's locked me in the bedroom", DangerKind.DOMESTIC_ABUSE),
    ("i'm terrified to go home, he said he'll kill me", DangerKind.DOMESTIC_ABUSE),
    ("im 12 and my stepdad hits me when mum is at work", DangerKind.CHILD_HARM),
    ("there's a toddler alone on the balcony of the 4th floor flat", DangerKind.CHILD_HARM),
    ("the flat below is on fire and there's an old lady still inside", DangerKind.FIRE),
    ("smoke pouring out of the house on the corner, kids trapped upstairs", DangerKind.FIRE),
    ("really strong smell of gas in the stairwell of our block", DangerKind.GAS),
    ("the carbon monoxide alarm keeps going off and my daughter feels dizzy", DangerKind.GAS),
    ("a kid has fallen in the canal by the lock and can't get out", DangerKind.WATER),
    ("someone is drowning in the river near the bridge", DangerKind.WATER),
    ("van just hit a cyclist on the high street, he's not moving", DangerKind.COLLISION),
    ("my nan has collapsed in the kitchen and isn't responding", DangerKind.MEDICAL),
    ("my husband isn't breathing properly please help", DangerKind.MEDICAL),
    ("my dad's fallen and can't get up, he's 89", DangerKind.MEDICAL),
    ("a lad is waving a knife around outside the chippy", DangerKind.VIOLENCE),
    ("my neighbour is threatening to stab me, he's at my door", DangerKind.VIOLENCE),
]
# Ordinary council messages that only sound like danger.
HARD_NEGATIVES = [
    "these potholes are killing me, my suspension is wrecked",
    "dying for a brew after waiting on hold for an hour",
    "can someone book a fire safety check for my council flat",
    "I'd like a smoke alarm fitted please, I'm partially deaf",
    "I live alone and would like a personal alarm",
    "I'm drowning in bills, can I get help with council tax",
    "the landlord wants us out by the end of the month, can the council help us find somewhere",
    "the bin men will kill me if I put the wrong thing in the blue bin",
    "can I get a carbon monoxide detector for my council house",
    "there was a fire at the tip last month, is it open again",
    "the wall at the back of the park has collapsed onto the path",
    "the council tax bill nearly gave me a heart attack",
    "how do I register my mum's death",
    "the junction by the school is dangerous, someone will get hurt one day",
]


@pytest.mark.parametrize("text,kind", [(t, k) for t, k in DANGERS])
def test_danger_found_by_the_lexicon_or_the_classifier(
    text: str, kind: DangerKind, danger_model: DangerClassifier
) -> None:
    found: Optional[Danger] = default_lexicon().match(text) or danger_model.assess(text)
    assert found is not None, text


@pytest.mark.parametrize("text,kind", [(t, k) for t, k in DANGERS if default_lexicon().match(t) is not None])
def test_the_lexicon_names_the_right_kind(text: str, kind: DangerKind) -> None:
    assert default_lexicon().match(text).kind is kind


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negatives_raise_no_alarm(text: str, danger_model: DangerClassifier) -> None:
    assert default_lexicon().match(text) is None, text
    found = danger_model.assess(text)
    assert found is None or not found.urgent, (text, danger_model.scores([text]))


def test_a_partner_throwing_someone_out_errs_towards_danger(danger_model: DangerClassifier) -> None:
    """Borderline, and meant to be: "kicked me out" may be homelessness or abuse. The net leans to giving
    the numbers (the domestic abuse helpline), never to silence."""
    found = danger_model.assess("my husband kicked me out, where can i stay tonight")
    assert found is not None and found.kind is DangerKind.DOMESTIC_ABUSE


def test_classifier_catches_dangers_the_lexicon_does_not(danger_model: DangerClassifier) -> None:
    """Indirect and text-speak messages no pattern names: the classifier's job."""
    indirect = [
        "everyone would be better off if i just wasnt here anymore",
        "ive written letters to my kids, this is goodbye",
        "im 14 and my mums boyfriend does stuff to me at night that i dont like",
    ]
    assert [t for t in indirect if default_lexicon().match(t) is not None] == []  # no pattern names them
    assert [t for t in indirect if danger_model.assess(t) is None] == []


def test_thresholds_were_chosen_on_held_out_examples(danger_model: DangerClassifier) -> None:
    """Caution catches 99.5% of held-out dangers; the alarm (urgent) threshold lets through about 1% of
    held-out ordinary messages, and sits above caution."""
    cal = danger_model.calibration
    assert cal is not None and cal.dangers >= 1000 and cal.ordinary >= 2000
    assert cal.recall >= 0.995 and cal.false_alarm_rate <= 0.011
    assert danger_model.caution == cal.caution <= danger_model.alarm == cal.alarm


def test_lexicon_normalises_apostrophes_case_hyphens_and_stretched_words() -> None:
    assert normalise("I DON’T want to be ALIVEEEEE, self-harm") == "i dont want to be alivee, self harm"
    assert default_lexicon().match("I wanna DIEEE") is not None


def test_invisible_characters_do_not_hide_danger() -> None:
    assert default_lexicon().match("i want to ki\u200bll myself") is not None


def test_an_unknown_kind_in_the_lexicon_is_refused() -> None:
    with pytest.raises(ValueError):
        DangerLexicon({"kinds": {"volcano": {"phrases": ["lava"]}}})
    with pytest.raises(ValueError):
        DangerLexicon({"kinds": {}})


@pytest.mark.parametrize(
    "kind,line",
    [
        (DangerKind.SUICIDE, "116 123"),
        (DangerKind.DOMESTIC_ABUSE, "0808 2000 247"),
        (DangerKind.CHILD_HARM, "0800 1111"),
        (DangerKind.GAS, "0800 111 999"),
        (DangerKind.FIRE, "999"),
        (DangerKind.WATER, "999"),
        (DangerKind.COLLISION, "999"),
        (DangerKind.MEDICAL, "999"),
        (DangerKind.VIOLENCE, "999"),
        (DangerKind.UNKNOWN, "999"),
    ],
)
def test_reply_leads_with_the_line_for_the_kind(kind: DangerKind, line: str) -> None:
    for council in (None,):
        text = answers.danger_answer(council, kind).text
        assert line in text.splitlines()[0]
        assert "999" in text  # every kind gives 999 somewhere


def test_training_data_has_thousands_of_examples_of_every_kind() -> None:
    examples = load_examples()
    by_label: dict[str, int] = {}
    for _, label in examples:
        by_label[label] = by_label.get(label, 0) + 1
    assert all(by_label.get(k.value, 0) >= 100 for k in DangerKind if k is not DangerKind.UNKNOWN), by_label
    assert by_label[NOT_DANGER] >= 1500
