"""Imports run one way (README, "How it fits together"): `bot/ -> knowledge/` and `actions/ -> knowledge/`.
`knowledge/` imports neither, and `actions/` (the action server's process) never imports `bot/`, so each
process loads only what it runs and no cycle can form."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"knowledge": ("bot", "actions"), "actions": ("bot",)}


def imported_packages(path: Path) -> set[str]:
    """The top-level package of every absolute import in the file at `path`."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_run_one_way(package: str) -> None:
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in sorted(imported_packages(path) & set(FORBIDDEN[package]))
    ]
    assert wrong == []


def test_the_check_sees_an_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\nfrom bot.channels import meta\nfrom . import sibling\n", encoding="utf-8")
    assert imported_packages(module) == {"os", "bot"}
