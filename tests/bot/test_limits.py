"""Fitting answers into each platform's limits: nothing refused for length, no link cut in two."""

from __future__ import annotations

import random
import re

import pytest

from bot.channels.sending.limits import buttons_as_text, fit_one, shorten, split, weighted_length
from knowledge.channels import LIMITS, Limits

MESSENGER, X_MENTION, WHATSAPP = LIMITS["messenger"], LIMITS["x_mention"], LIMITS["whatsapp"]
LINK_RE = re.compile(r"https?://\S+")
WORDS = [
    "bins",
    "recycling",
    "collection",
    "council",
    "tax",
    "parking",
    "permit",
    "pothole",
    "library",
    "housing",
    "benefit",
    "streetlight",
    "garden",
    "waste",
    "fly-tipping",
    "noise",
    "complaint",
    "school",
    "admissions",
    "planning",
    "application",
    "the",
    "a",
    "of",
    "to",
    "and",
    "your",
    "you",
    "can",
    "report",
    "online",
    "we",
    "will",
]


def _url(rng: random.Random, length: int) -> str:
    base = "https://www.northshire.gov.uk/"
    path = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz-/") for _ in range(max(1, length - len(base))))
    return base + path


def _sentence(rng: random.Random, with_url: bool) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(4, 30))]
    if with_url:
        words.insert(rng.randint(0, len(words)), _url(rng, rng.randint(30, 300)))
    words[0] = words[0].capitalize()
    return " ".join(words) + rng.choice(".!?")


def _text(rng: random.Random) -> str:
    paragraphs = []
    for _ in range(rng.randint(1, 12)):
        n = rng.randint(1, 40)  # some paragraphs far longer than 2,000 characters
        paragraphs.append(" ".join(_sentence(rng, rng.random() < 0.3) for _ in range(n)))
    return rng.choice(["\n", "\n\n"]).join(paragraphs)


def _norm(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("seed", range(25))
def test_split_never_cuts_a_link_and_every_chunk_fits(seed: int) -> None:
    rng = random.Random(seed)
    text = _text(rng)
    for limits in (MESSENGER, LIMITS["instagram"], Limits(300)):
        chunks = split(text, limits)
        assert chunks
        assert all(0 < weighted_length(c, limits) <= limits.max_chars for c in chunks), [len(c) for c in chunks]
        # every link arrives whole, exactly as often as it was in the answer
        assert sorted(u for c in chunks for u in LINK_RE.findall(c)) == sorted(LINK_RE.findall(text))
        # nothing lost, added or reordered
        assert _norm(" ".join(chunks)) == _norm(text)


def test_short_text_is_one_message_unchanged() -> None:
    text = "Report a missed bin:\n\nhttps://www.northshire.gov.uk/bins/report-missed-collection"
    assert split(text, MESSENGER) == [text]
    assert split("   ", MESSENGER) == []


def test_split_uses_as_few_messages_as_fit() -> None:
    paragraph = "x" * 900 + "."
    chunks = split("\n".join([paragraph] * 4), MESSENGER)
    assert len(chunks) == 2  # two 901-character paragraphs fit in one 2,000-character message


def test_split_prefers_paragraph_boundaries() -> None:
    paragraphs = [f"Paragraph {i}. " + " ".join(["word"] * 120) + "." for i in range(8)]  # ~620 chars each
    chunks = split("\n".join(paragraphs), MESSENGER)
    assert len(chunks) > 1
    for chunk in chunks:
        assert all(line in paragraphs for line in chunk.split("\n")), "a paragraph was cut"


def test_split_prefers_sentence_boundaries_in_a_long_paragraph() -> None:
    sentences = [f"Sentence number {i} says " + " ".join(["something"] * 15) + "." for i in range(40)]
    chunks = split(" ".join(sentences), MESSENGER)
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.startswith("Sentence number ") and chunk.endswith("."), chunk[-40:]
    assert _norm(" ".join(chunks)) == " ".join(sentences)


def test_split_falls_back_to_words_in_a_long_sentence() -> None:
    sentence = " ".join(f"w{i}" for i in range(1500))  # ~7,000 characters, no full stop
    chunks = split(sentence, MESSENGER)
    assert all(len(c) <= 2000 for c in chunks)
    assert _norm(" ".join(chunks)) == sentence  # cut between words, never inside one


def test_link_longer_than_the_rest_of_a_chunk_moves_whole_to_the_next() -> None:
    link = "https://www.northshire.gov.uk/" + "a" * 400
    text = "word " * 350 + link + " end."
    chunks = split(text, MESSENGER)
    assert sum(link in c for c in chunks) == 1
    assert all(len(c) <= 2000 for c in chunks)


def test_x_counts_every_link_as_23() -> None:
    link = "https://www.northshire.gov.uk/" + "p" * 70
    assert len(link) == 100
    assert weighted_length(link, X_MENTION) == 23
    assert weighted_length(f"See {link} and {link}", X_MENTION) == len("See  and ") + 46
    assert weighted_length(link, MESSENGER) == 100


def test_fit_one_leaves_a_post_that_fits_alone() -> None:
    text = "Report a pothole: https://www.northshire.gov.uk/roads/report-a-pothole"
    assert fit_one(text, X_MENTION) == text


@pytest.mark.parametrize("seed", range(10))
def test_fit_one_keeps_the_first_link_whole_and_fits_an_x_post(seed: int) -> None:
    rng = random.Random(seed)
    link = _url(rng, rng.randint(40, 200))
    before = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 40)))
    after = " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 120)))
    text = f"{before} {link} {after}\nOr call 0300 123 4567 https://www.northshire.gov.uk/contact".strip()
    post = fit_one(text, X_MENTION)
    assert weighted_length(post, X_MENTION) <= 280
    assert link in LINK_RE.findall(post)
    assert "…" in post  # the resident can see it was shortened


def test_fit_one_without_a_link_shortens_at_a_word() -> None:
    text = " ".join(f"word{i}" for i in range(200))
    post = fit_one(text, X_MENTION)
    assert len(post) <= 280 and post.endswith("…")
    assert post[:-1] in text and text[len(post) - 1] == " "  # cut at a word boundary


def test_fit_one_for_a_private_reply_keeps_everything_that_fits() -> None:
    text = "Answer. " * 100
    assert fit_one(text, MESSENGER) == text.strip()


@pytest.mark.parametrize(
    "label,expected",
    [
        ("Missed bin", "Missed bin"),
        ("Exactly twenty chars", "Exactly twenty chars"),
        ("  Council   tax  ", "Council tax"),
    ],
)
def test_shorten_leaves_short_labels(label: str, expected: str) -> None:
    assert shorten(label, 20) == expected


def test_shorten_cuts_long_labels_with_an_ellipsis() -> None:
    out = shorten("Report a missed bin collection", 20)
    assert len(out) <= 20
    assert out.endswith("…")
    assert out[:-1] == "Report a missed bin"
    assert shorten("Apply for a parking permit online", 24).endswith("…")
    assert len(shorten("Apply for a parking permit online", 24)) <= 24


def test_buttons_as_text_lists_each_title_on_its_own_line() -> None:
    text = buttons_as_text([{"title": "Missed bin", "payload": "/svc_bins_missed"}, {"title": "Council tax"}])
    assert text.split("\n") == ["- Missed bin", "- Council tax"]
    assert "/svc_bins_missed" not in text  # residents reply with words, not payloads


def test_platform_limits_are_the_documented_ones() -> None:
    assert (MESSENGER.max_chars, MESSENGER.quick_replies, MESSENGER.quick_reply_chars) == (2000, 13, 20)
    assert (WHATSAPP.max_chars, WHATSAPP.reply_buttons, WHATSAPP.list_rows, WHATSAPP.row_chars) == (4096, 3, 10, 24)
    assert (X_MENTION.max_chars, X_MENTION.url_weight) == (280, 23)
