"""A resident's draft is kept to be resumed, and filed once with a reference, never as a ghost."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from knowledge.models import Report, ReportPhoto, ReportResident, ReportUpdate
from knowledge.reports import drafts, filing
from tests.knowledge.reports.conftest import NOW, Factory, add_conversation, add_photo, save_draft

ANN = "messenger:1001"
BOB = "messenger:1002"


def test_a_draft_is_resumed_within_the_limit_and_forgotten_after(factory: Factory) -> None:
    save_draft(factory, ANN, street="Mill Lane", description=None)
    with factory() as s:
        later = drafts.load(s, ANN, NOW + dt.timedelta(days=6))
        assert later is not None and later.category == "pothole" and later.answers["street"] == "Mill Lane"
        assert drafts.load(s, ANN, NOW + dt.timedelta(days=8)) is None


def test_saving_again_replaces_the_answers_and_discard_forgets(factory: Factory) -> None:
    save_draft(factory, ANN)
    save_draft(factory, ANN, category="graffiti", now=NOW + dt.timedelta(minutes=5), detail="No")
    with factory() as s:
        draft = drafts.load(s, ANN, NOW + dt.timedelta(minutes=6))
        assert draft is not None and draft.category == "graffiti" and draft.answers["detail"] == "No"
        drafts.discard(s, ANN)
    with factory() as s:
        assert drafts.load(s, ANN, NOW + dt.timedelta(minutes=7)) is None


def test_filing_gives_a_reference_and_records_resident_photo_and_first_status(factory: Factory) -> None:
    add_conversation(factory, ANN)
    add_conversation(factory, BOB)
    photo = add_photo(factory, ANN, "https://cdn.example/photo1.jpg")
    someone_elses = add_photo(factory, BOB, "https://cdn.example/bob.jpg")
    save_draft(factory, ANN, photo_ids=[photo, someone_elses])
    with factory() as s:
        filed = filing.file_report(s, ANN, NOW)
        report_id, reference = filed.report.id, filed.report.reference
    assert filed.new and reference == "NC-2026-000001"
    with factory() as s:
        report = s.get(Report, report_id)
        assert (report.category, report.status, report.street, report.house_number) == (
            "pothole",
            "open",
            "Mill Lane",
            "14",
        )
        assert (report.latitude, report.longitude) == (52.6301, -1.1302)
        assert report.details == {"dangerous": "Yes"} and report.description == "Deep pothole by the bus stop"
        assert report.send_state == "held"  # no Open311 endpoint: it waits in the console
        residents = s.execute(select(ReportResident.conversation_id, ReportResident.how)).all()
        assert residents == [(ANN, "filed")]
        photos = s.execute(select(ReportPhoto.attachment_id)).scalars().all()
        assert photos == [photo]  # Bob's photo id in Ann's draft is not attached
        first = s.execute(select(ReportUpdate.status, ReportUpdate.source)).all()
        assert first == [("open", "bot")]
        assert drafts.load(s, ANN, NOW) is None  # filed: nothing left to resume


def test_a_second_yes_returns_the_same_report_and_files_nothing(factory: Factory) -> None:
    save_draft(factory, ANN)
    with factory() as s:
        first = filing.file_report(s, ANN, NOW).report.reference
    with factory() as s:
        again = filing.file_report(s, ANN, NOW + dt.timedelta(seconds=2))
        assert not again.new and again.report.reference == first
        assert s.execute(select(func.count()).select_from(Report)).scalar_one() == 1


def test_queued_for_open311_when_an_endpoint_is_set(factory: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPEN311_ENDPOINT", "http://127.0.0.1:9/open311/")
    monkeypatch.setenv("OPEN311_SERVICE_CODES", "pothole=PH")
    save_draft(factory, ANN)
    with factory() as s:
        report = filing.file_report(s, ANN, NOW).report
        assert (report.send_state, report.open311_service_code) == ("queued", "PH")


@pytest.mark.parametrize(
    ("category", "answers"),
    [
        ("pothole", {"street": None, "postcode": None, "lat": None, "lon": None}),
        ("unicorns", {}),
    ],
)
def test_a_draft_without_category_or_place_is_refused(factory: Factory, category: str, answers: dict) -> None:
    save_draft(factory, ANN, category=category, **answers)
    with factory() as s, pytest.raises(filing.IncompleteDraft):
        filing.file_report(s, ANN, NOW)
    with factory() as s:
        assert s.execute(select(func.count()).select_from(Report)).scalar_one() == 0


def test_no_draft_is_refused(factory: Factory) -> None:
    with factory() as s, pytest.raises(filing.NoDraft):
        filing.file_report(s, ANN, NOW)
