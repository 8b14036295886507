"""Importing an SSDA903 return: each child replayed through the engine, all or nothing."""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest

from engine.exchange import ssda903
from engine.exchange.replay import Importer
from engine.runtime.engine import Engine
from engine.time.calendar import WorkingCalendar
from engine.time.clock import SimulatedClock
from tests.conftest import at
from tests.extracts import episode, header, review, write_903

D = dt.date
TODAY = D(2026, 1, 15)


@pytest.fixture
def engine(store, registry) -> Engine:
    return Engine(store, registry, WorkingCalendar(), SimulatedClock(at("2026-01-15", 9)))


def good_child(child: str = "C1") -> tuple[list, list, list]:
    # came into care Mon 6 Jan 2025; the first review is due 20 working days later, Mon 3 Feb
    return ([header(child)], [episode(child, D(2025, 1, 6))],
            [review(child, D(2025, 2, 3)), review(child, D(2025, 5, 1)), review(child, D(2025, 10, 20))])


def run(engine, directory):
    with Importer(engine) as importer:
        return importer.run(ssda903.read(directory, TODAY))


def test_a_child_is_replayed_and_left_where_it_stands(engine, tmp_path):
    report = run(engine, write_903(tmp_path / "x", *good_child()))
    assert (report.imported, report.skipped, report.written) == (1, [], 4)
    case = engine.case("CLA-C1-20250106")
    assert case.state == "decisions_pending" and case.data["reviews_held"] == 3
    assert case.child_ref == "C1" and "C1" not in case.data.values()
    # the review clock runs on: the next review within 6 months of 20 Oct 2025
    assert case.deadline("subsequent_review").due_on == D(2026, 4, 20)
    history = engine.history("CLA-C1-20250106")
    assert [h.trigger for h in history] == ["open", "review_held", "review_held", "review_held"]
    assert all(h.actor == "import" for h in history)
    # the return carries no next review date: the statutory latest date, and the history says so
    assert case.data["next_review_on"] == D(2026, 4, 20)
    assert "statutory latest date, 2026-04-20" in history[-1].reason
    assert "reviews.csv, row 4, column REVIEW" in history[-1].reason
    assert "not ratified" in history[2].reason  # the second review: permanence not recorded


def test_a_late_review_is_recorded_with_the_reason_not_recorded(engine, tmp_path):
    # the first review is due Mon 3 Feb 2025; held Wed 5 Feb it is late and the engine demands a reason
    write_903(tmp_path / "x", [header("C1")], [episode("C1", D(2025, 1, 6))], [review("C1", D(2025, 2, 5))])
    assert run(engine, tmp_path / "x").skipped == []
    case = engine.case("CLA-C1-20250106")
    assert case.deadline("first_review", status="missed").due_on == D(2025, 2, 3)
    assert case.data["lateness_reason"] == "not_recorded"
    assert "records no reason" in engine.history("CLA-C1-20250106")[-1].reason


BAD = {
    # child: (episodes, reviews, file, row, column, words in the reason)
    "B1": ([episode("B1", D(2025, 3, 3))], [review("B1", D(2025, 2, 3))], "reviews.csv", "REVIEW", "before the child came into care"),
    "B2": ([{**episode("B2", D(2025, 3, 3)), "DECOM": ""}], [], "episodes.csv", "DECOM", "DECOM is missing"),
    "B3": ([episode("B3", D(2025, 3, 3), dec=D(2025, 6, 2), rec="ZZ9")], [], "episodes.csv", "REC", "unknown REC code"),
    "B4": ([episode("B4", D(2025, 3, 3))], [review("B4", D(2025, 3, 20), code="PN9")], "reviews.csv", "REVIEW_CODE", "unknown REVIEW_CODE"),
    "B5": ([episode("B5", D(2025, 3, 3), dec=D(2025, 2, 2), rec="E4A")], [], "episodes.csv", "DEC", "before DECOM"),
    "B6": ([episode("B6", D(2025, 3, 3), dec=D(2025, 4, 2), rec="E4A")], [review("B6", D(2025, 5, 1))], "reviews.csv", "REVIEW", "after the child ceased"),
    "B7": ([episode("B7", D(2025, 3, 3))], [review("B7", None)], "reviews.csv", "REVIEW", "REVIEW is missing"),
    "B8": ([episode("B8", D(2025, 3, 3))], [review("B8", D(2025, 3, 20)), review("B8", D(2025, 3, 20), code="PN3")], "reviews.csv", "REVIEW_CODE", "second review"),
    "B9": ([episode("B9", D(2025, 3, 3), rne="P")], [], "episodes.csv", "RNE", "starts before this return"),
}


def test_children_that_cannot_be_placed_are_skipped_whole_and_named(engine, tmp_path):
    headers, episodes, reviews = good_child()
    for child, (eps, revs, *_rest) in BAD.items():
        headers.append(header(child))
        episodes.extend(eps)
        reviews.extend(revs)
    report = run(engine, write_903(tmp_path / "x", headers, episodes, reviews))
    assert report.imported == 1
    found = {p.child_id: p for p in report.skipped}
    assert set(found) == set(BAD)
    rows = {"episodes.csv": [e["CHILD"] for e in episodes], "reviews.csv": [r["CHILD"] for r in reviews]}
    for child, (_eps, _revs, file, column, words) in BAD.items():
        problem = found[child]
        assert (problem.origin.file, problem.origin.column) == (file, column), child
        # the row is the spreadsheet row (header = 1) of one of that child's rows
        assert rows[file][problem.origin.row - 2] == child, child
        assert words in problem.reason, (child, problem.reason)
    # nothing of a skipped child is stored
    assert engine.store.case_refs() == ["CLA-C1-20250106"]


def test_a_duplicate_row_is_ignored_and_noted(engine, tmp_path):
    headers, episodes, reviews = good_child()
    report = run(engine, write_903(tmp_path / "x", headers, episodes + episodes, reviews + reviews[:1]))
    assert report.skipped == [] and report.written == 4
    assert len(report.notes) == 2 and all("duplicate" in n for n in report.notes)


def test_importing_again_changes_nothing_and_a_newer_return_adds_only_what_is_new(engine, tmp_path):
    headers, episodes, reviews = good_child()
    write_903(tmp_path / "old", headers, episodes, reviews[:2])
    first = run(engine, tmp_path / "old")
    before = engine.history("CLA-C1-20250106")
    again = run(engine, tmp_path / "old")
    assert (first.written, again.written, again.already, again.unchanged) == (3, 0, 3, 1)
    assert engine.history("CLA-C1-20250106") == before
    # next year's return: the same child, the same reviews (in other rows) and one more
    write_903(tmp_path / "new", headers, episodes, [reviews[2], *reviews[:2]])
    newer = run(engine, tmp_path / "new")
    assert (newer.written, newer.already) == (1, 3)
    assert [h.seq for h in engine.history("CLA-C1-20250106")] == [1, 2, 3, 4]


def test_periods_of_care_become_cases_and_a_ceased_period_is_closed(engine, tmp_path):
    episodes = [
        episode("C1", D(2025, 1, 6), dec=D(2025, 2, 10), rec="X1"),  # a placement change: same period
        episode("C1", D(2025, 2, 10), rne="P", dec=D(2025, 4, 1), rec="E4A"),  # returned home
        episode("C1", D(2025, 6, 2)),  # back in care: a new period, a new case
    ]
    write_903(tmp_path / "x", [header("C1")], episodes, [review("C1", D(2025, 2, 3)), review("C1", D(2025, 6, 30))])
    report = run(engine, tmp_path / "x")
    assert report.skipped == [] and report.cases == 2
    first, second = engine.case("CLA-C1-20250106"), engine.case("CLA-C1-20250602")
    assert first.state == "ceased" and first.data["ceased_reason"] == "returned_home"
    assert second.state == "decisions_pending" and second.data["reviews_held"] == 1


def test_tables_are_found_by_their_columns_whatever_the_files_are_called(engine, tmp_path):
    write_903(tmp_path / "x", *good_child(), names=("a.csv", "b.csv", "c.csv"))
    (tmp_path / "x" / "notes.csv").write_text("something,else\n1,2\n")
    assert run(engine, tmp_path / "x").imported == 1


def caseclock(*args, db):
    return subprocess.run(["caseclock", "--database", f"sqlite:///{db}", *args], capture_output=True, text=True, timeout=120)


def test_cli_reports_skipped_children_by_file_row_and_column(tmp_path):
    headers, episodes, reviews = good_child()
    eps, revs, *_ = BAD["B1"]
    write_903(tmp_path / "x", headers + [header("B1")], episodes + eps, reviews + revs)
    subprocess.run(["caseclock", "--database", f"sqlite:///{tmp_path / 'db.sqlite'}", "migrate"], check=True, capture_output=True)
    result = caseclock("import", "903", str(tmp_path / "x"), db=tmp_path / "db.sqlite")
    assert result.returncode == 3, result.stderr
    assert "2 children read: 1 imported or updated, 0 unchanged, 1 skipped" in result.stdout
    assert "B1" in result.stdout and "reviews.csv" in result.stdout and "before the child came into care" in result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    again = caseclock("import", "903", str(tmp_path / "x"), db=tmp_path / "db.sqlite")
    assert "0 imported or updated, 1 unchanged, 1 skipped; 0 events written, 4 already there" in again.stdout


def test_cli_names_a_missing_table_without_a_traceback(tmp_path):
    write_903(tmp_path / "x", *good_child())
    (tmp_path / "x" / "reviews.csv").unlink()
    subprocess.run(["caseclock", "--database", f"sqlite:///{tmp_path / 'db.sqlite'}", "migrate"], check=True, capture_output=True)
    result = caseclock("import", "903", str(tmp_path / "x"), db=tmp_path / "db.sqlite")
    assert result.returncode == 1
    assert "no Reviews table" in result.stderr and "Traceback" not in result.stderr
