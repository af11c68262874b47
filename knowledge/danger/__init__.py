"""The danger net: does a message mean someone may be in danger now, and what kind of danger?

Two layers, both before and regardless of the service classifier:
- `lexicon`: the reviewed words and patterns in content/danger_lexicon.yml. A match is certain.
- `classifier`: a model of its own trained on data/danger (thousands of dangers and hard negatives) plus
  every ordinary training message, with a threshold chosen for recall on held-out examples. It runs inside
  the Rasa model (bot/nlu/danger.py), so it is trained and swapped with the rest of the model.
`kinds` holds the kinds of danger and the helplines each one leads with.
"""

from knowledge.danger.kinds import Danger, DangerKind

__all__ = ["Danger", "DangerKind"]
