"""`councilbot eval`: how well the bot understands messages it was not trained on.

Two measures, written to reports/eval.json with a summary printed:
1. Intent classification on a held-out 20% of data/nlu (a model trained on the other 80%): accuracy,
   macro-F1 and the most confused pairs.
2. End to end, over tests/data/eval_messages.yml (written separately from the training data): the full
   model behind the real Rasa and action servers, and whether the REST reply carries the right link (or,
   for crisis messages, 999 and Samaritans).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import yaml

from knowledge.settings import PROJECT_ROOT, var_dir

EVAL_FILE = PROJECT_ROOT / "tests" / "data" / "eval_messages.yml"
REPORT_DIR = PROJECT_ROOT / "reports"
SEED = 7


def expected_markers(expect: str, session: Any) -> list[str]:
    """Strings that must all appear in a correct reply to a message labelled `expect`."""
    from knowledge import answers

    if expect == "crisis":
        c = answers.council(session)
        return [c.emergency, c.samaritans]
    if expect.startswith("redirect:"):
        r = answers.redirect(session, expect.split(":", 1)[1])
        return [r.url or r.phone]
    svc = answers.service(session, expect)
    if svc is None:
        raise KeyError(f"{EVAL_FILE}: unknown service '{expect}'")
    return [svc.url]


def link_accuracy(webhook_url: str, messages: list[dict], session: Any) -> dict[str, Any]:
    """Send each message as a new resident and check the reply; returns totals and the failures."""
    failures, per_area = [], Counter()
    correct = 0
    with httpx.Client(timeout=30.0) as client:
        for item in messages:
            markers = expected_markers(item["expect"], session)
            reply = client.post(webhook_url, json={"sender": f"eval-{uuid.uuid4().hex[:12]}", "message": item["text"]})
            text = " ".join(m.get("text", "") for m in reply.json()) if reply.status_code == 200 else ""
            ok = all(m in text for m in markers)
            correct += ok
            if not ok:
                per_area[item["expect"]] += 1
                failures.append({"text": item["text"], "expect": item["expect"], "reply": text[:300]})
    total = len(messages)
    return {"total": total, "correct": correct, "accuracy": round(correct / total, 4) if total else 0.0,
            "failures_by_expect": dict(per_area.most_common()), "failures": failures}


def intent_holdout(work: Path) -> dict[str, Any]:
    """Train an NLU model on 80% of data/nlu and score it on the other 20%."""
    import logging

    import structlog
    from rasa.core.agent import Agent

    # Rasa logs parsed text at debug level; residents' words stay out of our output.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    from rasa.model_training import train_nlu
    from rasa.shared.nlu.training_data.loading import load_data
    from sklearn.metrics import accuracy_score, f1_score

    data = load_data(str(PROJECT_ROOT / "data" / "nlu"))
    train, test = data.train_test_split(train_frac=0.8, random_seed=SEED)
    train_file = work / "train_nlu.yml"
    train_file.write_text(train.nlu_as_yaml(), encoding="utf-8")
    model = train_nlu(str(PROJECT_ROOT / "config.yml"), str(train_file), str(work), fixed_model_name="holdout")
    agent = Agent.load(model)

    async def parse_all() -> list[dict]:
        return [await agent.parse_message(m.get("text")) for m in test.intent_examples]

    parsed = asyncio.run(parse_all())
    gold = [m.get("intent") for m in test.intent_examples]
    # The classifier's own best guess (ignoring the fallback), and whether the bot would act on it.
    predicted = [next(r["name"] for r in p["intent_ranking"] if r["name"] != "nlu_fallback") for p in parsed]
    answered = [p["intent"]["name"] != "nlu_fallback" for p in parsed]
    confused = Counter((g, p) for g, p in zip(gold, predicted) if g != p)
    kept = [(g, p) for g, p, a in zip(gold, predicted, answered) if a]
    return {
        "train_examples": len(train.intent_examples), "test_examples": len(gold),
        "accuracy": round(accuracy_score(gold, predicted), 4),
        "macro_f1": round(f1_score(gold, predicted, average="macro", zero_division=0), 4),
        "fallback_rate": round(1 - len(kept) / len(gold), 4),
        "accuracy_when_not_fallback": round(sum(g == p for g, p in kept) / max(1, len(kept)), 4),
        "most_confused": [{"expected": g, "predicted": p, "count": n} for (g, p), n in confused.most_common(10)],
    }


def main() -> int:
    from bot.training import rasa_env
    from knowledge.content import load
    from knowledge.db import session_scope
    from knowledge.migrations import upgrade
    from knowledge.settings import CONTENT_DIR

    os.environ.update({k: v for k, v in rasa_env().items() if k.startswith(("RASA_", "TF_"))})
    REPORT_DIR.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="eval-", dir=var_dir()))
    # A fresh knowledge base from the seed files, so local edits don't change the score.
    os.environ["DATABASE_URL"] = f"sqlite:///{work / 'knowledge.db'}"
    upgrade()
    with session_scope() as session:
        load(session, CONTENT_DIR)

    try:
        return _evaluate(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # a held-out model and databases: nothing worth keeping


def _evaluate(work: Path) -> int:
    from bot.settings import Settings
    from bot.stack import BotStack
    from bot.training import ensure_model
    from knowledge.db import session_scope

    print("1/2 Intent classification on a held-out 20% of data/nlu (training on the other 80%)...", flush=True)
    holdout = intent_holdout(work)

    print("2/2 End to end over tests/data/eval_messages.yml through the REST webhook...", flush=True)
    messages = yaml.safe_load(EVAL_FILE.read_text(encoding="utf-8"))["messages"]
    settings = Settings.from_env()
    settings = Settings(**{**settings.__dict__, "rasa_port": 5105, "action_port": 5155, "console_port": 5110,
                           "tracker_store_url": f"sqlite:///{work / 'tracker.db'}"})
    with BotStack(ensure_model(settings), settings, log_dir=work, console=False) as stack, session_scope() as session:
        e2e = link_accuracy(stack.webhook_url, messages, session)

    report = {"intent_holdout": holdout, "end_to_end": e2e}
    out = REPORT_DIR / "eval.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\nIntent (held-out {holdout['test_examples']} examples): accuracy {holdout['accuracy']:.1%}, "
          f"macro-F1 {holdout['macro_f1']:.3f}; fallback rate {holdout['fallback_rate']:.1%}, "
          f"accuracy when answered {holdout['accuracy_when_not_fallback']:.1%}")
    for pair in holdout["most_confused"][:5]:
        print(f"  confused: {pair['expected']} -> {pair['predicted']} ({pair['count']})")
    print(f"End to end (eval_messages.yml, {e2e['total']} messages): right link in reply "
          f"{e2e['correct']}/{e2e['total']} = {e2e['accuracy']:.1%}")
    for key, n in list(e2e["failures_by_expect"].items())[:8]:
        print(f"  misses: {key} ({n})")
    print(f"Full report: {out}")
    return 0
