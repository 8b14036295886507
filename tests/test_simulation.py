"""`caseclock simulate`: a synthetic year through the real engine, read back from its database.

The closed loop: the simulator is given a lateness rate and an escalation rate, and the summary
computed from the stored transitions and deadlines must recover them within the binomial
interval of the sample (3 standard errors), and must agree exactly with what the plan did.
"""

from __future__ import annotations

import collections
import math
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from engine import logs
from engine.simulation.profiles import PROFILES, national, shape
from engine.simulation.runner import simulate
from engine.simulation.summary import summarise

# one worker runs the whole module, so the simulated year of the fixture is run once
pytestmark = pytest.mark.xdist_group(name="simulation")

REPO = Path(__file__).resolve().parent.parent
LATE, ESCALATION = 0.3, 0.45


def within_binomial(successes: int, trials: int, rate: float, sigmas: float = 3.0) -> bool:
    return abs(successes / trials - rate) <= sigmas * math.sqrt(rate * (1 - rate) / trials)


@pytest.fixture(scope="module")
def year(tmp_path_factory):
    logs.configure(level="warning")
    path = tmp_path_factory.mktemp("sim") / "loop.db"
    sim = simulate(path, [shape("gateshead")], 2023, seed=1, children=30, cp_cases=4, drps=150,
                   late_rate=LATE, escalation_rate=ESCALATION)
    return sim, summarise(sim.database_url, sim.start, sim.end)


def test_every_planned_event_is_accepted_by_the_engine(year):
    sim, _ = year
    assert sim.report.failures == []
    assert sim.report.timers_fired > 0          # decisions standing after a team manager's silence
    assert sim.report.reminders > 0


def test_the_stored_review_timeliness_recovers_the_lateness_rate(year):
    _, summary = year
    assert summary.reviews.total > 50
    assert within_binomial(summary.reviews.late, summary.reviews.total, LATE)
    # and it could tell a different rate apart: the interval is not so wide that anything passes
    assert not within_binomial(summary.reviews.late, summary.reviews.total, LATE + 0.25)


def test_the_stored_escalations_recover_the_escalation_rate(year):
    _, summary = year
    assert summary.drp_decisions > 150
    assert within_binomial(summary.drp_escalations, summary.drp_decisions, ESCALATION)
    assert not within_binomial(summary.drp_escalations, summary.drp_decisions, ESCALATION - 0.2)
    assert summary.drp_escalations_by_timer == 0   # every decision was made before its response was due


def test_the_summary_counts_exactly_what_the_plan_did_in_the_year(year):
    sim, summary = year
    in_year = [e for e in sim.plans[0].events if sim.start <= e.at < sim.end]
    held = [e for e in in_year if e.trigger == "review_held"]
    assert summary.reviews_held == len(held)
    assert summary.lateness_reasons == dict(collections.Counter(e.data["lateness_reason"] for e in held
                                                                if "lateness_reason" in e.data))
    assert summary.drp_escalations == sum(e.trigger == "escalate" for e in in_year)
    assert summary.drps_resolved == sum(e.trigger == "resolve" for e in in_year)
    assert sum(summary.drps_raised.values()) == sum(e.trigger == "dispute_raised" for e in in_year) == 150
    assert summary.icpcs_held == sum(e.trigger == "icpc_held" for e in in_year)
    entered = sum(e.trigger == "open" and e.workflow == "cla_review" for e in in_year)
    assert summary.children_entered == entered


def _run_cli(tmp_path: Path, name: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASECLOCK_")}
    env["COLUMNS"] = "200"
    return subprocess.run(["caseclock", "simulate", "--authority", "shropshire", "--children", "6", "--cp-plans", "3",
                           "--drps", "3", "--seed", "11", "--out", str(tmp_path / name), *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def _rows(path: Path, query: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(query).fetchall()


def test_the_same_seed_gives_the_same_database_and_the_command_says_how_to_open_it(tmp_path):
    first = _run_cli(tmp_path, "a.db")
    second = _run_cli(tmp_path, "b.db")
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    # recorded_at comes from the simulated clock too: nothing is excluded from the comparison
    query = ("SELECT c.case_ref, t.seq, t.kind, t.trigger, t.from_state, t.to_state, t.effective_at, t.recorded_at, "
             "t.actor, t.reason, t.data, t.definition_version FROM transitions t JOIN cases c ON c.id = t.case_id "
             "ORDER BY c.case_ref, t.seq")
    a, b = _rows(tmp_path / "a.db", query), _rows(tmp_path / "b.db", query)
    assert len(a) > 300
    assert a == b
    deadlines = ("SELECT c.case_ref, d.name, d.status, d.due_at, d.closed_at, d.expired_at FROM deadlines d "
                 "JOIN cases c ON c.id = d.case_id ORDER BY c.case_ref, d.id")
    assert _rows(tmp_path / "a.db", deadlines) == _rows(tmp_path / "b.db", deadlines)
    assert "reviews due in the year held in timescale" in first.stdout
    assert f"CASECLOCK_DATABASE_URL=sqlite:///{tmp_path / 'a.db'} caseclock overdue --at 2024-04-01" in first.stdout
    # and the database opens with the ordinary commands
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASECLOCK_")}
    env["CASECLOCK_DATABASE_URL"] = f"sqlite:///{tmp_path / 'a.db'}"
    overdue = subprocess.run(["caseclock", "overdue", "--at", "2024-04-01", "--json"], env=env, capture_output=True, text=True)
    assert overdue.returncode == 0, overdue.stderr


def _tables(path: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(path) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {n: conn.execute(f"SELECT * FROM {n} ORDER BY 1").fetchall() for n in names}


def test_authorities_run_in_processes_give_the_database_run_one_after_another(tmp_path):
    logs.configure(level="warning")
    shapes = [shape("shropshire"), shape("dudley"), shape("croydon")]
    sizes = dict(children=8, cp_cases=3, drps=6)
    one = simulate(tmp_path / "one.db", shapes, 2023, seed=5, **sizes)
    many = simulate(tmp_path / "many.db", shapes, 2023, seed=5, processes=2, **sizes)
    assert one.report == many.report and one.report.failures == []
    a, b = _tables(tmp_path / "one.db"), _tables(tmp_path / "many.db")
    assert a.keys() == b.keys()
    for table in a:
        assert a[table] == b[table], table
    # the later authorities' timers were renumbered too: their ids appear in idempotency keys
    later = {r[0] for r in a["cases"] if not r[1].startswith("SHR")}
    outbox_keys = {r[1].split(":")[0] for r in a["outbox"] if not r[2].startswith("SHR")}
    assert later and {"reminder", "expiry"} <= outbox_keys
    assert not list(tmp_path.glob("many.db.part*"))  # the parts are gone


def test_an_existing_file_is_not_overwritten_without_force(tmp_path):
    target = tmp_path / "kept.db"
    target.write_bytes(b"not a simulation")
    refused = _run_cli(tmp_path, "kept.db")
    assert refused.returncode == 1
    assert "exists" in refused.stderr and "--force" in refused.stderr
    assert target.read_bytes() == b"not a simulation"


@pytest.mark.parametrize("args, message", [
    (["--late-rate", "1.5"], "between 0 and 1"),
    (["--authority", "atlantis"], "no simulation profile"),
    (["--scale", "galactic"], "authority or national"),
    (["--processes", "0"], "--processes"),
])
def test_bad_options_are_usage_errors_naming_the_option(tmp_path, args, message):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASECLOCK_")}
    env["COLUMNS"] = "200"
    result = subprocess.run(["caseclock", "simulate", *args, "--out", str(tmp_path / "x.db")], env=env,
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_another_seed_plans_another_year(registry):
    from engine.language.bundled import bundled_dir
    from engine.language.registry import Registry
    from engine.simulation.generator import generate
    from engine.time.calendar import WorkingCalendar

    loaded = Registry.load([bundled_dir("workflows")], authority="gateshead")
    workflows = {name: loaded.get(name) for name in ("cla_review", "child_protection", "drp")}

    def plan(seed: int):
        return [(e.at, e.case_ref, e.trigger, e.data) for e in
                generate(shape("gateshead"), workflows, WorkingCalendar(), 2023, seed, children=10, cp_cases=3, drps=3).events]

    assert plan(1) == plan(1)
    assert plan(1) != plan(2)


def test_every_authority_has_a_shape_and_national_scale_is_about_100000_children():
    assert set(PROFILES) == {p.stem for p in (REPO / "config" / "authorities").glob("*.yaml")}
    assert 99_000 <= sum(s.children_in_care for s in national()) <= 101_000
