"""The training data covers every service well enough, is written in many voices, and stays apart from the
evaluation sets (tests/data/eval/, written by people who never saw it)."""

from __future__ import annotations

from collections import Counter

import yaml

from bot.training import example_lines
from knowledge.settings import PROJECT_ROOT
from knowledge.understanding.intents import intent_for_redirect, intent_for_service

DATA = PROJECT_ROOT / "data"
MIN_EXAMPLES = 25
# Three times the 2,865 examples the model had before residents' own voices were added (issue 10).
MIN_TOTAL_EXAMPLES = 3 * 2865
EVAL_DIR = PROJECT_ROOT / "tests" / "data" / "eval"


def _examples() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in sorted((DATA / "nlu").rglob("*.yml")):
        for item in yaml.safe_load(path.read_text())["nlu"]:
            if "intent" in item:
                lines = example_lines(item["examples"])
                out.setdefault(item["intent"], []).extend(lines)
    return out


def test_every_catalogue_service_has_enough_examples(catalogue: dict) -> None:
    examples = _examples()
    for entry in catalogue["services"]:
        intent = intent_for_service(entry["key"])
        assert len(set(examples.get(intent, []))) >= MIN_EXAMPLES, intent
    for entry in catalogue["redirects"]:
        assert len(set(examples.get(intent_for_redirect(entry["key"]), []))) >= MIN_EXAMPLES
    for intent in ("greet", "thank", "goodbye", "bot_challenge", "human_handoff", "out_of_scope", "crisis"):
        assert len(examples.get(intent, [])) >= MIN_EXAMPLES, intent


def test_no_example_is_given_two_intents() -> None:
    owners = Counter()
    for lines in _examples().values():
        for line in {line.lower() for line in lines}:
            owners[line] += 1
    assert [line for line, n in owners.items() if n > 1] == []


def test_every_intent_is_in_the_domain_and_has_a_rule() -> None:
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())
    rules_text = "".join(p.read_text() for p in (DATA / "rules").glob("*.yml"))
    for intent in _examples():
        assert intent in domain["intents"], intent
        assert f"intent: {intent}\n" in rules_text, f"no rule for {intent}"


def _norm(text: str) -> str:
    return " ".join("".join(c for c in text.lower() if c.isalnum() or c.isspace()).split())


def _evaluation_texts() -> list[str]:
    messages = yaml.safe_load((EVAL_DIR / "messages.yml").read_text())["messages"]
    danger = yaml.safe_load((EVAL_DIR / "danger.yml").read_text())
    conversations = yaml.safe_load((EVAL_DIR / "conversations.yml").read_text())["conversations"]
    reports = yaml.safe_load((EVAL_DIR / "reports.yml").read_text())
    places = yaml.safe_load((EVAL_DIR / "places.yml").read_text())
    unseen = yaml.safe_load((EVAL_DIR / "places_unseen.yml").read_text())
    return (
        [m["text"] for m in messages]
        + [d["text"] for d in danger["danger"]]
        + [n["text"] for n in danger["not_danger"]]
        + [t["text"] for c in conversations for t in c["turns"]]
        # Issue 13: reporting a problem, and saying where (the danger net learns from place answers too).
        + [r["text"] for section in ("starts_report", "progress", "not_report") for r in reports[section]]
        + [p["text"] for section in ("found", "not_found") for p in places[section] + unseen[section]]
    )


def test_training_data_is_three_times_larger_and_in_several_voices() -> None:
    assert sum(len(v) for v in _examples().values()) >= MIN_TOTAL_EXAMPLES
    assert len(list((DATA / "nlu" / "voices").glob("*.yml"))) >= 3


def test_evaluation_sets_are_as_large_as_promised() -> None:
    messages = yaml.safe_load((EVAL_DIR / "messages.yml").read_text())["messages"]
    danger = yaml.safe_load((EVAL_DIR / "danger.yml").read_text())
    conversations = yaml.safe_load((EVAL_DIR / "conversations.yml").read_text())["conversations"]
    assert len(messages) >= 600 and all(m.get("kinds") for m in messages)
    assert len(danger["danger"]) >= 150 and len(danger["not_danger"]) >= 300
    assert len(conversations) >= 60


def test_evaluation_messages_are_not_training_examples() -> None:
    """No evaluation message (after lower-casing and dropping punctuation) is in the service or danger
    training data: the figures measure understanding, not memory. Short chit-chat ("thanks") is exempt."""
    from knowledge.danger.classifier import load_examples

    training = {_norm(line) for lines in _examples().values() for line in lines}
    training |= {_norm(t) for t, _ in load_examples()}
    shared = [t for t in _evaluation_texts() if _norm(t) in training and len(_norm(t).split()) > 3]
    assert shared == []


def test_rasa_data_validate_passes_without_warnings() -> None:
    """`rasa data validate --fail-on-warnings`: domain, rules and NLU data agree, with no warning."""
    import subprocess
    import sys

    from bot.training import rasa_env

    result = subprocess.run(
        [sys.executable, "-m", "rasa", "data", "validate", "--fail-on-warnings", "--data", "data/nlu", "data/rules"],
        cwd=PROJECT_ROOT,
        env=rasa_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
