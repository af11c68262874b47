"""Open reports of the same kind nearby are offered, nearest first; joining one is once per resident."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from knowledge.models import ReportResident
from knowledge.reports import filing, nearby, updates
from tests.knowledge.reports.conftest import MILL_LANE, NOW, Factory, save_draft

ANN, BOB, CAT = "messenger:1001", "messenger:1002", "webchat:web-3"


def _file(factory: Factory, who: str, category: str = "pothole", **where: float) -> int:
    save_draft(factory, who, category=category, **where)
    with factory() as s:
        return int(filing.file_report(s, who, NOW).report.id)


def test_the_same_pothole_is_offered_to_the_next_resident(factory: Factory) -> None:
    first = _file(factory, ANN)
    # About 22 m north of Ann's pin.
    with factory() as s:
        found = nearby.open_nearby(
            s, "pothole", MILL_LANE["lat"] + 0.0002, MILL_LANE["lon"], NOW + dt.timedelta(hours=1)
        )
        assert [n.report.id for n in found] == [first]
        assert 15 < found[0].metres < 30 and found[0].report.created_at == NOW


def test_other_kinds_far_away_and_finished_reports_are_not_offered(factory: Factory) -> None:
    graffiti = _file(factory, ANN, category="graffiti")
    far = _file(factory, BOB, lat=MILL_LANE["lat"] + 0.01)  # about 1.1 km away
    with factory() as s:
        assert nearby.open_nearby(s, "pothole", MILL_LANE["lat"], MILL_LANE["lon"], NOW) == []
        assert [n.report.id for n in nearby.open_nearby(s, "graffiti", MILL_LANE["lat"], MILL_LANE["lon"], NOW)] == [
            graffiti
        ]
        assert (
            nearby.open_nearby(s, "pothole", MILL_LANE["lat"], MILL_LANE["lon"], NOW, metres=2000)[0].report.id == far
        )
        updates.change_status(s, graffiti, "fixed", NOW)
    with factory() as s:
        assert nearby.open_nearby(s, "graffiti", MILL_LANE["lat"], MILL_LANE["lon"], NOW) == []


def test_nearest_first_when_two_residents_filed_the_same_pothole_at_once(factory: Factory) -> None:
    a = _file(factory, ANN, lat=MILL_LANE["lat"] + 0.0001)
    b = _file(factory, BOB)
    with factory() as s:
        found = nearby.open_nearby(s, "pothole", MILL_LANE["lat"], MILL_LANE["lon"], NOW)
        assert [n.report.id for n in found] == [b, a]


def test_joining_is_once_per_resident(factory: Factory) -> None:
    report = _file(factory, ANN)
    with factory() as s:
        assert nearby.join(s, report, CAT, "webchat", NOW) is True
    with factory() as s:
        assert nearby.join(s, report, CAT, "webchat", NOW) is False
        assert nearby.join(s, report, ANN, "messenger", NOW) is False  # filed it
        assert nearby.join(s, 999_999, CAT, "webchat", NOW) is False
        rows = s.execute(select(ReportResident.conversation_id, ReportResident.how).order_by(ReportResident.id)).all()
        assert rows == [(ANN, "filed"), (CAT, "joined")]
