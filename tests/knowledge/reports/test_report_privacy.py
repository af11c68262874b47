"""Erasure and retention take a resident off their reports and clear their words, but the problem they
reported stays for the council to fix (and for anyone else waiting on it)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select

from knowledge.models import ReportDraft, ReportNotification, ReportPhoto, ReportResident
from knowledge.personal_data.erasure import erase
from knowledge.personal_data.retention import Periods, apply
from knowledge.personal_data.subjects import parse_identifier
from knowledge.reports import filing, nearby, updates
from tests.knowledge.reports.conftest import NOW, Factory, add_conversation, add_photo, load_report, save_draft

ANN, BOB = "messenger:1001", "messenger:1002"


def _ann_files(factory: Factory) -> int:
    add_conversation(factory, ANN)
    photo = add_photo(factory, ANN, "https://cdn.example/ann.jpg")
    save_draft(factory, ANN, photo_ids=[photo], description="Outside my house, I'm Ann at number 14")
    with factory() as s:
        return int(filing.file_report(s, ANN, NOW).report.id)


def test_erasing_the_only_resident_keeps_the_pothole_but_not_their_words(
    factory: Factory, kb_url: str, tmp_path: Path
) -> None:
    report_id = _ann_files(factory)
    with factory() as s:
        updates.change_status(s, report_id, "investigating", NOW)
    save_draft(factory, ANN, category="graffiti")  # a second report she never finished (a new draft)
    result = erase(parse_identifier(ANN), kb_url, f"sqlite:///{tmp_path / 'tracker.db'}", actor="tester")
    assert result.counts["reports"] == 1 and result.counts["report_residents"] == 1
    report = load_report(factory, report_id)
    assert (report.category, report.street, report.status) == ("pothole", "Mill Lane", "investigating")
    assert report.conversation_id == "erased"
    assert report.description is None and report.house_number is None
    assert "14" not in (report.address or "")
    with factory() as s:
        for model in (ReportResident, ReportNotification, ReportPhoto, ReportDraft):
            assert s.execute(select(model)).first() is None, model.__tablename__


def test_erasing_one_of_two_residents_keeps_the_report_for_the_other(
    factory: Factory, kb_url: str, tmp_path: Path
) -> None:
    report_id = _ann_files(factory)
    add_conversation(factory, BOB)
    with factory() as s:
        nearby.join(s, report_id, BOB, "messenger", NOW)
    with factory() as s:
        updates.change_status(s, report_id, "action_scheduled", NOW)
    erase(parse_identifier(ANN), kb_url, f"sqlite:///{tmp_path / 'tracker.db'}", actor="tester")
    report = load_report(factory, report_id)
    assert report.conversation_id == "erased" and report.description is not None
    with factory() as s:
        assert s.execute(select(ReportResident.conversation_id)).scalars().all() == [BOB]
        assert len(s.execute(select(ReportNotification)).all()) == 1  # Bob's
        assert s.execute(select(ReportPhoto)).first() is None  # Ann's photo went with her attachments


def test_a_report_reference_finds_who_filed_it(factory: Factory, kb_url: str, tmp_path: Path) -> None:
    report_id = _ann_files(factory)
    reference = load_report(factory, report_id).reference
    erase(parse_identifier(reference), kb_url, f"sqlite:///{tmp_path / 'tracker.db'}", actor="tester")
    assert load_report(factory, report_id).conversation_id == "erased"


def test_retention_clears_the_resident_from_reports_but_keeps_them(
    factory: Factory, kb_url: str, tmp_path: Path
) -> None:
    report_id = _ann_files(factory)
    periods = Periods(dt.timedelta(days=183), None, None)
    later = NOW + dt.timedelta(days=200)
    result = apply(kb_url, f"sqlite:///{tmp_path / 'tracker.db'}", periods, now=later)
    assert result.counts.get("reports") == 1
    report = load_report(factory, report_id)
    assert report.conversation_id == "erased" and report.description is None
    with factory() as s:
        assert s.execute(select(ReportResident)).first() is None
