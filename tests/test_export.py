"""Export back: caseclock's review and conference dates in the returns' own layouts."""

from __future__ import annotations

import datetime as dt
import io
import subprocess

import pytest

from engine.exchange import cin, ssda903
from engine.exchange.export import (
    cin_cp_fragment,
    review_rows,
    write_903_reviews,
    write_cin_cp,
)
from engine.exchange.replay import Importer
from engine.runtime.engine import Engine
from engine.time.calendar import WorkingCalendar
from engine.time.clock import SimulatedClock
from tests.conftest import at
from tests.extracts import cin_xml, episode, header, review, write_903
from tests.test_import_cin import PENDING, PLANNED

D = dt.date
TODAY = D(2026, 1, 15)


@pytest.fixture
def engine(store, registry) -> Engine:
    return Engine(store, registry, WorkingCalendar(), SimulatedClock(at("2026-01-15", 9)))


def return_903(directory):
    return write_903(directory, [header("C1", D(2014, 7, 9)), header("C2", D(2012, 3, 1))],
                     [episode("C1", D(2025, 1, 6)), episode("C2", D(2025, 2, 3))],
                     [review("C1", D(2025, 2, 3), "PN1", D(2014, 7, 9)), review("C1", D(2025, 5, 1), "PN4", D(2014, 7, 9)),
                      review("C2", D(2025, 3, 3), "PN0", D(2012, 3, 1))])


def test_903_reviews_come_back_as_the_return_had_them(engine, tmp_path):
    directory = return_903(tmp_path / "x")
    extract = ssda903.read(directory, TODAY)
    with Importer(engine) as importer:
        importer.run(extract)
    codes = {(c.child_id, f.on): f.code for c in extract.children for s in c.spells for f in s.facts if f.kind == "review"}
    buffer = io.StringIO()
    write_903_reviews(review_rows(engine, codes, {c.child_id: c.dob for c in extract.children}), buffer)
    assert buffer.getvalue() == (directory / "reviews.csv").read_text().replace("\r\n", "\n")


def test_cin_cp_round_trips_through_the_census_reader(engine, tmp_path):
    path = tmp_path / "cin.xml"
    path.write_text(cin_xml([PLANNED, PENDING]))
    with Importer(engine) as importer:
        importer.run(cin.read(path, TODAY))
    out = tmp_path / "cin-cp.xml"
    write_cin_cp(cin_cp_fragment(engine), out)
    again = cin.read(out, TODAY)
    facts = lambda extract: {(c.child_id, f.kind, f.on) for c in extract.children for s in c.spells for f in s.facts}  # noqa: E731
    assert facts(again) == facts(cin.read(path, TODAY))
    # the ICPC target written is caseclock's: 15 working days after Mon 3 Mar 2025 is Mon 24 Mar
    # (the census file said Fri 21 Mar, counting the strategy discussion as day 1)
    assert "<InitialCPCtarget>2025-03-24</InitialCPCtarget>" in out.read_text()


def test_cli_export_903_reviews(tmp_path):
    db = tmp_path / "db.sqlite"
    directory = return_903(tmp_path / "x")
    base = ["caseclock", "--database", f"sqlite:///{db}"]
    subprocess.run([*base, "migrate"], check=True, capture_output=True)
    subprocess.run([*base, "import", "903", str(directory)], check=True, capture_output=True)
    result = subprocess.run([*base, "export", "903-reviews"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["CHILD,DOB,REVIEW,REVIEW_CODE", "C1,,03/02/2025,", "C1,,01/05/2025,", "C2,,03/03/2025,"]
    with_codes = subprocess.run([*base, "export", "903-reviews", "--extract", str(directory)], capture_output=True, text=True, timeout=120)
    assert "C1,09/07/2014,01/05/2025,PN4" in with_codes.stdout.splitlines()
