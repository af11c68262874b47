"""Every platform's limits in one place, and the text fitting that respects them.

Long answers are split at paragraph, then sentence, then word boundaries; a link is never cut. Public
replies must be one post, so they are shortened to fit while keeping the link.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Optional

URL = re.compile(r"https?://\S+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
ELLIPSIS = "…"


@dataclass(frozen=True)
class Limits:
    """What one channel accepts.

    `max_chars`: longest text in one message; `url_weight`: if set, every link counts as this many
    characters (X shortens links to 23); `quick_replies`/`quick_reply_chars`: Messenger-style quick replies;
    `reply_buttons`/`button_chars` and `list_rows`/`row_chars`: WhatsApp's interactive buttons and list;
    `interactive_chars`: shorter text limit of a message that carries buttons (WhatsApp: 1,024);
    `window`: how long after the resident's last message a free-form message may be sent (None: no rule)."""

    max_chars: int
    url_weight: Optional[int] = None
    quick_replies: int = 0
    quick_reply_chars: int = 20
    reply_buttons: int = 0
    button_chars: int = 20
    list_rows: int = 0
    row_chars: int = 24
    interactive_chars: Optional[int] = None
    window: Optional[dt.timedelta] = None


DAY = dt.timedelta(hours=24)

LIMITS: dict[str, Limits] = {
    # Send API: text up to 2,000 characters, 13 quick replies with 20-character titles, 24-hour window.
    "messenger": Limits(2000, quick_replies=13, quick_reply_chars=20, window=DAY),
    # Instagram messaging: 1,000 bytes of text (we count characters conservatively), same quick replies.
    "instagram": Limits(1000, quick_replies=13, quick_reply_chars=20, window=DAY),
    # Cloud API: text 4,096; interactive body 1,024, 3 reply buttons of 20, or a list of 10 rows of 24.
    "whatsapp": Limits(4096, reply_buttons=3, button_chars=20, list_rows=10, row_chars=24, interactive_chars=1024,
                       window=DAY),
    # Public replies under a comment; the private reply to a comment is allowed for 7 days after it.
    "facebook_comment": Limits(8000, window=dt.timedelta(days=7)),
    "instagram_comment": Limits(2200, window=dt.timedelta(days=7)),
    # X: DMs up to 10,000 characters; a post 280, where each link counts 23 whatever its length.
    "x": Limits(10000),
    "x_mention": Limits(280, url_weight=23),
}

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
            out.extend(word[i:i + limit] for i in range(0, len(word), limit))  # a 2,000-letter "word"
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
    rest = " ".join((text[: link.start()] + " " + text[link.end():]).split()) if link else " ".join(text.split())
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
