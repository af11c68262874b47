"""The reviewed danger lexicon (content/danger_lexicon.yml): phrases and patterns by kind of danger.

Pure regular expressions over normalised text: no model, no download, microseconds per message, and it
works when nothing else does (the Rasa server's safety net uses it when the model can't be asked).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

import yaml

from knowledge.danger.kinds import Danger, DangerKind
from knowledge.settings import CONTENT_DIR
from knowledge.understanding.text import clean_text

LEXICON_FILE = CONTENT_DIR / "danger_lexicon.yml"
_APOSTROPHES = re.compile("['\u2019\u2018`\u00b4]")
_REPEATS = re.compile(r"(\w)\1{2,}")
_SPACES = re.compile(r"\s+")


def normalise(text: str, stretched_to: int = 2) -> str:
    """Text as the lexicon sees it: cleaned, lower case, no apostrophes, 3+ repeated letters cut to
    `stretched_to`, hyphens and underscores as spaces ("self-harm" and "self harm" are the same words)."""
    text = clean_text(text).lower()
    text = _APOSTROPHES.sub("", text)
    text = _REPEATS.sub(r"\1" * stretched_to, text)
    text = re.sub(r"[-_/]+", " ", text)
    return _SPACES.sub(" ", text).strip()


def _phrase_regex(phrase: str) -> str:
    words = normalise(phrase).split()
    return r"(?<!\w)" + r"\s+".join(re.escape(w) for w in words) + r"(?!\w)"


@dataclass(frozen=True)
class _Kind:
    kind: DangerKind
    phrases: re.Pattern
    patterns: tuple[re.Pattern, ...]
    unless: Optional[re.Pattern]


class DangerLexicon:
    """Finds the first kind of danger the lexicon names in a message. Build once; `match` is cheap."""

    def __init__(self, spec: dict):
        not_now = (spec or {}).get("not_now") or {}
        self._not_now_kinds = {DangerKind(k) for k in not_now.get("kinds") or []}
        self._over = [re.compile(str(p)) for p in not_now.get("over") or []]
        self._now = [re.compile(str(p)) for p in not_now.get("now") or []]
        kinds = (spec or {}).get("kinds") or {}
        if not kinds:
            raise ValueError("danger lexicon has no kinds; refusing to run without it")
        self._kinds: list[_Kind] = []
        for name, entry in kinds.items():
            kind = DangerKind(name)  # an unknown kind is a typo in a reviewed file: fail loudly
            phrases = [p for p in (entry.get("phrases") or []) if str(p).strip()]
            never = r"(?!x)x"
            phrase_re = re.compile("|".join(_phrase_regex(str(p)) for p in phrases) or never)
            patterns = tuple(re.compile(str(p)) for p in (entry.get("patterns") or []))
            unless = [str(u) for u in (entry.get("unless") or [])]
            unless_re = re.compile("|".join(_phrase_regex(u) for u in unless)) if unless else None
            self._kinds.append(_Kind(kind, phrase_re, patterns, unless_re))

    def _over_now(self, norm: str) -> bool:
        """The message says the danger is past or hypothetical, and nothing says it is happening now."""
        return any(p.search(norm) for p in self._over) and not any(p.search(norm) for p in self._now)

    def match(self, text: str) -> Optional[Danger]:
        """The danger the text names, or None. Stretched letters are tried cut to two ("killl" -> "kill")
        and to one ("dieee" -> "die")."""
        if not text:
            return None
        norm = normalise(text)
        found = self._first(norm)
        single = normalise(text, stretched_to=1)
        if found is None and single != norm:
            found = self._first(single)
        if found is not None and found.kind in self._not_now_kinds and self._over_now(norm):
            return None  # told as over or hypothetical: the classifier decides
        return found

    def _first(self, norm: str) -> Optional[Danger]:
        for k in self._kinds:
            found = k.phrases.search(norm)
            if found:
                return Danger(k.kind, 1.0, "lexicon", found.group(0))
        for k in self._kinds:
            if k.unless is not None and k.unless.search(norm):
                continue
            for pattern in k.patterns:
                found = pattern.search(norm)
                if found:
                    return Danger(k.kind, 1.0, "lexicon", found.group(0))
        return None


def load(path: Path = LEXICON_FILE) -> DangerLexicon:
    return DangerLexicon(yaml.safe_load(path.read_text(encoding="utf-8")))


@lru_cache(maxsize=1)
def default_lexicon() -> DangerLexicon:
    """The lexicon over the shipped file, built on first use."""
    return load()
