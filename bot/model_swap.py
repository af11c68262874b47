"""Retraining while the bot keeps answering: train a model for the current data (and editors' example
questions), then tell the running Rasa server to load it (`councilbot train --swap`, or the console's
"Retrain now").

The Rasa server loads the new model beside the old one, which answers every message meanwhile, and swaps
them in one step (its internal `/webhooks/rest/model` route, reached only with the per-run internal token
that `councilbot run` keeps in var/run/ readable by its own user alone). Platform messages wait in the
inbox and REST requests are answered by whichever model is in place: none is dropped. A Rasa server
restarted later by the supervisor starts on the swapped model (var/run/model-<port>).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

import httpx

from knowledge.settings import Settings, var_dir


def run_dir() -> Path:
    path = var_dir() / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path


def token_file(port: int) -> Path:
    return run_dir() / f"internal-token-{port}"


def current_model_file(port: int) -> Path:
    return run_dir() / f"model-{port}"


def write_token(port: int, token: str) -> None:
    """Keep the per-run internal token where only this user can read it (for `councilbot train --swap`)."""
    path = token_file(port)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token)
    os.chmod(path, 0o600)


def current_model(port: int) -> Optional[Path]:
    """The model a swap put in place for the server on `port`, if it still exists."""
    try:
        path = Path(current_model_file(port).read_text(encoding="utf-8").strip())
    except OSError:
        return None
    return path if path.is_file() else None


def swap(model: Path, settings: Optional[Settings] = None, timeout: float = 300.0) -> str:
    """Ask the running Rasa server to load `model`. Returns what happened, in words."""
    settings = settings or Settings.from_env()
    # Started by the console (a child of the running stack): its Rasa server's address and token are given.
    base = settings.rasa_url or f"http://{settings.host}:{settings.rasa_port}"
    port = urlsplit(base).port or settings.rasa_port
    try:
        token = settings.internal_token or token_file(port).read_text(encoding="utf-8").strip()
    except OSError:
        return f"No running bot found on port {port}; the next `councilbot run` uses {model.name}."
    url = f"{base.rstrip('/')}/webhooks/rest/model"
    try:
        resp = httpx.post(
            url, json={"model": str(model.resolve())}, headers={"X-Internal-Token": token}, timeout=timeout
        )
    except httpx.TransportError:
        return f"No running bot answered on port {port}; the next `councilbot run` uses {model.name}."
    if resp.status_code != 200:
        raise RuntimeError(f"the Rasa server refused the new model ({resp.status_code}): {resp.text[:300]}")
    current_model_file(port).write_text(str(model.resolve()), encoding="utf-8")
    return f"The running bot now answers with {model.name} (loaded in {json.loads(resp.text).get('seconds')} s)."
