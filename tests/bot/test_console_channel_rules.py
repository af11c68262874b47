"""What staff are told when a platform's rule stops their reply, in that channel's own numbers: a private
reply to an Instagram comment may hold 1,000 characters (Instagram Direct's limit), a Facebook comment's
2,000; Messenger's window is 24 hours, a comment's private reply window 7 days. Over real HTTP: the console
as its own process, the fake Meta platform behind it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.bot.console_helpers import WebClient, claimed_case, seeded_console, staff_reply
from tests.fakes.platform import FakePlatform


@pytest.fixture(scope="module")
def platform() -> Iterator[FakePlatform]:
    with FakePlatform() as fake:
        yield fake


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, platform: FakePlatform) -> Iterator[tuple[str, str]]:
    env = {
        "META_APP_SECRET": "app-secret",
        "META_VERIFY_TOKEN": "verify-me",
        "META_PAGE_ACCESS_TOKEN": "page-token",
        "META_GRAPH_URL": platform.url,
    }
    with seeded_console(tmp_path_factory, "channel_rules", env=env) as (base, db_url):
        yield base, db_url


def _claimed_case(base: str, db_url: str, channel: str, user: str, hours_ago: float) -> tuple[WebClient, str]:
    return claimed_case(base, db_url, channel, user, hours_ago)


_reply = staff_reply


@pytest.mark.parametrize("channel, limit", [("instagram_comment", "1,000"), ("facebook_comment", "2,000")])
def test_a_too_long_comment_reply_names_that_platforms_limit(
    console: tuple[str, str], platform: FakePlatform, channel: str, limit: str
) -> None:
    base, db_url = console
    platform.reset()
    agent, reference = _claimed_case(base, db_url, channel, f"long-{channel}", hours_ago=1)
    notice = _reply(agent, reference, "A" * 2500 + ".")
    assert f"a private reply to a comment can be at most {limit} characters" in notice
    assert platform.calls == []


def test_an_instagram_comment_reply_over_1000_characters_is_refused(
    console: tuple[str, str], platform: FakePlatform
) -> None:
    base, db_url = console
    platform.reset()
    agent, reference = _claimed_case(base, db_url, "instagram_comment", "ig-1500", hours_ago=1)
    assert "at most 1,000 characters" in _reply(agent, reference, "A" * 1500 + ".")
    assert platform.calls == []
    assert "Reply sent." in _reply(agent, reference, "A" * 900 + ".")
    [call] = platform.calls
    assert call.body == {"recipient": {"comment_id": "comment-1"}, "message": {"text": "A" * 900 + "."}}


@pytest.mark.parametrize(
    "channel, hours_ago, window",
    [("messenger", 8 * 24, "7 days"), ("instagram", 8 * 24, "7 days"), ("facebook_comment", 8 * 24, "7 days")],
)
def test_outside_the_window_staff_are_told_that_channels_window(
    console: tuple[str, str], platform: FakePlatform, channel: str, hours_ago: float, window: str
) -> None:
    base, db_url = console
    platform.reset()
    agent, reference = _claimed_case(base, db_url, channel, f"late-{channel}", hours_ago=hours_ago)
    notice = _reply(agent, reference, "Sorry for the wait.")
    assert f"the platform only allows replies within {window} of the resident's last message" in notice
    assert platform.calls == []


@pytest.mark.parametrize("channel", ["messenger", "instagram"])
def test_a_staff_reply_on_day_3_goes_with_the_human_agent_tag(
    console: tuple[str, str], platform: FakePlatform, channel: str
) -> None:
    """Past the 24-hour window a person may still answer for 7 days, with Meta's HUMAN_AGENT tag."""
    base, db_url = console
    platform.reset()
    agent, reference = _claimed_case(base, db_url, channel, f"day3-{channel}", hours_ago=3 * 24)
    assert "Reply sent." in _reply(agent, reference, "Sorry for the wait: the crew is booked for Friday.")
    [call] = platform.calls
    assert call.body["messaging_type"] == "MESSAGE_TAG" and call.body["tag"] == "HUMAN_AGENT"
    assert call.body["message"]["text"] == "Sorry for the wait: the crew is booked for Friday."


def test_a_tagged_reply_meta_refuses_stays_on_the_case_marked_failed(
    console: tuple[str, str], platform: FakePlatform
) -> None:
    """Meta may refuse the HUMAN_AGENT tag (the app lacks the permission, or Meta says the window closed):
    staff are told it failed and the reply's words stay on the case, so nothing is lost."""
    base, db_url = console
    platform.reset()
    agent, reference = _claimed_case(base, db_url, "messenger", "tag-refused", hours_ago=3 * 24)
    platform.fail_next(400)
    words = "The crew is booked for Friday morning."
    notice = _reply(agent, reference, words)
    assert "Reply sent." not in notice and "could not be delivered" in notice, notice
    [call] = platform.calls  # refused, not retried: a 400 won't change
    assert call.body["tag"] == "HUMAN_AGENT"
    page = agent.get(f"/cases/{reference}").text
    assert words in page and "(failed)" in page, page
    assert re.search(r"Not delivered: [^<]*HTTP 400", page)  # the platform's answer, shown on the case
