"""Moving running cases to a new version of the DRP: from three formal stages to five (stage 2
given 10 working days instead of 5, the formal process 30 instead of 20) and back.

Every case below is opened in March 2026, whose only bank holidays are Good Friday 3 April and
Easter Monday 6 April; "N wd from X" counts X as day 0.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from engine.procedures.diff import resolve
from engine.procedures.migration import DeadlineMove, migrate_cases

from .conftest import at, d

FIVE_STAGES = Path(__file__).resolve().parent / "workflows" / "versions" / "drp_5_stages.yaml"
DATA = {"theme": "safety", "concern": "x"}


@pytest.fixture
def five(registry):
    return resolve(str(FIVE_STAGES), registry_for=lambda a: registry, authority=None, stored=lambda v: None)["drp"]


@pytest.fixture
def cases(engine):
    """A running case in every state of the three-stage DRP, two closed ones, and one that used
    a field the five-stage version no longer has."""
    engine.open_case("drp", "D-INF", at=at("2026-03-02"), data=DATA)                   # Mon
    engine.open_case("drp", "D-S1", at=at("2026-03-02"), data=DATA)
    engine.fire("D-S1", "escalate", at=at("2026-03-03"), role="iro")                    # Tue
    engine.open_case("drp", "D-S2", at=at("2026-03-02"), data=DATA, state="stage_2")
    engine.open_case("drp", "D-S3", at=at("2026-03-02"), data=DATA, state="stage_3")
    engine.open_case("drp", "D-RES", at=at("2026-03-02"), data=DATA)
    engine.fire("D-RES", "resolve", at=at("2026-03-03"), role="iro", data={"outcome": "agreed_action"})
    engine.open_case("drp", "D-WD", at=at("2026-03-02"), data=DATA)
    engine.fire("D-WD", "withdraw", at=at("2026-03-03"), role="iro")
    engine.open_case("drp", "D-SKIP", at=at("2026-03-02"), data=DATA)
    engine.fire("D-SKIP", "escalate_to", at=at("2026-03-03"), role="iro", data={"target_stage": "stage_3"})
    return engine


def by_ref(report):
    return {c.case_ref: c for c in report.cases}


def test_three_to_five_stages_moves_every_running_case_and_recounts_its_dates(cases, five):
    engine = cases
    old_version = engine.registry.get("drp").version
    report = migrate_cases(engine, "drp", five)
    moved = by_ref(report)
    assert sorted(moved) == ["D-INF", "D-S1", "D-S2", "D-S3", "D-SKIP"]  # the closed cases are left alone
    assert moved["D-INF"].to_state == "informal"
    assert moved["D-INF"].deadlines == (DeadlineMove("informal_response", d("2026-03-09"), d("2026-03-09")),)
    assert moved["D-S1"].deadlines == (
        DeadlineMove("stage_1_response", d("2026-03-10"), d("2026-03-10")),    # 5 wd from Tue 3 Mar, both
        # 20 wd from Tue 3 Mar -> Tue 31 Mar; 30 wd: 4-6 (3), 9-27 Mar (18), 30 Mar-2 Apr (22),
        # skip 3 and 6 Apr, 7-10 (26), 13-16 Apr (30)
        DeadlineMove("formal_resolution", d("2026-03-31"), d("2026-04-16")),
    )
    assert moved["D-S2"].deadlines == (
        DeadlineMove("stage_2_response", d("2026-03-09"), d("2026-03-16")),    # 5 -> 10 wd from Mon 2 Mar
        # 20 wd -> Mon 30 Mar; 30 wd: 3 Mar-2 Apr (23), skip 3 and 6 Apr, 7-10 (27), 13-15 (30)
        DeadlineMove("formal_resolution", d("2026-03-30"), d("2026-04-15")),
    )
    assert moved["D-S3"].to_state == "stage_3"
    assert moved["D-S3"].deadlines[0] == DeadlineMove("stage_3_response", d("2026-03-09"), d("2026-03-09"))
    assert moved["D-SKIP"].refused == (
        f"its data does not fit version {five.version}: data field 'target_stage': not a field of workflow 'drp' "
        "(fields: theme, concern, outcome, cafcass_referred_on)")
    assert [c.case_ref for c in report.refused] == ["D-SKIP"]

    s2 = engine.case("D-S2")
    assert (s2.version, s2.state) == (five.version, "stage_2")
    assert s2.deadline("stage_2_response").due_on == d("2026-03-16")
    last = engine.history("D-S2")[-1]
    assert (last.kind, last.trigger, last.from_state, last.to_state) == ("migrate", "migrate", "stage_2", "stage_2")
    assert last.data["from_version"] == old_version and last.data["to_version"] == five.version
    assert last.definition_version == five.version
    assert last.effective_at == at("2026-03-02")  # the case's clock does not move
    assert engine.case("D-SKIP").version == old_version  # refused: nothing written
    assert engine.case("D-RES").version == old_version


def test_a_dry_run_reports_exactly_what_the_real_run_does_and_writes_nothing(cases, five):
    engine = cases
    before = {ref: engine.history(ref) for ref in ("D-INF", "D-S2")}
    dry = migrate_cases(engine, "drp", five, dry_run=True)
    assert {ref: engine.history(ref) for ref in before} == before
    assert engine.case("D-S2").deadline("stage_2_response").due_on == d("2026-03-09")
    real = migrate_cases(engine, "drp", five)
    assert dry.cases == real.cases and dry.dry_run and not real.dry_run


def test_a_second_run_moves_nothing(cases, five):
    migrate_cases(cases, "drp", five)
    again = migrate_cases(cases, "drp", five)
    assert again.moved == [] and [c.case_ref for c in again.refused] == ["D-SKIP"]


def test_back_from_five_stages_to_three_needs_a_mapping_for_the_stages_it_lost(cases, five):
    engine = cases
    three = engine.registry.get("drp")
    migrate_cases(engine, "drp", five)
    engine.fire("D-S3", "escalate", at=at("2026-03-04"), role="iro")     # Wed: now runs on five stages
    engine.fire("D-S2", "escalate", at=at("2026-03-04"), role="iro")
    engine.fire("D-S2", "escalate", at=at("2026-03-04"), role="iro")
    engine.fire("D-S2", "escalate", at=at("2026-03-05"), role="iro")     # Thu
    assert (engine.case("D-S3").state, engine.case("D-S2").state) == ("stage_4", "stage_5")

    refused = by_ref(migrate_cases(engine, "drp", three))
    assert refused["D-S3"].refused == (f"state 'stage_4' is not in version {three.version}; "
                                       "map it to one that is with --map stage_4=STATE")
    assert refused["D-S2"].refused.startswith("state 'stage_5' is not in version")
    assert engine.case("D-S3").state == "stage_4"
    assert refused["D-INF"].refused is None and refused["D-S1"].refused is None  # the others moved back

    back = by_ref(migrate_cases(engine, "drp", three, {"stage_4": "stage_3", "stage_5": "stage_3"}))
    assert sorted(back) == ["D-S2", "D-S3"]
    assert back["D-S3"].deadlines == (
        DeadlineMove("formal_resolution", d("2026-04-15"), d("2026-03-30")),   # 30 -> 20 wd from Mon 2 Mar
        DeadlineMove("stage_4_response", d("2026-03-11"), None, "not in the new version"),
        # the three-stage stage 3 counted from entering stage_4 on Wed 4 Mar: 5, 6, 9, 10, 11 (the
        # clock is in 2030, so it falls due at the next tick)
        DeadlineMove("stage_3_response", None, d("2026-03-11"), "counted from entering stage_4, already past due"),
    )
    s3 = engine.case("D-S3")
    assert (s3.state, s3.version) == ("stage_3", three.version)
    assert {x.name: x.due_on for x in s3.open_deadlines} == {"formal_resolution": d("2026-03-30"),
                                                             "stage_3_response": d("2026-03-11")}
    assert engine.history("D-S3")[-1].from_state == "stage_4"
    assert migrate_cases(engine, "drp", three, {"stage_4": "stage_3"}).cases == []  # nothing left to move


def test_caseclock_migrate_cases_dry_run_prints_what_the_real_run_prints(tmp_path):
    db = ["--database", f"sqlite:///{tmp_path / 'c.db'}"]

    def caseclock(*args):
        return subprocess.run(["caseclock", *db, *args], capture_output=True, text=True, cwd=tmp_path)

    assert caseclock("migrate").returncode == 0
    assert caseclock("open", "drp", "D-1", "--at", "2026-03-02", "--state", "stage_2", "--set", "theme=safety",
                     "--set", "concern=x").returncode == 0
    dry = caseclock("migrate-cases", "drp", "--to", str(FIVE_STAGES), "--dry-run")
    real = caseclock("migrate-cases", "drp", "--to", str(FIVE_STAGES))
    assert dry.returncode == real.returncode == 0, real.stderr
    assert "  stage_2_response: 2026-03-09 -> 2026-03-16" in real.stdout
    assert dry.stdout.replace("would move", "moved") == real.stdout
    assert "0 case(s) moved" in caseclock("migrate-cases", "drp", "--to", str(FIVE_STAGES)).stdout
    shown = caseclock("show", "D-1")
    assert "a newer version of drp exists" in shown.stdout  # the registry still runs the three stages
    bad = caseclock("migrate-cases", "drp", "--to", str(FIVE_STAGES), "--map", "stage_4=stage_9")
    assert bad.returncode == 1 and "'stage_9' is not a state of version" in bad.stderr


def test_a_case_says_which_version_it_runs_on_and_whether_a_newer_one_exists(cases, five):
    engine = cases
    three = engine.registry.get("drp").version
    view = engine.case("D-S2")
    assert (view.version, view.current_version, view.newer_version_exists) == (three, three, False)
    migrate_cases(engine, "drp", five)
    view = engine.case("D-S2")
    assert (view.version, view.current_version, view.newer_version_exists) == (five.version, three, True)
    body = view.to_dict()
    assert (body["version"], body["current_version"], body["newer_version_exists"]) == (five.version, three, True)
