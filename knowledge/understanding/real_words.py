"""Does a message carry any real words? Used after the bot has missed twice in a row: a person can act on
"my carer hasn't come", however the model scored it, but not on "asdfgh", "???" or a row of emoji, so
those get the phone number instead of a case.

The test is deliberately simple and errs towards "real words" (a wrong "real" costs one case for staff; a
wrong "gibberish" still gives the resident the phone number and how to ask for a person):

- Words are runs of letters. A message with none (punctuation, emoji, digits alone) has no real words,
  unless it holds a UK postcode.
- A word looks like a word if it is "a" or "i"; or has letters outside plain A-Z (other languages and
  scripts: we can't judge them, so we trust them); or has a vowel (a, e, i, o, u, y), no more than four
  consonants in a row, no letter three times running, and isn't four or more keys along one keyboard row
  ("asdf", "qwerty", "lkjh").
- A message has real words if at least half its words look like words.

No dictionary is needed (spaCy's English lookups are not installed here and no model can be
downloaded), so the test is the same on every machine.
"""

from __future__ import annotations

import re

from knowledge.understanding.text import clean_text

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_POSTCODE = re.compile(r"\b[A-Z]{1,2}[0-9][A-Z0-9]?\s*[0-9][A-Z]{2}\b", re.I)
_CONSONANT_RUN = re.compile(r"[bcdfghjklmnpqrstvwxz]{5,}")
_REPEAT = re.compile(r"(.)\1\1")
_VOWEL = re.compile(r"[aeiouy]")
_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_KEYBOARD_RUN = 4


def _along_a_row(word: str) -> bool:
    return len(word) >= _KEYBOARD_RUN and any(word in row or word in row[::-1] for row in _ROWS)


def looks_like_word(word: str) -> bool:
    """True if `word` (letters only) could be a word; see the module docstring for the rules."""
    word = word.lower()
    if word in ("a", "i") or not word.isascii():
        return True
    return (
        len(word) >= 2
        and bool(_VOWEL.search(word))
        and not _CONSONANT_RUN.search(word)
        and not _REPEAT.search(word)
        and not _along_a_row(word)
    )


def has_real_words(text: str) -> bool:
    """True if `text` carries words a person could act on (or a postcode)."""
    text = clean_text(text)
    if _POSTCODE.search(text):
        return True
    words = _WORD.findall(text)
    real = sum(1 for w in words if looks_like_word(w))
    return real > 0 and 2 * real >= len(words)
