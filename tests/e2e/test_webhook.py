"""Residents through the REST webhook, against the trained model and real servers."""

from __future__ import annotations

import re
import sqlite3
import uuid

import httpx
import pytest
from sqlalchemy import select

from bot.stack import BotStack
from knowledge.db import session_scope
from knowledge.models import Service
from tests.e2e import residents

pytestmark = pytest.mark.e2e
SITE = "https://www.northshire.gov.uk"


def say(bot: BotStack, text: str, sender: str = "") -> str:
    response = residents.post(bot.webhook_url, sender or f"r-{uuid.uuid4().hex[:10]}", text)
    assert response.status_code == 200, response.text
    return "\n".join(m.get("text", "") for m in response.json())


def events_for(bot: BotStack, sender: str) -> int:
    db = bot.settings.tracker_store_url.removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM events WHERE sender_id = ?", (sender,)).fetchone()[0]


def test_the_missed_bin_rant_gets_link_purpose_and_phone(bot: BotStack) -> None:
    reply = say(bot, "@NorthshireCC the bins on Elm Road haven't been collected AGAIN")
    assert f"{SITE}/bins/report-missed-collection" in reply
    assert "not emptied" in reply  # what the page is for, from the knowledge base
    assert "0300 123 4567" in reply
    assert len(reply) < 500


# One message per service area, written for this test (not in data/ or the eval set).
SAMPLES = [
    ("wen do my bins go out, recycling week or not??", "/bins/collection-day"),
    ("massive hole in the road on Castle Street nearly lost a wheel", "/roads/report-a-pothole"),
    ("somebody has dumped a load of rubble bags in the lane behind us", "/environment/report-fly-tipping"),
    ("how do i pay my council tax bill", "/council-tax/pay"),
    ("my mum is coming out of hospital on friday and needs help at home", "/adult-social-care/leaving-hospital"),
    ("my landlord has given me notice and I've got nowhere to go", "/housing/homelessness"),
    ("is St Mary's primary shut today because of the snow", "/schools/closures"),
    ("need to renew my blue badge", "/parking/blue-badge"),
    ("what time does the library open on saturday", "/libraries"),
    ("I want to register my baby's birth", "/registrars"),
]


@pytest.mark.parametrize("text,path", SAMPLES)
def test_each_service_area_gets_the_right_link(bot: BotStack, text: str, path: str) -> None:
    assert SITE + path in say(bot, text)


@pytest.mark.parametrize(
    "text",
    [
        "i want to kill myself",
        "bins not collected again and honestly i just want to end my life",
        "my partner is hitting me and I'm scared to go home",
        "the flat downstairs is on fire",
    ],
)
def test_crisis_messages_get_999_and_samaritans(bot: BotStack, text: str) -> None:
    reply = say(bot, text)
    assert "999" in reply and "116 123" in reply


def test_other_bodies_are_named(bot: BotStack) -> None:
    assert "https://www.nhs.uk" in say(bot, "cant get a doctors appointment for love nor money")
    assert "105" in say(bot, "power cut on our whole street since 6am")


def test_edited_answer_appears_without_retraining(bot: BotStack) -> None:
    with session_scope(bot.kb_url) as session:  # type: ignore[attr-defined]
        svc = session.execute(select(Service).where(Service.key == "roads.pothole")).scalar_one()
        svc.summary = "Tell us about a pothole and our crews will fix it within 5 working days."
    reply = say(bot, "pothole on my road")
    assert "within 5 working days" in reply and f"{SITE}/roads/report-a-pothole" in reply


def test_asking_for_a_person_gets_a_reference_and_when_they_will_hear(bot: BotStack) -> None:
    reply = say(bot, "can I speak to a real person please")
    assert re.search(r"Your reference is NC-\d{4}-\d{6}", reply) and "reply by" in reply


def test_unclear_message_is_never_a_dead_end(bot: BotStack) -> None:
    response = httpx.post(
        bot.webhook_url, json={"sender": "unclear-1", "message": "the thing with the stuff"}, timeout=60
    )
    reply = " ".join(m.get("text", "") for m in response.json())
    assert "0300 123 4567" in reply or "northshire.gov.uk" in reply


@pytest.mark.parametrize(
    "text", ["🙂🙂🙂", "pot\u200bhole", "\u202eelohtop\u202c", "   ", "<b>bins</b> '; DROP TABLE events;--"]
)
def test_odd_text_gets_a_helpful_reply(bot: BotStack, text: str) -> None:
    reply = say(bot, text)
    assert reply.strip()
    assert "Traceback" not in reply


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b'{"sender": "x", "message": "\xff\xfe"}',
        b'{"sender": "bad-input", "message": null}',
        b'{"sender": "bad-input", "message": "' + b"a" * 100_000 + b'"}',
    ],
)
def test_bad_requests_get_400_and_leave_no_trace(bot: BotStack, raw: bytes) -> None:
    response = httpx.post(bot.webhook_url, content=raw, headers={"Content-Type": "application/json"}, timeout=30)
    assert response.status_code == 400
    assert "error" in response.json() and "Traceback" not in response.text
    assert events_for(bot, "rest:bad-input") == 0
    assert events_for(bot, "rest:x") == 0


def test_conversation_is_kept_in_the_tracker_store(bot: BotStack) -> None:
    say(bot, "pothole", sender="kept-1")
    assert events_for(bot, "rest:kept-1") > 0


def test_bin_type_is_understood_and_used(bot: BotStack) -> None:
    reply = say(bot, "my recycling bin wasn't collected on Oak Lane this week")
    assert f"{SITE}/bins/report-missed-collection" in reply
    assert "(recycling bin)" in reply
