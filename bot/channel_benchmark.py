"""`councilbot bench --channels`: how fast the Meta webhook acknowledges, and how fast replies follow.

Platforms retry a delivery that isn't acknowledged in time (Meta: within seconds; our target is under one
second), so the acknowledgement must not wait for the bot. This starts the real servers with the Meta
channel pointed at a local sink that stands in for the Graph API, sends signed bursts, and prints the
acknowledgement latency and the time until every reply has gone out. Report: reports/bench-channels.json.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from bot.channels.config import NO_RATE_LIMITS
from bot.channels.signatures import meta_signature
from bot.stack import BotStack
from bot.training import ensure_model
from knowledge.settings import PROJECT_ROOT, Settings

SECRET = "bench-secret"
ASKS = [
    "pothole on my road",
    "my bin was not collected",
    "how do I pay council tax",
    "fly tipping in the lane",
    "library opening times",
    "noisy neighbours every night",
]


class Sink:
    """Stands in for the Graph API: answers every call like the Send API and counts them."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with sink.lock:
                    sink.count += 1
                data = b'{"recipient_id":"r","message_id":"m"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _body(psid: str, text: str) -> bytes:
    payload = {
        "object": "page",
        "entry": [
            {
                "id": "1",
                "time": int(time.time() * 1000),
                "messaging": [
                    {
                        "sender": {"id": psid},
                        "recipient": {"id": "1"},
                        "timestamp": int(time.time() * 1000),
                        "message": {"mid": f"m_{uuid.uuid4().hex}", "text": text},
                    }
                ],
            }
        ],
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def burst(url: str, sink: Sink, senders: int, per_sender: int) -> dict[str, Any]:
    """Each of `senders` residents sends `per_sender` messages back to back; acknowledgement latency, and
    the time until the last reply reached the (fake) platform."""
    acks: list[float] = []
    lock = threading.Lock()
    start_count = sink.count

    def resident(n: int) -> None:
        psid = f"bench-{n}-{uuid.uuid4().hex[:6]}"
        with httpx.Client(timeout=30) as client:
            for i in range(per_sender):
                body = _body(psid, ASKS[(n + i) % len(ASKS)])
                began = time.perf_counter()
                r = client.post(
                    url,
                    content=body,
                    headers={"X-Hub-Signature-256": meta_signature(SECRET, body), "Content-Type": "application/json"},
                )
                with lock:
                    acks.append(time.perf_counter() - began if r.status_code == 200 else float("inf"))

    began = time.perf_counter()
    threads = [threading.Thread(target=resident, args=(n,)) for n in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent_in = time.perf_counter() - began
    total = senders * per_sender
    deadline = time.monotonic() + 600
    while sink.count - start_count < total and time.monotonic() < deadline:
        time.sleep(0.05)
    answered_in = time.perf_counter() - began
    ordered = sorted(acks)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 1)

    return {
        "senders": senders,
        "messages": total,
        "failed_acks": sum(a == float("inf") for a in acks),
        "ack_p50_ms": pct(0.5),
        "ack_p95_ms": pct(0.95),
        "ack_p99_ms": pct(0.99),
        "ack_max_ms": pct(1.0),
        "all_sent_s": round(sent_in, 2),
        "all_replied_s": round(answered_in, 2),
        "replies": sink.count - start_count,
        "replies_per_s": round(total / answered_in, 1),
    }


def main() -> int:

    from bot.benchmark import tree_rss_mb
    from knowledge.catalogue.content import load
    from knowledge.db import session_scope
    from knowledge.migrations import upgrade
    from knowledge.settings import CONTENT_DIR

    model = ensure_model()
    sink = Sink()
    with tempfile.TemporaryDirectory(prefix="councilbot-bench-") as tmp:
        kb_url = f"sqlite:///{tmp}/kb.db"
        upgrade(kb_url)
        with session_scope(kb_url) as session:
            load(session, CONTENT_DIR)
        base = Settings.from_env()
        settings = base.replace(
            **{
                "rasa_port": _free_port(),
                "action_port": _free_port(),
                "console_port": _free_port(),
                "tracker_store_url": f"sqlite:///{tmp}/tracker.db",
            }
        )
        env = {
            "DATABASE_URL": kb_url,
            "META_APP_SECRET": SECRET,
            "META_VERIFY_TOKEN": "bench",
            "META_PAGE_ACCESS_TOKEN": "bench",
            "META_GRAPH_URL": sink.url,
            **NO_RATE_LIMITS,
        }
        with BotStack(model, settings, log_dir=Path(tmp) / "logs", env=env, console=False) as stack:
            url = f"{stack.rasa_url}/webhooks/meta/webhook"
            burst(url, sink, 1, 5)  # warm up
            results = {
                "one_sender_100": burst(url, sink, 1, 100),
                "ten_senders_20_each": burst(url, sink, 10, 20),
                "rss_mb": tree_rss_mb(stack.pids()),
            }
    out = PROJECT_ROOT / "reports" / "bench-channels.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    for name, r in results.items():
        if isinstance(r, dict):
            print(
                f"{name}: ack p50 {r['ack_p50_ms']} ms, p99 {r['ack_p99_ms']} ms, max {r['ack_max_ms']} ms; "
                f"{r['messages']} sent in {r['all_sent_s']} s, all {r['replies']} replies out after "
                f"{r['all_replied_s']} s ({r['replies_per_s']}/s); failed acks {r['failed_acks']}"
            )
    print(f"servers' memory: {results['rss_mb']} MB\nreport: {out}")
    return 0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
