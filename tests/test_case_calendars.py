"""Each case is counted on its authority's calendar, whichever process runs the command.

Dates by hand. Scotland has 2 January as a bank holiday, England and Wales do not: from Monday
29 December 2025, 5 working days is Tuesday 6 January in England (30, 31, 2, 5, 6) and Wednesday
7 January in Scotland (30, 31, 5, 6, 7). Testshire (below) counts on Scotland's calendar and
closes on 24 December 2026: from Wednesday 23 December 2026 (Christmas Fri 25, Boxing Day
substitute Mon 28; New Year Fri 1 and its Scottish second day's substitute Mon 4 January 2027),
5 working days is Wednesday 6 January 2027 (29, 30, 31, 5, 6); in England it is Monday 4 January
(24, 29, 30, 31, 4).
"""

from __future__ import annotations

import pytest

from engine.errors import DeploymentError
from engine.language.profiles import load_profile
from engine.language.registry import Registry
from engine.runtime.engine import Engine
from engine.time.calendar import Nation, WorkingCalendar

from .conftest import at, d

DRP = {"theme": "safety", "concern": "x"}

TESTSHIRE = """
name: testshire
title: Testshire County Council
calendar:
  nation: scotland
  closure_days: {2026-12-24: Council closure}
"""


@pytest.fixture
def profiles(tmp_path):
    folder = tmp_path / "authorities"
    folder.mkdir()
    (folder / "testshire.yaml").write_text(TESTSHIRE)
    return folder


def due(engine: Engine, case_ref: str, name: str = "informal_response"):
    return engine.case(case_ref).deadline(name).due_on


def test_the_first_process_records_the_nation_and_later_ones_count_on_it(store, registry, clock):
    scottish = Engine(store, registry, WorkingCalendar(Nation.SCOTLAND), clock)
    scottish.open_case("drp", "S-1", at=at("2025-12-29"), data=DRP)
    assert due(scottish, "S-1") == d("2026-01-07")
    assert store.deployment_nation() == "scotland"

    plain = Engine(store, registry, clock=clock)  # no calendar given: the stored nation's
    assert plain.calendar.nation is Nation.SCOTLAND
    assert plain.recompute() == []
    assert due(plain, "S-1") == d("2026-01-07")
    assert not plain.explain("S-1")[0].stale
    plain.open_case("drp", "S-2", at=at("2025-12-29"), data=DRP)
    assert due(plain, "S-2") == d("2026-01-07")


def test_a_process_asking_for_another_nation_is_refused_and_moves_nothing(store, registry, clock):
    Engine(store, registry, WorkingCalendar(Nation.SCOTLAND), clock).open_case("drp", "S-1", at=at("2025-12-29"), data=DRP)
    with pytest.raises(DeploymentError) as err:
        Engine(store, registry, WorkingCalendar(), clock)
    assert "scotland" in str(err.value) and "caseclock calendar set-nation england-and-wales" in str(err.value)
    assert store.deployment_nation() == "scotland"
    assert due(Engine(store, registry, clock=clock), "S-1") == d("2026-01-07")


def test_a_profile_case_is_counted_on_its_authority_calendar_by_every_process(store, clock, profiles):
    local = Engine(store, Registry.load(authority="testshire", profiles=profiles), clock=clock, authority="testshire")
    local.open_case("drp", "T-1", at=at("2026-12-23"), data=DRP)
    assert due(local, "T-1") == d("2027-01-06")
    assert local.calendar.nation is Nation.ENGLAND_AND_WALES  # the deployment's, for cases with no authority

    plain = Engine(store, Registry.load(profiles=profiles), clock=clock)
    testshire = load_profile("testshire", profiles).calendar
    assert plain.recompute() == []
    assert due(plain, "T-1") == d("2027-01-06")
    explained = plain.explain("T-1")[0]
    assert not explained.stale
    assert d("2026-12-24") in [s.day for s in explained.computation.skipped]
    # overdue and upcoming count working days on the case's calendar: 6 Jan -> 8 Jan is 2 in Scotland
    [late] = plain.overdue(at("2027-01-08", 12))
    assert (late.case_ref, late.working_days_overdue) == ("T-1", 2)
    # from 30 Dec, 3 working days reach 6 Jan on Testshire's calendar (31, 5, 6), not England's
    assert [u.case_ref for u in plain.upcoming(3, at=at("2026-12-30", 12))] == ["T-1"]
    assert [u.working_days_left for u in plain.upcoming(3, at=at("2026-12-30", 12))] == [3]
    # a trigger fired by a process without the authority counts the next deadline on Testshire's
    plain.fire("T-1", "escalate", at=at("2026-12-29"), role="iro")
    stage_1 = plain.case("T-1").deadline("stage_1_response")
    assert stage_1.calendar_version == testshire.version
    assert stage_1.due_on == testshire.add(d("2026-12-29"), 5, "working_days") == d("2027-01-07")
    # and so does an expiry run by the worker's plain engine
    report = plain.tick(at("2027-01-08", 9))
    assert report.fired == 1
    stage_2 = plain.case("T-1").deadline("stage_2_response")
    assert stage_2.calendar_version == testshire.version


def test_changing_the_deployment_nation_moves_only_cases_without_an_authority(store, clock, profiles):
    registry = Registry.load(profiles=profiles)
    Engine(store, registry, clock=clock).open_case("drp", "E-1", at=at("2025-12-29"), data=DRP)
    local = Engine(store, Registry.load(authority="testshire", profiles=profiles), clock=clock, authority="testshire")
    local.open_case("drp", "T-1", at=at("2026-12-23"), data=DRP)

    assert store.set_deployment_nation("scotland") == "england-and-wales"
    after = Engine(store, registry, clock=clock)
    moved = after.recompute()
    assert [(m.case_ref, m.old_due_on, m.new_due_on) for m in moved] == [("E-1", d("2026-01-06"), d("2026-01-07"))]
    assert due(after, "T-1") == d("2027-01-06")
    assert after.history("E-1")[-1].kind == "recompute"
    assert after.recompute() == []


def test_a_case_started_by_another_keeps_its_authority_and_calendar(store, clock, profiles):
    local = Engine(store, Registry.load(authority="testshire", profiles=profiles), clock=clock, authority="testshire")
    local.open_case("cla_review", "CLA-1", at=at("2026-12-01"), data={"became_looked_after": "2026-12-01"})
    plain = Engine(store, Registry.load(profiles=profiles), clock=clock)
    plain.fire("CLA-1", "dispute_raised", at=at("2026-12-23"), role="iro",
               data={"dispute_theme": "drift_and_delay", "dispute_concern": "x"})
    child = "CLA-1-DRP-2"
    assert plain.case(child).authority == "testshire"
    assert due(plain, child) == d("2027-01-06")


def test_a_running_worker_counts_on_a_nation_changed_by_another_process_at_its_daily_refresh(store, registry, clock):
    from engine.settings import WorkerSettings
    from engine.timers.worker import Worker

    engine = Engine(store, registry, clock=clock)  # started on the stored nation: england-and-wales
    engine.open_case("drp", "E-1", at=at("2025-12-29"), data=DRP)
    worker = Worker(engine, settings=WorkerSettings(calendar_refresh_at="03:15"), worker_id="refresh")
    assert store.set_deployment_nation("scotland") == "england-and-wales"  # another process's set-nation
    assert engine.calendar.nation is Nation.ENGLAND_AND_WALES  # not yet seen by this one

    assert worker.refresh_calendars() == 1
    assert engine.calendar.nation is Nation.SCOTLAND
    assert due(engine, "E-1") == d("2026-01-07")
    assert worker.refresh_calendars() == 0  # nothing left to move


def test_a_worker_given_a_calendar_the_deployment_no_longer_has_reports_and_keeps_running(store, registry, clock):
    from engine.settings import WorkerSettings
    from engine.timers.worker import Worker

    engine = Engine(store, registry, WorkingCalendar(), clock)  # told england-and-wales explicitly
    engine.open_case("drp", "E-1", at=at("2025-12-29"), data=DRP)
    worker = Worker(engine, settings=WorkerSettings(), worker_id="given")
    store.set_deployment_nation("scotland")
    assert worker.refresh_calendars() is None  # logged, not raised
    assert engine.calendar.nation is Nation.ENGLAND_AND_WALES and due(engine, "E-1") == d("2026-01-06")


def test_the_worker_schedules_the_refresh_daily_at_the_configured_london_time(store, registry):
    import datetime as dt
    from zoneinfo import ZoneInfo

    from engine.settings import WorkerSettings
    from engine.time.clock import SystemClock
    from engine.timers.worker import Worker

    worker = Worker(Engine(store, registry, clock=SystemClock()), settings=WorkerSettings(calendar_refresh_at="03:15"),
                    worker_id="daily")
    worker.start()
    try:
        job = worker.scheduler.get_job("calendar-refresh")
        when = job.next_run_time.astimezone(ZoneInfo("Europe/London"))
        assert (when.hour, when.minute) == (3, 15)
        assert dt.timedelta(0) < when - dt.datetime.now(ZoneInfo("Europe/London")) <= dt.timedelta(days=1)
    finally:
        worker.stop()
    assert not worker.scheduler.running
