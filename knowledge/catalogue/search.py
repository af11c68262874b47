"""Full-text search over services, used when the classifier is unsure.

One interface, `search_services`, over the database's own full-text engine: SQLite FTS5 (porter stemming)
or PostgreSQL `to_tsvector('english', …)`. Other databases get a plain word-overlap scan. The query is
reduced to alphanumeric words and always passed as a bound parameter, so nothing a resident types can
change the SQL.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from knowledge.models import Service

WORD_RE = re.compile(r"[a-z0-9]+")
# Words that say nothing about which service is wanted; matching them only adds noise.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "can",
        "could",
        "do",
        "does",
        "for",
        "from",
        "get",
        "got",
        "has",
        "have",
        "how",
        "i",
        "im",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "please",
        "pls",
        "so",
        "that",
        "the",
        "their",
        "them",
        "there",
        "they",
        "this",
        "to",
        "u",
        "up",
        "us",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "hi",
        "hello",
        "thanks",
        "council",
        "northshire",
        "northshirecc",
        "help",
        "need",
        "want",
        "just",
        "still",
        "again",
    ]
)
MAX_TERMS = 24


def query_terms(query: str) -> list[str]:
    """The distinct meaningful words of a resident's message, lower-cased, at most MAX_TERMS."""
    seen: list[str] = []
    for word in WORD_RE.findall(query.lower()):
        if len(word) > 1 and word not in STOPWORDS and word not in seen:
            seen.append(word)
    return seen[:MAX_TERMS]


def search_services(session: Session, query: str, limit: int = 3) -> list[Service]:
    """Active services best matching `query`, best first; empty when nothing matches."""
    terms = query_terms(query)
    if not terms:
        return []
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        ids = _sqlite_fts(session, terms, limit * 3)
    elif dialect == "postgresql":
        ids = _postgres_fts(session, terms, limit * 3)
    else:
        ids = _overlap_scan(session, terms, limit * 3)
    if not ids:
        return []
    rows = {s.id: s for s in session.execute(select(Service).where(Service.id.in_(ids))).scalars()}
    return [rows[i] for i in ids if i in rows and rows[i].active][:limit]


def _sqlite_fts(session: Session, terms: Sequence[str], limit: int) -> list[int]:
    # Terms are [a-z0-9]+ only, so quoting each is enough to keep FTS5 query syntax out of user hands.
    match = " OR ".join(f'"{t}"' for t in terms)
    rows = session.execute(
        text(
            "SELECT rowid FROM services_fts WHERE services_fts MATCH :q "
            "ORDER BY bm25(services_fts, 5.0, 1.0, 3.0) LIMIT :n"
        ),
        {"q": match, "n": limit},
    )
    return [r[0] for r in rows]


def _postgres_fts(session: Session, terms: Sequence[str], limit: int) -> list[int]:
    document = "to_tsvector('english', title || ' ' || summary || ' ' || synonyms::text)"
    rows = session.execute(
        text(
            f"SELECT id FROM services, to_tsquery('english', :q) AS q WHERE {document} @@ q "
            f"ORDER BY ts_rank({document}, q) DESC, id LIMIT :n"
        ),
        {"q": " | ".join(terms), "n": limit},
    )
    return [r[0] for r in rows]


def _overlap_scan(session: Session, terms: Sequence[str], limit: int) -> list[int]:
    scored = []
    for svc in session.execute(select(Service).where(Service.active.is_(True))).scalars():
        words = set(WORD_RE.findall(f"{svc.title} {svc.summary} {' '.join(svc.synonyms)}".lower()))
        score = sum(1 for t in terms if t in words)
        if score:
            scored.append((-score, svc.id))
    return [i for _, i in sorted(scored)[:limit]]
