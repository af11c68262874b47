"""`councilbot kb import` (with and without --dry-run), `kb export --csv`, versions from `kb load`, and
`kb validate`'s file:line messages.

The `kb_url` fixture points DATABASE_URL at a fresh seeded database, which the commands open as in use.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import main as councilbot
from knowledge.catalogue.editing import snapshot, versions
from knowledge.db import session_scope
from knowledge.models import Service
from knowledge.settings import CONTENT_DIR


def export(tmp_path: Path, capsys: pytest.CaptureFixture) -> Path:
    out = tmp_path / "services.csv"
    assert councilbot(["kb", "export", "--csv", str(out)]) == 0
    assert f"services to {out}" in capsys.readouterr().out
    return out


def rewrite(path: Path, key: str, **cells: str) -> None:
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    columns = list(rows[0])
    for row in rows:
        if row["key"] == key:
            row.update(cells)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)


def published(kb_url: str) -> dict:
    with session_scope(kb_url) as session:
        return {"snapshot": snapshot(session), "versions": [v.number for v in versions(session)]}


def test_export_writes_a_csv_with_a_byte_order_mark_and_yaml_still_works(
    kb_url: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = export(tmp_path, capsys)
    assert out.read_bytes().startswith(b"\xef\xbb\xbfkey,title,url,")
    assert councilbot(["kb", "export", str(tmp_path / "yaml")]) == 0
    assert (tmp_path / "yaml" / "council.yml").exists()
    assert councilbot(["kb", "export"]) == 1
    assert "--csv FILE" in capsys.readouterr().err


def test_dry_run_prints_the_plan_and_changes_nothing(
    kb_url: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = export(tmp_path, capsys)
    rewrite(out, "roads.pothole", title="Report a pothole or crater")
    before = published(kb_url)
    assert councilbot(["kb", "import", str(out), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "1 changed" in printed and "Change service roads.pothole" in printed
    assert "title: Report a pothole -> Report a pothole or crater" in printed
    assert "Dry run: nothing was changed." in printed
    assert published(kb_url) == before


def test_import_applies_and_prints_the_new_version(kb_url: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = export(tmp_path, capsys)
    rewrite(out, "roads.pothole", title="Report a pothole or crater")
    assert councilbot(["kb", "import", str(out), "--author", "eddie", "--reason", "Plainer title"]) == 0
    printed = capsys.readouterr().out
    with session_scope(kb_url) as session:
        [latest, *_] = versions(session)
        pothole = session.execute(select(Service).where(Service.key == "roads.pothole")).scalar_one()
        assert pothole.title == "Report a pothole or crater" and pothole.version == 2
    assert f"published as version {latest.number}." in printed
    assert (latest.author, latest.reason) == ("eddie", "Plainer title")
    # The same file again: nothing to do, no new version.
    assert councilbot(["kb", "import", str(out)]) == 0
    assert "Nothing to import; no new version." in capsys.readouterr().out


def test_errors_name_file_and_row_exit_1_and_change_nothing(
    kb_url: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = export(tmp_path, capsys)
    rewrite(out, "roads.pothole", title="Fine", review_by="next year")
    before = published(kb_url)
    for extra in (["--dry-run"], []):
        assert councilbot(["kb", "import", str(out), *extra]) == 1
        err = capsys.readouterr().err
        assert f"{out}:" in err and "service 'roads.pothole': review_by 'next year' must be a date" in err
        assert "nothing" in err
    assert published(kb_url) == before


def test_yaml_directory_import(kb_url: str, content_copy: Path, capsys: pytest.CaptureFixture) -> None:
    roads = content_copy / "services" / "roads.yml"
    roads.write_text(roads.read_text().replace("title: Report a pothole", "title: Report a pothole or crater", 1))
    assert councilbot(["kb", "import", str(content_copy), "--dry-run"]) == 0
    assert "redirects: 0 added, 0 changed, 0 removed" in capsys.readouterr().out
    assert councilbot(["kb", "import", str(content_copy), "--reason", "From the files"]) == 0
    assert "published as version" in capsys.readouterr().out


def test_kb_load_records_a_version_when_it_changes_something(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    assert councilbot(["kb", "load", str(CONTENT_DIR)]) == 0
    with session_scope(url) as session:
        [first] = versions(session)
        assert first.reason == "Loaded the content files" and len(first.snapshot["services"]) >= 52
    assert councilbot(["kb", "load", str(CONTENT_DIR)]) == 0  # nothing changed: no new version
    with session_scope(url) as session:
        assert len(versions(session)) == 1


def test_seed_load_at_startup_records_a_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.run import prepare_database

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    assert prepare_database().startswith("loaded seed content")
    with session_scope(url) as session:
        [first] = versions(session)
        assert (first.author, first.reason) == ("system", "Seed content")


def test_kb_validate_names_file_line_and_problem_as_the_readme_shows(
    content_copy: Path, capsys: pytest.CaptureFixture
) -> None:
    bins = content_copy / "services" / "bins.yml"
    text = bins.read_text(encoding="utf-8")
    bins.write_text(
        text.replace("url: https://www.northshire.gov.uk/bins/report-missed-collection", "url: htp//x", 1).replace(
            "title: Report a missed bin collection", 'title: "Report a \\u202emissed bin"', 1
        ),
        encoding="utf-8",
    )
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.strip() == "- key: bins.missed")
    assert councilbot(["kb", "validate", str(content_copy)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"{bins}:{line}: service 'bins.missed': title has a control character (U+202E) at character 10; "
        "retype that part of the text",
        f"{bins}:{line}: service 'bins.missed': url 'htp//x' is not a well-formed https:// address",
        "2 problem(s); nothing loaded.",
    ]
    assert councilbot(["kb", "validate"]) == 0
    assert capsys.readouterr().out.startswith("OK: ")
