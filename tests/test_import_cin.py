"""Importing a CIN census XML file: section 47 enquiries, conferences and plans."""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest

from engine.exchange import cin
from engine.exchange.history import ExtractError
from engine.exchange.replay import Importer
from engine.runtime.engine import Engine
from engine.time.calendar import WorkingCalendar
from engine.time.clock import SimulatedClock
from tests.conftest import at
from tests.extracts import cin_xml

D = dt.date
TODAY = D(2026, 1, 15)


@pytest.fixture
def engine(store, registry) -> Engine:
    return Engine(store, registry, WorkingCalendar(), SimulatedClock(at("2026-01-15", 9)))


PLANNED = {"id": "K1", "s47": [{"start": D(2025, 3, 3), "target": D(2025, 3, 21), "icpc": D(2025, 3, 24)}],
           "plans": [{"start": D(2025, 3, 24), "end": D(2025, 12, 10), "category": "NEG",
                      "reviews": [D(2025, 6, 20), D(2025, 12, 10)]}]}
CONCLUDED = {"id": "K2", "s47": [{"start": D(2025, 4, 7), "not_required": True}]}
PENDING = {"id": "K3", "s47": [{"start": D(2026, 1, 5), "target": D(2026, 1, 23)}]}


def run(engine, path):
    with Importer(engine) as importer:
        return importer.run(cin.read(path, TODAY))


def test_enquiries_conferences_and_plans_are_replayed(engine, tmp_path):
    path = tmp_path / "cin.xml"
    path.write_text(cin_xml([PLANNED, CONCLUDED, PENDING]))
    report = run(engine, path)
    assert report.skipped == [] and report.cases == 3
    planned = engine.case("CP-K1-20250303")
    # the review on the plan's end date is the conference that ended it
    assert planned.state == "plan_ended" and planned.data["conferences_held"] == 3
    assert engine.case("CP-K2-20250407").state == "closed"
    pending = engine.case("CP-K3-20260105")
    # strategy discussion Mon 5 Jan 2026: the 15th working day after it is Mon 26 Jan
    assert pending.state == "enquiry" and pending.deadline("icpc").due_on == D(2026, 1, 26)


def test_a_plan_with_no_conference_that_day_skips_the_child_with_its_line(engine, tmp_path):
    orphan = {"id": "K4", "s47": [{"start": D(2025, 3, 3), "icpc": D(2025, 3, 24)}],
              "plans": [{"start": D(2025, 3, 25), "category": "PHY"}]}
    unknown = {"id": "K5", "s47": [{"start": D(2025, 3, 3), "icpc": D(2025, 3, 24)}],
               "plans": [{"start": D(2025, 3, 24), "category": "MUL"}]}
    path = tmp_path / "cin.xml"
    text = cin_xml([PLANNED, orphan, unknown])
    path.write_text(text)
    report = run(engine, path)
    found = {p.child_id: p for p in report.skipped}
    assert set(found) == {"K4", "K5"}
    lines = text.splitlines()
    assert found["K4"].origin.column == "CPPstartDate" and "2025-03-25" in lines[found["K4"].origin.row - 1]
    assert found["K5"].origin.column == "InitialCategoryOfAbuse" and "MUL" in lines[found["K5"].origin.row - 1]
    assert engine.store.case_refs() == ["CP-K1-20250303"]


def test_a_file_that_is_not_xml_is_refused_with_its_line(tmp_path):
    path = tmp_path / "cin.xml"
    path.write_text("<Message><Children><Child></Message>\n")
    with pytest.raises(ExtractError, match=r"cin.xml: line 1: not well-formed XML"):
        cin.read(path, TODAY)


def test_cli_import_cin_without_a_traceback(tmp_path):
    path = tmp_path / "cin.xml"
    path.write_text("not xml at all")
    db = tmp_path / "db.sqlite"
    subprocess.run(["caseclock", "--database", f"sqlite:///{db}", "migrate"], check=True, capture_output=True)
    result = subprocess.run(["caseclock", "--database", f"sqlite:///{db}", "import", "cin", str(path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "not well-formed XML" in result.stderr and "Traceback" not in result.stderr
