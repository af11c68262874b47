"""Full-text fallback search: finds services by their words, and is safe against injection."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from knowledge.catalogue.search import query_terms, search_services
from knowledge.db import session_scope
from knowledge.models import Service

HOSTILE = [
    "'; DROP TABLE services; --",
    '" OR 1=1 --',
    'pothole" OR title MATCH "*',
    "NEAR(pothole bin) AND NOT x*",
    "<script>alert(1)</script>",
    "%_%' UNION SELECT * FROM council --",
    "\x00\x01 pothole",
]


def _keys(url: str, query: str) -> list[str]:
    with session_scope(url) as session:
        return [s.key for s in search_services(session, query)]


@pytest.mark.parametrize(
    "query,key",
    [
        ("there's a big hole in the road outside", "roads.pothole"),
        ("sofa mattress collection", "bins.bulky"),
        ("rats in the garden", "env.pests"),
        ("sandbags", "emergencies.flooding"),
    ],
)
def test_search_finds_the_service(kb_url: str, query: str, key: str) -> None:
    assert key in _keys(kb_url, query)


def test_search_sees_an_edit_at_once(kb_url: str) -> None:
    with session_scope(kb_url) as session:
        svc = session.execute(select(Service).where(Service.key == "libraries")).scalar_one()
        svc.synonyms = svc.synonyms + ["zorbing"]
    assert _keys(kb_url, "zorbing") == ["libraries"]


def test_retired_services_are_not_offered(kb_url: str) -> None:
    with session_scope(kb_url) as session:
        session.execute(select(Service).where(Service.key == "roads.pothole")).scalar_one().active = False
    assert "roads.pothole" not in _keys(kb_url, "pothole")


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_are_harmless(kb_url: str, query: str) -> None:
    _keys(kb_url, query)  # must not raise
    with session_scope(kb_url) as session:
        assert session.execute(select(func.count()).select_from(Service)).scalar_one() >= 52


def test_query_terms_keep_only_words() -> None:
    assert query_terms('"pothole" OR * NEAR(x) the my') == ["pothole", "near"]
    assert query_terms("🙂🙂 !!") == []


@pytest.mark.postgres
def test_postgres_full_text_search(pg_schema_url: str) -> None:
    """The production database: migrations, seed load and search on PostgreSQL."""
    from knowledge.catalogue.content import load
    from knowledge.settings import CONTENT_DIR

    url = pg_schema_url
    with session_scope(url) as session:
        load(session, CONTENT_DIR)
    assert "roads.pothole" in _keys(url, "big hole in the road")
    assert "bins.bulky" in _keys(url, "collect my old sofa")
    for query in HOSTILE:
        _keys(url, query)
    with session_scope(url) as session:
        assert session.execute(select(func.count()).select_from(Service)).scalar_one() >= 52
