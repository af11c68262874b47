"""What residents asked that the bot couldn't answer well, for editors to write content and developers to
find new training examples.

Actions `record` each miss as it happens. Editors see `groups`: the misses of a period clustered by how
alike they read, biggest first, so "bins not collected" asked forty ways shows as one line with a count.
They pick messages and `export_candidates` turns them into a Rasa NLU file under a placeholder intent for
a developer to sort into the right intents.

Only a one-way hash of the conversation is kept (`privacy.pseudonym`): enough to tell that two misses came
from one conversation, useless for finding the resident. The text itself is kept as typed, because editors
need to read it; the export header reminds developers to take personal details out before training.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge.models import UnansweredQuestion
from knowledge.personal_data.privacy import pseudonym

FALLBACK, LOW_CONFIDENCE, HANDOVER = "fallback", "low_confidence", "handover"
KINDS: tuple[str, ...] = (FALLBACK, LOW_CONFIDENCE, HANDOVER)
MAX_TEXT = 1000
# Two messages belong together when their average cosine similarity (word and character n-grams, see
# `_clusters`) reaches this: reworded and misspelt versions of one question do, different topics
# don't. Lower it to get fewer, broader groups.
MIN_SIMILARITY = 0.4
MAX_EXAMPLES = 5
LABEL_WORDS = 3
# Clustering compares every pair of distinct texts; beyond this many (newest kept) a busy month would
# cost minutes and gigabytes for groups no editor reads to the end.
MAX_DISTINCT_TEXTS = 3000
PLACEHOLDER_INTENT = "candidate_unlabelled"
# Stop words that change what a question means ("bins not collected"), so similarity keeps them.
NEGATIONS = frozenset({"not", "no", "never", "nothing", "cannot", "nobody", "none"})

# Characters a YAML file may not contain, plus the ones YAML reads as line breaks (NEL, LS, PS), tabs,
# and the byte order mark: all become spaces in exported examples.
_NOT_ONE_LINE = re.compile("[^\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\u2028\u2029\ufeff]")
# Rasa reads `[text](entity)`, `[text]{...}` and `[text][...]` in an example as entity annotations.
_ANNOTATION = re.compile(r"\]\s*(?=[(\[{])")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def record(
    session: Session,
    text: str,
    kind: str,
    intent: Optional[str] = None,
    confidence: Optional[float] = None,
    channel: Optional[str] = None,
    conversation_id: Optional[str] = None,
    now: Optional[dt.datetime] = None,
) -> Optional[UnansweredQuestion]:
    """Store one miss: the resident's `text` (up to 1,000 characters), `kind` (one of KINDS), what the
    model guessed (`intent`, `confidence`), the channel and a pseudonym of the conversation. Returns the
    row, or None when the message had no text (a button press or an attachment has nothing to learn)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    text = (text or "").strip()
    if not text:
        return None
    conversation = pseudonym(conversation_id)[-60:] if conversation_id else None  # the hash is at the end
    row = UnansweredQuestion(
        text=text[:MAX_TEXT],
        kind=kind,
        intent=(intent or None) and intent[:100],
        confidence=None if confidence is None else float(confidence),
        channel=(channel or None) and channel[:40],
        conversation=conversation,
        created_at=now or _utcnow(),
    )
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class Member:
    """One stored miss, as the grouping sees it."""

    id: int
    text: str
    kind: str
    created_at: dt.datetime
    exported: bool


@dataclass
class Group:
    """Misses that read alike. `label`: up to three words most of its messages share;
    `count`: messages (a miss that was also handed over counts once per kind, see `kinds`); `examples`: up
    to five differently worded texts, newest first, with `example_ids` the ids of every message worded
    that way (same order); `ids`: every message, newest first; `exported`: how many were exported already."""

    label: str
    count: int
    examples: list[str]
    example_ids: list[list[int]]
    ids: list[int]
    kinds: dict[str, int]
    first_seen: dt.datetime
    last_seen: dt.datetime
    exported: int = 0


def _key(text: str) -> str:
    """What two texts must share to count as the same wording: case, punctuation, spacing and digits
    ("bin not collected!!" is "bins not collected" said louder, not a new question) don't matter."""
    text = re.sub(r"[\u2019']", "", re.sub(r"\d", "0", text.casefold()))
    return " ".join(re.sub(r"[^\w\s]|_", " ", text).split())


def groups(
    session: Session,
    days: int = 30,
    kinds: Optional[Iterable[str]] = None,
    min_similarity: float = MIN_SIMILARITY,
    now: Optional[dt.datetime] = None,
) -> list[Group]:
    """The misses of the last `days` days (only `kinds`, if given), grouped by similarity, biggest group
    first (then the most recently seen, then the oldest message, so the order never changes by chance)."""
    since = (now or _utcnow()) - dt.timedelta(days=days)
    query = select(UnansweredQuestion).where(UnansweredQuestion.created_at >= since)
    if kinds:
        query = query.where(UnansweredQuestion.kind.in_(list(kinds)))
    query = query.order_by(UnansweredQuestion.created_at.desc(), UnansweredQuestion.id.desc())
    by_key: dict[str, list[Member]] = {}
    for row in session.execute(query).scalars():
        key = _key(row.text) or row.text.casefold()
        if key not in by_key and len(by_key) >= MAX_DISTINCT_TEXTS:
            continue
        by_key.setdefault(key, []).append(
            Member(row.id, row.text, row.kind, row.created_at, row.exported_at is not None)
        )
    if not by_key:
        return []
    keys = sorted(by_key)
    asked = {k: len(ms) for k, ms in by_key.items()}
    everywhere = _word_counts(asked)
    result = []
    for cluster in _clusters(keys, min_similarity):
        label = _label({keys[i]: asked[keys[i]] for i in cluster}, everywhere)
        result.append(_group([by_key[keys[i]] for i in cluster], label))
    result.sort(key=lambda g: (-g.count, -g.last_seen.timestamp(), min(g.ids)))
    return result


def _group(wordings: list[list[Member]], label: str) -> Group:
    """A Group from its wordings (each a list of members, newest first)."""
    wordings = sorted(wordings, key=lambda ms: (ms[0].created_at, ms[0].id), reverse=True)
    members = sorted((m for ms in wordings for m in ms), key=lambda m: (m.created_at, m.id), reverse=True)
    shown = wordings[:MAX_EXAMPLES]
    return Group(
        label=label,
        count=len(members),
        examples=[ms[0].text for ms in shown],
        example_ids=[[m.id for m in ms] for ms in shown],
        ids=[m.id for m in members],
        kinds=dict(sorted(Counter(m.kind for m in members).items())),
        first_seen=members[-1].created_at,
        last_seen=members[0].created_at,
        exported=sum(m.exported for m in members),
    )


def _clusters(keys: list[str], min_similarity: float) -> list[list[int]]:
    """Average-linkage clustering of `keys` (distinct normalised texts): two clusters merge while the mean
    similarity between their texts is at least `min_similarity`. Clusters as lists of indexes into `keys`.

    Similarity is the cosine of TF-IDF vectors of word 1-2 grams (what is said) and character 3-5 grams
    within words (typos and plurals: "bin"/"bins", "licence"/"license"), each normalised and then joined
    with equal weight, so it is the mean of the word and the character cosines. Stop words are left out
    first, except negations: "how do I apply for a ..." says nothing about what is wanted, "not" does."""
    if len(keys) == 1:
        return [[0]]
    import numpy as np
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.sparse import hstack
    from scipy.spatial.distance import squareform
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
    from sklearn.preprocessing import normalize

    ignored = ENGLISH_STOP_WORDS - NEGATIONS
    docs = [" ".join(w for w in key.split() if w not in ignored) or key for key in keys]
    word = TfidfVectorizer(
        analyzer="word", ngram_range=(1, 2), lowercase=True, sublinear_tf=True, token_pattern=r"(?u)\b\w+\b"
    )
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), lowercase=True, sublinear_tf=True)
    vectors = normalize(hstack([_tfidf(word, docs), _tfidf(char, docs)]).tocsr())
    distance = np.clip(1.0 - (vectors @ vectors.T).toarray(), 0.0, 2.0)
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(distance, checks=False), method="average")
    clusters: dict[int, list[int]] = {}
    for index, cluster in enumerate(fcluster(tree, t=1.0 - min_similarity, criterion="distance")):
        clusters.setdefault(int(cluster), []).append(index)
    return list(clusters.values())


def _tfidf(vectorizer: Any, docs: list[str]) -> Any:
    """Normalised TF-IDF rows for `docs`; all zeros when they have no such features at all (only emoji
    or punctuation has no words), so those texts simply don't match on that half."""
    from scipy.sparse import csr_matrix
    from sklearn.preprocessing import normalize

    try:
        return normalize(vectorizer.fit_transform(docs))
    except ValueError:  # "empty vocabulary"
        return csr_matrix((len(docs), 1))


def _words(key: str) -> set[str]:
    """The words of a normalised text worth putting in a label: no stop words (but negations), numbers or
    single letters."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return {
        w for w in key.split() if len(w) > 1 and (w in NEGATIONS or w not in ENGLISH_STOP_WORDS) and w.strip("0")
    }  # digits are 0s


def _word_counts(asked: dict[str, int]) -> Counter[str]:
    """How many messages contain each label word, given how often (`asked`) each wording came."""
    counts: Counter[str] = Counter()
    for key, times in asked.items():
        for w in _words(key):
            counts[w] += times
    return counts


def _label(asked: dict[str, int], everywhere: Counter[str]) -> str:
    """Up to three words that most of the group's messages share (ties: the word more common across all
    misses, as topics recur and incidental words don't), in the order the commonest wording says them."""
    total = sum(asked.values())
    within = _word_counts(asked)
    shared = [w for w, n in within.items() if n * 2 >= total] or list(within)
    chosen = sorted(shared, key=lambda w: (-within[w], -everywhere[w], w))[:LABEL_WORDS]
    commonest = min(asked, key=lambda k: (-asked[k], k)).split()
    chosen.sort(key=lambda w: commonest.index(w) if w in commonest else len(commonest))
    return " ".join(chosen) or " ".join(commonest)[:60]


def export_candidates(session: Session, ids: Sequence[int], now: Optional[dt.datetime] = None) -> str:
    """A Rasa NLU training file (YAML, format 3.1) holding the texts of messages `ids`, one example per
    line under the placeholder intent `candidate_unlabelled`, oldest first, each wording once. Marks those
    messages exported. Raises NothingToExport if none of the ids exists or none has any text left."""
    now = now or _utcnow()
    rows = (
        session.execute(
            select(UnansweredQuestion)
            .where(UnansweredQuestion.id.in_(list(ids)))
            .order_by(UnansweredQuestion.created_at, UnansweredQuestion.id)
        )
        .scalars()
        .all()
    )
    examples: list[str] = []
    seen: set[str] = set()
    for row in rows:
        example = one_line(row.text)
        if example and example.casefold() not in seen:
            seen.add(example.casefold())
            examples.append(example)
    if not examples:
        raise NothingToExport("none of the chosen messages exists any more")
    for row in rows:
        row.exported_at = now
    header = [
        "# Candidate NLU training examples: what residents asked that the bot couldn't answer well.",
        f"# Exported {now:%Y-%m-%d %H:%M} UTC from the unanswered questions list: {len(examples)} example(s).",
        "# UNREVIEWED. Before training: move each line to the intent it belongs to (or delete it), remove any",
        "# personal details (names, addresses, phone numbers), and delete the placeholder intent",
        f"# `{PLACEHOLDER_INTENT}`: it is not in the domain and must never be trained.",
    ]
    body = ['version: "3.1"', "nlu:", f"- intent: {PLACEHOLDER_INTENT}", "  examples: |"]
    body += [f"    - {example}" for example in examples]
    return "\n".join(header + body) + "\n"


def one_line(text: str) -> str:
    """`text` as one line that reads back unchanged from a YAML literal block and isn't mistaken for
    Rasa's entity markup: line breaks, tabs and control characters become spaces, runs of spaces one,
    and "](" becomes "] (". Everything else (quotes, colons, #, leading dashes) is safe inside the block."""
    return _ANNOTATION.sub("] ", " ".join(_NOT_ONE_LINE.sub(" ", text).split())).strip()


class NothingToExport(ValueError):
    """None of the chosen messages can be exported."""
