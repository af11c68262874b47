"""X in polling mode (the pay-per-use API) through the real servers: the Rasa server polls the fake X's
mentions timeline and DM events over HTTP, answers each new mention and DM once, and carries on after a
restart from where it stopped: nothing missed, nothing answered twice."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import running_bot
from tests.fakes.platform import X_ACCOUNT_ID, Call, FakePlatform, send_x

pytestmark = pytest.mark.e2e

POTHOLE = "https://www.northshire.gov.uk/roads/report-a-pothole"
MISSED_BIN = "https://www.northshire.gov.uk/bins/report-missed-collection"
MENTIONS_ROUTE = f"/2/users/{X_ACCOUNT_ID}/mentions"
POLL_SECONDS = 5  # the setting's minimum: the test waits for a few polls


def _polls(fake: FakePlatform, route: str) -> int:
    return sum(1 for c in list(fake.calls) if c.method == "GET" and urlsplit(c.path).path == route)


def _until(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _replies_to(fake: FakePlatform, post_id: str) -> list[Call]:
    return [
        c
        for c in list(fake.calls)
        if c.method == "POST"
        and c.path == "/2/tweets"
        and (c.body or {}).get("reply", {}).get("in_reply_to_tweet_id") == post_id
    ]


def _dms_to(fake: FakePlatform, user_id: str) -> list[Call]:
    return [
        c for c in list(fake.calls) if c.method == "POST" and c.path == f"/2/dm_conversations/with/{user_id}/messages"
    ]


def test_polled_mentions_and_dms_are_answered_once_across_a_restart(model: Path, tmp_path: Path) -> None:
    with FakePlatform() as fake:
        timeline = fake.x_timeline
        history = timeline.mention("9101", "@NorthshireCC potholes everywhere round here")  # before the first start
        env = {
            "X_MODE": "polling",
            "X_POLL_SECONDS": str(POLL_SECONDS),
            "X_ACCESS_TOKEN": "x-user-token",
            "X_API_URL": fake.url,
        }
        with running_bot(model, tmp_path, env=env) as bot:
            _until(lambda: _polls(fake, MENTIONS_ROUTE) >= 1, "the first poll")

            # No webhook secret in polling mode: a body "signed" with an empty key is refused.
            forged = send_x(
                f"{bot.rasa_url}/webhooks/x/webhook",
                "",
                {"for_user_id": X_ACCOUNT_ID, "tweet_create_events": []},
            )
            assert forged.status_code == 403

            first = timeline.mention("9101", "@NorthshireCC there's a pothole on Elm Road")
            second = timeline.mention("9102", "@NorthshireCC the bins on our street were missed again")
            timeline.dm("9103", "there is a pothole outside my house")
            _until(
                lambda: bool(_replies_to(fake, first) and _replies_to(fake, second) and _dms_to(fake, "9103")),
                "replies to two mentions and a DM",
            )
            # A few more polls: they find the bot's own DM reply and nothing new.
            polls = _polls(fake, "/2/dm_events")
            _until(lambda: _polls(fake, "/2/dm_events") >= polls + 2, "two more polls", timeout=60)
            dm_replies_before_stop = len(_dms_to(fake, "9103"))

            bot.stop()
            third = timeline.mention("9104", "@NorthshireCC my bin wasn't collected")
            bot.start()

            _until(lambda: bool(_replies_to(fake, third)), "the reply to the mention made while the bot was down")
            polls = _polls(fake, MENTIONS_ROUTE)
            _until(lambda: _polls(fake, MENTIONS_ROUTE) >= polls + 2, "two more polls after the restart", timeout=60)
            fake.settle(quiet=2.0)

        assert _replies_to(fake, history) == []  # the account's history before polling began is not answered
        for post_id in (first, second, third):
            assert len(_replies_to(fake, post_id)) == 1, post_id
        assert POTHOLE in _replies_to(fake, first)[0].body["text"]
        assert MISSED_BIN in _replies_to(fake, second)[0].body["text"]
        dm_replies = _dms_to(fake, "9103")
        assert dm_replies and POTHOLE in " ".join(c.body["text"] for c in dm_replies)
        assert len(dm_replies) == dm_replies_before_stop  # nothing repeated after the restart
        assert _dms_to(fake, "9101") == _dms_to(fake, "9104") == []  # public mentions get public replies
        assert all(c.headers.get("Authorization") == "Bearer x-user-token" for c in fake.calls)
