"""`councilbot eval` (`make eval`): how well the bot understands messages no one on the team wrote.

1. The danger net's classifier: threshold chosen on out-of-fold scores over data/danger (recall first),
   with its held-out recall and false-alarm rate.
2. End to end, the full model behind the real Rasa and action servers, over tests/data/eval/ (written by
   people who never saw the training data): right link per kind of message, danger recall and the right
   line first, false alarms on hard negatives, conversation turns, and reply latency.
3. With `--compare`: candidate pipelines trained on 80% of data/nlu and scored on the other 20%.
Targets are printed beside the figures; the report goes to reports/eval.json.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.training import example_lines
from knowledge.settings import PROJECT_ROOT, var_dir

REPORT_DIR = PROJECT_ROOT / "reports"
TARGETS = {
    "danger_recall": 1.0,
    "false_alarm_rate": 0.01,
    "right_link": 0.90,
    "per_kind": 0.80,
    "follow_up": 0.95,
    "plain": 0.97,
    "train_seconds": 180,
    "p50_ms": 60,
}


def danger_calibration() -> dict[str, Any]:
    """Train the danger classifier as the model does and report how its threshold was chosen."""
    import yaml

    from knowledge.danger.classifier import DangerClassifier, load_examples
    from knowledge.danger.kinds import NOT_DANGER

    examples = load_examples()
    ordinary = set()
    for path in sorted((PROJECT_ROOT / "data" / "nlu").rglob("*.yml")):
        for item in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
            if "intent" in item and item["intent"] != "crisis":
                ordinary |= set(example_lines(item["examples"]))
    started = time.monotonic()
    model = DangerClassifier.train(examples + [(t, NOT_DANGER) for t in sorted(ordinary)])
    cal = model.calibration
    if cal is None:  # train() always calibrates; say so plainly rather than fail on an attribute below
        raise RuntimeError("the danger classifier was trained without a calibration")
    return {
        "train_seconds_with_calibration": round(time.monotonic() - started, 1),
        "caution": cal.caution,
        "alarm": cal.alarm,
        "held_out_dangers": cal.dangers,
        "held_out_ordinary": cal.ordinary,
        "held_out_recall": cal.recall,
        "held_out_alarm_recall": cal.alarm_recall,
        "held_out_caution_rate": cal.caution_rate,
        "held_out_false_alarm_rate": cal.false_alarm_rate,
        "held_out_missed": cal.missed,
    }


def main(compare: bool = False) -> int:
    from bot.training import rasa_env
    from knowledge.catalogue.content import load
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
        return _evaluate(work, compare)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # held-out models and databases: nothing worth keeping


def _evaluate(work: Path, compare: bool) -> int:
    import httpx

    from bot.channels.config import NO_RATE_LIMITS
    from bot.evaluation import runner
    from bot.evaluation.sets import Judge
    from bot.stack import BotStack
    from bot.training import model_path, train
    from knowledge.db import session_scope
    from knowledge.settings import Settings

    report: dict[str, Any] = {}
    print("1/3 Danger classifier: thresholds from out-of-fold scores on data/danger (classifier alone)...", flush=True)
    report["danger_net"] = cal = danger_calibration()
    print(
        f"    caution {cal['caution']}: catches {cal['held_out_recall']:.2%} of {cal['held_out_dangers']} held-out "
        f"dangers, adds the numbers to {cal['held_out_caution_rate']:.2%} of {cal['held_out_ordinary']} ordinary "
        f"messages\n    alarm {cal['alarm']}: catches {cal['held_out_alarm_recall']:.2%} of dangers, "
        f"{cal['held_out_false_alarm_rate']:.2%} of ordinary messages",
        flush=True,
    )

    settings = Settings.from_env()
    model = model_path(settings)
    if not model.exists():
        print("    training the model for the current data (timed)...", flush=True)
        started = time.monotonic()
        train(model)
        report["train_seconds"] = round(time.monotonic() - started, 1)
    settings = settings.replace(
        **{
            "rasa_port": 5105,
            "action_port": 5155,
            "console_port": 5110,
            "tracker_store_url": f"sqlite:///{work / 'tracker.db'}",
        }
    )
    print("2/3 End to end over tests/data/eval/ through the REST webhook...", flush=True)
    latencies: list[float] = []
    with (
        BotStack(model, settings, log_dir=work, console=False, env=dict(NO_RATE_LIMITS)) as stack,
        session_scope() as session,
        httpx.Client(timeout=60.0) as client,
    ):
        judge = Judge(session)
        report["messages"] = runner.messages(client, stack.webhook_url, judge, latencies)
        report["danger"] = runner.danger(client, stack.webhook_url, judge, latencies)
        report["conversations"] = runner.conversations(client, stack.webhook_url, judge, latencies)
    report["latency"] = runner.latency(latencies)
    if compare:
        from bot.evaluation.holdout import compare as compare_models

        print("3/3 Candidate pipelines on a held-out 20% of data/nlu...", flush=True)
        report["holdout"] = compare_models(work)
    out = REPORT_DIR / "eval.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    _print_summary(report)
    print(f"Full report (every miss, false alarm and wrong line): {out}")
    return 0


def _mark(ok: bool) -> str:
    return "ok " if ok else "BELOW TARGET"


def _print_summary(r: dict[str, Any]) -> None:
    m, d, c, lat = r["messages"], r["danger"], r["conversations"], r["latency"]
    t = TARGETS
    print(
        f"\nRight link, {m['total']} messages: {m['accuracy']:.1%} (target {t['right_link']:.0%}) "
        f"{_mark(m['accuracy'] >= t['right_link'])}"
    )
    for kind, k in m["by_kind"].items():
        target = t["plain"] if kind == "plain" else t["per_kind"]
        print(
            f"  {kind:14} {k['right']:4}/{k['total']:<4} {k['accuracy']:6.1%}  (target {target:.0%}) "
            f"{_mark(k['accuracy'] >= target)}"
        )
    print(
        f"Danger, {d['dangers']} messages: recall (999 or the kind's line given) {d['recall']:.1%} (target 100%) "
        f"{_mark(d['recall'] >= 1.0)}; answered as danger {d['alarm_recall']:.1%}; right line first "
        f"{d['right_line_rate']:.1%}"
    )
    for kind, rate in d["recall_by_kind"].items():
        print(f"  {kind:14} recall {rate:.1%}")
    print(
        f"Hard negatives, {d['hard_negatives']} messages: false alarms {d['false_alarm_rate']:.1%} "
        f"(target under {t['false_alarm_rate']:.0%}) {_mark(d['false_alarm_rate'] < t['false_alarm_rate'])}; "
        f"numbers added {d['caution_rate']:.1%}; answered right {d['hard_negatives_answered_right']:.1%}"
    )
    print(
        f"Ordinary messages ({m['total']}): answered as danger {m['false_alarm_rate']:.1%}, numbers added "
        f"{m['caution_rate']:.1%}"
    )
    print(
        f"Conversations, {c['conversations']} ({c['turns']} turns): turn accuracy {c['turn_accuracy']:.1%}; "
        f"follow-up turns {c['follow_up_accuracy']:.1%} (target {t['follow_up']:.0%}) "
        f"{_mark(c['follow_up_accuracy'] >= t['follow_up'])}"
    )
    if lat:
        print(
            f"Reply latency over {lat['requests']} requests: p50 {lat['p50_ms']} ms (target under {t['p50_ms']} ms) "
            f"{_mark(lat['p50_ms'] < t['p50_ms'])}, p95 {lat['p95_ms']} ms"
        )
    if "train_seconds" in r:
        print(
            f"Training: {r['train_seconds']} s (target under {t['train_seconds']} s) "
            f"{_mark(r['train_seconds'] < t['train_seconds'])}"
        )
