"""Train a model only when what it learns from has changed.

The model's name is a fingerprint of config.yml, domain.yml, data/ and our NLU components, so a second
`councilbot run` with unchanged data finds its model at once instead of spending minutes training.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

from bot.settings import Settings
from knowledge.settings import PROJECT_ROOT

TRAINING_INPUTS = ("config.yml", "domain.yml", "data", "bot/nlu")


def fingerprint(root: Path = PROJECT_ROOT) -> str:
    """Hash of every training input's path and bytes (stable across machines)."""
    digest = hashlib.sha256()
    for name in TRAINING_INPUTS:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".yml", ".yaml", ".py")) \
            if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def model_path(settings: Settings, root: Path = PROJECT_ROOT) -> Path:
    return settings.models_dir / f"councilbot-{fingerprint(root)}.tar.gz"


def rasa_env() -> dict[str, str]:
    """Environment for Rasa subprocesses: no telemetry calls (the machines have no internet)."""
    env = dict(os.environ)
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    return env


def train(out: Path, data: Optional[list[str]] = None, config: str = "config.yml",
          extra: Optional[list[str]] = None, use_cache: bool = True) -> Path:
    """Run `rasa train` into `out` (a .tar.gz path) and return it. `use_cache=False` trains every
    component from scratch (for honest timings)."""
    env = rasa_env()
    if not use_cache:
        env["RASA_MAX_CACHE_SIZE"] = "0"
    cmd = [sys.executable, "-m", "rasa", "train", "--config", config, "--domain", "domain.yml",
           "--data", *(data or ["data"]), "--out", str(out.parent),
           "--fixed-model-name", out.name.removesuffix(".tar.gz"), *(extra or [])]
    subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, check=True)
    return out


def ensure_model(settings: Optional[Settings] = None, force: bool = False) -> Path:
    """The model for the current training data, training it first if it doesn't exist yet."""
    settings = settings or Settings.from_env()
    path = model_path(settings)
    if path.exists() and not force:
        return path
    print(f"Training a model for the current data ({path.name}); this takes a few minutes...", flush=True)
    return train(path)
