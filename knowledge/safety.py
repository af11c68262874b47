"""Crisis detection that does not depend on the classifier.

A message that names suicide, self-harm, immediate danger, domestic abuse happening now or a fire must
always get the emergency numbers, however the statistical model scores it. The phrase list lives in
`content/crisis_phrases.yml` so safeguarding leads can review it; matching is on whole lower-cased tokens
with spaCy's rule-based PhraseMatcher (a blank English tokenizer: no model download).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Optional

import yaml

from knowledge.settings import CONTENT_DIR
from knowledge.text import clean_text

PHRASES_FILE = CONTENT_DIR / "crisis_phrases.yml"


class CrisisMatcher:
    """Finds crisis phrases in text. Build once; `match` is cheap."""

    def __init__(self, phrases: list[str]):
        import spacy  # imported here: the action server doesn't need spaCy loaded for anything else
        from spacy.matcher import PhraseMatcher

        self._nlp = spacy.blank("en")
        self._matcher = PhraseMatcher(self._nlp.vocab, attr="LOWER")
        patterns = [self._nlp.make_doc(p.lower()) for p in phrases if p and p.strip()]
        self._matcher.add("CRISIS", patterns)

    def match(self, text: str) -> Optional[str]:
        """The first crisis phrase found in `text`, or None."""
        doc = self._nlp.make_doc(clean_text(text).lower().replace("’", "'"))
        for _, start, end in self._matcher(doc):
            return doc[start:end].text
        return None


def load_phrases(path: Path = PHRASES_FILE) -> list[str]:
    """The reviewed phrase list."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    phrases = data.get("phrases") or []
    if not phrases:
        raise ValueError(f"{path}: no crisis phrases; refusing to run without them")
    return [str(p) for p in phrases]


@lru_cache(maxsize=1)
def default_matcher() -> CrisisMatcher:
    """The matcher over the shipped phrase list, built on first use."""
    return CrisisMatcher(load_phrases())
