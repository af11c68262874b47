"""Train a model only when what it learns from has changed.

The model's name is a fingerprint of config.yml, domain.yml, data/ (service examples and the danger net's
examples), our NLU components and the knowledge modules they use, and the example questions editors have
added to services (folded in as training examples), so a second `councilbot run` with unchanged data finds
its model at once instead of spending minutes training.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

import yaml

from knowledge.settings import PROJECT_ROOT, Settings, var_dir

TRAINING_INPUTS = (
    "config.yml",
    "domain.yml",
    "data",
    "bot/nlu",
    "knowledge/danger",
    "knowledge/understanding/text.py",
    "knowledge/understanding/language.py",
    "knowledge/content/danger_lexicon.yml",
)


def editor_examples(root: Path = PROJECT_ROOT, kb_url: Optional[str] = None) -> Optional[Path]:
    """Write the example questions editors gave services that have an intent as NLU training data
    (var/training/editor_examples.yml), so the next model learns them; None if there are none or the
    knowledge base can't be read (training then uses data/ alone). `kb_url`: the knowledge base to read
    (default `DATABASE_URL`)."""
    try:
        from sqlalchemy import select

        from knowledge.db import session_scope
        from knowledge.models import Service
        from knowledge.understanding.intents import intent_for_service

        domain = yaml.safe_load((root / "domain.yml").read_text(encoding="utf-8"))
        intents = set(domain.get("intents") or [])
        with session_scope(kb_url) as session:
            rows = session.execute(select(Service.key, Service.examples).where(Service.active.is_(True))).all()
    except Exception:  # noqa: BLE001 - no knowledge base yet (a fresh checkout): train on data/ alone
        return None
    nlu = [
        {
            "intent": intent_for_service(key),
            "examples": "".join(f"- {' '.join(str(e).split())}\n" for e in examples if str(e).strip()),
        }
        for key, examples in sorted(rows)
        if examples and intent_for_service(key) in intents
    ]
    if not nlu:
        return None
    out = var_dir() / "training" / "editor_examples.yml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        yaml.safe_dump({"version": "3.1", "nlu": nlu}, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    return out


def fingerprint(root: Path = PROJECT_ROOT, extra: Optional[Path] = None) -> str:
    """Hash of every training input's path and bytes (stable across machines), and of `extra` (the
    editors' examples file) if given."""
    digest = hashlib.sha256()
    if extra is not None:
        digest.update(extra.read_bytes())
    for name in TRAINING_INPUTS:
        path = root / name
        files = (
            sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".yml", ".yaml", ".py"))
            if path.is_dir()
            else [path]
            if path.exists()
            else []
        )
        for file in files:
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def model_path(settings: Settings, root: Path = PROJECT_ROOT, extra: Optional[Path] = None) -> Path:
    return settings.models_dir / f"councilbot-{fingerprint(root, extra)}.tar.gz"


def example_lines(block: str) -> list[str]:
    """The examples of one Rasa NLU item (`examples: |` followed by "- text" lines), as plain texts."""
    return [line.strip()[2:].strip() for line in block.splitlines() if line.strip().startswith("- ")]


# Holds sitecustomize.py, which hides dependencies' deprecation warnings in the processes we start.
QUIET_START_DIR = Path(__file__).resolve().parent / "quiet_start"


def quiet_env(base: dict[str, str]) -> dict[str, str]:
    """`base` with what keeps dependencies' start-up noise out of a process's output: our warning filters
    first on PYTHONPATH, and TensorFlow's C++ info and warning logs hidden (its errors still show)."""
    env = dict(base)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(QUIET_START_DIR), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def rasa_env() -> dict[str, str]:
    """Environment for every process we start (Rasa server and training, action server, console): no
    telemetry calls (the machines have no internet), our code importable, dependencies' warnings quiet."""
    env = dict(os.environ)
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    return quiet_env(env)


def train(
    out: Path, data: Optional[list[str]] = None, config: str = "config.yml", extra: Optional[list[str]] = None
) -> Path:
    """Run `rasa train` into `out` (a .tar.gz path) and return it. Rasa's training cache is off: the danger
    net reads data/danger itself, which Rasa's cache keys don't see, so a cached step could be stale."""
    env = rasa_env()
    env["RASA_MAX_CACHE_SIZE"] = "0"
    cmd = [
        sys.executable,
        "-m",
        "rasa",
        "train",
        "--config",
        config,
        "--domain",
        "domain.yml",
        "--data",
        *(data or ["data/nlu", "data/rules"]),
        "--out",
        str(out.parent),
        "--fixed-model-name",
        out.name.removesuffix(".tar.gz"),
        *(extra or []),
    ]
    subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, check=True)
    return out


def ensure_model(settings: Optional[Settings] = None, force: bool = False, kb_url: Optional[str] = None) -> Path:
    """The model for the current training data and the editors' examples in the knowledge base at `kb_url`
    (default `DATABASE_URL`), training it first if it doesn't exist yet."""
    settings = settings or Settings.from_env()
    examples = editor_examples(kb_url=kb_url)
    path = model_path(settings, extra=examples)
    if path.exists() and not force:
        return path
    print(f"Training a model for the current data ({path.name}); this takes a few minutes...", flush=True)
    data = ["data/nlu", "data/rules"] + ([str(examples)] if examples else [])
    return train(path, data=data)
