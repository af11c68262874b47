"""Odd but correctly signed platform bodies, over real HTTP: never a 500, never a stack trace in the log, and
the good messages in a batch still answered.

A platform's signature proves who sent the bytes, not that they are shaped as documented (a new field
type, a partial outage on their side, or an attacker holding a leaked app secret). Hypothesis isn't
installed, so `malformed_bodies` is a small deterministic generator: valid bodies of every kind with keys
dropped, values swapped for other types, huge or negative numbers, long ids, lone surrogates and deep
nesting.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import httpx
import pytest

from knowledge.catalogue.content import load
from knowledge.db import session_scope
from knowledge.settings import CONTENT_DIR
from tests.bot.webhook_app import REPLY
from tests.bot.webhook_helpers import APP_SECRET, X_SECRET, running_webhooks
from tests.fakes import payloads as p
from tests.fakes.platform import FakePlatform, body_of, meta_signature, send_meta, x_signature

# Values a field might hold instead of the documented one.
ODD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**63,
    -(2**63),
    10**30,
    1e308,
    -1e308,
    1.5,
    "",
    " ",
    "x" * 300,
    "٣٤٥",
    "\ud800",
    "a\x00b",
    "\udfff\ud800",
    [],
    {},
    [1, [2, [3]]],
    {"id": {"id": "nested"}},
    {"$numberLong": "1"},
    ["psid-1"],
    "9" * 400,
    "2026-01-01T00:00:00Z",
]


def _valid_bodies() -> list[tuple[str, dict]]:
    """("meta" or "x", body) for one message of every kind the webhooks handle."""
    return [
        ("meta", p.messenger("prop-user-1", "pothole on my road")),
        ("meta", p.messenger("prop-user-2", quick_reply="/svc_bins_missed", text="Missed bin")),
        (
            "meta",
            p.messenger(
                "prop-user-3",
                attachments=[
                    {"type": "location", "payload": {"coordinates": {"lat": 52.9, "long": -1.1}}},
                    {"type": "image", "payload": {"url": "https://cdn.example/p.jpg"}},
                ],
            ),
        ),
        ("meta", p.instagram_dm("prop-ig-1", "library times")),
        ("meta", p.page_comment("prop-fb-1", "bins again")),
        ("meta", p.instagram_comment("prop-igc-1", "pothole")),
        ("meta", p.whatsapp_text("447700900123", "missed bin")),
        ("meta", p.whatsapp("447700900124", {"type": "location", "location": {"latitude": 52.9, "longitude": -1.1}})),
        ("meta", p.whatsapp("447700900125", {"type": "image", "image": {"id": "media-1", "mime_type": "image/jpeg"}})),
        ("x", p.x_mention("prop-x-1", "pothole")),
        ("x", p.x_dm("prop-x-2", "missed bin")),
    ]


def _paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every path (tuple of keys and indexes) to a value inside `value`."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


def _parent(body: Any, path: tuple) -> Any:
    for key in path[:-1]:
        body = body[key]
    return body


def _deep(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


def _fresh_ids(body: Any, rng: random.Random) -> Any:
    """The same body with its message ids made unique, so dedupe doesn't hide a second variant."""
    text = json.dumps(body)
    for old in ("m_", "wamid.HBg", "1800", f"{p.PAGE_ID}_"):
        text = text.replace(f'"{old}', f'"{old}v{rng.randrange(10**9)}')
    return json.loads(text)


def malformed_bodies(seed: int = 9, rounds: int = 8) -> Iterator[tuple[str, bytes]]:
    """(platform, raw body) pairs, all different, all of which a webhook must answer without a 500."""
    rng = random.Random(seed)
    for _ in range(rounds):
        for platform, valid in _valid_bodies():
            paths = list(_paths(valid))
            for mutation in ("drop", "swap", "swap", "swap", "deep"):
                body = _fresh_ids(copy.deepcopy(valid), rng)
                path = rng.choice(paths)
                parent = _parent(body, path)
                if mutation == "drop":
                    if isinstance(parent, dict):
                        del parent[path[-1]]
                    else:
                        parent.pop(path[-1])
                elif mutation == "swap":
                    parent[path[-1]] = copy.deepcopy(rng.choice(ODD_VALUES))
                else:
                    parent[path[-1]] = _deep(rng.choice([40, 500]))
                # Sent as the platforms send: compact JSON with non-ASCII (and lone surrogates) escaped.
                yield platform, body_of(body)
    # Whole-body oddities.
    for raw in (
        b"[" * 100_000,
        b'{"object":"page","entry":' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":"\\ud800"}}]}]}',
        b'{"object":"page","entry":{"id":"1"}}',
        b'{"object":"page","entry":"x"}',
        b"[]",
        b'"x"',
        b"null",
        b"1e999999",
        b"-" + b"9" * 5000,
        b'{"for_user_id":' + b"9" * 5000 + b"}",
        b'{"object":"page","entry":[' + b",".join([b"1"] * 2000) + b"]}",
        b'{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"messages":7}}]}]}',
        b'{"for_user_id":"1","tweet_create_events":{"a":1},"direct_message_events":7}',
    ):
        yield "meta", raw
        yield "x", raw


def _seeded(url: str) -> str:
    with session_scope(url) as session:
        load(session, CONTENT_DIR)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A seeded knowledge base on SQLite, then on PostgreSQL (which refuses more: long values, NULs)."""
    if request.param == "sqlite":
        return request.getfixturevalue("kb_url")
    return _seeded(request.getfixturevalue("pg_schema_url"))


def _send(base: str, platform: str, raw: bytes, client: Optional[httpx.Client] = None) -> httpx.Response:
    """POST `raw` to the platform's webhook, signed as the platform signs (one client for many: making
    a client costs more than the request)."""
    if platform == "meta":
        url, header = f"{base}/webhooks/meta/webhook", {"X-Hub-Signature-256": meta_signature(APP_SECRET, raw)}
    else:
        url, header = f"{base}/webhooks/x/webhook", {"X-Twitter-Webhooks-Signature": x_signature(X_SECRET, raw)}
    headers = {"Content-Type": "application/json", **header}
    if client is None:
        return httpx.post(url, content=raw, headers=headers, timeout=30)
    return client.post(url, content=raw, headers=headers)


def test_odd_signed_bodies_never_get_a_500_or_a_stack_trace(db_url: str, tmp_path: Path) -> None:
    log = tmp_path / "webhooks.log"
    bodies = list(malformed_bodies())
    assert len(bodies) > 450 and len(set(bodies)) > 400  # the generator makes many different bodies
    with FakePlatform() as fake, running_webhooks(db_url, fake.url, log) as base:
        statuses: dict[int, int] = {}
        with httpx.Client(timeout=30) as client:
            for platform, raw in bodies:
                response = _send(base, platform, raw, client)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                assert response.status_code in (200, 400), (response.status_code, raw[:300])
                assert "Traceback" not in response.text
        # The accepted ones are answered (or skipped) by the workers afterwards: wait until they are done,
        # then prove the webhook still works for an ordinary message.
        fake.settle(quiet=1.0)
        fake.reset()
        good = send_meta(f"{base}/webhooks/meta/webhook", APP_SECRET, p.messenger("prop-after", "pothole"))
        assert good.status_code == 200 and good.json()["queued"] == 1
        calls = fake.wait_for(1)
        assert calls[0].body["recipient"] == {"id": "prop-after"}
        assert calls[0].body["message"]["text"] == REPLY
        text = log.read_text(encoding="utf-8", errors="replace")  # before shutdown, which logs its own noise
    assert statuses.get(400, 0) > 20 and statuses.get(200, 0) > 100  # both kinds of answer were exercised
    assert "Traceback" not in text
    assert " ERROR " not in text, [line for line in text.splitlines() if " ERROR " in line][:5]


def test_deep_nesting_and_lone_surrogates_answer_400_not_500(kb_url: str, tmp_path: Path) -> None:
    with FakePlatform() as fake, running_webhooks(kb_url, fake.url, tmp_path / "webhooks.log") as base:
        deep = _send(base, "meta", b"[" * 100_000)
        assert deep.status_code == 400 and "nested" in deep.json()["error"]
        wrong_shape = _send(base, "meta", b'{"object":"page","entry":{"id":"1"}}')
        assert wrong_shape.status_code == 400
        # A lone surrogate in a resident's text is repaired, not a reason to lose the message.
        body = p.messenger("surrogate-user", "pothole \ud800 here")
        response = _send(base, "meta", body_of(body))
        assert response.status_code == 200 and response.json()["queued"] == 1
        assert fake.wait_for(1)[0].body["recipient"] == {"id": "surrogate-user"}


def test_a_batch_with_an_unusable_id_still_answers_the_good_message(pg_schema_url: str, tmp_path: Path) -> None:
    """On PostgreSQL, where a 250-character sender id doesn't fit the column: that event is skipped (and
    logged without the id); the good message in the same batch is answered, first time."""
    long_id = "7" * 250
    batch = p.messenger("good-resident", "there's a pothole on my road")
    bad = p.messenger(long_id, "pothole")
    batch["entry"].append(bad["entry"][0])
    log = tmp_path / "webhooks.log"
    with FakePlatform() as fake, running_webhooks(_seeded(pg_schema_url), fake.url, log) as base:
        response = _send(base, "meta", body_of(batch))
        assert response.status_code == 200
        assert response.json()["queued"] == 1
        calls = fake.settle(at_least=1)
    assert [c.body["recipient"]["id"] for c in calls] == ["good-resident"]
    text = log.read_text()
    assert "unusable user id" in text
    assert long_id not in text


def test_an_instagram_comment_replayed_after_the_dedupe_window_is_not_answered(kb_url: str, tmp_path: Path) -> None:
    """Instagram's comment webhook has no time of its own: the entry's time dates it, so a body replayed
    eight days later (after its id has been forgotten) is refused as a replay."""
    old = p.instagram_comment("replay-igc", "pothole on the high street")
    old["entry"][0]["time"] -= 8 * 24 * 3600
    undated = p.instagram_comment("undated-igc", "pothole on the high street")
    del undated["entry"][0]["time"]
    fresh = p.instagram_comment("fresh-igc", "pothole on the high street")
    with FakePlatform() as fake, running_webhooks(kb_url, fake.url, tmp_path / "webhooks.log") as base:
        replayed = _send(base, "meta", body_of(old))
        assert replayed.status_code == 200 and replayed.json()["queued"] == 0
        no_time = _send(base, "meta", body_of(undated))
        assert no_time.status_code == 200 and no_time.json()["queued"] == 0
        answered = _send(base, "meta", body_of(fresh))
        assert answered.json()["queued"] == 1
        calls = fake.settle(at_least=1)
    # Only the fresh comment got replies (its public reply goes under the comment itself).
    assert calls and all(fresh["entry"][0]["changes"][0]["value"]["id"] in c.path for c in calls)
