"""Fitting text into a channel's limits (the limits themselves are in `knowledge/channels.py`).

Long answers are split at paragraph, then sentence, then word boundaries; a link is never cut. Public
replies must be one post, so they are shortened to fit while keeping the link.
"""

from __future__ import annotations

import re
from typing import Optional

from knowledge.channels import Limits

URL = re.compile(r"https?://\S+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
ELLIPSIS = "…"


def weighted_length(text: str, limits: Limits) -> int:
    """Length as the platform counts it."""
    if limits.url_weight is None:
        return len(text)
    return len(URL.sub("", text)) + limits.url_weight * len(URL.findall(text))


def shorten(label: str, max_chars: int) -> str:
    """A button title cut to fit, with an ellipsis if anything was cut."""
    label = " ".join(label.split())
    return label if len(label) <= max_chars else label[: max_chars - 1].rstrip() + ELLIPSIS


def split(text: str, limits: Limits, max_chars: Optional[int] = None) -> list[str]:
    """`text` as as few messages as fit, split at the largest boundary that works. Links stay whole."""
    limit = max_chars or limits.max_chars
    text = text.strip()
    if weighted_length(text, limits) <= limit:
        return [text] if text else []
    pieces: list[str] = []
    for para in text.split("\n"):
        if weighted_length(para, limits) <= limit:
            pieces.append(para)
            continue
        sentences: list[str] = []
        for sentence in _SENTENCE_END.split(para):
            if weighted_length(sentence, limits) <= limit:
                sentences.append(sentence)
            else:
                sentences.extend(_words(sentence, limits, limit))
        pieces.extend(_pack(sentences, limits, limit, sep=" "))  # a paragraph's sentences stay one line
    return _pack(pieces, limits, limit)


def _words(sentence: str, limits: Limits, limit: int) -> list[str]:
    out: list[str] = []
    for word in sentence.split():
        if weighted_length(word, limits) > limit and not URL.fullmatch(word):
            out.extend(word[i : i + limit] for i in range(0, len(word), limit))  # a 2,000-letter "word"
        else:
            out.append(word)
    return _pack(out, limits, limit, sep=" ")


def _pack(pieces: list[str], limits: Limits, limit: int, sep: str = "\n") -> list[str]:
    chunks: list[str] = []
    current = ""
    for piece in (p.strip() for p in pieces):
        if not piece:
            continue
        candidate = f"{current}{sep}{piece}" if current else piece
        if weighted_length(candidate, limits) <= limit:
            current = candidate
        else:
            if current:
                chunks.append(current)
            current = piece
    if current:
        chunks.append(current)
    return chunks


def fit_one(text: str, limits: Limits) -> str:
    """`text` as one post: whole if it fits, else shortened at a word boundary with its first link kept."""
    text = text.strip()
    if weighted_length(text, limits) <= limits.max_chars:
        return text
    link = URL.search(text)
    rest = " ".join((text[: link.start()] + " " + text[link.end() :]).split()) if link else " ".join(text.split())
    budget = limits.max_chars - (weighted_length(link.group(), limits) + 1 if link else 0) - len(ELLIPSIS)
    words, head = rest.split(), ""
    for word in words:
        candidate = f"{head} {word}" if head else word
        if weighted_length(candidate, limits) > budget:
            break
        head = candidate
    head = head.rstrip(",;:") + ELLIPSIS
    return f"{head}\n{link.group()}" if link else head


def buttons_as_text(buttons: list[dict]) -> str:
    """Choices for a channel that has no buttons, as lines whose words the resident can reply with."""
    return "\n".join(f"- {b.get('title', '')}" for b in buttons)
