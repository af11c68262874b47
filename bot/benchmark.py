"""`councilbot bench`: training time, cold start, memory, latency and throughput, beside a stock bot.

Everything is measured from this process against servers it starts as separate processes on loopback:
our bot (Rasa + action server) and a stock `rasa init` bot created under var/bench/. Results go to
reports/bench.json and a table with ratios (ours / stock) is printed. Targets (reported, not asserted):
p99 at 8 senders no worse than stock, throughput no lower, training under 5 minutes.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import httpx
import yaml

from bot.channels.rest import TOKEN_HEADER
from bot.stack import BotStack, wait_until_answers
from bot.training import rasa_env, train
from knowledge.settings import PROJECT_ROOT, Settings, var_dir

REPORT = PROJECT_ROOT / "reports" / "bench.json"
MESSAGES = PROJECT_ROOT / "tests" / "data" / "eval" / "messages.yml"


def tree_rss_mb(pids: list[int]) -> float:
    """Resident memory of these processes and all their descendants, in MB (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total_kb, todo, seen = 0, list(pids), set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        todo.extend(children.get(pid, []))
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            pass
    return round(total_kb / 1024, 1)


def load_test(url: str, texts: list[str], senders: int, per_sender: int) -> dict[str, Any]:
    """`senders` threads, each a resident sending `per_sender` messages in turn; latency and throughput."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def resident(n: int) -> None:
        nonlocal errors
        sender = f"bench-{n}-{uuid.uuid4().hex[:8]}"
        with httpx.Client(timeout=60) as client:
            for i in range(per_sender):
                text = texts[(n * per_sender + i) % len(texts)]
                start = time.perf_counter()
                try:
                    # The first reply hands out the conversation's owner token; later messages carry it.
                    reply = client.post(url, json={"sender": sender, "message": text})
                    ok = reply.status_code == 200
                    if reply.headers.get(TOKEN_HEADER):
                        client.headers[TOKEN_HEADER] = reply.headers[TOKEN_HEADER]
                except httpx.HTTPError:
                    ok = False
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)
                    errors += not ok

    threads = [threading.Thread(target=resident, args=(n,)) for n in range(senders)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 1)

    return {
        "senders": senders,
        "requests": len(ordered),
        "errors": errors,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "mean_ms": round(statistics.mean(ordered) * 1000, 1),
        "throughput_msg_s": round(len(ordered) / wall, 1),
    }


def measure(
    start: Callable[[], Any],
    stop: Callable[[Any], None],
    pids: Callable[[Any], list[int]],
    url: str,
    texts: list[str],
    quick: bool,
) -> dict[str, Any]:
    """Cold start to first answer, then load at 1 and 8 senders, then memory."""
    began = time.monotonic()
    handle = start()
    try:
        wait_until_answers(
            url,
            time.monotonic() + 300,
            name="the bot",
            json={"sender": "bench-first", "message": texts[0]},
            timeout=30,
            every=0.2,
        )
        cold = round(time.monotonic() - began, 1)
        load_test(url, texts, 2, 5)  # warm-up, not reported
        n1, n8 = (10, 5) if quick else (100, 50)
        one = load_test(url, texts, 1, n1)
        eight = load_test(url, texts, 8, n8)
        return {"cold_start_s": cold, "rss_mb": tree_rss_mb(pids(handle)), "load_1": one, "load_8": eight}
    finally:
        stop(handle)


def stock_bot(root: Path) -> tuple[Path, float]:
    """A stock `rasa init` project under `root`, and the seconds `rasa train` took for it."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    subprocess.run(
        [sys.executable, "-m", "rasa", "init", "--no-prompt", "--init-dir", str(root)],
        cwd=root,
        env=rasa_env(),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    shutil.rmtree(root / "models", ignore_errors=True)
    began = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "rasa", "train", "--fixed-model-name", "stock"],
        cwd=root,
        env={**rasa_env(), "RASA_MAX_CACHE_SIZE": "0"},
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return root / "models" / "stock.tar.gz", round(time.monotonic() - began, 1)


def ratio(ours: float, stock: float) -> Optional[float]:
    return round(ours / stock, 2) if stock else None


def main(quick: bool = False) -> int:
    os.environ.update({k: v for k, v in rasa_env().items() if k.startswith(("RASA_", "TF_"))})
    work = var_dir() / "bench"
    work.mkdir(parents=True, exist_ok=True)
    texts = [m["text"] for m in yaml.safe_load(MESSAGES.read_text(encoding="utf-8"))["messages"]]

    print("Training our model from scratch (timed)...", flush=True)
    began = time.monotonic()
    model = train(work / "ours.tar.gz")
    ours_train = round(time.monotonic() - began, 1)
    print("Creating and training a stock `rasa init` bot (timed)...", flush=True)
    stock_model, stock_train = stock_bot(work / "stock")

    # Our bot over a fresh seeded knowledge base, so local edits don't matter.
    from knowledge.catalogue.content import load
    from knowledge.db import session_scope
    from knowledge.migrations import upgrade
    from knowledge.settings import CONTENT_DIR

    os.environ["DATABASE_URL"] = f"sqlite:///{work / 'knowledge.db'}"
    # The benchmark is many messages from one address: measure the bot, not the flood limits.
    from bot.channels.config import NO_RATE_LIMITS

    os.environ.update(NO_RATE_LIMITS)
    upgrade()
    with session_scope() as session:
        load(session, CONTENT_DIR)
    base = Settings.from_env()
    settings = base.replace(
        **{
            "rasa_port": 5205,
            "action_port": 5255,
            "console_port": 5210,
            "tracker_store_url": f"sqlite:///{work / 'tracker-ours.db'}",
        }
    )
    print("Measuring our bot...", flush=True)
    ours = measure(
        lambda: BotStack(model, settings, log_dir=work, console=False).start(),
        lambda s: s.stop(),
        lambda s: s.pids(),
        f"http://127.0.0.1:{settings.rasa_port}/webhooks/rest/webhook",
        texts,
        quick,
    )

    print("Measuring the stock bot...", flush=True)
    stock_port = 5305
    (work / "stock" / "endpoints.yml").write_text(
        yaml.safe_dump({"tracker_store": {"type": "SQL", "dialect": "sqlite", "db": str(work / "tracker-stock.db")}})
    )

    def start_stock() -> subprocess.Popen:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rasa",
                "run",
                "--model",
                str(stock_model),
                "--endpoints",
                "endpoints.yml",
                "--interface",
                "127.0.0.1",
                "--port",
                str(stock_port),
            ],
            cwd=work / "stock",
            env=rasa_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop_stock(proc: subprocess.Popen) -> None:
        proc.terminate()
        proc.wait(timeout=30)

    stock = measure(
        start_stock, stop_stock, lambda p: [p.pid], f"http://127.0.0.1:{stock_port}/webhooks/rest/webhook", texts, quick
    )

    ours["train_s"], stock["train_s"] = ours_train, stock_train
    report = {"quick": quick, "ours": ours, "stock_rasa_init": stock}
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2))

    rows = [
        ("training (s)", ours["train_s"], stock["train_s"]),
        ("cold start to first answer (s)", ours["cold_start_s"], stock["cold_start_s"]),
        ("resident memory (MB)", ours["rss_mb"], stock["rss_mb"]),
    ]
    for key in ("load_1", "load_8"):
        n = ours[key]["senders"]
        for metric in ("p50_ms", "p95_ms", "p99_ms", "throughput_msg_s"):
            rows.append((f"{n} sender{'s' if n > 1 else ''}: {metric}", ours[key][metric], stock[key][metric]))
    print(f"\n{'measure':<34}{'ours':>10}{'stock':>10}{'ours/stock':>12}")
    for name, a, b in rows:
        print(f"{name:<34}{a:>10}{b:>10}{ratio(a, b) or '-':>12}")
    print(
        f"errors: ours {ours['load_1']['errors'] + ours['load_8']['errors']}, "
        f"stock {stock['load_1']['errors'] + stock['load_8']['errors']}"
    )
    verdict = {
        "p99 at 8 senders no worse than stock": ours["load_8"]["p99_ms"] <= stock["load_8"]["p99_ms"],
        "throughput at 8 no lower than stock": ours["load_8"]["throughput_msg_s"]
        >= stock["load_8"]["throughput_msg_s"],
        "training under 5 minutes": ours["train_s"] < 300,
    }
    for name, ok in verdict.items():
        print(f"target: {name}: {'met' if ok else 'NOT met'}")
    print(f"Report: {REPORT}")
    return 0
