"""The next training folds editors' example questions in: a service with an intent gets its examples as
training data, and the model's fingerprint changes so `make run` retrains; a new topic without an intent
is left to the example matcher."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.training import editor_examples, fingerprint
from knowledge import answers
from knowledge.catalogue import editing
from knowledge.db import session_scope


def test_examples_become_training_data_and_change_the_fingerprint(
    kb_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COUNCILBOT_VAR_DIR", str(tmp_path))
    with session_scope(kb_url) as session:  # the shipped examples (libraries, leisure, parks, registrars)
        for svc in answers.service(session, "libraries"), answers.service(session, "leisure"):
            assert svc.examples
    before = editor_examples()
    assert before is not None and before.parent == tmp_path / "training"
    first = fingerprint(extra=before)
    with session_scope(kb_url) as session:
        svc = answers.service(session, "bins.garden")
        values = {n: getattr(svc, n) for n in editing.EDITABLE}
        values["examples"] = ["can i get the grass bin emptied every week in summer"]
        editing.publish_service(session, "editor", values, svc.version, "example")
    after = editor_examples()
    data = yaml.safe_load(after.read_text(encoding="utf-8"))
    garden = next(i for i in data["nlu"] if i["intent"] == "svc_bins_garden")
    assert "- can i get the grass bin emptied every week in summer" in garden["examples"]
    assert fingerprint(extra=after) != first


def test_without_a_knowledge_base_training_uses_data_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUNCILBOT_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'never-created' / 'kb.db'}")
    assert editor_examples() is None
