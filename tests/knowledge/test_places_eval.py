"""The held-out places evaluation (tests/data/eval/places.yml, written without sight of the resolver or the
training data): how residents say where something is, judged against the demo council's gazetteer.

- bin_days and pins must be 100% right: they are worked out by hand from fixed rules, so any miss is a bug.
- found and not_found are residents' own words (typos, text speak, rambling): accuracy is printed per kind
  (run with `-s` to see it) and must stay at or above FLOOR.

places.yml's misses on the resolver's first version were shown to the resolver's author, who then read those
phrasings too, so its found/not_found figures are no longer a held-out measure. places_unseen.yml was written
afterwards by someone who saw neither the resolver nor places.yml. Its first run (80% found) showed that a
number straight after the street ("maple cres 43 thx") was dropped; that general rule was then fixed (89%),
so it too has now been seen once: the next change to the resolver should be judged on a fresh set.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections import defaultdict
from typing import Any

import pytest
import yaml

from knowledge.settings import PROJECT_ROOT

EVAL_DIR = PROJECT_ROOT / "tests" / "data" / "eval"
EVAL = yaml.safe_load((EVAL_DIR / "places.yml").read_text(encoding="utf-8"))
UNSEEN = yaml.safe_load((EVAL_DIR / "places_unseen.yml").read_text(encoding="utf-8"))
FREE_TEXT_SETS = {"places.yml": EVAL, "places_unseen.yml": UNSEEN}
GAZETTEER_CSV = PROJECT_ROOT / "knowledge" / "content" / "places" / "gazetteer.csv"

# Floor for the free-text sections (found, not_found): 85%. Residents' wording is open-ended, so a few misses
# are expected; below this a resident would be asked again too often to trust the bot with a place.
FLOOR = 0.85

# The evaluation file names the outcomes for people reading it; the resolver's enum may spell them
# differently. Each known spelling maps to the file's word. An unknown spelling fails the test loudly (add it
# here) rather than being counted as a miss.
OUTCOME_SPELLINGS: dict[str, str] = {
    "found": "found",
    "not_a_postcode": "not_a_postcode",
    "not_postcode": "not_a_postcode",
    "bad_postcode": "not_a_postcode",
    "invalid_postcode": "not_a_postcode",
    "outside_area": "outside_area",
    "out_of_area": "outside_area",
    "outside_council": "outside_area",
    "other_council": "outside_area",
    "no_such_number": "no_such_number",
    "number_not_on_street": "no_such_number",
    "bad_number": "no_such_number",
    "not_on_street": "no_such_number",
    "unknown_street": "unknown_street",
    "no_such_street": "unknown_street",
    "street_unknown": "unknown_street",
    "nothing": "nothing",
    "no_place": "nothing",
    "not_a_place": "nothing",
    "none": "nothing",
    # Outcomes no case in the file expects: known, so a case that gets one counts as a plain miss.
    "unknown_postcode": "unknown_postcode",
    "several": "several",
    "several_streets": "several",
    "ambiguous": "several",
    "choices": "several",
    "too_far": "too_far",
    "pin_too_far": "too_far",
    "out_of_range": "too_far",
}


def _outcome(where: Any, strict: bool = True) -> str:
    """The file's word for a `Where`'s outcome (str enum value, or its name, lower-cased). Strict: an unknown
    spelling fails the test; otherwise it comes back as it is."""
    raw = where.outcome
    for spelling in (getattr(raw, "value", None), getattr(raw, "name", None), raw):
        if isinstance(spelling, str) and spelling.lower() in OUTCOME_SPELLINGS:
            return OUTCOME_SPELLINGS[spelling.lower()]
    if strict:
        pytest.fail(f"the resolver gave an outcome this evaluation doesn't know: {raw!r} (add it to OUTCOME_SPELLINGS)")
    return str(getattr(raw, "value", raw))


@pytest.fixture(scope="module")
def places() -> Any:
    """knowledge.places.where (resolve, from_pin). The places package lands on its own branch (issue 13);
    until both branches are merged there is nothing to judge, so the resolver's tests skip."""
    return pytest.importorskip("knowledge.places.where")


@pytest.fixture(scope="module")
def gaz() -> Any:
    """The shipped gazetteer (knowledge/content/places/gazetteer.csv), which the file was written against."""
    return pytest.importorskip("knowledge.places.gazetteer").gazetteer()


@pytest.fixture(scope="module")
def bin_days() -> Any:
    return pytest.importorskip("knowledge.places.bin_days")


def _found_right(case: dict[str, Any], where: Any) -> tuple[bool, str]:
    """Did the resolver find the street (and the postcode and number, where the case gives them)?"""
    got = _outcome(where)
    if got != "found" or where.place is None:
        return False, got
    place = where.place
    said = f"{place.house_number} {place.street}, {place.postcode}"
    if place.street != case["street"]:
        return False, said
    if case["postcode"] is not None and place.postcode != case["postcode"]:
        return False, said
    expected_number = case["house_number"]
    actual_number = place.house_number
    if expected_number is None:
        return actual_number is None, said
    # A house number may come back as an int or a string ("14"); what matters is the number.
    return actual_number is not None and str(actual_number).strip() == str(expected_number), said


def _report(section: str, results: list[tuple[dict[str, Any], bool, str]]) -> float:
    """Print accuracy overall and per kind, and each miss; return overall accuracy."""
    by_kind: dict[str, list[bool]] = defaultdict(list)
    for case, ok, _ in results:
        by_kind[case["kind"]].append(ok)
    right = sum(ok for _, ok, _ in results)
    accuracy = right / len(results)
    print(f"\nplaces eval, {section}: {right}/{len(results)} = {accuracy:.0%} (floor {FLOOR:.0%})")
    for kind, oks in sorted(by_kind.items()):
        print(f"  {kind:12} {sum(oks)}/{len(oks)}")
    for case, ok, got in results:
        if not ok:
            print(f"  MISS {case['text']!r}: got {got}")
    return accuracy


@pytest.mark.parametrize("name", list(FREE_TEXT_SETS))
def test_residents_places_are_found_often_enough(places: Any, gaz: Any, name: str) -> None:
    results = []
    for case in FREE_TEXT_SETS[name]["found"]:
        ok, got = _found_right(case, places.resolve(case["text"], gaz))
        results.append((case, ok, got))
    accuracy = _report(f"{name} found", results)
    assert accuracy >= FLOOR, f"found: {accuracy:.0%} is below the {FLOOR:.0%} floor (run with -s for misses)"


@pytest.mark.parametrize("name", list(FREE_TEXT_SETS))
def test_places_that_cannot_be_used_get_the_right_reason_often_enough(places: Any, gaz: Any, name: str) -> None:
    results = []
    for case in FREE_TEXT_SETS[name]["not_found"]:
        got = _outcome(places.resolve(case["text"], gaz))
        results.append((case, got == case["outcome"], got))
    accuracy = _report(f"{name} not_found", results)
    assert accuracy >= FLOOR, f"not_found: {accuracy:.0%} is below the {FLOOR:.0%} floor (run with -s for misses)"


def test_every_pin_is_matched_to_its_street_or_refused(places: Any, gaz: Any) -> None:
    wrong = []
    for pin in EVAL["pins"]:
        where = places.from_pin(pin["lat"], pin["lon"], gaz)
        got = _outcome(where, strict=pin["outcome"] == "found")
        if pin["outcome"] == "found":
            street = where.place.street if where.place is not None else None
            if got != "found" or street != pin["street"]:
                wrong.append(f"{pin}: got {got} {street}")
        elif got == "found" or where.place is not None:
            # A pin in the sea or another city must be refused, whatever the resolver calls the refusal.
            wrong.append(f"{pin}: got {got} {where.place.street if where.place is not None else ''}")
    assert not wrong, "\n".join(wrong)


def test_every_bin_day_is_right_through_bank_holidays_and_week_53(places: Any, gaz: Any, bin_days: Any) -> None:
    wrong = []
    for case in EVAL["bin_days"]:
        where = places.resolve(case["where"], gaz)
        if _outcome(where) != "found" or where.place is None:
            wrong.append(f"{case['where']!r} was not found: {_outcome(where)}")
            continue
        today: dt.date = case["today"]
        general, recycling = bin_days.next_collections(where.place.row, today)
        if (general, recycling) != (case["general"], case["recycling"]):
            wrong.append(
                f"{case['where']!r} on {today:%a %d %b %Y}: got general {general:%a %d %b %Y}, recycling "
                f"{recycling:%a %d %b %Y}; expected {case['general']:%a %d %b %Y}, {case['recycling']:%a %d %b %Y}"
            )
    assert not wrong, "\n".join(wrong)


# --- The evaluation file itself agrees with the gazetteer (needs no resolver, so it runs on every branch) ---


def _gazetteer_rows() -> list[dict[str, str]]:
    with GAZETTEER_CSV.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


def _numbers(row: dict[str, str]) -> range:
    low, high = row["house_numbers"].split("-")
    return range(int(low), int(high) + 1)


@pytest.mark.parametrize("name", list(FREE_TEXT_SETS))
def test_found_cases_name_the_gazetteers_streets_postcodes_and_numbers(name: str) -> None:
    rows = _gazetteer_rows()
    for case in FREE_TEXT_SETS[name]["found"]:
        on_street = [r for r in rows if r["street"] == case["street"]]
        assert on_street, f"not a gazetteer street: {case['street']!r}"
        if case["postcode"] is None:
            # Left open only where the street spans several postcodes and the resident gave no number.
            assert case["house_number"] is None and len(on_street) > 1, case
            continue
        row = next((r for r in on_street if r["postcode"] == case["postcode"]), None)
        assert row is not None, case
        if case["house_number"] is not None:
            assert case["house_number"] in _numbers(row), case


def test_bin_day_places_name_one_gazetteer_row() -> None:
    rows = _gazetteer_rows()
    postcodes = {r["postcode"].replace(" ", "").lower() for r in rows}
    for case in EVAL["bin_days"]:
        where = case["where"]
        compact = where.replace(" ", "").lower()
        number, _, street = where.partition(" ")
        named = any(compact.endswith(p) for p in postcodes) or any(
            r["street"] == street and int(number) in _numbers(r) for r in rows if number.isdigit()
        )
        assert named, case
        # Recycling is one of the general waste days, so never before the next one.
        assert case["today"] <= case["general"] <= case["recycling"], case


def test_pins_are_near_their_street_or_far_from_every_street() -> None:
    rows = _gazetteer_rows()
    for pin in EVAL["pins"]:
        by_distance = sorted(
            (_metres(pin["lat"], pin["lon"], float(r["lat"]), float(r["lon"])), r["street"]) for r in rows
        )
        nearest_m, nearest_street = by_distance[0]
        if pin["outcome"] == "found":
            assert nearest_street == pin["street"] and nearest_m <= 50, (pin, by_distance[:2])
            # Clearly nearer its own street than any other, so a fair resolver can't be torn between two.
            other = next(m for m, s in by_distance if s != pin["street"])
            assert other >= 2 * nearest_m, (pin, by_distance[:3])
        else:
            # Far beyond any sensible pin limit (PLACE_PIN_MAX_METRES defaults to 400).
            assert nearest_m > 2_000, (pin, by_distance[0])
