"""The counted lists: deadline_counts stays exact under every write, and pages and counts read
from it answer what a plain walk over the deadlines answers."""

from __future__ import annotations

import collections
import datetime as dt
import random
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.errors import CaseError
from engine.language.bundled import bundled_dir
from engine.language.registry import Registry
from engine.monitor import lists as monitor
from engine.procedures.diff import resolve
from engine.procedures.migration import migrate_cases
from engine.runtime.engine import AGE_BANDS, Engine
from engine.time.calendar import WorkingCalendar, due_at, local_date
from engine.time.clock import SimulatedClock
from persistence.store import Store

from .conftest import ESCALATING, TEST_WORKFLOWS, at

RAISED = {"theme": "safety", "concern": "x"}
FIVE_STAGES = Path(__file__).resolve().parent / "workflows" / "versions" / "drp_5_stages.yaml"
TESTSHIRE = """
name: testshire
title: Testshire County Council
calendar:
  nation: scotland
  closure_days: {2026-12-24: Council closure, 2026-03-04: Council closure}
"""


@pytest.fixture
def profiles(tmp_path):
    folder = tmp_path / "authorities"
    folder.mkdir()
    (folder / "testshire.yaml").write_text(TESTSHIRE)
    return folder


def _counted(store) -> dict:
    with store.db.reader.connect() as conn:
        return {(str(r[0]), r[1], r[2], r[3]): r[4] for r in conn.execute(text(
            "SELECT due_on, workflow, authority, slot, n FROM deadline_counts"))}


def _grouped(store) -> dict:
    with store.db.reader.connect() as conn:
        return {(str(r[0]), r[1], r[2], r[3]): r[4] for r in conn.execute(text(
            "SELECT due_on, coalesce(workflow, ''), coalesce(authority, ''), id % 32, count(*) FROM deadlines "
            "WHERE status = 'open' GROUP BY due_on, coalesce(workflow, ''), coalesce(authority, ''), id % 32"))}


def _open(engine, rng, i: int, day: dt.date) -> None:
    workflow = rng.choice(([] if engine.authority else [ESCALATING]) + ["drp", "cla_review", "child_protection"])
    when = at(day.isoformat(), rng.randint(8, 17))
    data = {"became_looked_after": day.isoformat()} if workflow == "cla_review" else (
        {"strategy_discussion_on": day} if workflow == "child_protection" else RAISED)
    engine.open_case(workflow, f"R-{i}", at=when, data=data, team=rng.choice(["north", "south", None]))


def test_the_counters_equal_a_group_by_after_every_kind_of_write(backend_url, profiles):
    """Opens (two authorities), fires, closings, timer expiries, a batch with an undone group,
    moves by a calendar change and by migrating cases, a deleted row: after each, the counters
    equal a GROUP BY over the deadlines."""
    escalating_registry = Registry.load([bundled_dir("workflows"), Path(TEST_WORKFLOWS)], profiles=profiles)
    rng = random.Random(7)
    clock = SimulatedClock(at("2030-01-01", 9))
    store = Store.open(backend_url)
    try:
        engine = Engine(store, escalating_registry, WorkingCalendar(), clock)
        local = Engine(store, Registry.load(authority="testshire", profiles=profiles), clock=clock, authority="testshire")
        day = dt.date(2026, 2, 2)
        for i in range(60):
            _open(local if i % 4 == 0 else engine, rng, i, day + dt.timedelta(days=i // 3))
        assert _counted(store) == _grouped(store) and _counted(store)
        for i in rng.sample(range(60), 40):  # escalations, resolutions, withdrawals; some refused
            trigger = rng.choice(["escalate", "resolve", "withdraw", "bogus"])
            try:
                (local if i % 4 == 0 else engine).fire(f"R-{i}", trigger, at=at("2026-04-20", 10), role="iro",
                                                       data={"outcome": "agreed_action"} if trigger == "resolve" else None)
            except CaseError:
                pass
        assert _counted(store) == _grouped(store)
        report = engine.tick(at("2026-05-20", 9))  # the escalating DRPs' expiries move their cases
        assert report.fired > 0
        assert _counted(store) == _grouped(store)
        with engine.batch(every=3) as batch:
            for i in range(60, 70):
                _open(engine, rng, i, dt.date(2026, 6, 1))
            with pytest.raises(CaseError), batch.atomic():  # this group's savepoint is rolled back
                _open(engine, rng, 70, dt.date(2026, 6, 2))
                engine.fire("R-70", "bogus", at=at("2026-06-03"), role="iro")
        assert _counted(store) == _grouped(store)
        before = _counted(store)
        closed = Engine(store, escalating_registry, WorkingCalendar(closure_days={dt.date(2026, 6, 3): "Closure"}), clock)
        assert closed.recompute()  # a proclaimed closure moves the deadlines across it
        assert _counted(store) == _grouped(store) != before
        five = resolve(str(FIVE_STAGES), registry_for=lambda a: escalating_registry, authority=None,
                       stored=lambda v: None)["drp"]
        assert migrate_cases(engine, "drp", five).moved
        assert _counted(store) == _grouped(store)
        with store.db.writer.begin() as conn:  # below the engine: a deleted row, a changed authority
            conn.execute(text("DELETE FROM reminders WHERE deadline_id = (SELECT min(id) FROM deadlines WHERE status = 'open')"))
            conn.execute(text("DELETE FROM deadlines WHERE id = (SELECT min(id) FROM deadlines WHERE status = 'open')"))
            conn.execute(text("UPDATE deadlines SET authority = 'elsewhere' WHERE id = (SELECT max(id) FROM deadlines WHERE status = 'open')"))
        assert _counted(store) == _grouped(store)
        assert all(n > 0 for n in _counted(store).values())  # emptied days are removed
    finally:
        store.close()


# ---- pages and counts against a plain walk over the deadlines ---------------------------------

def _walk(engine, store) -> list[dict]:
    """Every open deadline with its case, straight from the tables."""
    with store.db.reader.connect() as conn:
        rows = conn.execute(text(
            "SELECT d.id, c.case_ref, c.workflow, c.authority, c.team, c.assigned_to, d.due_on, d.role "
            "FROM deadlines d JOIN cases c ON c.id = d.case_id WHERE d.status = 'open'")).mappings().all()
    out = []
    for r in rows:
        due_on = r["due_on"] if isinstance(r["due_on"], dt.date) else dt.date.fromisoformat(r["due_on"])
        out.append({**r, "due_on": due_on, "due_at": due_at(due_on), "calendar": engine.calendars.of(r["authority"])})
    return out


def _engine_band(days: int) -> str:
    for low, high in AGE_BANDS:
        if high is None or days <= high:
            return f"{low}+" if high is None else f"{low}-{high}"
    raise AssertionError(days)


def _monitor_band(bands, days: int) -> str:
    return next(name for name, least, most in bands if days >= least and (most is None or days <= most))


FILTERS = [{}, {"workflow": "drp"}, {"team": "north"}, {"assigned_to": "iro-2"}, {"authority": "testshire"}]


def test_pages_and_counts_answer_what_a_walk_over_the_deadlines_answers(backend_url, registry, profiles):
    clock = SimulatedClock(at("2030-01-01", 9))
    store = Store.open(backend_url)
    try:
        plain = Engine(store, Registry.load(profiles=profiles), WorkingCalendar(), clock)
        local = Engine(store, Registry.load(authority="testshire", profiles=profiles), clock=clock, authority="testshire")
        rng = random.Random(3)
        for i in range(80):
            day = dt.date(2026, 10, 1) + dt.timedelta(days=rng.randint(0, 100))
            owner = local if i % 3 == 0 else plain
            workflow = rng.choice(["drp", "cla_review"])
            data = {"became_looked_after": day.isoformat()} if workflow == "cla_review" else RAISED
            owner.open_case(workflow, f"H-{i}", at=at(day.isoformat(), 11), data=data,
                            team=rng.choice(["north", "south"]), assigned_to=f"iro-{i % 4}")
        every = _walk(plain, store)
        for day in ("2026-12-24", "2026-12-29", "2027-01-05", "2027-02-01"):
            now = at(day, 10)
            today = local_date(now)
            for filters in FILTERS:
                mine = [r for r in every if all(r[k] == v for k, v in filters.items())]
                case_filters = {k: v for k, v in filters.items() if k != "workflow"}
                # the engine's overdue page: total, by workflow, by age band, first page in due order
                overdue = sorted((r for r in mine if r["due_at"] <= now), key=lambda r: (r["due_at"], r["id"]))
                page = plain.overdue_page(now, workflow=filters.get("workflow"), case_filters=case_filters, limit=5)
                assert page.total == len(overdue), (day, filters)
                assert page.by_workflow == dict(sorted(collections.Counter(r["workflow"] for r in overdue).items()))
                ages = collections.Counter(_engine_band(r["calendar"].working_days_between(r["due_on"], today))
                                           for r in overdue)
                assert page.by_age == {_engine_band(low): ages[_engine_band(low)] for low, _ in AGE_BANDS}
                assert [i.case_ref for i in page.items] == [r["case_ref"] for r in overdue[:5]]
                # the engine's upcoming page (10 working days on each case's calendar)
                coming = sorted((r for r in mine if now < r["due_at"]
                                 and r["due_on"] <= r["calendar"].add_working_days(today, 10)),
                                key=lambda r: (r["due_at"], r["id"]))
                up = plain.upcoming_page(10, at=now, workflow=filters.get("workflow"), case_filters=case_filters, limit=5)
                assert up.total == len(coming), (day, filters)
                assert up.by_workflow == dict(sorted(collections.Counter(r["workflow"] for r in coming).items()))
                assert [i.case_ref for i in up.items] == [r["case_ref"] for r in coming[:5]]
                # the dashboard's pages: bands by working days, every band's total
                shown = monitor.Filters(workflow=filters.get("workflow"), team=filters.get("team"),
                                        iro=filters.get("assigned_to"), authority=filters.get("authority"))
                for kind, bands, rows, days in (
                        ("overdue", monitor.OVERDUE_BANDS, overdue,
                         lambda r: r["calendar"].working_days_between(r["due_on"], today)),
                        ("due_next", monitor.DUE_NEXT_BANDS, coming,
                         lambda r: r["calendar"].working_days_between(today, r["due_on"]))):
                    expected = collections.Counter(_monitor_band(bands, days(r)) for r in rows)
                    read = monitor.overdue_page if kind == "overdue" else monitor.due_next_page
                    got = read(plain, shown, at=now, limit=500)
                    assert got.bands == {b[0]: expected[b[0]] for b in bands}, (kind, day, filters)
                    assert got.total == len(rows) and [r.case_ref for r in got.rows] == [r["case_ref"] for r in rows]
                    for name, _least, _most in bands:
                        banded = read(plain, monitor.Filters(**{**shown.__dict__, "band": name}), at=now, limit=500)
                        assert [r.case_ref for r in banded.rows] == [
                            r["case_ref"] for r in rows if _monitor_band(bands, days(r)) == name], (kind, name, day)
    finally:
        store.close()
