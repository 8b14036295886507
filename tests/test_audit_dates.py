"""The due-date audit: an SSD extract's due dates against caseclock's, worked by hand.

England and Wales calendar. Bank holidays in range: Mon 26 May 2025 (spring).

Child A came into care Mon 12 May 2025.
- First review: 20 working days after 12 May (day 0). 13-16 May = 4, 19-23 = 9, 27-30 = 13
  (26 May is a bank holiday), 2-6 Jun = 18, 9 Jun = 19, 10 Jun = 20 -> Tue 10 Jun. The extract
  says Mon 9 Jun: 1 working day earlier (-1). Held 10 Jun, in time.
- Second review: 3 months after 10 Jun = Wed 10 Sep. The extract counts 91 days: 10 Jun + 20 =
  30 Jun, + 31 = 31 Jul (51), + 31 = 31 Aug (82), + 9 = Tue 9 Sep (91): -1 working day. Held
  Wed 10 Sep: in time by statute, late by 91 days -> flagged.
- Next review: 6 months after 10 Sep = Tue 10 Mar 2026. The extract says Thu 12 Mar (183 days
  with a February in between is 2 days more than 6 months): +2 working days (11, 12 Mar).
  Not yet held: compared with the open deadline.

Child P: strategy discussion Mon 3 Mar 2025.
- ICPC: 15 working days after 3 Mar (day 0): 4-7 Mar = 4, 10-14 = 9, 17-21 = 14, Mon 24 Mar = 15.
  The extract's target is Fri 21 Mar (3 Mar counted as day 1, as the CIN census validator
  does): -1. Held Mon 24 Mar: in time by statute, queried by the census -> flagged.
- First review conference: 3 months after 24 Mar = Tue 24 Jun. The extract counts 91 days:
  24 Mar + 7 = 31 Mar, + 30 = 30 Apr (37), + 31 = 31 May (68), + 23 = Mon 23 Jun (91): -1.
  Held Fri 20 Jun: in time either way, no flag.
"""

from __future__ import annotations

import csv
import datetime as dt
import subprocess

from engine.exchange import ssd
from engine.exchange.audit import CIN_ICPC, audit
from engine.exchange.replay import Importer
from engine.runtime.engine import Engine
from engine.time.calendar import WorkingCalendar
from engine.time.clock import SimulatedClock
from persistence.store import Store
from tests.conftest import at
from tests.extracts import write_ssd
from tests.test_import_ssd import care, merge, protection

D = dt.date
TODAY = D(2026, 1, 15)

EXPECTED = {
    # (child, deadline): (held, extract's due, caseclock's due, difference in working days)
    ("A", "first_review"): (D(2025, 6, 10), D(2025, 6, 9), D(2025, 6, 10), -1),
    ("A", "second_review"): (D(2025, 9, 10), D(2025, 9, 9), D(2025, 9, 10), -1),
    ("A", "subsequent_review"): (None, D(2026, 3, 12), D(2026, 3, 10), 2),
    ("P", "icpc"): (D(2025, 3, 24), D(2025, 3, 21), D(2025, 3, 24), -1),
    ("P", "first_rcpc"): (D(2025, 6, 20), D(2025, 6, 23), D(2025, 6, 24), -1),
}


def extract_dir(tmp_path):
    return write_ssd(tmp_path / "extract", merge(
        care("A", D(2025, 5, 12), [(D(2025, 6, 10), D(2025, 6, 9)), (D(2025, 9, 10), D(2025, 9, 9)), (None, D(2026, 3, 12))]),
        protection("P", reviews=[(D(2025, 6, 20), D(2025, 6, 23))])))


def engine_on(url: str, registry) -> Engine:
    return Engine(Store.open(url), registry, WorkingCalendar(), SimulatedClock(at("2026-01-15", 9)))


def checks(report) -> dict:
    return {(c.child_id, c.deadline): (c.held_on, c.extract_due, c.caseclock_due, c.difference) for c in report.checks}


def test_import_then_audit_finds_the_hand_worked_disagreements(tmp_path, registry):
    engine = engine_on(f"sqlite:///{tmp_path / 'db.sqlite'}", registry)
    extract = ssd.read(extract_dir(tmp_path), TODAY)
    with Importer(engine) as importer:
        assert importer.run(extract).skipped == []
    report = audit(extract, engine)
    assert checks(report) == EXPECTED
    icpc = next(c for c in report.checks if c.deadline == "icpc")
    assert "15 working days" in icpc.rule and "Working Together" in icpc.source
    assert {(f.child_id, f.deadline, f.held_on, f.statutory_due, f.convention_due) for f in report.flags} == {
        ("A", "second_review", D(2025, 9, 10), D(2025, 9, 10), D(2025, 9, 9)),
        ("P", "icpc", D(2025, 3, 24), D(2025, 3, 24), D(2025, 3, 21)),
    }
    assert report.flag_counts() == {CIN_ICPC: 1, "91 days for 3 months, as several case systems count": 1}
    summary = {row["deadline"]: row for row in report.summary()}
    assert summary["subsequent_review"] == {"deadline": "subsequent_review", "due_dates": 1, "agree": 0,
                                            "extract_later": 1, "extract_earlier": 0, "largest_difference": 2}
    assert sum(row["extract_earlier"] for row in summary.values()) == 4


def test_straight_from_the_extract_gives_the_same_audit(tmp_path, registry):
    extract = ssd.read(extract_dir(tmp_path), TODAY)
    imported = engine_on(f"sqlite:///{tmp_path / 'a.sqlite'}", registry)
    with Importer(imported) as importer:
        importer.run(extract)
    scratch = engine_on(f"sqlite:///{tmp_path / 'b.sqlite'}", registry)
    with Importer(scratch) as importer:
        importer.run(extract)
    assert audit(extract, imported) == audit(extract, scratch)


def test_a_pending_icpc_on_its_last_statutory_day_is_flagged_before_submission(tmp_path, registry):
    # strategy discussion Mon 5 Jan 2026: the statute allows until Mon 26 Jan, the census until Fri 23 Jan
    tables = protection("Q")
    tables["ssd_s47_enquiry"][0]["s47e_s47_start_date"] = "2026-01-05"
    del tables["ssd_cp_plans"], tables["ssd_cp_reviews"]
    tables["ssd_initial_cp_conference"][0].update(icpc_icpc_date="", icpc_icpc_target_date="2026-01-26")
    extract = ssd.read(write_ssd(tmp_path / "x", tables), TODAY)
    engine = engine_on(f"sqlite:///{tmp_path / 'db.sqlite'}", registry)
    with Importer(engine) as importer:
        importer.run(extract)
    report = audit(extract, engine)
    assert checks(report) == {("Q", "icpc"): (None, D(2026, 1, 26), D(2026, 1, 26), 0)}
    [flag] = report.flags
    assert (flag.statutory_due, flag.convention_due) == (D(2026, 1, 26), D(2026, 1, 23))
    assert flag.message.startswith("not yet held")


def test_cli_audit_from_the_extract_writes_a_csv(tmp_path):
    directory = extract_dir(tmp_path)
    out = tmp_path / "audit.csv"
    result = subprocess.run(["caseclock", "--database", f"sqlite:///{tmp_path / 'unused.sqlite'}", "audit-dates", "ssd",
                             str(directory), "--from-extract", "--csv", str(out)], capture_output=True, text=True, timeout=120,
                            env={**__import__("os").environ, "COLUMNS": "250"})
    assert result.returncode == 0, result.stderr
    assert "Summary by kind of due date" in result.stdout and "Traceback" not in result.stderr
    assert not (tmp_path / "unused.sqlite").exists()
    rows = list(csv.DictReader(out.open()))
    due = {(r["child"], r["deadline"]): r for r in rows if r["record"] == "due_date"}
    assert due[("A", "first_review")]["difference_working_days"] == "-1"
    assert due[("P", "icpc")]["origin"] == "ssd_initial_cp_conference.csv, row 2, column icpc_icpc_target_date"
    assert any(r["record"] == "convention" and r["deadline"] == "icpc" for r in rows)
