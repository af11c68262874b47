"""Two residents' data in every store, on SQLite or PostgreSQL, for the erasure, export and retention tests.

Ann writes on Messenger and on WhatsApp, gives her email and phone number, gets a case with staff notes, an
attachment, sends and delivery records, and an unanswered question. Bob writes on Messenger too: nothing of
his may be touched when Ann is erased. The tracker store is filled through Rasa's own store class (the one
the endpoints file names), so its table is exactly what Rasa writes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, text

from knowledge.casework import cases
from knowledge.catalogue import unanswered
from knowledge.db import get_engine, session_scope
from knowledge.delivery import conversations, invitations, outbox
from knowledge.models import StaffUser

ANN_MESSENGER = "messenger:1000000000000001"
ANN_WHATSAPP = "whatsapp:447700900123"
ANN_EMAIL = "ann.example_1@example.org"
ANN_PHONE = "07700 900123"
ANN_TEXTS = (
    "My bin wasn't collected at 14 Acacia Avenue",
    f"You can email me at {ANN_EMAIL} or ring {ANN_PHONE}",
    "Hello, it's Ann again about the bins",
)
ANN_UNANSWERED = "does the council do anything about my neighbour's hedge on Acacia Avenue"
BOB_MESSENGER = "messenger:2000000000000002"
BOB_TEXTS = ("Pothole on Station Road is getting worse", "bob.other@example.net 07700 900999")
BOB_UNANSWERED = "can I keep chickens in my garden on Station Road"
# Now: columns the database stamps itself (`updated_at`) use the real clock; tests move theirs from here.
START = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


@dataclass(frozen=True)
class Stores:
    """The knowledge base and Rasa's tracker store of one test (both SQLite, or both PostgreSQL)."""

    backend: str
    kb_url: str
    tracker_url: str


def _pg_schema(postgres_url: str) -> Iterator[str]:
    schema = f"test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_url, future=True)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{postgres_url}?options=-csearch_path%3D{schema}"
    finally:
        get_engine(f"{postgres_url}?options=-csearch_path%3D{schema}").dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stores]:
    """Migrated, empty stores on each backend; DATABASE_URL and TRACKER_STORE_URL point at them."""
    if request.param == "sqlite":
        from knowledge.migrations import upgrade

        kb_url = f"sqlite:///{tmp_path / 'kb.db'}"
        upgrade(kb_url)
        found = Stores("sqlite", kb_url, f"sqlite:///{tmp_path / 'tracker.db'}")
        monkeypatch.setenv("DATABASE_URL", found.kb_url)
        monkeypatch.setenv("TRACKER_STORE_URL", found.tracker_url)
        yield found
        return
    kb_url = request.getfixturevalue("pg_schema_url")
    tracker_schema = _pg_schema(request.getfixturevalue("postgres_url"))
    tracker_url = next(tracker_schema)
    monkeypatch.setenv("DATABASE_URL", kb_url)
    monkeypatch.setenv("TRACKER_STORE_URL", tracker_url)
    try:
        yield Stores("postgresql", kb_url, tracker_url)
    finally:
        tracker_schema.close()


def rasa_store(tracker_url: str):  # noqa: ANN201 - Rasa's tracker store
    """Rasa's tracker store as the Rasa server builds it from our endpoints file."""
    from rasa.core.tracker_store import create_tracker_store
    from rasa.utils.endpoints import EndpointConfig

    from bot.endpoints import tracker_store_config

    return create_tracker_store(EndpointConfig.from_dict(tracker_store_config(tracker_url)))


def save_conversation(tracker_url: str, sender_id: str, lines: list[tuple[str, str]], at: dt.datetime) -> None:
    """Store a conversation through Rasa: `lines` of (who, text), who being "user" or "bot", a minute apart."""
    from rasa.shared.core.events import BotUttered, SlotSet, UserUttered
    from rasa.shared.core.slots import TextSlot
    from rasa.shared.core.trackers import DialogueStateTracker

    store = rasa_store(tracker_url)
    stored = asyncio.run(store.retrieve(sender_id))
    # Rasa saves only the events after those already stored, so carry on from the stored tracker.
    tracker = DialogueStateTracker.from_events(
        sender_id, list(stored.events) if stored else [], slots=[TextSlot("resident_said", mappings=[])]
    )
    for i, (who, said) in enumerate(lines):
        ts = (at + dt.timedelta(minutes=i)).replace(tzinfo=dt.UTC).timestamp()
        event = UserUttered(said, timestamp=ts) if who == "user" else BotUttered(said, timestamp=ts)
        tracker.update(event)
    tracker.update(SlotSet("resident_said", lines[-1][1], timestamp=ts))
    asyncio.run(store.save(tracker))
    store.engine.dispose()


# A staff reply to Ann on WhatsApp waiting for her to answer the invitation template.
HELD_FOR_ANN = "Ann, your assisted collection starts Monday"


def populate(stores: Stores, at: dt.datetime = START) -> dict[str, str]:
    """Ann's and Bob's data in every store, starting at `at`. Returns their case references."""
    refs = {}
    with session_scope(stores.kb_url) as session:
        staff = StaffUser(username="sam", display_name="Sam", role="agent", password_hash="x")
        session.add(staff)
        session.flush()
        for cid, texts, who in ((ANN_MESSENGER, ANN_TEXTS, "ann"), (BOB_MESSENGER, BOB_TEXTS, "bob")):
            user = cid.split(":")[1]
            conversations.touch_conversation(session, cid, "messenger", "private", user, "page1", None, at)
            conversations.record_delivery(session, f"messenger:m_{user}", cid, "messenger", {"text": texts[0]}, at)
            conversations.add_attachments(
                session, cid, "messenger", [{"kind": "image", "url": f"https://cdn.example/{user}.jpg"}], ["image"], at
            )
            _queue_reply(session, cid, "messenger", user, f"Thanks {who}, we've logged it", at)
            case, _ = cases.open_case(
                session, cid, "messenger", "asked", [{"author": "resident", "text": t} for t in texts], now=at
            )
            cases.claim(session, case.id, staff, now=at)
            cases.add_note(session, case.id, staff, f"Rang {who} back about it", now=at)
            refs[who] = case.reference
            unanswered.record(
                session,
                ANN_UNANSWERED if who == "ann" else BOB_UNANSWERED,
                "fallback",
                channel="messenger",
                conversation_id=cid,
                now=at,
            )
        # Ann on WhatsApp: no case, a conversation record and a send attempt.
        conversations.touch_conversation(session, ANN_WHATSAPP, "whatsapp", "private", "447700900123", None, None, at)
        _queue_reply(session, ANN_WHATSAPP, "whatsapp", "447700900123", "Your bin day is Tuesday", at)
        # WhatsApp after 24 hours (issue 12): a staff reply held until Ann answers the invitation template.
        invitations.invite_once(session, ANN_WHATSAPP, at)
        held = outbox.Planned("message", HELD_FOR_ANN, {"user_id": "447700900123", "account_id": "page1"}, at, None)
        invitations.hold(session, ANN_WHATSAPP, "whatsapp", [held], at)
        # A web chat visitor (anonymous id) who typed Ann's email into a question the bot couldn't answer.
        unanswered.record(
            session,
            f"please update my email to {ANN_EMAIL.upper()}",
            "fallback",
            channel="webchat",
            conversation_id="webchat:anon-1",
            now=at,
        )
    save_conversation(stores.tracker_url, ANN_MESSENGER, [("user", t) for t in ANN_TEXTS] + [("bot", "Thanks Ann")], at)
    save_conversation(
        stores.tracker_url,
        ANN_WHATSAPP,
        [("user", "is my bin day changing? 07700900123"), ("bot", "Bin days are not changing.")],
        at,
    )
    save_conversation(stores.tracker_url, BOB_MESSENGER, [("user", t) for t in BOB_TEXTS], at)
    return refs


def everything(url: str) -> str:
    """Every row of every table in the database at `url`, as one string to search."""
    engine = create_engine(url, future=True)
    try:
        with engine.connect() as conn:
            from sqlalchemy import MetaData

            meta = MetaData()
            meta.reflect(conn)
            parts = []
            for table in meta.sorted_tables:
                for row in conn.execute(select(table)):
                    parts.append(f"{table.name}: {tuple(row)!r}")
            return "\n".join(parts)
    finally:
        engine.dispose()


def tables_of(url: str) -> list[str]:
    engine = create_engine(url, future=True)
    try:
        return inspect(engine).get_table_names()
    finally:
        engine.dispose()


def _queue_reply(session, conversation_id: str, channel: str, user: str, text: str, at: dt.datetime) -> None:
    """A reply still waiting in the outbound queue: it holds its words and where it goes until sent."""
    row = outbox.Planned(
        "message",
        text,
        {"user_id": user, "account_id": "page1", "reply_to": None},
        at + dt.timedelta(hours=24),
        at + dt.timedelta(hours=24),
        [],
    )
    outbox.queue(session, conversation_id, channel, [row], at)
