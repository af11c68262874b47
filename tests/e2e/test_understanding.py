"""Understanding, end to end over REST with the real model: danger answered with the right line first and
an urgent case only for real danger, follow-ups resolved against the conversation, Welsh answered honestly,
other bodies named, and an editor's new example question answered with no retraining."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.stack import BotStack
from knowledge import answers
from knowledge.catalogue import editing
from knowledge.danger.kinds import DangerKind
from knowledge.db import session_scope
from knowledge.models import Case, Service
from tests.e2e import residents
from tests.e2e.conftest import running_bot

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotStack]:
    with running_bot(model, tmp_path_factory.mktemp("understanding")) as s:
        yield s


class Resident:
    def __init__(self, stack: BotStack):
        self.stack, self.sender = stack, f"u-{uuid.uuid4().hex[:10]}"

    def say(self, text: str) -> str:
        reply = residents.post(self.stack.webhook_url, self.sender, text)
        assert reply.status_code == 200, reply.text
        return "\n".join(m.get("text") or "" for m in reply.json())


def _service(stack: BotStack, key: str) -> Service:
    with session_scope(stack.kb_url) as session:
        svc = answers.service(session, key)
        session.expunge(svc)
        return svc


def _cases(stack: BotStack, sender: str) -> list[Case]:
    with session_scope(stack.kb_url) as session:
        rows = session.query(Case).filter(Case.conversation_id == f"rest:{sender}").all()
        session.expunge_all()
        return rows


@pytest.mark.parametrize(
    "text,kind",
    [
        ("my neighbours flat is on fire and the kids are still inside", DangerKind.FIRE),
        ("i can smell gas really strongly in our hallway", DangerKind.GAS),
        ("honestly I don't want to be alive anymore", DangerKind.SUICIDE),
        ("im 11 and my mums boyfriend hits me", DangerKind.CHILD_HARM),
        ("my partner is hitting me and I'm scared to go home", DangerKind.DOMESTIC_ABUSE),
    ],
)
def test_danger_leads_with_its_line_and_opens_an_urgent_case(stack: BotStack, text: str, kind: DangerKind) -> None:
    resident = Resident(stack)
    reply = resident.say(text)
    with session_scope(stack.kb_url) as session:
        lead = answers.danger_answer(answers.council(session), kind).text.splitlines()[0]
    assert reply.splitlines()[0] == lead
    cases = _cases(stack, resident.sender)
    assert len(cases) == 1 and cases[0].priority == "urgent" and cases[0].reason == "crisis"


@pytest.mark.parametrize(
    "text",
    [
        "can I get a single person discount on my council tax",
        "how do I pay my parking fine",
        "these potholes are killing me on Mill Lane",
    ],
)
def test_ordinary_questions_raise_no_alarm_and_open_no_case(stack: BotStack, text: str) -> None:
    resident = Resident(stack)
    reply = resident.say(text)
    assert "999" not in reply
    assert _cases(stack, resident.sender) == []


def test_danger_then_the_service_question_also_asked(stack: BotStack) -> None:
    reply = Resident(stack).say(
        "There's a man collapsed on the pavement outside 12 Swallow Street NS1 3NA, not breathing. "
        "Also when is my bin collection day?"
    )
    assert reply.splitlines()[0].startswith("Call 999 now and ask for an ambulance")
    assert _service(stack, "bins.collection_day").url in reply


def test_follow_ups_resolve_against_the_conversation(stack: BotStack) -> None:
    garden, libraries, leisure = (_service(stack, k) for k in ("bins.garden", "libraries", "leisure"))
    resident = Resident(stack)
    assert garden.url in resident.say("I'd like to sign up for the garden waste collection please")
    cost = resident.say("how much does that cost?")
    assert garden.url in cost and garden.cost.strip() in cost
    opening = resident.say("when is the library open?")
    assert libraries.url in opening and libraries.timing.strip() in opening
    same = resident.say("same for the leisure centre?")
    assert leisure.url in same and leisure.timing.strip() in same


def test_the_other_bin(stack: BotStack) -> None:
    # A missed bin now starts a report (tests/e2e/test_reports.py); the follow-up about the other bin is
    # checked on a bin question that is still answered with the page.
    resident = Resident(stack)
    where = _service(stack, "bins.what_goes_where")
    assert where.url in resident.say("what can go in my black bin?")
    other = resident.say("what about the other bin?")
    assert where.url in other and "recycling bin" in other


def test_welsh_is_answered_in_welsh_and_english(stack: BotStack) -> None:
    reply = Resident(stack).say("Pryd mae fy miniau yn cael eu casglu os gwelwch yn dda?")
    assert "Gymraeg" in reply and "Welsh" in reply and "0300 123 4567" in reply
    assert "northshire.gov.uk/bins" not in reply


def test_other_bodies_are_named(stack: BotStack) -> None:
    reply = Resident(stack).say("there's a huge pothole on the M1 southbound near junction 26")
    assert "National Highways" in reply and "nationalhighways.co.uk" in reply


def test_an_editors_example_question_is_answered_without_retraining(stack: BotStack) -> None:
    question = "is there a warm space open near me this winter where I can sit during the day"
    before = Resident(stack).say(question)
    assert "warm-spaces" not in before
    with session_scope(stack.kb_url) as session:
        editing.publish_service(
            session,
            "editor",
            {
                "key": "community.warm_spaces",
                "title": "Warm spaces this winter",
                "url": "https://www.northshire.gov.uk/warm-spaces",
                "category": "community",
                "summary": "Free warm, welcoming places to spend time this winter.",
                "what_you_need": [],
                "phone": "0300 123 4567",
                "eligibility": "Anyone.",
                "cost": "Free.",
                "timing": "Most are open 10am to 4pm, Monday to Saturday.",
                "synonyms": ["warm space", "warm hub"],
                "examples": [
                    "is there a warm space near me where I can sit in the day",
                    "where are the warm hubs this winter",
                ],
                "owner": "Communities team",
                "review_by": dt.date(2027, 3, 31),
                "always_human": False,
            },
            base_version=0,
            reason="winter",
        )
    after = Resident(stack).say(question)
    assert "https://www.northshire.gov.uk/warm-spaces" in after
