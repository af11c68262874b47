"""The training data covers every service well enough, and stays apart from the evaluation set."""

from __future__ import annotations

from collections import Counter

import yaml

from knowledge.intents import intent_for_redirect, intent_for_service
from knowledge.settings import PROJECT_ROOT

DATA = PROJECT_ROOT / "data"
MIN_EXAMPLES = 25


def _examples() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in sorted((DATA / "nlu").glob("*.yml")):
        for item in yaml.safe_load(path.read_text())["nlu"]:
            if "intent" in item:
                lines = [l.strip()[2:].strip() for l in item["examples"].splitlines() if l.strip().startswith("- ")]
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
    for intent, lines in _examples().items():
        for line in set(l.lower() for l in lines):
            owners[line] += 1
    assert [l for l, n in owners.items() if n > 1] == []


def test_every_intent_is_in_the_domain_and_has_a_rule() -> None:
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())
    rules_text = "".join(p.read_text() for p in (DATA / "rules").glob("*.yml"))
    for intent in _examples():
        assert intent in domain["intents"], intent
        assert f"intent: {intent}\n" in rules_text, f"no rule for {intent}"


def test_evaluation_messages_are_not_training_examples() -> None:
    training = {l.lower() for lines in _examples().values() for l in lines}
    messages = yaml.safe_load((PROJECT_ROOT / "tests" / "data" / "eval_messages.yml").read_text())["messages"]
    assert len(messages) >= 150
    assert [m["text"] for m in messages if m["text"].lower() in training] == []


def test_rasa_data_validate_passes_without_warnings() -> None:
    """`rasa data validate --fail-on-warnings`: domain, rules and NLU data agree, with no warning."""
    import subprocess
    import sys

    from bot.training import rasa_env

    result = subprocess.run([sys.executable, "-m", "rasa", "data", "validate", "--fail-on-warnings"],
                            cwd=PROJECT_ROOT, env=rasa_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
