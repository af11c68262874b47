"""Import and export: CSV and YAML round trips, dry-run plans, all-or-nothing imports, located errors."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import select

from knowledge.catalogue.content import ContentInvalid
from knowledge.catalogue.editing import ConflictError, EditError, publish_service, snapshot, versions
from knowledge.catalogue.transfer import COLUMNS, apply_import, export_csv, plan_csv, plan_import, read_csv
from knowledge.db import session_scope
from knowledge.models import ContentVersion, Redirect, Service


def exported(kb_url: str) -> str:
    with session_scope(kb_url) as session:
        return export_csv(session)


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def to_csv(rows: list[dict[str, str]], columns: list[str] = COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def edited(kb_url: str, key: str, /, **changes: str) -> str:
    """The exported CSV with one service's cells changed."""
    rows = rows_of(exported(kb_url))
    row = next(r for r in rows if r["key"] == key)
    row.update(changes)
    return to_csv(rows)


def plan_of(kb_url: str, data: str | bytes):
    with session_scope(kb_url) as session:
        return plan_csv(session, data, "services.csv")


def state(kb_url: str) -> dict:
    with session_scope(kb_url) as session:
        return {
            "snapshot": snapshot(session),
            "versions": [v.number for v in versions(session)],
            "locks": dict(session.execute(select(Service.key, Service.version)).all()),
        }


def row_number(text: str, key: str) -> int:
    """The spreadsheet row (header = 1) of `key` in a CSV with no line breaks inside cells."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith(key + ","))


# --- export and round trips ---------------------------------------------------------------------------------


def test_csv_export_has_the_documented_layout(kb_url: str) -> None:
    text = exported(kb_url)
    rows = rows_of(text)
    assert list(rows[0]) == COLUMNS
    with session_scope(kb_url) as session:
        assert len(rows) == len(session.execute(select(Service)).all())
    bins = next(r for r in rows if r["key"] == "bins.missed")
    assert " | " in bins["synonyms"] and bins["active"] == "true" and bins["always_human"] in ("true", "false")
    assert len(bins["review_by"]) == 10 and bins["review_by"][4] == "-"


def test_csv_round_trip_is_a_no_op(kb_url: str) -> None:
    plan = plan_of(kb_url, exported(kb_url))
    assert plan.ok, plan.errors
    assert not plan.has_changes
    assert plan.added == [] and plan.changed == {} and plan.retired == [] and len(plan.unchanged) >= 52
    assert "Nothing would change" in plan.describe()


def test_csv_with_byte_order_mark_and_spreadsheet_booleans_reads_the_same(kb_url: str) -> None:
    text = exported(kb_url).replace(",true\r\n", ",TRUE\r\n")
    plan = plan_of(kb_url, "\ufeff".encode() + text.encode("utf-8"))
    assert plan.ok, plan.errors
    assert not plan.has_changes


def test_retired_services_export_as_inactive_and_stay_retired(kb_url: str) -> None:
    with session_scope(kb_url) as session:
        session.execute(select(Service).where(Service.key == "jobs")).scalar_one().active = False
    row = next(r for r in rows_of(exported(kb_url)) if r["key"] == "jobs")
    assert row["active"] == "false"
    assert not plan_of(kb_url, exported(kb_url)).has_changes


def test_changed_summary_shows_before_and_after(kb_url: str) -> None:
    with session_scope(kb_url) as session:
        before = session.execute(select(Service.summary).where(Service.key == "roads.pothole")).scalar_one()
    plan = plan_of(kb_url, edited(kb_url, "roads.pothole", summary="Tell us about a pothole."))
    assert plan.ok, plan.errors
    assert list(plan.changed) == ["roads.pothole"]
    [change] = plan.changed["roads.pothole"]
    assert (change.field, change.before, change.after) == ("summary", before, "Tell us about a pothole.")
    text = plan.describe()
    assert "Change service roads.pothole" in text and "summary:" in text and "Tell us about a pothole." in text


def test_removed_row_retires_and_new_row_adds(kb_url: str) -> None:
    rows = [r for r in rows_of(exported(kb_url)) if r["key"] != "jobs"]
    new = dict(rows[0], key="bins.new_thing", title="A new bin service")
    plan = plan_of(kb_url, to_csv(rows + [new]))
    assert plan.ok, plan.errors
    assert plan.retired == ["jobs"] and plan.added == ["bins.new_thing"] and plan.changed == {}
    assert "Retire service jobs" in plan.describe() and "Add service bins.new_thing" in plan.describe()


def test_dry_run_changes_nothing(kb_url: str) -> None:
    before = state(kb_url)
    plan = plan_of(kb_url, edited(kb_url, "roads.pothole", title="Pothole!"))
    assert plan.has_changes
    assert state(kb_url) == before


def test_apply_records_a_version_and_bumps_service_versions(kb_url: str) -> None:
    rows = [r for r in rows_of(exported(kb_url)) if r["key"] != "jobs"]
    next(r for r in rows if r["key"] == "roads.pothole")["summary"] = "Tell us about a pothole."
    before = state(kb_url)
    with session_scope(kb_url) as session:
        plan = apply_import(session, plan_csv(session, to_csv(rows), "services.csv"), "eddie", "Annual review")
    assert plan.version is not None
    after = state(kb_url)
    assert after["locks"]["roads.pothole"] == before["locks"]["roads.pothole"] + 1
    assert after["locks"]["jobs"] == before["locks"]["jobs"] + 1
    assert after["locks"]["bins.missed"] == before["locks"]["bins.missed"]
    with session_scope(kb_url) as session:
        version = session.execute(select(ContentVersion).where(ContentVersion.number == plan.version)).scalar_one()
        assert (version.author, version.reason) == ("eddie", "Annual review")
        assert "roads.pothole" in version.summary and "jobs" in version.summary
        assert version.snapshot["services"]["roads.pothole"]["summary"] == "Tell us about a pothole."
        assert version.snapshot["services"]["jobs"]["active"] is False
        pothole = session.execute(select(Service).where(Service.key == "roads.pothole")).scalar_one()
        assert pothole.summary == "Tell us about a pothole."
    # Imported again, the same file changes nothing and records nothing.
    with session_scope(kb_url) as session:
        again = apply_import(session, plan_csv(session, to_csv(rows), "services.csv"), "eddie", "Again")
    assert again.version is None and not again.has_changes
    assert state(kb_url)["versions"] == after["versions"]


def test_an_editor_with_the_old_text_open_is_told_after_an_import(kb_url: str) -> None:
    with session_scope(kb_url) as session:
        row = session.execute(select(Service).where(Service.key == "roads.pothole")).scalar_one()
        base = row.version
        values = {name: getattr(row, name) for name in COLUMNS if name != "active"}
    with session_scope(kb_url) as session:
        apply_import(
            session,
            plan_csv(session, edited(kb_url, "roads.pothole", title="Imported title"), "services.csv"),
            "eddie",
            "Import",
        )
    with pytest.raises(ConflictError), session_scope(kb_url) as session:
        publish_service(session, "ada", dict(values, title="Ada's title"), base, "Fix the title")


def test_a_plan_made_before_someone_published_is_refused(kb_url: str) -> None:
    text = edited(kb_url, "roads.pothole", title="Imported title")
    plan = plan_of(kb_url, text)
    with session_scope(kb_url) as session:  # someone publishes meanwhile
        session.execute(select(Service).where(Service.key == "roads.pothole")).scalar_one().summary = "Theirs."
    before = state(kb_url)
    with pytest.raises(ConflictError), session_scope(kb_url) as session:
        apply_import(session, plan, "eddie", "Import")
    assert state(kb_url) == before


def test_apply_needs_a_reason(kb_url: str) -> None:
    before = state(kb_url)
    with pytest.raises(EditError), session_scope(kb_url) as session:
        apply_import(session, plan_csv(session, edited(kb_url, "roads.pothole", title="X"), "s.csv"), "eddie", " ")
    assert state(kb_url) == before


def test_html_is_kept_as_literal_text(kb_url: str) -> None:
    script = "<script>alert('x')</script> & <b>bold</b>"
    with session_scope(kb_url) as session:
        apply_import(
            session, plan_csv(session, edited(kb_url, "roads.pothole", summary=script), "s.csv"), "eddie", "Test"
        )
    with session_scope(kb_url) as session:
        assert session.execute(select(Service.summary).where(Service.key == "roads.pothole")).scalar_one() == script
    row = next(r for r in rows_of(exported(kb_url)) if r["key"] == "roads.pothole")
    assert row["summary"] == script
    assert not plan_of(kb_url, exported(kb_url)).has_changes


# --- bad input ----------------------------------------------------------------------------------------------


def _bad_quoting(text: str) -> tuple[str, int]:
    lines = text.split("\r\n")
    n = row_number(text, "roads.pothole")
    lines[n - 1] = lines[n - 1].replace("roads.pothole,", 'roads.pothole,"Report a "pothole" here",', 1)
    return "\r\n".join(lines), n


def _wrong_count(text: str) -> tuple[str, int]:
    lines = text.split("\r\n")
    n = row_number(text, "roads.pothole")
    lines[n - 1] += ",extra"
    return "\r\n".join(lines), n


def _duplicate(text: str) -> tuple[str, int]:
    lines = text.rstrip("\r\n").split("\r\n")
    lines.append(lines[row_number(text, "roads.pothole") - 1])
    return "\r\n".join(lines) + "\r\n", len(lines)


def _unknown_column(text: str) -> tuple[str, int]:
    return text.replace("title,", "titel,", 1), 1


def _non_utf8(text: str) -> tuple[bytes, int]:
    n = row_number(text, "roads.pothole")
    return text.encode("utf-8").replace(b"roads.pothole,Report", b"roads.pothole,Caf\xe9 Report", 1), n


@pytest.mark.parametrize(
    "breaker,expected",
    [
        (_bad_quoting, ["can't be read", "quotes"]),
        (_wrong_count, ["17 cells", "header has 16"]),
        (_duplicate, ["duplicate service key 'roads.pothole'"]),
        (_unknown_column, ["unknown column 'titel'"]),
        (_non_utf8, ["not UTF-8"]),
    ],
    ids=["bad-quoting", "column-count", "duplicate-key", "unknown-column", "non-utf8"],
)
def test_malformed_csv_is_reported_with_its_row_and_nothing_changes(kb_url: str, breaker, expected) -> None:
    data, row = breaker(exported(kb_url))
    before = state(kb_url)
    plan = plan_of(kb_url, data)
    assert not plan.ok
    messages = [str(e) for e in plan.errors]
    assert any(m.startswith(f"services.csv:{row}: ") and all(x in m for x in expected) for m in messages), messages
    with pytest.raises(ContentInvalid) as caught, session_scope(kb_url) as session:
        apply_import(session, plan, "eddie", "Broken")
    assert caught.value.errors == plan.errors
    assert state(kb_url) == before


@pytest.mark.parametrize(
    "cells,expected",
    [
        ({"review_by": "31/03/2027"}, "review_by '31/03/2027' must be a date like 2027-03-31"),
        ({"review_by": "2027-02-30"}, "review_by '2027-02-30' must be a date"),
        ({"summary": "x" * 5000}, "summary is 5000 characters; keep it under 600"),
        (
            {"url": "https://evil.example.com/potholes"},
            "url 'https://evil.example.com/potholes' is not on an allowed site",
        ),
        ({"always_human": "yes"}, "always_human must be true or false"),
        ({"active": "maybe"}, "active must be true or false"),
        ({"title": ""}, "missing required field 'title'"),
        ({"key": "Roads Pothole!"}, "key 'Roads Pothole!' must be lower-case words"),
        ({"title": "Report\x07 a pothole"}, "title has a control character (U+0007)"),
        ({"summary": "Report \u202eelohtop a"}, "summary has a control character (U+202E)"),
        ({"category": "../../etc"}, "category '../../etc' must be one lower-case word"),
        ({"url": "https://www.northshire.gov.uk/" + "a" * 600}, "url is 630 characters; keep it under 500"),
        ({"synonyms": "pothole | | crater"}, "synonyms must be a list of text items"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 30 else None,
)
def test_bad_values_name_the_row_and_field(kb_url: str, cells: dict, expected: str) -> None:
    text = edited(kb_url, "roads.pothole", **cells)
    before = state(kb_url)
    plan = plan_of(kb_url, text)
    row = row_number(text, cells.get("key", "roads.pothole"))
    messages = [str(e) for e in plan.errors]
    service = cells.get("key", "roads.pothole")
    assert any(m.startswith(f"services.csv:{row}: service '{service}': ") and expected in m for m in messages), messages
    with pytest.raises(ContentInvalid), session_scope(kb_url) as session:
        apply_import(session, plan, "eddie", "Broken")
    assert state(kb_url) == before


def test_every_problem_is_reported_at_once(kb_url: str) -> None:
    rows = rows_of(exported(kb_url))
    rows[2]["review_by"] = "soon"
    rows[7]["url"] = "http://www.northshire.gov.uk/x"
    plan = plan_of(kb_url, to_csv(rows))
    assert {e.line for e in plan.errors} == {4, 9}
    assert "2 problem(s)" in plan.describe()


@pytest.mark.parametrize(
    "header,expected",
    [
        (["key", "title"], "missing column 'url'"),
        (COLUMNS + ["title"], "column 'title' appears twice"),
    ],
    ids=["missing", "twice"],
)
def test_header_problems_are_on_row_1(header: list[str], expected: str) -> None:
    _, errors = read_csv(",".join(header) + "\r\n", "services.csv")
    assert any(e.line == 1 and expected in str(e) for e in errors), errors


def test_spreadsheet_workbook_and_huge_files_are_refused_plainly() -> None:
    _, errors = read_csv(b"PK\x03\x04" + b"\x00\xff" * 100, "services.xlsx")
    assert len(errors) == 1 and "spreadsheet workbook" in str(errors[0]) and "CSV UTF-8" in str(errors[0])
    _, errors = read_csv(b"x" * (3 * 1024 * 1024), "big.csv")
    assert "the most that can be imported at once is 2 MB" in str(errors[0])


def test_empty_columns_a_spreadsheet_adds_at_the_right_are_ignored(kb_url: str) -> None:
    text = "\r\n".join(line + ",," if line else line for line in exported(kb_url).split("\r\n"))
    plan = plan_of(kb_url, text)
    assert plan.ok, plan.errors
    assert not plan.has_changes


def test_cells_keep_commas_quotes_and_line_breaks(kb_url: str) -> None:
    summary = 'Say "pothole", then where.\nWe fix most within 5 days.'
    plan = plan_of(kb_url, edited(kb_url, "roads.pothole", summary=summary))
    assert plan.ok, plan.errors
    assert plan.changed["roads.pothole"][0].after == summary


# --- YAML directories ---------------------------------------------------------------------------------------


def test_yaml_round_trip_is_a_no_op(kb_url: str, content_copy: Path) -> None:
    with session_scope(kb_url) as session:
        plan = plan_import(session, content_copy)
    assert plan.ok and plan.kind == "yaml" and not plan.has_changes


def test_yaml_import_plans_and_applies_services_redirects_and_council(kb_url: str, content_copy: Path) -> None:
    roads = content_copy / "services" / "roads.yml"
    roads.write_text(roads.read_text().replace("title: Report a pothole", "title: Report a pothole or crater", 1))
    redirects = content_copy / "redirects.yml"
    redirects.write_text(redirects.read_text().replace("to: the police", "to: the local police", 1))
    council = content_copy / "council.yml"
    council.write_text(council.read_text().replace("8:30am to 5pm", "9am to 5pm", 1))
    before = state(kb_url)
    with session_scope(kb_url) as session:
        plan = plan_import(session, content_copy)
    assert state(kb_url) == before  # planning is a dry run
    assert plan.ok, plan.errors
    assert list(plan.changed) == ["roads.pothole"] and [c.field for c in plan.changed["roads.pothole"]] == ["title"]
    assert list(plan.redirects_changed) == ["police"]
    assert [c.field for c in plan.council] == ["opening_hours"]
    assert "Change redirect police" in plan.describe() and "opening_hours" in plan.describe()
    with session_scope(kb_url) as session:
        applied = apply_import(session, content_copy, "eddie", "YAML import")
    assert applied.version is not None
    after = state(kb_url)
    assert after["locks"]["roads.pothole"] == before["locks"]["roads.pothole"] + 1
    assert after["snapshot"]["council"]["opening_hours"] == "Monday to Friday, 9am to 5pm"
    with session_scope(kb_url) as session:
        assert (
            session.execute(select(Redirect.to_name).where(Redirect.key == "police")).scalar_one() == "the local police"
        )


def test_broken_yaml_directory_changes_nothing(kb_url: str, content_copy: Path) -> None:
    roads = content_copy / "services" / "roads.yml"
    roads.write_text(
        roads.read_text()
        .replace("title: Report a pothole", "title: Report a pothole\x07", 1)
        .replace("review_by: 2027", "review_by: soon #", 1)
    )
    before = state(kb_url)
    with session_scope(kb_url) as session:
        plan = plan_import(session, content_copy)
    assert plan.errors and all(str(roads) in str(e) for e in plan.errors)
    with pytest.raises(ContentInvalid), session_scope(kb_url) as session:
        apply_import(session, content_copy, "eddie", "Broken")
    assert state(kb_url) == before


def test_unknown_source_is_an_error(kb_url: str, tmp_path: Path) -> None:
    with session_scope(kb_url) as session:
        plan = plan_import(session, tmp_path / "nothing.csv")
    assert plan.errors and "no such file" in str(plan.errors[0])


def test_formula_like_cells_are_defused_in_export_and_restored_on_import(kb_url: str) -> None:
    """A summary starting with '=' must not run as a formula when the CSV is opened in a spreadsheet."""
    from sqlalchemy import select as _select

    from knowledge.catalogue.transfer import export_csv, plan_csv
    from knowledge.db import session_scope as _scope
    from knowledge.models import Service as _Service

    with _scope(kb_url) as s:
        svc = s.execute(_select(_Service).where(_Service.key == "roads.pothole")).scalar_one()
        svc.summary = '=HYPERLINK("http://evil.example","Click") then report it.'
        svc.phone = "+44 300 123 4567"
    with _scope(kb_url) as s:
        text = export_csv(s)
        assert "'=HYPERLINK" in text and "'+44 300 123 4567" in text
        assert "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text
        plan = plan_csv(s, text, "services.csv")
        assert not plan.errors and not plan.changed and not plan.added
