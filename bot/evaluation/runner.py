"""Send the evaluation sets through the real bot (REST webhook, Rasa + action servers) and score them."""

from __future__ import annotations

import statistics
import time
import uuid
from collections import Counter, defaultdict
from typing import Any

import httpx

from bot.channels.rest import TOKEN_HEADER
from bot.evaluation.sets import Judge, load
from knowledge.danger.kinds import DangerKind


class Resident:
    """One conversation on the REST channel, keeping its owner token like a real client."""

    def __init__(self, client: httpx.Client, url: str, latencies: list[float]):
        self.client, self.url, self.latencies = client, url, latencies
        self.sender = f"eval-{uuid.uuid4().hex[:12]}"
        self.token = ""

    def say(self, text: str) -> str:
        headers = {TOKEN_HEADER: self.token} if self.token else {}
        started = time.perf_counter()
        reply = self.client.post(self.url, json={"sender": self.sender, "message": text}, headers=headers)
        self.latencies.append(time.perf_counter() - started)
        self.token = reply.headers.get(TOKEN_HEADER) or self.token
        return "\n".join(m.get("text") or "" for m in reply.json()) if reply.status_code == 200 else ""


def _rate(right: int, total: int) -> float:
    return round(right / total, 4) if total else 0.0


def messages(client: httpx.Client, url: str, judge: Judge, latencies: list[float]) -> dict[str, Any]:
    """Right answers overall and per kind of message."""
    items = load("messages.yml").get("messages") or []
    per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    misses, right, alarms, cautions = [], 0, 0, 0
    for item in items:
        reply = Resident(client, url, latencies).say(item["text"])
        ok = judge.right(item["expect"], reply)
        right += ok
        alarms += judge.alarmed(reply)
        cautions += judge.cautioned(reply)
        for kind in item.get("kinds") or ["untagged"]:
            per_kind[kind][0] += ok
            per_kind[kind][1] += 1
        if not ok:
            misses.append(
                {"text": item["text"], "expect": item["expect"], "kinds": item.get("kinds"), "reply": reply[:200]}
            )
    return {
        "total": len(items),
        "right": right,
        "accuracy": _rate(right, len(items)),
        "false_alarm_rate": _rate(alarms, len(items)),
        "caution_rate": _rate(cautions, len(items)),
        "by_kind": {k: {"right": r, "total": t, "accuracy": _rate(r, t)} for k, (r, t) in sorted(per_kind.items())},
        "misses_by_expect": dict(Counter(m["expect"] for m in misses).most_common()),
        "misses": misses,
    }


def danger(client: httpx.Client, url: str, judge: Judge, latencies: list[float]) -> dict[str, Any]:
    """Recall on dangers (an alarm raised), the right line first, and false alarms on hard negatives."""
    data = load("danger.yml")
    dangers, negatives = data.get("danger") or [], data.get("not_danger") or []
    caught, alarmed, right_line, missed, wrong_line = 0, 0, 0, [], []
    per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for item in dangers:
        reply = Resident(client, url, latencies).say(item["text"])
        kind = DangerKind(item["kind"])
        alarm, given = judge.alarmed(reply), judge.numbers_given(reply)
        caught += given
        alarmed += alarm
        per_kind[kind.value][0] += given
        per_kind[kind.value][1] += 1
        if not given:
            missed.append({"text": item["text"], "kind": kind.value, "reply": reply[:200]})
        elif not alarm:
            pass  # numbers given at the end of an ordinary answer: caught, but not answered as danger
        elif judge.right_line(kind, reply):
            right_line += 1
        else:
            wrong_line.append({"text": item["text"], "kind": kind.value, "reply": reply.split("\n", 1)[0][:120]})
    alarms, cautions, negatives_right, false_alarms = 0, 0, 0, []
    for item in negatives:
        reply = Resident(client, url, latencies).say(item["text"])
        cautions += judge.cautioned(reply)
        if judge.alarmed(reply):
            alarms += 1
            false_alarms.append({"text": item["text"], "reply": reply.split("\n", 1)[0][:120]})
        negatives_right += judge.right(str(item.get("expect") or "none"), reply)
    return {
        "dangers": len(dangers),
        "recall": _rate(caught, len(dangers)),
        "alarm_recall": _rate(alarmed, len(dangers)),
        "caution_rate": _rate(cautions, len(negatives)),
        "right_line_rate": _rate(right_line, len(dangers)),
        "recall_by_kind": {k: _rate(r, t) for k, (r, t) in sorted(per_kind.items())},
        "hard_negatives": len(negatives),
        "false_alarm_rate": _rate(alarms, len(negatives)),
        "hard_negatives_answered_right": _rate(negatives_right, len(negatives)),
        "missed": missed,
        "wrong_line": wrong_line,
        "false_alarms": false_alarms,
    }


def conversations(client: httpx.Client, url: str, judge: Judge, latencies: list[float]) -> dict[str, Any]:
    """Turn accuracy, and accuracy on the turns that lean on an earlier one."""
    convs = load("conversations.yml").get("conversations") or []
    turns = right = follow_turns = follow_right = 0
    misses = []
    for conv in convs:
        resident = Resident(client, url, latencies)
        for i, turn in enumerate(conv.get("turns") or []):
            reply = resident.say(turn["text"])
            ok = judge.right(turn["expect"], reply, turn.get("aspect"))
            turns += 1
            right += ok
            if i > 0:
                follow_turns += 1
                follow_right += ok
            if not ok:
                misses.append(
                    {
                        "conversation": conv.get("name"),
                        "turn": i + 1,
                        "text": turn["text"],
                        "expect": turn["expect"],
                        "aspect": turn.get("aspect"),
                        "reply": reply[:200],
                    }
                )
    return {
        "conversations": len(convs),
        "turns": turns,
        "turn_accuracy": _rate(right, turns),
        "follow_up_turns": follow_turns,
        "follow_up_accuracy": _rate(follow_right, follow_turns),
        "misses": misses,
    }


def latency(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    if not ordered:
        return {}
    return {
        "requests": len(ordered),
        "p50_ms": round(1000 * statistics.median(ordered), 1),
        "p95_ms": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 1),
    }
