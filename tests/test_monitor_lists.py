"""The overdue-now and due-next lists and the DRP tracker: filters, paging, counts, age bands
and sorting, computed in SQL, checked against hand-worked working days and the engine's own
overdue and upcoming lists. Today is Wed 11 Mar 2026 (no bank holiday in Feb-Mar 2026)."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.monitor import lists
from engine.monitor.lists import Filters
from engine.runtime.engine import Engine
from engine.time.calendar import WorkingCalendar
from engine.time.clock import SimulatedClock
from persistence.store import Store

from .conftest import at

RAISED = {"theme": "safety", "concern": "x"}


@pytest.fixture(scope="module")
def eng(tmp_path_factory, registry):
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('lists') / 'lists.db'}")
    e = Engine(store, registry, WorkingCalendar(), SimulatedClock(at("2026-03-11", 10)))
    # informal_response is due 5 working days after the day raised. Working days overdue on
    # Wed 11 Mar = working days after the due day up to today: counting back from today
    # (1) Tue 10 (2) Mon 9 (3) Fri 6 (4) Thu 5 (5) Wed 4 (6) Tue 3 ... (20) Thu 12 Feb (21) Wed 11 Feb.
    for ref, raised, team, iro in (
        ("O1", "2026-03-03", "t1", "iro.a"),   # due Tue 10 Mar: 1 working day overdue
        ("O5", "2026-02-25", "t1", "iro.b"),   # due Wed 4 Mar: 5 (the last of band 0-5)
        ("O6", "2026-02-24", "t2", "iro.a"),   # due Tue 3 Mar: 6 (the first of band 6-20)
        ("O20", "2026-02-04", "t2", "iro.b"),  # due Wed 11 Feb: 20 (the last of band 6-20)
        ("O21", "2026-02-03", "t2", "iro.a"),  # due Tue 10 Feb: 21 (band 21-60)
        ("T0", "2026-03-04", "t1", "iro.a"),   # due today: not overdue, 0 working days left
    ):
        e.open_case("drp", ref, at=at(raised), data=RAISED, team=team, assigned_to=iro, child_ref=f"K-{ref}")
    # opened at stage 1: the team manager's response is due 5 working days later, the formal
    # process 20: raised Wed 25 Feb -> formal due Wed 25 Mar, the 10th working day after today
    # (12, 13, 16-20, 23, 24, 25); raised Thu 26 Feb -> Thu 26 Mar, the 11th: not due next.
    e.open_case("drp", "F10", at=at("2026-02-25"), data=RAISED, state="stage_1", team="t3")  # stage_1 due Wed 4 Mar: 5
    e.open_case("drp", "F11", at=at("2026-02-26"), data=RAISED, state="stage_1", team="t3")  # stage_1 due Thu 5 Mar: 4
    e.open_case("drp", "C1", at=at("2026-03-02"), data={"theme": "practice", "concern": "y"})
    e.fire("C1", "resolve", at=at("2026-03-09"), role="iro", data={"outcome": "agreed_action"})
    yield e
    store.close()


def refs(page):
    return [r.case_ref for r in page.rows]


def test_overdue_rows_and_working_days_match_the_engine(eng):
    page = lists.overdue_page(eng)
    assert page.total == 7
    days = {r.case_ref: r.working_days for r in page.rows}
    assert days == {"O1": 1, "O5": 5, "O6": 6, "O20": 20, "O21": 21, "F10": 5, "F11": 4}
    assert {(i.case_ref, i.working_days_overdue) for i in eng.overdue()} == set(days.items())
    assert refs(page)[:2] == ["O21", "O20"]  # most overdue first


def test_age_bands_are_counted_and_filtered_in_sql(eng):
    page = lists.overdue_page(eng)
    assert page.bands == {"0-5": 4, "6-20": 2, "21-60": 1, "61+": 0}
    assert sorted(refs(lists.overdue_page(eng, Filters(band="0-5")))) == ["F10", "F11", "O1", "O5"]
    assert sorted(refs(lists.overdue_page(eng, Filters(band="6-20")))) == ["O20", "O6"]
    assert refs(lists.overdue_page(eng, Filters(band="21-60"))) == ["O21"]
    assert lists.overdue_page(eng, Filters(band="61+")).total == 0


def test_filters_by_team_iro_role_and_workflow(eng):
    assert sorted(refs(lists.overdue_page(eng, Filters(team="t2")))) == ["O20", "O21", "O6"]
    assert sorted(refs(lists.overdue_page(eng, Filters(iro="iro.a")))) == ["O1", "O21", "O6"]
    assert sorted(refs(lists.overdue_page(eng, Filters(role="team_manager")))) == ["F10", "F11"]
    assert lists.overdue_page(eng, Filters(workflow="drp")).total == 7
    assert lists.overdue_page(eng, Filters(workflow="cla_review")).total == 0
    combined = lists.overdue_page(eng, Filters(team="t2", iro="iro.a", band="6-20"))
    assert (refs(combined), combined.total, combined.bands["21-60"]) == (["O6"], 1, 1)


def test_paging_is_counted_and_stable(eng):
    first = lists.overdue_page(eng, limit=2, offset=0)
    second = lists.overdue_page(eng, limit=2, offset=2)
    last = lists.overdue_page(eng, limit=2, offset=6)
    assert (first.total, second.total, last.total) == (7, 7, 7)
    assert refs(first) == ["O21", "O20"]
    assert refs(second)[0] == "O6" and len(refs(last)) == 1
    everything = [r for o in range(0, 7, 2) for r in refs(lists.overdue_page(eng, limit=2, offset=o))]
    assert sorted(everything) == sorted(refs(lists.overdue_page(eng)))


def test_sorting_by_a_column_either_way(eng):
    assert refs(lists.overdue_page(eng, sort="case", descending=True))[:2] == ["O6", "O5"]
    assert refs(lists.overdue_page(eng, sort="due", descending=True))[0] == "O1"
    with pytest.raises(lists.ListError, match="sort: not one of"):
        lists.overdue_page(eng, sort="data")
    with pytest.raises(lists.ListError, match="band: not one of"):
        lists.overdue_page(eng, Filters(band="7"))


def test_due_next_is_the_next_10_working_days(eng):
    page = lists.due_next_page(eng)
    rows = {(r.case_ref, r.deadline): r.working_days for r in page.rows}
    assert rows == {("T0", "informal_response"): 0, ("F10", "formal_resolution"): 10}
    assert {(i.case_ref, i.deadline) for i in eng.upcoming(10)} == set(rows)
    assert page.bands == {"0-2": 1, "3-5": 0, "6-10": 1}
    assert refs(lists.due_next_page(eng, Filters(band="6-10"))) == ["F10"]


def test_csv_export_streams_every_row(eng):
    lines = list(lists.csv_lines(lists.stream_rows(eng, "overdue"), "working_days_overdue"))
    assert lines[0].startswith("case_ref,authority,child_ref,workflow")
    assert "working_days_overdue" in lines[0]
    assert len(lines) == 8
    assert lines[1].startswith("O21,,K-O21,drp,informal,informal_response,")


def test_csv_cells_cannot_run_as_spreadsheet_formulas():
    assert list(lists.csv_lines_of([["=HYPERLINK(1)", "ok"]])) == ["'=HYPERLINK(1),ok\r\n"]


def test_drp_tracker(eng):
    tracker = lists.drp_tracker(eng)
    assert tracker.open_total == 8 and tracker.closed_total == 1
    o1 = next(d for d in tracker.open if d.case_ref == "O1")
    # raised Tue 3 Mar: 4, 5, 6, 9, 10, 11 Mar = 6 working days old; its response was due
    # Tue 10 Mar, 1 working day ago
    assert (o1.stage, o1.theme, o1.raised_on, o1.age_working_days) == ("informal", "safety", dt.date(2026, 3, 3), 6)
    assert (o1.stage_due_on, o1.days_left_at_stage) == (dt.date(2026, 3, 10), -1)
    assert tracker.open[0].case_ref == "O21"  # oldest first
    (c1,) = tracker.closed
    # raised Mon 2 Mar, resolved Mon 9 Mar: 5 working days
    assert (c1.case_ref, c1.stage, c1.outcome, c1.age_working_days) == ("C1", "resolved", "agreed_action", 5)
    assert lists.drp_tracker(eng, Filters(iro="iro.b")).open_total == 2


@pytest.mark.parametrize("when", ["2026-03-14", "2026-03-16", "2026-04-03", "2026-04-05", "2026-04-07", "2026-05-01"])
def test_every_row_is_counted_in_the_band_its_working_days_fall_in(eng, when):
    """On a weekend, a bank holiday (Good Friday 3 Apr, Easter Monday 6 Apr 2026) or a working
    day, each band's SQL boundaries agree with the working days counted row by row."""
    moment = at(when, 12)
    for kind, page_of, bands in (("overdue", lists.overdue_page, lists.OVERDUE_BANDS),
                                 ("due_next", lists.due_next_page, lists.DUE_NEXT_BANDS)):
        whole = page_of(eng, at=moment, limit=500)
        assert sum(whole.bands.values()) == whole.total, kind
        for name, least, most in bands:
            page = page_of(eng, Filters(band=name), at=moment, limit=500)
            assert page.total == whole.bands[name]
            for row in page.rows:
                assert least <= row.working_days <= (most if most is not None else 10**6), (kind, name, row)
