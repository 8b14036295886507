"""The monitoring lists as pages and counts computed in SQL agree with the whole list."""

from __future__ import annotations

import collections
import datetime as dt

from engine.runtime.engine import AGE_BANDS
from engine.time.calendar import WorkingCalendar

from tests.conftest import at

RAISED = {"theme": "safety", "concern": "x"}


def _open_many(engine, n: int = 40) -> None:
    """DRP and CLA cases opened across a year (weekends and bank holidays included)."""
    day = dt.date(2025, 12, 1)
    for i in range(n):
        when = at((day + dt.timedelta(days=9 * i)).isoformat())
        if i % 3:
            engine.open_case("drp", f"D-{i}", at=when, data=RAISED)
        else:
            engine.open_case("cla_review", f"C-{i}", at=when,
                             data={"became_looked_after": when.date().isoformat()})


def _band(days: int) -> str:
    for low, high in AGE_BANDS:
        if high is None or days <= high:
            return f"{low}+" if high is None else f"{low}-{high}"
    raise AssertionError(days)


def test_overdue_pages_and_counts_match_the_whole_list(engine):
    _open_many(engine)
    as_at = at("2026-12-29", 9)  # between Christmas and New Year: bank holidays in the bands
    everything = engine.overdue(as_at)
    assert len(everything) > 10
    first = engine.overdue_page(as_at, limit=7)
    second = engine.overdue_page(as_at, limit=7, offset=7)
    assert first.items + second.items == everything[:14]
    assert first.total == len(everything)
    assert first.by_workflow == dict(sorted(collections.Counter(o.workflow for o in everything).items()))
    expected = collections.Counter(_band(o.working_days_overdue) for o in everything)
    assert first.by_age == {_band(low): expected[_band(low)] for low, _ in AGE_BANDS}
    assert sum(first.by_age.values()) == first.total
    drp = engine.overdue_page(as_at, workflow="drp", limit=1000)
    assert drp.items == [o for o in everything if o.workflow == "drp"]
    assert drp.total == len(drp.items) and set(drp.by_workflow) == {"drp"}


def test_age_bands_follow_the_calendar_day_by_day(engine):
    """Every boundary of every band on a run of days across Easter and a weekend."""
    for i in range(30):
        engine.open_case("drp", f"E-{i}", at=at((dt.date(2026, 2, 16) + dt.timedelta(days=i)).isoformat()), data=RAISED)
    for day in ("2026-04-03", "2026-04-06", "2026-04-07", "2026-04-11", "2026-04-20"):
        everything = engine.overdue(at(day, 9))
        expected = collections.Counter(_band(o.working_days_overdue) for o in everything)
        page = engine.overdue_page(at(day, 9), limit=1)
        assert page.by_age == {_band(low): expected[_band(low)] for low, _ in AGE_BANDS}, day


def test_upcoming_pages_and_counts_match_the_whole_list(engine):
    _open_many(engine)
    as_at = at("2026-06-01", 9)
    everything = engine.upcoming(20, at=as_at)
    assert everything
    page = engine.upcoming_page(20, at=as_at, limit=3)
    assert page.items == everything[:3]
    assert page.total == len(everything)
    assert page.by_workflow == dict(sorted(collections.Counter(u.workflow for u in everything).items()))
    assert page.by_age is None


def test_lists_stream_everything_in_due_order(engine):
    _open_many(engine)
    as_at = at("2026-12-29", 9)
    streamed = list(engine.iter_overdue(as_at))
    assert streamed == engine.overdue(as_at)
    assert [o.due_on for o in streamed] == sorted(o.due_on for o in streamed)


def test_an_empty_list_has_an_empty_page(engine):
    page = engine.overdue_page(at("2026-01-05"))
    assert (page.items, page.total, page.by_workflow) == ([], 0, {})
    assert engine.upcoming_page(10, at=at("2026-01-05")).total == 0


def test_each_authority_counts_its_own_bands(store, registry, clock):
    """Cases with no authority on a Scottish deployment (2 January is a holiday there) beside an
    English authority's: each case's band is counted on its own calendar."""
    from engine.runtime.engine import Engine
    from engine.time.calendar import Nation

    store.set_deployment_nation("scotland")
    plain = Engine(store, registry, WorkingCalendar(Nation.SCOTLAND), clock)
    sunderland = Engine(store, registry.load(authority="sunderland"), None, clock, authority="sunderland")
    for i in range(25):
        when = at((dt.date(2026, 11, 16) + dt.timedelta(days=i)).isoformat())
        plain.open_case("drp", f"P-{i}", at=when, data=RAISED)
        sunderland.open_case("drp", f"S-{i}", at=when, data=RAISED)
    as_at = at("2027-01-15", 9)
    everything = plain.overdue(as_at)
    assert {o.case_ref[0] for o in everything} == {"P", "S"}
    late = {o.case_ref: o.working_days_overdue for o in everything}
    assert any(late[f"P-{i}"] != late.get(f"S-{i}") for i in range(25) if f"P-{i}" in late)  # calendars differ
    expected = collections.Counter(_band(o.working_days_overdue) for o in everything)
    assert plain.overdue_page(as_at).by_age == {_band(low): expected[_band(low)] for low, _ in AGE_BANDS}
