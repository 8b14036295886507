"""Scenario files: the bundled ones pass, a wrong date fails with its date and how it was
counted, and a bad file is refused with file:line: field, never a traceback."""

from __future__ import annotations

import fnmatch
import subprocess
import tomllib
from pathlib import Path

import pytest

from engine.errors import DefinitionError
from engine.procedures.runner import Runner
from engine.procedures.scenarios import bundled_scenario_files, load_scenario

REPO = Path(__file__).resolve().parents[1]

ESCALATION = """\
name: stage 1 unanswered
workflow: drp
open:
  at: 2026-12-14
  data: {theme: safety, concern: x}
steps:
  - fire: escalate
    at: 2026-12-16
    role: iro
    expect:
      state: stage_1
      deadlines: {stage_1_response: 2026-12-23, formal_resolution: FORMAL}
  - tick: 2026-12-24
    expect: {state: stage_2, deadlines: {stage_2_response: 2027-01-05}}
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def runner() -> Runner:
    return Runner()


def test_every_bundled_scenario_passes(runner):
    files = bundled_scenario_files()
    scenarios = [load_scenario(p) for p in files]
    workflows = {s.spec.workflow for s in scenarios if s.spec.authority is None}
    authorities = {s.spec.authority for s in scenarios} - {None}
    assert workflows == {"drp", "cla_review", "child_protection"}
    assert authorities == {"croydon", "dudley", "gateshead", "shropshire", "sunderland"}
    failed = [r for r in map(runner.run, scenarios) if not r.passed]
    assert failed == []


def test_bundled_scenarios_are_packaged():
    """Every bundled scenario matches the package-data globs, so `pip install .` ships it."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    for path in bundled_scenario_files():
        rel = path.relative_to(REPO)
        package = {"workflows": "caseclock_workflows", "config": "caseclock_config"}[rel.parts[0]]
        inside = str(Path(*rel.parts[1:]))
        assert any(fnmatch.fnmatch(inside, g) for g in config["package-data"][package]), rel


def test_a_scenario_with_the_right_dates_passes(tmp_path, runner):
    result = runner.run(load_scenario(write(tmp_path, ESCALATION.replace("FORMAL", "2027-01-18"))))
    assert result.passed and result.steps == 2


def test_a_wrong_date_fails_naming_the_date_and_how_the_engine_counted(tmp_path, runner):
    result = runner.run(load_scenario(write(tmp_path, ESCALATION.replace("FORMAL", "2027-01-15"))))
    assert not result.passed
    assert result.on.isoformat() == "2026-12-16"
    assert result.difference == "formal_resolution is due Mon 2027-01-18, expected Fri 2027-01-15"
    assert "entry on Wed 16 Dec 2026 (day 0) +20 working days = Mon 18 Jan 2027" in result.explanation
    assert "Fri 25 Dec" in result.explanation and "Mon 28 Dec" in result.explanation
    assert "Fri 01 Jan" in result.explanation
    assert "IRO Handbook 2010 para 6.2" in result.explanation


def test_a_wrong_state_after_a_tick_fails_on_the_tick_date(tmp_path, runner):
    text = ESCALATION.replace("FORMAL", "2027-01-18").replace("state: stage_2", "state: stage_3")
    result = runner.run(load_scenario(write(tmp_path, text)))
    assert (result.passed, result.on.isoformat(), result.difference) == (False, "2026-12-24", "state is stage_2, expected stage_3")


def test_a_refused_event_fails_with_the_engine_s_reason(tmp_path, runner):
    text = ESCALATION.replace("FORMAL", "2027-01-18").replace("role: iro", "role: director")
    result = runner.run(load_scenario(write(tmp_path, text)))
    assert not result.passed
    assert result.difference == "escalate was refused: role 'director' may not fire 'escalate'; allowed roles: iro, iro_manager"


def test_notifications_and_overdue_are_compared_exactly(tmp_path, runner):
    text = ESCALATION.replace("FORMAL", "2027-01-18").replace(
        "expect: {state: stage_2, deadlines: {stage_2_response: 2027-01-05}}",
        "expect: {overdue: [], notifications: [{kind: deadline_expired, deadline: stage_1_response, role: iro}]}")
    result = runner.run(load_scenario(write(tmp_path, text)))
    assert not result.passed
    assert result.difference.startswith("notifications queued: deadline_expired stage_1_response to head_of_service; ")


@pytest.mark.parametrize("change, expected", [
    (("  at: 2026-12-14\n", "  at: 2026-12-14\n  colour: red\n"), "s.yaml:5: open.colour: unknown key 'colour'"),
    (("  at: 2026-12-14\n", "  at: next week\n"), "s.yaml:4: open.at: is not a date (write it as YYYY-MM-DD)"),
    (("  - fire: escalate\n    at: 2026-12-16\n", "  - fire: escalate\n"),
     "s.yaml:7: steps[0]: a 'fire' step needs 'at': the date the event happened"),
    (("  - tick: 2026-12-24\n", "  - tick: 2026-12-10\n"),
     "s.yaml:13: steps[1].tick: 2026-12-10 is before the previous step (2026-12-16): steps run in date order"),
    (("fire: escalate", "fire: escalat"), "s.yaml:7: steps[0].fire: unknown trigger 'escalat'"),
    (("stage_1_response: 2026", "stage_one_response: 2026"),
     "s.yaml:12: steps[0].expect.deadlines.stage_one_response: unknown deadline 'stage_one_response'"),
    (("state: stage_1\n", "state: stage_one\n"), "s.yaml:11: steps[0].expect.state: unknown state 'stage_one'"),
    (("workflow: drp", "workflow: dpr"), "s.yaml:2: workflow: unknown workflow 'dpr' (known: "),
    (("workflow: drp", "workflow: drp\nauthority: atlantis"), "s.yaml:3: authority: unknown authority 'atlantis'"),
])
def test_a_bad_scenario_file_names_file_line_and_field(tmp_path, runner, change, expected):
    path = write(tmp_path, ESCALATION.replace("FORMAL", "2027-01-18").replace(*change))
    with pytest.raises(DefinitionError) as raised:
        runner.run(load_scenario(path))
    assert any(str(p).startswith(f"{tmp_path}/{expected}") for p in raised.value.problems), raised.value


def test_caseclock_test_prints_the_table_and_exits_non_zero_on_a_failure(tmp_path):
    good = write(tmp_path, ESCALATION.replace("FORMAL", "2027-01-18"), "good.yaml")
    write(tmp_path, ESCALATION.replace("FORMAL", "2027-01-15"), "bad.yaml")
    broken = write(tmp_path, "name: x\nworkflow: drp\n", "broken.yaml")
    ran = subprocess.run(["caseclock", "test", str(good)], capture_output=True, text=True, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "pass" in ran.stdout and "1 passed, 0 failed" in ran.stdout
    ran = subprocess.run(["caseclock", "test", str(tmp_path)], capture_output=True, text=True, cwd=tmp_path)
    assert ran.returncode == 1
    assert "FAIL" in ran.stdout and "2026-12-16: formal_resolution is due Mon 2027-01-18" in ran.stdout
    assert "1 passed, 1 failed, 1 problem(s) in files" in ran.stdout
    assert f"{broken}:1: open: is required" in ran.stderr
    assert "Traceback" not in ran.stderr
