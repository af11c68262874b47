"""Model choice on held-out data: train each candidate pipeline on 80% of data/nlu and score it on the
other 20% (accuracy, macro-F1, and how often it answers when it is sure enough and is then right).

`councilbot eval --compare` runs every file in bot/evaluation/candidates/ (the shipped config.yml
first); the figures decide which pipeline config.yml uses.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

from knowledge.settings import PROJECT_ROOT

SEED = 7
CANDIDATES = Path(__file__).parent / "candidates"


def split(work: Path) -> tuple[Path, list]:
    """80/20 split of data/nlu (and voices), written as a training file; returns it and the test examples."""
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(PROJECT_ROOT / "data" / "nlu"))
    train, test = data.train_test_split(train_frac=0.8, random_seed=SEED)
    train_file = work / "train_nlu.yml"
    train_file.write_text(train.nlu_as_yaml(), encoding="utf-8")
    return train_file, test.intent_examples


def score(config: Path, train_file: Path, test: list, work: Path) -> dict[str, Any]:
    """Train `config` on the training split and score it on `test`."""
    from rasa.core.agent import Agent
    from rasa.model_training import train_nlu
    from sklearn.metrics import accuracy_score, f1_score

    started = time.monotonic()
    model = train_nlu(str(config), str(train_file), str(work), fixed_model_name=f"holdout-{config.stem}")
    seconds = time.monotonic() - started
    agent = Agent.load(model)

    async def parse_all() -> list[dict]:
        return [await agent.parse_message(m.get("text")) for m in test]

    parsed = asyncio.run(parse_all())
    gold = [m.get("intent") for m in test]
    predicted = [
        next((r["name"] for r in p["intent_ranking"] if r["name"] not in ("nlu_fallback", "crisis")), "nlu_fallback")
        for p in parsed
    ]
    answered = [p["intent"]["name"] not in ("nlu_fallback",) for p in parsed]
    kept = [(g, p) for g, p, a in zip(gold, predicted, answered, strict=True) if a]
    confused = Counter((g, p) for g, p in zip(gold, predicted, strict=True) if g != p)
    return {
        "config": config.name,
        "train_seconds": round(seconds, 1),
        "test_examples": len(gold),
        "accuracy": round(accuracy_score(gold, predicted), 4),
        "macro_f1": round(f1_score(gold, predicted, average="macro", zero_division=0), 4),
        "fallback_rate": round(1 - len(kept) / len(gold), 4),
        "accuracy_when_answered": round(sum(g == p for g, p in kept) / max(1, len(kept)), 4),
        "most_confused": [{"expected": g, "predicted": p, "count": n} for (g, p), n in confused.most_common(8)],
    }


def compare(work: Path) -> list[dict[str, Any]]:
    train_file, test = split(work)
    configs = [PROJECT_ROOT / "config.yml", *sorted(CANDIDATES.glob("*.yml"))]
    results = []
    for config in configs:
        print(f"  training {config.name} on the 80% split...", flush=True)
        results.append(score(config, train_file, test, work))
        r = results[-1]
        print(
            f"  {r['config']}: accuracy {r['accuracy']:.1%}, macro-F1 {r['macro_f1']:.3f}, answered "
            f"{1 - r['fallback_rate']:.1%} and right {r['accuracy_when_answered']:.1%} of those; "
            f"trained in {r['train_seconds']}s",
            flush=True,
        )
    return results
