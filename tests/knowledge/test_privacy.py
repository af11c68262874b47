"""What must not be discussed in public: personal details in a comment, and sensitive topics.

A miss leaves a resident's details in a public thread with the council answering there; a false alarm only
moves an ordinary answer into a private message. Both directions are checked.
"""

from __future__ import annotations

import multiprocessing
import os
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from knowledge.db import session_scope
from knowledge.models import Service
from knowledge.personal_data.privacy import (
    SENSITIVE_CATEGORIES,
    PseudonymKeyError,
    is_sensitive,
    personal_details,
    pseudonym,
    pseudonym_key,
)


@pytest.mark.parametrize(
    "text,kind",
    [
        # postcodes: with and without the space, any case
        ("pothole outside NG1 5DT", "postcode"),
        ("pothole outside NG15DT", "postcode"),
        ("bins missed at ng1 5dt again", "postcode"),
        ("SW1A 1AA", "postcode"),
        ("sw1a1aa please", "postcode"),
        ("M1 1AE", "postcode"),
        # mobile and landline numbers as people write them
        ("call me on 07700 900123", "phone"),
        ("call me on 07700900123", "phone"),
        ("call me on 07700 900 123", "phone"),
        ("ring +44 7700 900123", "phone"),
        ("ring +447700900123", "phone"),
        ("my landline is 0115 496 0000", "phone"),
        ("my landline is 0115-496-0000", "phone"),
        ("020 7946 0018", "phone"),
        ("+44 (0) 115 496 0000", "phone"),
        ("ring (0115) 496 0000", "phone"),
        # emails
        ("email sam.jones@example.com", "email"),
        ("a.b+council@mail.co.uk", "email"),
        # addresses
        ("there's a pothole outside 14 Elm Road", "address"),
        ("14a Elm Road", "address"),
        ("14, Elm Road", "address"),
        ("fly-tipping behind 221B Baker Street", "address"),
        ("3 Church Lane", "address"),
        ("I live in flat 3", "address"),
        ("Flat 12b has damp", "address"),
        ("apartment 4", "address"),
        ("at number 14", "address"),
        # names
        ("my name is Sam", "name"),
        ("hi my name is Sam and my bin was missed", "name"),
        ("my name's Priya", "name"),
        ("Mrs Patel next door", "name"),
        ("Mr. Jones", "name"),
        ("Dr Smith", "name"),
        ("my dad Bob can't get his bin out", "name"),
        ("my mum Jean needs help", "name"),
        ("our neighbour Keith dumps rubbish", "name"),
        ("My name is Sam Jones and my bin was missed", "name"),
        ("My mum Jean fell on the pavement", "name"),
        ("I'm called Jo and I need help", "name"),
        ("I am called Jo", "name"),
    ],
)
def test_personal_details_are_found(text: str, kind: str) -> None:
    assert kind in personal_details(text)


@pytest.mark.parametrize(
    "text",
    [
        "pothole on the high street",
        "bins not collected for 2 weeks",
        "bins not collected on our street for 2 weeks",
        "council tax band D",
        "A road closed",
        "the A46 is closed",
        "the 3 bins",
        "2 bins left on the street",
        "When is bin day?",
        "my mum is ill",
        "I need a parking permit",
        "is the library open on 25 December",
        "I paid £120 for council tax",
        "bus route 36 is late",
        "year 7 admissions",
        "Call 999",
        "lights out on 3 streets",
        "rats in the garden",
        "a pothole 2 metres wide on the road",
        "there are 2 potholes on the road",
        "3 weeks and the street light is still out",
    ],
)
def test_ordinary_messages_are_not_flagged(text: str) -> None:
    assert personal_details(text) == []


def test_kinds_are_reported_once_each_in_order() -> None:
    text = "Mrs Patel, 14 Elm Road, NG1 5DT, 07700 900123, sam@example.com, flat 3"
    assert personal_details(text) == ["postcode", "phone", "email", "address", "name"]


def test_email_is_not_also_a_name_or_phone() -> None:
    assert personal_details("write to bins@northshire.gov.uk") == ["email"]


@pytest.mark.parametrize(
    "intent,category,always_human,expected",
    [
        ("crisis", None, False, True),
        ("human_handoff", None, False, True),
        ("svc_asc_leaving_hospital", "adult_social_care", False, True),
        ("svc_safeguarding_child", "safeguarding", False, True),
        ("svc_benefits_housing", "benefits", False, True),
        ("svc_housing_homeless", "housing", True, True),
        ("svc_bins_missed", "bins", False, False),
        ("svc_roads_pothole", "roads", False, False),
        ("greet", None, False, False),
        ("nlu_fallback", None, False, False),
        (None, None, False, False),
    ],
)
def test_is_sensitive(intent: str, category: str, always_human: bool, expected: bool) -> None:
    assert is_sensitive(intent, category, always_human) is expected


def test_sensitive_categories_exist_in_the_knowledge_base(kb_url: str) -> None:
    """A renamed category would silently stop those topics being kept private."""
    with session_scope(kb_url) as s:
        categories = set(s.execute(select(Service.category)).scalars())
    assert categories >= SENSITIVE_CATEGORIES


def test_pseudonym_hides_the_resident_but_follows_the_conversation() -> None:
    phone = "whatsapp:447700900123"
    name = pseudonym(phone)
    assert name.startswith("whatsapp#")
    assert "447700900123" not in name and "7700900123" not in name
    assert pseudonym(phone) == name  # the same conversation can be followed through the logs
    assert pseudonym("whatsapp:447700900124") != name
    assert pseudonym("messenger:447700900123") != name.replace("whatsapp", "messenger")  # hashed with the channel
    assert "12345" not in pseudonym("no-channel-12345")


def test_pseudonym_is_keyed_so_a_phone_number_cannot_be_found_by_hashing_them_all(monkeypatch) -> None:
    import hashlib

    from knowledge.personal_data.privacy import pseudonym_key

    phone = "whatsapp:447700900123"
    plain = hashlib.sha256(phone.encode()).hexdigest()[:10]
    monkeypatch.setenv("PSEUDONYM_KEY", "key-one")
    pseudonym_key.cache_clear()
    try:
        one = pseudonym(phone)
        monkeypatch.setenv("PSEUDONYM_KEY", "key-two")
        pseudonym_key.cache_clear()
        two = pseudonym(phone)
    finally:
        pseudonym_key.cache_clear()
    assert plain not in one and plain not in two and one != two


def _key_when_all_start(var_dirs: list[str], start: Any, keys: Any) -> None:
    """One process of `councilbot run`, started again for each of `var_dirs`: wait for the others, then
    ask for the pseudonym key as a fresh process would."""
    os.environ.pop("PSEUDONYM_KEY", None)
    for var_dir in var_dirs:
        os.environ["COUNCILBOT_VAR_DIR"] = var_dir
        pseudonym_key.cache_clear()
        start.wait()
        try:
            keys.put((var_dir, pseudonym_key().decode("ascii")))
        except Exception as error:  # noqa: BLE001 - reported to the test, which fails on it
            keys.put((var_dir, f"failed: {error!r}"))


def test_processes_starting_together_share_one_whole_key(tmp_path: Path) -> None:
    """`councilbot run` starts several processes at once on a new install: each must end up with the
    same, non-empty key, or they would hash one conversation differently and erasure would miss rows."""
    processes, rounds = 6, 25
    var_dirs = [str(tmp_path / f"install{i}") for i in range(rounds)]
    context = multiprocessing.get_context("spawn")  # a fresh interpreter, like each process of the stack
    start, keys = context.Barrier(processes), context.Queue()
    workers = [context.Process(target=_key_when_all_start, args=(var_dirs, start, keys)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    seen: dict[str, set[str]] = {}
    for _ in range(processes * rounds):
        var_dir, key = keys.get(timeout=120)
        seen.setdefault(var_dir, set()).add(key)
    for worker in workers:
        worker.join(timeout=60)
    for var_dir, found in seen.items():
        [key] = found  # one key per install
        assert re.fullmatch(r"[0-9a-f]{64}", key), key
        assert (Path(var_dir) / "pseudonym.key").read_text(encoding="ascii") == key
        assert os.listdir(var_dir) == ["pseudonym.key"]  # no temporary files left behind
        assert (Path(var_dir) / "pseudonym.key").stat().st_mode & 0o077 == 0


def test_an_empty_key_file_is_refused_rather_than_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty key file (left by a process that died between creating and writing it) would make every
    pseudonym a hash with no secret: the bot refuses it and says what to do; deleting it makes a new key."""
    monkeypatch.setenv("COUNCILBOT_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("PSEUDONYM_KEY", raising=False)
    key_file = tmp_path / "pseudonym.key"
    key_file.write_bytes(b"")
    pseudonym_key.cache_clear()
    try:
        with pytest.raises(PseudonymKeyError, match="pseudonym.key is empty.*delete the file"):
            pseudonym("whatsapp:447700900123")
        key_file.unlink()
        name = pseudonym("whatsapp:447700900123")
        assert len(key_file.read_bytes()) == 64 and key_file.stat().st_mode & 0o077 == 0
        pseudonym_key.cache_clear()
        assert pseudonym("whatsapp:447700900123") == name  # kept: the next process names it alike
    finally:
        pseudonym_key.cache_clear()


def test_pseudonym_never_carries_what_a_rest_caller_chose() -> None:
    for sender in ("rest:ann.smith@example.com:1", "rest:07700900123:x", "rest:" + "a:" * 100 + "b"):
        name = pseudonym(sender)
        assert name.startswith("rest#") and len(name) <= 20, name
    assert pseudonym("Ann Smith:1").startswith("#")
