"""Cleaning resident text before it is classified or searched."""

from __future__ import annotations

import re
import unicodedata

# Zero-width and bidirectional control characters: invisible to the resident, but they split words and
# can hide text ("ki\u200bll") from matchers.
INVISIBLE_RE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u00ad]")
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
SPACE_RE = re.compile(r"\s+")
# What Rasa reads as an intent command instead of words: "/intent" or "/intent{...}" (its RegexMessageHandler).
# A button the bot offers carries a bare one ("/svc_roads_pothole"); nothing else may reach Rasa looking so.
COMMAND_RE = re.compile(r"/[A-Za-z_][A-Za-z0-9_]*")


def clean_text(text: str) -> str:
    """NFKC-normalised text without invisible or control characters, whitespace collapsed. NFKC turns
    look-alike letters (full-width, mathematical bold) into plain ones so they match like plain text."""
    text = unicodedata.normalize("NFKC", text)
    text = INVISIBLE_RE.sub("", text)
    text = CONTROL_RE.sub(" ", text)
    return SPACE_RE.sub(" ", text).strip()


def has_words(text: str) -> bool:
    """True if the text contains at least one letter or digit (not only emoji or punctuation)."""
    return any(ch.isalnum() for ch in text)


def for_rasa(text: str, chosen: bool = False) -> str:
    """The message as Rasa should get it. Rasa takes any text starting with "/" as an intent command: it
    skips the NLU pipeline (and the danger net in it) and can set entities ("/greet{...}"). Only a button's
    payload (`chosen`) that is a bare intent name may do that; whatever a resident typed ("/help", "//",
    "/ the bin wasn't emptied") loses its leading slashes and is understood as words."""
    if chosen and COMMAND_RE.fullmatch(text):
        return text
    return text.lstrip("/ ") if text.startswith("/") else text
