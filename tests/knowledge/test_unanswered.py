"""Unanswered questions (knowledge/catalogue/unanswered.py) against a real migrated SQLite database with an explicit
clock: recording keeps no conversation ids, similar questions group together, exports are valid Rasa data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge.catalogue.unanswered import (
    FALLBACK,
    HANDOVER,
    LOW_CONFIDENCE,
    PLACEHOLDER_INTENT,
    NothingToExport,
    export_candidates,
    groups,
    one_line,
    record,
)
from knowledge.db import session_scope
from knowledge.migrations import upgrade
from knowledge.models import UnansweredQuestion
from knowledge.personal_data.privacy import pseudonym

T0 = dt.datetime(2026, 3, 2, 9, 0, 0)


@pytest.fixture
def db(tmp_path) -> Iterator[Session]:
    url = f"sqlite:///{tmp_path / 'unanswered.db'}"
    upgrade(url)
    with session_scope(url) as session:
        yield session


def add(db: Session, texts: list[str], kind: str = FALLBACK, start: dt.datetime = T0) -> list[int]:
    """Record `texts` a minute apart (the last is the newest); their ids."""
    return [
        record(db, text, kind, conversation_id=f"web:r{i}", now=start + dt.timedelta(minutes=i)).id
        for i, text in enumerate(texts)
    ]


def examples_of(exported: str) -> list[str]:
    [entry] = yaml.safe_load(exported)["nlu"]
    assert entry["intent"] == PLACEHOLDER_INTENT
    return [line[2:] for line in entry["examples"].splitlines()]


# Recording


def test_record_keeps_a_pseudonym_never_the_conversation_id(db: Session) -> None:
    row = record(
        db,
        "  can I get a skip permit?  ",
        FALLBACK,
        intent="svc_roads_skip",
        confidence=0.31,
        channel="whatsapp",
        conversation_id="whatsapp:447700900123",
        now=T0,
    )
    stored = db.execute(select(UnansweredQuestion)).scalar_one()
    assert stored.id == row.id
    assert (stored.text, stored.kind, stored.intent, stored.confidence, stored.channel, stored.created_at) == (
        "can I get a skip permit?",
        FALLBACK,
        "svc_roads_skip",
        0.31,
        "whatsapp",
        T0,
    )
    assert stored.conversation == pseudonym("whatsapp:447700900123")
    assert "447700900123" not in stored.conversation
    assert stored.exported_at is None


def test_record_skips_empty_text_truncates_long_text_and_refuses_unknown_kinds(db: Session) -> None:
    assert record(db, "   ", FALLBACK) is None
    assert record(db, "", HANDOVER) is None
    long = record(db, "x" * 5000, LOW_CONFIDENCE)
    assert len(long.text) == 1000
    with pytest.raises(ValueError):
        record(db, "hello", "shrug")
    assert db.execute(select(UnansweredQuestion)).scalars().all() == [long]


def test_record_without_a_conversation_stores_none(db: Session) -> None:
    assert record(db, "hello", FALLBACK).conversation is None


# Grouping


def test_near_duplicates_group_together_and_topics_stay_apart(db: Session) -> None:
    bins = add(
        db, ["bins not collected", "bin not collected!!", "My bins were NOT collected again", "bins not collected"]
    )
    add(
        db,
        ["pothole outside number 4", "parking permit renewal", "how do i renew my parking permit"],
        start=T0 + dt.timedelta(hours=1),
    )
    found = groups(db, now=T0 + dt.timedelta(days=1))
    assert [g.count for g in found] == [4, 2, 1]  # biggest first
    bins_group, parking, pothole = found
    assert sorted(bins_group.ids) == sorted(bins)
    assert "bin" in bins_group.label and "collected" in bins_group.label
    assert "parking" in parking.label and "permit" in parking.label
    assert pothole.examples == ["pothole outside number 4"]
    assert {"parking permit renewal", "how do i renew my parking permit"} == set(parking.examples)


def test_examples_are_distinct_wordings_newest_first_at_most_five(db: Session) -> None:
    texts = [
        "bins not collected",
        "Bins not collected.",
        "bin not collected",
        "bins still not collected",
        "bins not collected yet",
        "my bins not collected",
        "bins not collected again",
        "bin not collected!",
    ]
    ids = add(db, texts)
    [group] = groups(db, now=T0 + dt.timedelta(days=1))
    assert group.count == 8
    assert group.ids == ids[::-1]
    # "bin not collected!" is the newest way of saying "bin not collected"; "Bins not collected." the
    # newest of "bins not collected".
    assert group.examples == [
        "bin not collected!",
        "bins not collected again",
        "my bins not collected",
        "bins not collected yet",
        "bins still not collected",
    ]
    assert group.example_ids[0] == [ids[7], ids[2]]
    assert (group.first_seen, group.last_seen) == (T0, T0 + dt.timedelta(minutes=7))


def test_kinds_are_counted_and_filtered_and_old_misses_left_out(db: Session) -> None:
    add(db, ["council tax band wrong", "my council tax band is wrong"], FALLBACK)
    add(db, ["council tax band is wrong!"], HANDOVER, start=T0 + dt.timedelta(minutes=5))
    add(db, ["council tax band wrong"], LOW_CONFIDENCE, start=T0 - dt.timedelta(days=40))
    [group] = groups(db, days=30, now=T0 + dt.timedelta(days=1))
    assert group.kinds == {FALLBACK: 2, HANDOVER: 1}
    [handed] = groups(db, days=30, kinds=[HANDOVER], now=T0 + dt.timedelta(days=1))
    assert handed.count == 1
    assert groups(db, days=30, kinds=[LOW_CONFIDENCE], now=T0 + dt.timedelta(days=1)) == []
    [everything] = groups(db, days=60, now=T0 + dt.timedelta(days=1))
    assert everything.count == 4


def test_order_is_stable_for_equal_groups(db: Session) -> None:
    add(db, ["library opening hours", "swimming pool timetable", "dog fouling in the park"])
    now = T0 + dt.timedelta(days=1)
    first = [g.label for g in groups(db, now=now)]
    assert first == [g.label for g in groups(db, now=now)]
    assert [g.examples[0] for g in groups(db, now=now)] == [  # equal counts: most recently seen first
        "dog fouling in the park",
        "swimming pool timetable",
        "library opening hours",
    ]


def test_no_misses_no_groups(db: Session) -> None:
    assert groups(db, now=T0) == []


def test_texts_without_words_still_group(db: Session) -> None:
    add(db, ["???", "!!!", "\U0001f5d1\ufe0f", "x"])
    assert sorted(g.examples[0] for g in groups(db, now=T0 + dt.timedelta(days=1))) == sorted(
        ["???", "!!!", "\U0001f5d1\ufe0f", "x"]
    )


# Export


def test_export_is_rasa_yaml_with_the_texts_under_the_placeholder_intent(db: Session) -> None:
    ids = add(db, ["bins not collected", "pothole on Elm Road", "bins not collected"])
    exported = export_candidates(db, ids, now=T0 + dt.timedelta(hours=1))
    data = yaml.safe_load(exported)
    assert data["version"] == "3.1"
    assert examples_of(exported) == ["bins not collected", "pothole on Elm Road"]  # oldest first, once each
    assert "  examples: |\n" in exported
    assert exported.startswith("#") and "UNREVIEWED" in exported and "label" in exported
    assert all(r.exported_at == T0 + dt.timedelta(hours=1) for r in db.execute(select(UnansweredQuestion)).scalars())


def test_export_survives_yaml_and_rasa_special_characters(db: Session) -> None:
    awkward = [
        'she said "no": then left',
        "it's #1 # not a comment",
        "- starts with a dash",
        "---",
        "key: value",
        "two\nlines\r\nhere",
        "tab\there",
        "| pipe > fold",
        "[Elm Road](street) markup",
        "{braces} & [brackets]",
        "%TAG !x",
        "  indented  ",
        "\u2028odd\u0085breaks\x07bell",
        "ünïcødé 🗑️",
    ]
    ids = add(db, awkward)
    exported = export_candidates(db, ids, now=T0)
    assert examples_of(exported) == [one_line(t) for t in awkward]
    assert examples_of(exported)[5] == "two lines here"
    assert examples_of(exported)[8] == "[Elm Road] (street) markup"
    assert examples_of(exported)[12] == "odd breaks bell"

    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    read = RasaYAMLReader().reads(exported)
    assert [e.get("text") for e in read.training_examples] == [one_line(t) for t in awkward]
    assert all(not e.get("entities") for e in read.training_examples)
    assert {e.get("intent") for e in read.training_examples} == {PLACEHOLDER_INTENT}


def test_export_keeps_html_literal(db: Session) -> None:
    ids = add(db, ["<script>alert('x')</script> & <b>bins</b>"])
    assert examples_of(export_candidates(db, ids, now=T0)) == ["<script>alert('x')</script> & <b>bins</b>"]


def test_export_dedupes_ignoring_case_and_only_marks_the_chosen(db: Session) -> None:
    ids = add(db, ["Bins not collected", "bins NOT collected", "pothole"])
    assert examples_of(export_candidates(db, ids[:2], now=T0)) == ["Bins not collected"]
    exported = {r.text: r.exported_at for r in db.execute(select(UnansweredQuestion)).scalars()}
    assert exported == {"Bins not collected": T0, "bins NOT collected": T0, "pothole": None}
    assert groups(db, now=T0 + dt.timedelta(days=1))[0].exported == 2


def test_export_of_nothing_raises(db: Session) -> None:
    with pytest.raises(NothingToExport):
        export_candidates(db, [12345], now=T0)
    with pytest.raises(NothingToExport):
        export_candidates(db, [], now=T0)
