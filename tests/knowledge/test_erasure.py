"""Erasing one resident and exporting what is held about them, on SQLite and PostgreSQL.

After an erasure by any of the four ways a resident can name themselves, a search of every row of every
table in the knowledge base and in Rasa's tracker store (and of the logs) finds nothing of theirs, while
the other resident's data is all still there. A dry run changes nothing; a second erasure finds nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, String, Table, select

from knowledge.casework import cases
from knowledge.db import session_scope
from knowledge.delivery import conversations
from knowledge.models import CaseRefusal, PrivacyAudit
from knowledge.personal_data.erasure import TRACKER_EVENTS, erase
from knowledge.personal_data.privacy import pseudonym
from knowledge.personal_data.subject_access import export, write
from knowledge.personal_data.subjects import IdentifierError, normalise_phone, parse_identifier
from tests.privacy_helpers import (
    ANN_EMAIL,
    ANN_MESSENGER,
    ANN_TEXTS,
    ANN_UNANSWERED,
    ANN_WHATSAPP,
    BOB_MESSENGER,
    BOB_TEXTS,
    BOB_UNANSWERED,
    HELD_FOR_ANN,
    START,
    everything,
    populate,
    save_conversation,
    stores,
)

__all__ = ["stores"]  # the fixture, imported for the tests below

# Ann, however she might be found in a row: ids, number in every form, email, what she wrote.
ANN_TRACES = (
    "1000000000000001",
    "447700900123",
    "7700900123",
    "07700 900123",
    "900123",
    ANN_EMAIL,
    ANN_EMAIL.upper(),
    "Acacia",
    "Ann again",
    "Thanks Ann",
    "is my bin day changing",
    "Rang ann",
    "Thanks ann, we've logged it",
    "Your bin day is Tuesday",
    HELD_FOR_ANN,
)
BOB_TRACES = (
    "2000000000000002",
    *BOB_TEXTS,
    BOB_UNANSWERED,
    "Rang bob",
    "cdn.example/2000000000000002.jpg",
    "Thanks bob, we've logged it",
)


def both_stores(stores) -> str:  # noqa: ANN001
    return everything(stores.kb_url) + "\n" + everything(stores.tracker_url)


@pytest.mark.parametrize("who", [ANN_MESSENGER, "reference", ANN_EMAIL, "+44 (0)7700 900123"])
def test_erasure_leaves_nothing_of_the_resident_in_any_store(
    stores, who: str, caplog: pytest.LogCaptureFixture
) -> None:
    refs = populate(stores)
    before = both_stores(stores)
    assert all(trace in before for trace in ANN_TRACES + BOB_TRACES)  # the search would see them
    caplog.set_level(logging.DEBUG)
    report = erase(
        parse_identifier(refs["ann"] if who == "reference" else who), stores.kb_url, stores.tracker_url, actor="tester"
    )
    # Every way of naming her finds her Messenger conversation, and all of it goes.
    after = both_stores(stores)
    for trace in ("1000000000000001", refs["ann"], ANN_UNANSWERED, "Rang ann", *ANN_TEXTS):
        assert trace not in after, f"{trace!r} is still stored"
    assert report.counts[TRACKER_EVENTS] > 0
    for table in (
        "conversations",
        "cases",
        "case_messages",
        "case_audit",
        "attachments",
        "outbound_messages",
        "inbound_events",
        "unanswered_questions",
    ):
        assert report.counts.get(table), f"nothing erased from {table}"
    # The rest of her data is found by her phone (WhatsApp) and email (a question asked on web chat).
    for other in ("07700 900123", ANN_EMAIL):
        erase(parse_identifier(other), stores.kb_url, stores.tracker_url, actor="tester")
    after = both_stores(stores)
    for trace in ANN_TRACES:
        assert trace not in after, f"{trace!r} is still stored"
    for trace in ANN_TRACES + (refs["ann"], ANN_UNANSWERED, *ANN_TEXTS):
        assert trace not in caplog.text
    for trace in BOB_TRACES + (refs["bob"],):
        assert trace in after, f"Bob's {trace!r} went too"


def test_phone_and_email_find_every_conversation_they_were_written_in(stores) -> None:
    populate(stores)
    report = erase(parse_identifier("+447700900123"), stores.kb_url, stores.tracker_url, actor="tester")
    # Messenger (where she wrote the number) and WhatsApp (whose id is the number): two conversations.
    assert report.counts["conversations"] == 2
    # The web chat question holding her email was written elsewhere: erasing by email finds it by its text.
    report = erase(parse_identifier(ANN_EMAIL), stores.kb_url, stores.tracker_url, actor="tester")
    assert report.counts == {"unanswered_questions": 1}
    assert ANN_EMAIL not in both_stores(stores).lower()


def test_email_and_phone_find_conversations_named_by_them(stores) -> None:
    """A REST integrator may use the resident's email address or number as the sender id. Erasing by
    either finds those conversations in every store, including one only the tracker store knows; a longer
    number that merely contains hers is someone else's."""
    populate(stores)
    by_email = "rest:Ann.Example_1@EXAMPLE.org"  # the address as the integrator spelled it
    by_phone, web_phone, someone_else = "rest:+447700900123", "web:07700900123", "rest:+4477009001234"
    with session_scope(stores.kb_url) as session:
        for cid in (by_email, web_phone, someone_else):
            conversations.touch_conversation(session, cid, "rest", "private", cid.split(":")[1], None, None, START)
            cases.open_case(session, cid, "rest", "asked", [{"author": "resident", "text": "my bins again"}], now=START)
    for cid in (by_email, by_phone, web_phone, someone_else):  # by_phone: the bot answered, no handover
        save_conversation(stores.tracker_url, cid, [("user", "when are my bins"), ("bot", "On Tuesday.")], START)

    report = erase(parse_identifier(ANN_EMAIL), stores.kb_url, stores.tracker_url, actor="tester")
    assert report.counts["conversations"] == 2 and report.counts["cases"] == 2  # by_email and her Messenger
    assert "EXAMPLE.org" not in both_stores(stores)
    report = erase(parse_identifier("07700 900123"), stores.kb_url, stores.tracker_url, actor="tester")
    # WhatsApp, web chat and by_phone (tracker store only); her Messenger conversation went with her email.
    assert report.counts["conversations"] == 2 and report.counts["cases"] == 1
    remaining = both_stores(stores)
    for cid in (by_email, by_phone, web_phone):
        assert f"'{cid}'" not in remaining, f"{cid} is still stored"
    assert remaining.count(f"'{someone_else}'") > 2  # conversation, case and tracker events all still there


def test_handovers_refused_by_the_case_caps_are_erased_and_exported(stores, monkeypatch: pytest.MonkeyPatch) -> None:
    """The caps keep a pseudonym of each conversation they turned away: it is the resident's, so it is
    in their export and goes with them; the other resident's refusal stays."""
    monkeypatch.setenv("CASES_PER_SENDER_PER_DAY", "1")
    populate(stores)
    later = START + dt.timedelta(hours=2)
    with session_scope(stores.kb_url) as session:
        for cid in (ANN_MESSENGER, BOB_MESSENGER):
            assert cases.check_caps(session, cid, "messenger", "asked", now=later).cap == "sender_day"
    document, _ = export(parse_identifier(ANN_MESSENGER), stores.kb_url, stores.tracker_url, actor="tester")
    assert [(r["channel"], r["cap"], r["reason"]) for r in document["other_records"]["case_refusals"]] == [
        ("messenger", "sender_day", "asked")
    ]
    report = erase(parse_identifier("07700 900123"), stores.kb_url, stores.tracker_url, actor="tester")
    assert report.counts["case_refusals"] == 1
    with session_scope(stores.kb_url) as session:
        left = session.execute(select(CaseRefusal.conversation)).scalars().all()
    assert left == [pseudonym(BOB_MESSENGER)]


def test_dry_run_counts_and_changes_nothing(stores) -> None:
    populate(stores)
    before = both_stores(stores)
    report = erase(parse_identifier("07700 900123"), stores.kb_url, stores.tracker_url, actor="tester", dry_run=True)
    assert report.dry_run and report.counts["case_messages"] == 4 and report.counts[TRACKER_EVENTS] > 0
    assert both_stores(stores) == before  # no audit line either
    real = erase(parse_identifier("07700 900123"), stores.kb_url, stores.tracker_url, actor="tester")
    assert real.counts == report.counts


def test_erasure_is_idempotent_and_audited_without_the_identifier(stores) -> None:
    populate(stores)
    first = erase(parse_identifier(ANN_EMAIL), stores.kb_url, stores.tracker_url, actor="sam.jones")
    second = erase(parse_identifier(ANN_EMAIL.upper()), stores.kb_url, stores.tracker_url, actor="sam.jones")
    assert first.total > 0 and second.total == 0
    with session_scope(stores.kb_url) as session:
        lines = session.execute(select(PrivacyAudit).order_by(PrivacyAudit.id)).scalars().all()
        assert [(a.action, a.actor, a.identifier_kind) for a in lines] == [("erase", "sam.jones", "email")] * 2
        assert lines[0].counts == first.counts and lines[1].counts == {}
        # The same person, asked for twice, is recognisable as such; the line can't be read back as an email.
        assert lines[0].subject_hash == lines[1].subject_hash
        assert "example" not in json.dumps([a.subject_hash for a in lines])


def test_any_table_with_a_conversation_id_is_erased_too(stores) -> None:
    """A table added later (by another feature) is covered without changing the erasure code."""
    from knowledge.models import Base

    extra = Table(
        "later_feature_rows",
        Base.metadata,
        Column("id", Integer, primary_key=True),
        Column("conversation_id", String(200)),
        Column("note", String(100)),
    )
    try:
        from knowledge.db import get_engine

        extra.create(get_engine(stores.kb_url))
        populate(stores)
        with session_scope(stores.kb_url) as session:
            session.execute(
                extra.insert(),
                [
                    {"conversation_id": ANN_MESSENGER, "note": "ann's"},
                    {"conversation_id": BOB_MESSENGER, "note": "bob's"},
                ],
            )
        report = erase(parse_identifier(ANN_MESSENGER), stores.kb_url, stores.tracker_url, actor="tester")
        assert report.counts["later_feature_rows"] == 1
        with session_scope(stores.kb_url) as session:
            assert session.execute(select(extra.c.note)).scalars().all() == ["bob's"]
    finally:
        Base.metadata.remove(extra)


def test_export_holds_the_residents_data_and_nothing_of_anyone_else(stores, tmp_path: Path) -> None:
    refs = populate(stores)
    document, report = export(parse_identifier("07700 900123"), stores.kb_url, stores.tracker_url, actor="tester")
    out = tmp_path / "sar.json"
    write(document, out)
    written = out.read_text(encoding="utf-8")
    assert out.stat().st_mode & 0o077 == 0  # personal data: owner only
    data = json.loads(written)
    by_id = {c["id"]: c for c in data["conversations"]}
    assert set(by_id) == {ANN_MESSENGER, ANN_WHATSAPP}
    transcript = "\n".join(by_id[ANN_MESSENGER]["transcript"])
    assert all(f"resident: {t}" in transcript for t in ANN_TEXTS) and "bot: Thanks Ann" in transcript
    assert "resident: is my bin day changing? 07700900123" in "\n".join(by_id[ANN_WHATSAPP]["transcript"])
    assert by_id[ANN_MESSENGER]["attachments"][0]["url"] == "https://cdn.example/1000000000000001.jpg"
    # A reply still queued for her is hers too, words and all.
    assert [(o["status"], o["text"], o["target"]["user_id"]) for o in by_id[ANN_WHATSAPP]["outbound_messages"]] == [
        ("pending", "Your bin day is Tuesday", "447700900123"),
        ("awaiting_resident", HELD_FOR_ANN, "447700900123"),  # held for the WhatsApp invitation: hers too
    ]
    [case] = data["cases"]
    assert case["reference"] == refs["ann"]
    assert [m["text"] for m in case["messages"]] == [*ANN_TEXTS, "Rang ann back about it"]
    assert [h["action"] for h in case["history"]] == ["opened", "claimed", "noted"]
    assert [q["text"] for q in data["unanswered_questions"]] == [ANN_UNANSWERED]
    for trace in BOB_TRACES + (refs["bob"],):
        assert trace not in written
    assert report.counts["case_messages"] == 4
    with pytest.raises(FileExistsError):
        write(document, out)  # never overwrites an earlier export


@pytest.mark.parametrize(
    "raw,kind,value",
    [
        ("messenger:123", "conversation", "messenger:123"),
        ("whatsapp:447700900123", "conversation", "whatsapp:447700900123"),
        ("nc-2026-000123", "reference", "NC-2026-000123"),
        ("Ann@Example.org", "email", "ann@example.org"),
        ("07700 900123", "phone", "447700900123"),
        ("+44 7700 900123", "phone", "447700900123"),
        ("+44 (0)7700 900123", "phone", "447700900123"),
        ("0044 7700 900 123", "phone", "447700900123"),
        ("447700900123", "phone", "447700900123"),
        ("0115 496 0000", "phone", "441154960000"),
    ],
)
def test_identifiers_are_recognised_and_normalised(raw: str, kind: str, value: str) -> None:
    identifier = parse_identifier(raw)
    assert (identifier.kind, identifier.value) == (kind, value)


def test_phone_found_however_it_was_written() -> None:
    phone = parse_identifier("07700 900123")
    for written in (
        "ring 07700 900123 please",
        "07700900123",
        "+44 7700 900123.",
        "call +44 (0)7700-900-123",
        "my number: 0044 7700 900123",
    ):
        assert phone.mentioned_in(written), written
    for other in ("07700 900124", "ring 07700 900 12", "ref 900123"):
        assert not phone.mentioned_in(other), other
    assert normalise_phone("+1 202 555 0100") == "12025550100"


def test_bad_identifiers_are_refused() -> None:
    for raw, kind in (("", None), ("not-a-ref", "reference"), ("ann@", "email"), ("call me", "phone")):
        with pytest.raises(IdentifierError):
            parse_identifier(raw, kind)


def test_unused_tracker_store_is_not_created(tmp_path: Path, kb_url: str) -> None:
    """Erasing before Rasa has ever run: the knowledge base is searched, no empty tracker file appears."""
    tracker = tmp_path / "never" / "tracker.db"
    report = erase(parse_identifier(ANN_MESSENGER), kb_url, f"sqlite:///{tracker}", actor="tester")
    assert report.total == 0 and not tracker.exists()
