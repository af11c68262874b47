"""The queue under a flood: a page at a time, with every urgent open case on the first screen however
many others there are, and page numbers that can't break it. Over real HTTP to a console process."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from knowledge.casework import cases
from knowledge.db import session_scope
from tests.bot.console_helpers import seeded_console, shown, signed_in

REFERENCE = re.compile(r"NC-\d{4}-\d{6}")


def words(resp: object) -> str:
    """The page as a person reads it: entities decoded, tags gone, spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", shown(resp)).split())


@pytest.fixture(scope="module")
def flooded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A console whose queue holds 205 fake crisis cases, 120 normal ones and, opened last, one real
    crisis case (so its reply is due after all the fakes'). Yields (base URL, references by kind)."""
    with seeded_console(tmp_path_factory, "queue") as (base, db_url):
        with session_scope(db_url) as session:
            for n in range(205):
                cases.open_case(session, f"web:fake{n}", "webchat", "crisis", [{"author": "resident", "text": "kill"}])
            normal = [
                cases.open_case(session, f"web:normal{n}", "webchat", "asked", [])[0].reference for n in range(120)
            ]
            real, _ = cases.open_case(
                session,
                "messenger:real",
                "messenger",
                "crisis",
                [{"author": "resident", "text": "I want to end my life"}],
            )
            refs = {"real": real.reference, "first_normal": normal[0], "last_normal": normal[-1]}
        yield base, refs


def test_a_real_crisis_case_is_on_the_first_screen_after_205_fake_ones(flooded: tuple[str, dict]) -> None:
    base, refs = flooded
    agent = signed_in(base, "agent")
    page = agent.get("/")
    assert page.status_code == 200
    assert refs["real"] in page.text
    text = words(page)
    assert "326 cases match, 206 of them urgent and open" in text
    assert "Page 1 of 3" in text  # 120 normal cases, 50 a page
    assert refs["first_normal"] in page.text and refs["last_normal"] not in page.text
    # Urgent above everything else.
    assert page.text.index(refs["real"]) < page.text.index(refs["first_normal"])


def test_the_crisis_and_urgent_filters_surface_it_and_other_filters_say_what_they_hide(
    flooded: tuple[str, dict],
) -> None:
    base, refs = flooded
    agent = signed_in(base, "agent")
    for query in ("/?reason=crisis", "/?priority=urgent", "/?reason=crisis&page=2", "/?channel=messenger"):
        assert refs["real"] in agent.get(query).text, query
    hidden = words(agent.get("/?channel=rest"))
    assert "206 other urgent open cases are hidden by these filters" in hidden


def test_later_pages_hold_the_rest_and_point_back_to_the_urgent_cases(flooded: tuple[str, dict]) -> None:
    base, refs = flooded
    agent = signed_in(base, "agent")
    last = agent.get("/?page=3")
    assert last.status_code == 200
    assert refs["last_normal"] in last.text and refs["real"] not in last.text
    assert "Urgent open cases (206) are on page 1" in words(last)
    seen = set()
    for n in (1, 2, 3):
        seen |= set(REFERENCE.findall(agent.get(f"/?page={n}").text))
    assert len(seen) == 326  # every case on exactly one of the pages


@pytest.mark.parametrize("value", ["abc", "0", "-1", "1.5", "99999999999999999999", "%F0%9F%98%80", ""])
def test_a_bad_page_number_is_refused_plainly_never_a_server_error(flooded: tuple[str, dict], value: str) -> None:
    base, _ = flooded
    resp = signed_in(base, "agent").get(f"/?page={value}")
    if value == "":
        assert resp.status_code == 200  # no page given: the first
    else:
        assert resp.status_code == 400
        assert "The page number must be a whole number" in words(resp)


def test_a_page_past_the_end_shows_the_last_page(flooded: tuple[str, dict]) -> None:
    base, refs = flooded
    resp = signed_in(base, "agent").get("/?page=40")
    assert resp.status_code == 200 and refs["last_normal"] in resp.text
