"""Importing Standard Safeguarding Dataset extracts: periods of care and child protection."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.exchange import ssd
from engine.exchange.replay import Importer
from engine.runtime.engine import Engine
from engine.time.calendar import WorkingCalendar
from engine.time.clock import SimulatedClock
from tests.conftest import at
from tests.extracts import iso, write_ssd

D = dt.date
TODAY = D(2026, 1, 15)


@pytest.fixture
def engine(store, registry) -> Engine:
    return Engine(store, registry, WorkingCalendar(), SimulatedClock(at("2026-01-15", 9)))


def care(person: str, start: D, reviews: list[tuple[D | None, D | None]], cla: str | None = None) -> dict[str, list[dict]]:
    cla = cla or f"CLA{person}"
    return {
        "ssd_person": [{"pers_person_id": person, "pers_dob": "2015-01-01"}],
        "ssd_cla_episodes": [{"clae_cla_episode_id": f"E{person}", "clae_person_id": person, "clae_cla_id": cla,
                              "clae_cla_episode_start_date": f"{iso(start)} 00:00:00"}],
        "ssd_cla_reviews": [{"clar_cla_review_id": f"R{person}{i}", "clar_cla_id": cla, "clar_cla_review_date": iso(on),
                             "clar_cla_review_due_date": iso(due), "clar_cla_review_cancelled": "N"}
                            for i, (on, due) in enumerate(reviews)],
    }


def protection(person: str, *, outcome: str = "Y", category: str = "Neglect",
               reviews: list[tuple[D | None, D | None]] = (), plan_end: D | None = None) -> dict[str, list[dict]]:
    # strategy discussion Mon 3 Mar 2025; the ICPC is due 15 working days later, Mon 24 Mar
    return {
        "ssd_person": [{"pers_person_id": person, "pers_dob": "2016-02-02"}],
        "ssd_s47_enquiry": [{"s47e_s47_enquiry_id": f"S{person}", "s47e_person_id": person, "s47e_s47_start_date": "2025-03-03"}],
        "ssd_initial_cp_conference": [{"icpc_icpc_id": f"I{person}", "icpc_s47_enquiry_id": f"S{person}", "icpc_person_id": person,
                                       "icpc_icpc_target_date": "2025-03-21", "icpc_icpc_date": "2025-03-24",
                                       "icpc_icpc_outcome_cp_flag": outcome}],
        "ssd_cp_plans": [{"cppl_cp_plan_id": f"P{person}", "cppl_icpc_id": f"I{person}", "cppl_person_id": person,
                          "cppl_cp_plan_start_date": "2025-03-24", "cppl_cp_plan_end_date": iso(plan_end),
                          "cppl_cp_plan_initial_category": category}],
        "ssd_cp_reviews": [{"cppr_cp_review_id": f"V{person}{i}", "cppr_person_id": person, "cppr_cp_plan_id": f"P{person}",
                            "cppr_cp_review_date": iso(on), "cppr_cp_review_due": iso(due), "cppr_cp_review_quorate": "Y"}
                           for i, (on, due) in enumerate(reviews)],
    }


def merge(*parts: dict[str, list[dict]]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for part in parts:
        for name, rows in part.items():
            out.setdefault(name, []).extend(rows)
    return out


def run(engine, directory):
    with Importer(engine) as importer:
        return importer.run(ssd.read(directory, TODAY))


def test_care_and_protection_are_replayed(engine, tmp_path):
    tables = merge(care("A", D(2025, 5, 12), [(D(2025, 6, 10), D(2025, 6, 9)), (None, D(2025, 9, 9))]),
                   protection("P", reviews=[(D(2025, 6, 20), D(2025, 6, 23)), (D(2025, 12, 10), D(2025, 12, 20))]))
    report = run(engine, write_ssd(tmp_path / "x", tables))
    assert report.skipped == [] and report.cases == 2
    cla = engine.case("CLA-A-20250512")
    assert cla.data["reviews_held"] == 1
    # a review only due (no date held yet) is not an event: the second review's clock is open
    assert cla.deadline("second_review").due_on == D(2025, 9, 10)
    cp = engine.case("CP-P-20250303")
    assert cp.state == "child_protection_plan" and cp.data["category"] == "neglect" and cp.data["conferences_held"] == 3
    assert cp.deadline("icpc", status="met").due_on == D(2025, 3, 24)
    assert cp.deadline("next_rcpc").due_on == D(2026, 6, 10)


def test_a_plan_ended_at_a_review_closes_the_plan(engine, tmp_path):
    write_ssd(tmp_path / "x", protection("P", reviews=[(D(2025, 6, 20), None)], plan_end=D(2025, 6, 20)))
    assert run(engine, tmp_path / "x").skipped == []
    assert engine.case("CP-P-20250303").state == "plan_ended"


def test_a_child_refused_by_the_engine_midway_leaves_nothing_stored(engine, tmp_path):
    # the reader can place every row, but the conference made no plan (flag N) and the extract
    # still has a plan reviewed under it: the engine refuses the review conference in state
    # no_plan. The child's period of care, replayed before it, must not be stored either.
    tables = merge(care("M", D(2024, 9, 2), [(D(2024, 9, 30), None)]),
                   protection("M", outcome="N", reviews=[(D(2025, 6, 20), None)]),
                   care("A", D(2025, 5, 12), [(D(2025, 6, 10), None)]))
    report = run(engine, write_ssd(tmp_path / "x", tables))
    assert [p.child_id for p in report.skipped] == ["M"]
    problem = report.skipped[0]
    assert problem.origin.file == "ssd_cp_reviews.csv" and problem.origin.column == "cppr_cp_review_date"
    assert "rcpc_held" in problem.reason
    assert engine.store.case_refs() == ["CLA-A-20250512"]


@pytest.mark.parametrize("change, column, words", [
    ({"ssd_cla_reviews": {"clar_cla_review_date": "", "clar_cla_review_due_date": ""}}, "clar_cla_review_date", "neither"),
    ({"ssd_cla_reviews": {"clar_cla_review_date": "2025-04-01"}}, "clar_cla_review_date", "before the child came into care"),
    ({"ssd_cla_reviews": {"clar_cla_review_date": "31/02/2025"}}, "clar_cla_review_date", "day is out of range"),
    ({"ssd_cla_episodes": {"clae_cla_episode_ceased": "2025-07-01", "clae_cla_episode_ceased_reason": "Q1"}},
     "clae_cla_episode_ceased_reason", "unknown reason"),
    ({"ssd_cp_plans": {"cppl_cp_plan_initial_category": "Other"}}, "cppl_cp_plan_initial_category", "unknown category"),
    ({"ssd_initial_cp_conference": {"icpc_icpc_date": "2025-02-28"}}, "icpc_icpc_date", "before the strategy discussion"),
])
def test_bad_rows_skip_the_child_by_file_row_and_column(engine, tmp_path, change, column, words):
    tables = merge(care("A", D(2025, 5, 12), [(D(2025, 6, 10), None)]), protection("A"))
    for name, values in change.items():
        tables[name][0].update(values)
    report = run(engine, write_ssd(tmp_path / "x", tables))
    assert len(report.skipped) == 1
    problem = report.skipped[0]
    assert (problem.child_id, problem.origin.row, problem.origin.column) == ("A", 2, column)
    assert words in problem.reason, problem.reason
    assert engine.store.case_refs() == []


def test_cancelled_reviews_are_not_events(engine, tmp_path):
    tables = care("A", D(2025, 5, 12), [(D(2025, 6, 10), None), (D(2025, 6, 11), None)])
    tables["ssd_cla_reviews"][1]["clar_cla_review_cancelled"] = "Y"
    run(engine, write_ssd(tmp_path / "x", tables))
    assert engine.case("CLA-A-20250512").data["reviews_held"] == 1
