"""Editors' example questions: a message like one of them reaches that service at once, with no retraining.

A service's `examples` (edited in the console) are indexed as character n-grams; a message whose best
cosine similarity to one of them reaches `THRESHOLD` goes to that service, even a service the model has
never heard of. The index is rebuilt when the published content changes (the services' versions), so an
edit counts from the next message. `councilbot train` also folds the examples into the training data.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from knowledge.danger.lexicon import normalise
from knowledge.models import Service

# Cosine similarity over character 3-5-grams: 1.0 is the same words; rewordings of the same question
# score about 0.6-0.8, different questions on the same topic 0.3-0.5 (tests/knowledge/test_examples.py).
THRESHOLD = 0.62
# At or above this the message is the example nearly word for word: it wins even over the model's answer.
NEAR_VERBATIM = 0.85


@dataclass(frozen=True)
class ExampleMatch:
    key: str
    similarity: float
    example: str


class _Index:
    def __init__(self, rows: list[tuple[str, str]]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.rows = rows
        self.vectorizer = TfidfVectorizer(
            preprocessor=normalise, analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True
        )
        self.matrix = self.vectorizer.fit_transform([text for _, text in rows]) if rows else None

    def best(self, text: str) -> Optional[ExampleMatch]:
        if self.matrix is None or not text.strip():
            return None
        sims = (self.matrix @ self.vectorizer.transform([text]).T).toarray().ravel()
        i = int(sims.argmax())
        return ExampleMatch(self.rows[i][0], float(sims[i]), self.rows[i][1])


_cache: dict[str, object] = {"signature": None, "index": None}
_lock = threading.Lock()


def _signature(session: Session) -> tuple:
    """Changes whenever a service is published, added or retired."""
    return tuple(
        session.execute(
            select(
                func.count(Service.id),
                func.coalesce(func.sum(Service.version), 0),
                func.max(Service.id),
                func.max(Service.updated_at),
            ).where(Service.active.is_(True))
        ).one()
    )


def _index(session: Session) -> _Index:
    signature = _signature(session)
    with _lock:
        if _cache["signature"] != signature:
            rows = [
                (key, str(example))
                for key, examples in session.execute(
                    select(Service.key, Service.examples).where(Service.active.is_(True))
                )
                for example in (examples or [])
                if str(example).strip()
            ]
            _cache["index"] = _Index(rows)
            _cache["signature"] = signature
        return _cache["index"]  # type: ignore[return-value]


def best_match(session: Session, text: str, threshold: float = THRESHOLD) -> Optional[ExampleMatch]:
    """The service whose example question is most like `text`, if alike enough."""
    found = _index(session).best(text or "")
    return found if found is not None and found.similarity >= threshold else None
