"""The gazetteer loads every shipped row, refuses a bad file naming the line and column, and is read once
per file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from knowledge.places.gazetteer import GazetteerError, gazetteer, load
from knowledge.settings import CONTENT_DIR

SHIPPED = CONTENT_DIR / "places" / "gazetteer.csv"
HEADER = "street,postcode,ward,house_numbers,lat,lon,bin_day,recycling_week,gritting_route\n"
GOOD = "Swallow Street,NS1 3NA,Castle,1-40,52.94445,-1.14407,Wednesday,B,secondary\n"


def _write(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "gazetteer.csv"
    path.write_text(HEADER + "".join(rows))
    return path


def test_the_shipped_gazetteer_loads_every_row() -> None:
    gaz = gazetteer()
    lines = [line for line in SHIPPED.read_text().splitlines()[1:] if line.strip()]
    assert len(gaz.rows) == len(lines)
    row = gaz.by_postcode("ns13na")[0]
    assert (row.street, row.ward, row.first_number, row.last_number) == ("Swallow Street", "Castle", 1, 40)
    assert (row.bin_day, row.recycling_week, row.gritting_route) == ("Wednesday", "B", "secondary")
    assert [r.postcode for r in gaz.by_street("swallow street")] == ["NS1 3NA", "NS1 4EJ"]
    assert gaz.districts() == {"NS1", "NS2", "NS3", "NS4", "NS5", "NS6"}


@pytest.mark.parametrize(
    "row,line,column",
    [
        ("Swallow Street,NS1 3NA,Castle,1-40,52.9,-1.1,Wednesday,C,secondary\n", 3, "recycling_week"),
        ("Swallow Street,NS1,Castle,1-40,52.9,-1.1,Wednesday,B,secondary\n", 3, "postcode"),
        ("Swallow Street,NS1 3NA,Castle,40-1,52.9,-1.1,Wednesday,B,secondary\n", 3, "house_numbers"),
        ("Swallow Street,NS1 3NA,Castle,1-40,north,-1.1,Wednesday,B,secondary\n", 3, "lat"),
        ("Swallow Street,NS1 3NA,Castle,1-40,52.9,-1.1,Wedday,B,secondary\n", 3, "bin_day"),
        ("Swallow Street,NS1 3NA,Castle,1-40,52.9,-1.1,Wednesday,B,sometimes\n", 3, "gritting_route"),
        (",NS1 3NA,Castle,1-40,52.9,-1.1,Wednesday,B,secondary\n", 3, "street"),
    ],
)
def test_a_bad_row_stops_with_its_line_and_column(tmp_path: Path, row: str, line: int, column: str) -> None:
    path = _write(tmp_path, GOOD, row)
    with pytest.raises(GazetteerError) as error:
        load(path)
    assert f"line {line}, column {column}" in str(error.value)
    assert str(path.resolve()) in str(error.value)


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text("street,postcode\nSwallow Street,NS1 3NA\n")
    with pytest.raises(GazetteerError, match="missing column"):
        load(path)


def test_read_once_per_path_and_again_when_changed(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    first = load(path)
    assert load(path) is first
    before = path.stat().st_mtime_ns
    path.write_text(HEADER + GOOD + GOOD.replace("NS1 3NA", "NS1 4EJ").replace("1-40", "41-80"))
    os.utime(path, ns=(before + 10**9, before + 10**9))  # a later edit, whatever the file system's clock
    assert len(load(path).rows) == 2 and len(first.rows) == 1


def test_the_setting_chooses_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, GOOD)
    monkeypatch.setenv("GAZETTEER_PATH", str(path))
    assert [r.street for r in gazetteer().rows] == ["Swallow Street"]
