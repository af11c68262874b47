"""A database error never carries a resident's words or id into the logs or the exception text.

SQLAlchemy puts a failed statement's values in the exception (`[parameters: ...]`) and, with engine
logging on, logs every statement's values. Both the knowledge base's engines and Rasa's tracker store (the
class our endpoints file names) must hide them, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from knowledge.casework import cases
from knowledge.db import session_scope
from knowledge.delivery import conversations
from knowledge.models import CaseMessage
from tests.privacy_helpers import rasa_store, stores

__all__ = ["stores"]

RESIDENT_ID = "9876543210123456"
RESIDENT_TEXT = "I can't cope any more, I live at 14 Acacia Avenue"
log = logging.getLogger("councilbot.test")


def assert_hidden(exc: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    log.error("database error", exc_info=exc)  # as every handler in the bot logs one
    for secret in (RESIDENT_ID, RESIDENT_TEXT, "Acacia"):
        assert secret not in str(exc)
        assert secret not in caplog.text
    assert "hidden" in str(exc)  # the statement is still there to debug; only the values are gone


def test_knowledge_base_errors_hide_parameters(stores, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # engine logging on too: statements are logged, their values not
    conversation_id = f"messenger:{RESIDENT_ID}"
    if stores.backend == "postgresql":
        # A platform id longer than the column: PostgreSQL refuses it (finding 6's 250-character sender).
        with pytest.raises(DBAPIError) as raised, session_scope(stores.kb_url) as session:
            conversations.record_delivery(
                session, "messenger:m_1", conversation_id + "9" * 250, "messenger", {"text": RESIDENT_TEXT}
            )
        assert_hidden(raised.value, caplog)
    with session_scope(stores.kb_url) as session:
        case, _ = cases.open_case(session, conversation_id, "messenger", "asked", [])
        case_id = case.id
    # The same form submitted twice (same nonce): the unique constraint refuses the second.
    with pytest.raises(IntegrityError) as raised, session_scope(stores.kb_url) as session:
        for _ in range(2):
            session.add(
                CaseMessage(
                    case_id=case_id,
                    author="resident",
                    text=RESIDENT_TEXT,
                    meta={"from": conversation_id},
                    client_nonce="n1",
                )
            )
            session.flush()
    assert_hidden(raised.value, caplog)


def test_tracker_store_errors_hide_parameters(stores, caplog: pytest.LogCaptureFixture) -> None:
    from rasa.shared.core.events import UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    caplog.set_level(logging.DEBUG)
    store = rasa_store(stores.tracker_url)
    try:
        if stores.backend == "postgresql":
            # Rasa's own save of a sender id longer than its column.
            tracker = DialogueStateTracker(f"messenger:{RESIDENT_ID}" + "9" * 300, [])
            tracker.update(UserUttered(RESIDENT_TEXT))
            with pytest.raises(DBAPIError) as raised:
                asyncio.run(store.save(tracker))
            assert_hidden(raised.value, caplog)
        # An event without a sender: the NOT NULL constraint refuses it.
        with pytest.raises(IntegrityError) as raised, store.session_scope() as session:
            session.add(
                store.SQLEvent(
                    sender_id=None, type_name="user", data=json.dumps({"text": RESIDENT_TEXT, "sender": RESIDENT_ID})
                )
            )
            session.commit()
        assert_hidden(raised.value, caplog)
    finally:
        store.engine.dispose()
