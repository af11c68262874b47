"""Crisis phrases are caught whatever else the message says; ordinary complaints are not."""

from __future__ import annotations

import pytest

from knowledge.safety import default_matcher, load_phrases


@pytest.mark.parametrize(
    "text",
    ["I want to kill myself", "i want to KILL MYSELF tonight",
     "my partner is hitting me and I'm scared to go home", "the house is on fire",
     "i want to ki\u200bll myself", "@NorthshireCC bins not collected and honestly i want to end my life"],
)
def test_crisis_phrases_match(text: str) -> None:
    assert default_matcher().match(text), text


@pytest.mark.parametrize(
    "text",
    ["these potholes are killing me", "bins not collected AGAIN", "where is the fire station",
     "I'm dying for a brew", "can't go on the website, it's broken"],
)
def test_everyday_complaints_do_not_match(text: str) -> None:
    assert default_matcher().match(text) is None


def test_phrase_list_is_substantial() -> None:
    assert len(load_phrases()) >= 50
