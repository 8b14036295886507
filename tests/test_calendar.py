"""Tests for engine.calendar.

Every expected date below was counted by hand on a printed calendar; the comments show the
count so a reviewer can check it without running anything. Weekdays used:
  Dec 2026: Mon 14, Fri 18, Thu 24, Fri 25, Sat 26, Mon 28, Thu 31.  Jan 2027: Fri 1, Mon 4.
  Jan 2026: Thu 1, Fri 2, Mon 5.  Apr 2026: Fri 3 (Good Friday), Mon 6 (Easter Monday).
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone

import holidays
import numpy as np
import pytest

from engine.time import calendar as calendar_module
from engine.time.calendar import (
    LONDON,
    Computation,
    Nation,
    NonWorkingDay,
    Unit,
    WorkingCalendar,
    due_at,
    local_date,
    parse_offset,
)
from engine.errors import CalendarError

ENG = Nation.ENGLAND_AND_WALES
SCT = Nation.SCOTLAND
NIR = Nation.NORTHERN_IRELAND

D = date  # short alias for the tables
ONE_DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def calendars() -> dict[Nation, WorkingCalendar]:
    return {nation: WorkingCalendar(nation) for nation in Nation}


@pytest.fixture(scope="module")
def eng(calendars: dict[Nation, WorkingCalendar]) -> WorkingCalendar:
    return calendars[ENG]


# -- the two examples from the brief -----------------------------------------------------------


def test_first_cla_review_example(eng: WorkingCalendar) -> None:
    # 2026-12-14 (Mon) is day 0. Dec 15,16,17,18 = 1-4; 21,22,23,24 = 5-8; Fri 25 Christmas,
    # Sat 26/Sun 27, Mon 28 Boxing Day substitute; 29,30,31 = 9-11; Fri 1 Jan New Year;
    # Jan 4-8 = 12-16; Jan 11,12,13,14 = 17-20.
    assert eng.add_working_days(D(2026, 12, 14), 20) == D(2027, 1, 14)
    assert eng.add(D(2026, 12, 14), 20, Unit.WORKING_DAYS) == D(2027, 1, 14)


def test_icpc_example(eng: WorkingCalendar) -> None:
    # Strategy discussion Fri 2026-12-18 is day 0. Dec 21-24 = 1-4; 29,30,31 = 5-7;
    # Jan 4-8 = 8-12; Jan 11,12,13 = 13-15.
    assert eng.add(D(2026, 12, 18), 15, "working_days") == D(2027, 1, 13)


# -- nations across Christmas / New Year, Easter, and the nations' own days --------------------


@pytest.mark.parametrize(
    ("nation", "anchor", "n", "expected"),
    [
        # The 20-day example in every nation. Scotland also loses Mon 4 Jan 2027 (substitute for
        # 2 January, a Saturday), so every count from Jan 4 moves one day: Jan 15 is day 20.
        (ENG, D(2026, 12, 14), 20, D(2027, 1, 14)),
        (SCT, D(2026, 12, 14), 20, D(2027, 1, 15)),
        (NIR, D(2026, 12, 14), 20, D(2027, 1, 14)),
        # Thu 24 Dec 2026 + 1: Fri 25 Christmas, weekend (Boxing Day is the Saturday), Mon 28
        # substitute -> Tue 29 everywhere.
        (ENG, D(2026, 12, 24), 1, D(2026, 12, 29)),
        (SCT, D(2026, 12, 24), 1, D(2026, 12, 29)),
        (NIR, D(2026, 12, 24), 1, D(2026, 12, 29)),
        # Wed 31 Dec 2025 + 1: Thu 1 Jan holiday everywhere; Fri 2 Jan holiday in Scotland only.
        (ENG, D(2025, 12, 31), 1, D(2026, 1, 2)),
        (SCT, D(2025, 12, 31), 1, D(2026, 1, 5)),
        (NIR, D(2025, 12, 31), 1, D(2026, 1, 2)),
        # Thu 31 Dec 2026 + 1: Fri 1 Jan, weekend; Mon 4 Jan only off in Scotland.
        (ENG, D(2026, 12, 31), 1, D(2027, 1, 4)),
        (SCT, D(2026, 12, 31), 1, D(2027, 1, 5)),
        (NIR, D(2026, 12, 31), 1, D(2027, 1, 4)),
        # Thu 2 Apr 2026 + 1: Good Friday 3 Apr everywhere; Easter Monday 6 Apr not in Scotland.
        (ENG, D(2026, 4, 2), 1, D(2026, 4, 7)),
        (SCT, D(2026, 4, 2), 1, D(2026, 4, 6)),
        (NIR, D(2026, 4, 2), 1, D(2026, 4, 7)),
        # Mon 16 Mar 2026 + 1: St Patrick's Day Tue 17 Mar is a holiday in Northern Ireland only.
        (ENG, D(2026, 3, 16), 1, D(2026, 3, 17)),
        (SCT, D(2026, 3, 16), 1, D(2026, 3, 17)),
        (NIR, D(2026, 3, 16), 1, D(2026, 3, 18)),
        # Fri 10 Jul 2026 + 1: 12 July is a Sunday, so NI takes Mon 13 July.
        (ENG, D(2026, 7, 10), 1, D(2026, 7, 13)),
        (SCT, D(2026, 7, 10), 1, D(2026, 7, 13)),
        (NIR, D(2026, 7, 10), 1, D(2026, 7, 14)),
        # Fri 9 Jul 2027 + 1: 12 July is itself a Monday.
        (ENG, D(2027, 7, 9), 1, D(2027, 7, 12)),
        (SCT, D(2027, 7, 9), 1, D(2027, 7, 12)),
        (NIR, D(2027, 7, 9), 1, D(2027, 7, 13)),
        # Scotland's summer holiday is the first Monday of August (3 Aug 2026) ...
        (ENG, D(2026, 7, 31), 1, D(2026, 8, 3)),
        (SCT, D(2026, 7, 31), 1, D(2026, 8, 4)),
        (NIR, D(2026, 7, 31), 1, D(2026, 8, 3)),
        # ... and it has no late-summer holiday on the last Monday (31 Aug 2026).
        (ENG, D(2026, 8, 28), 1, D(2026, 9, 1)),
        (SCT, D(2026, 8, 28), 1, D(2026, 8, 31)),
        (NIR, D(2026, 8, 28), 1, D(2026, 9, 1)),
        # St Andrew's Day Mon 30 Nov 2026: Scotland only.
        (ENG, D(2026, 11, 27), 1, D(2026, 11, 30)),
        (SCT, D(2026, 11, 27), 1, D(2026, 12, 1)),
        (NIR, D(2026, 11, 27), 1, D(2026, 11, 30)),
        # One-off days, all nations: Queen's funeral Mon 19 Sep 2022 (Fri 16 + 1 -> Tue 20) ...
        (ENG, D(2022, 9, 16), 1, D(2022, 9, 20)),
        (SCT, D(2022, 9, 16), 1, D(2022, 9, 20)),
        (NIR, D(2022, 9, 16), 1, D(2022, 9, 20)),
        # ... the coronation Mon 8 May 2023 (Fri 5 + 1 -> Tue 9) ...
        (ENG, D(2023, 5, 5), 1, D(2023, 5, 9)),
        (SCT, D(2023, 5, 5), 1, D(2023, 5, 9)),
        (NIR, D(2023, 5, 5), 1, D(2023, 5, 9)),
        # ... and the Platinum Jubilee: Thu 2 Jun 2022 (moved spring holiday) and Fri 3 Jun 2022
        # (Wed 1 + 1 -> Mon 6).
        (ENG, D(2022, 6, 1), 1, D(2022, 6, 6)),
        (SCT, D(2022, 6, 1), 1, D(2022, 6, 6)),
        (NIR, D(2022, 6, 1), 1, D(2022, 6, 6)),
        # The coronation inside a longer count: Fri 28 Apr 2023 + 5 -> Mon 1 May (May Day) off,
        # Tue 2 - Fri 5 = 1-4, Mon 8 off, Tue 9 = 5.
        (ENG, D(2023, 4, 28), 5, D(2023, 5, 9)),
        (SCT, D(2023, 4, 28), 5, D(2023, 5, 9)),
        (NIR, D(2023, 4, 28), 5, D(2023, 5, 9)),
    ],
)
def test_add_working_days_by_nation(
    calendars: dict[Nation, WorkingCalendar], nation: Nation, anchor: date, n: int, expected: date
) -> None:
    assert calendars[nation].add_working_days(anchor, n) == expected


@pytest.mark.parametrize(
    ("day", "eng", "sct", "nir"),
    [
        (D(2026, 12, 25), False, False, False),  # Christmas Day (Fri)
        (D(2026, 12, 28), False, False, False),  # Boxing Day substitute (26th is a Saturday)
        (D(2026, 12, 29), True, True, True),
        (D(2026, 1, 2), True, False, True),  # 2 January: Scotland only
        (D(2027, 1, 4), True, False, True),  # substitute for Sat 2 Jan 2027: Scotland only
        (D(2026, 4, 3), False, False, False),  # Good Friday
        (D(2026, 4, 6), False, True, False),  # Easter Monday: not in Scotland
        (D(2026, 3, 17), True, True, False),  # St Patrick's Day: NI only
        (D(2026, 7, 13), True, True, False),  # 12 July (a Sunday) substitute: NI only
        (D(2027, 7, 12), True, True, False),  # 12 July 2027, a Monday: NI only
        (D(2026, 8, 3), True, False, True),  # Scotland's summer bank holiday
        (D(2026, 8, 31), False, True, False),  # late summer bank holiday: not Scotland
        (D(2026, 11, 30), True, False, True),  # St Andrew's Day: Scotland only
        (D(2022, 9, 19), False, False, False),  # State funeral, one-off
        (D(2023, 5, 8), False, False, False),  # Coronation, one-off
        (D(2022, 6, 3), False, False, False),  # Platinum Jubilee, one-off
        (D(2026, 12, 12), False, False, False),  # Saturday
        (D(2026, 12, 13), False, False, False),  # Sunday
        (D(2026, 12, 14), True, True, True),  # an ordinary Monday
    ],
)
def test_is_working_day_by_nation(
    calendars: dict[Nation, WorkingCalendar], day: date, eng: bool, sct: bool, nir: bool
) -> None:
    assert calendars[ENG].is_working_day(day) is eng
    assert calendars[SCT].is_working_day(day) is sct
    assert calendars[NIR].is_working_day(day) is nir


@pytest.mark.parametrize(
    ("day", "reason"),
    [
        (D(2026, 12, 14), None),
        (D(2026, 12, 19), "Saturday"),
        (D(2026, 12, 20), "Sunday"),
        (D(2026, 12, 25), "Christmas Day"),
        (D(2026, 12, 26), "Boxing Day"),  # a Saturday, named as the holiday
        (D(2026, 12, 28), "Boxing Day (observed)"),
        (D(2026, 4, 3), "Good Friday"),
    ],
)
def test_non_working_reason(eng: WorkingCalendar, day: date, reason: str | None) -> None:
    assert eng.non_working_reason(day) == reason


def test_non_working_reason_one_off_days_are_named(eng: WorkingCalendar) -> None:
    assert "Elizabeth II" in (eng.non_working_reason(D(2022, 9, 19)) or "")
    assert "Coronation" in (eng.non_working_reason(D(2023, 5, 8)) or "")


# -- anchors on non-working days, zero and negative offsets ------------------------------------


@pytest.mark.parametrize(
    ("anchor", "n", "expected"),
    [
        (D(2026, 12, 12), 1, D(2026, 12, 14)),  # Sat: Mon 14 is the first working day after it
        (D(2026, 12, 12), 5, D(2026, 12, 18)),  # Sat: Mon 14 .. Fri 18 = 1..5
        (D(2026, 3, 15), 1, D(2026, 3, 16)),  # Sun -> Mon
        (D(2026, 4, 3), 1, D(2026, 4, 7)),  # Good Friday: Sat, Sun, Easter Monday -> Tue 7
        (D(2026, 12, 25), 1, D(2026, 12, 29)),  # Christmas Day: 26, 27, 28 off -> Tue 29
        (D(2026, 12, 12), 0, D(2026, 12, 12)),  # n == 0 leaves even a Saturday unchanged
        (D(2026, 12, 14), 0, D(2026, 12, 14)),
    ],
)
def test_anchor_on_non_working_day_and_zero(
    eng: WorkingCalendar, anchor: date, n: int, expected: date
) -> None:
    assert eng.add_working_days(anchor, n) == expected


@pytest.mark.parametrize(
    ("nation", "anchor", "n", "expected"),
    [
        # Mirror of the brief example: Jan 14 is the 20th working day after Dec 14, so Dec 14 is
        # the 20th working day before Jan 14.
        (ENG, D(2027, 1, 14), -20, D(2026, 12, 14)),
        (ENG, D(2026, 12, 14), -1, D(2026, 12, 11)),  # Mon -> previous Fri
        # Sun 27 Dec 2026 - 1: Sat 26, Fri 25 Christmas -> Thu 24.
        (ENG, D(2026, 12, 27), -1, D(2026, 12, 24)),
        # Invitations 10 working days before a meeting on Tue 5 Jan 2027:
        # Jan 4 = 1; Jan 1 off; Dec 31, 30, 29 = 2-4; Dec 28-25 off; 24, 23, 22, 21 = 5-8;
        # weekend; 18 = 9, 17 = 10.
        (ENG, D(2027, 1, 5), -10, D(2026, 12, 17)),
        # Scotland also loses Jan 4: Dec 31, 30, 29 = 1-3; 24..21 = 4-7; 18, 17, 16 = 8-10.
        (SCT, D(2027, 1, 5), -10, D(2026, 12, 16)),
    ],
)
def test_negative_working_days(
    calendars: dict[Nation, WorkingCalendar], nation: Nation, anchor: date, n: int, expected: date
) -> None:
    assert calendars[nation].add_working_days(anchor, n) == expected
    assert calendars[nation].add(anchor, n, Unit.WORKING_DAYS) == expected


@pytest.mark.parametrize(
    ("anchor", "amount", "unit", "expected"),
    [
        (D(2026, 3, 1), -1, Unit.DAYS, D(2026, 2, 28)),
        (D(2028, 3, 1), -1, Unit.DAYS, D(2028, 2, 29)),  # leap year
        (D(2026, 12, 14), -2, Unit.WEEKS, D(2026, 11, 30)),  # 14 days back
        (D(2027, 3, 31), -1, Unit.MONTHS, D(2027, 2, 28)),  # clipped
        (D(2026, 12, 14), -3, Unit.MONTHS, D(2026, 9, 14)),
    ],
)
def test_negative_calendar_units(
    eng: WorkingCalendar, anchor: date, amount: int, unit: Unit, expected: date
) -> None:
    assert eng.add(anchor, amount, unit) == expected


# -- calendar units ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("anchor", "months", "expected"),
    [
        (D(2026, 8, 31), 6, D(2027, 2, 28)),  # no 31 Feb; 2027 is not a leap year
        (D(2027, 8, 31), 6, D(2028, 2, 29)),  # 2028 is a leap year
        (D(2026, 11, 30), 3, D(2027, 2, 28)),
        (D(2026, 1, 31), 1, D(2026, 2, 28)),
        (D(2028, 1, 31), 1, D(2028, 2, 29)),
        (D(2028, 2, 29), 12, D(2029, 2, 28)),
        (D(2024, 2, 29), 48, D(2028, 2, 29)),
        (D(2026, 8, 31), 3, D(2026, 11, 30)),
        (D(2026, 1, 15), 3, D(2026, 4, 15)),  # same day of month
        (D(2026, 12, 14), 0, D(2026, 12, 14)),
    ],
)
def test_months_clip_to_month_end(
    eng: WorkingCalendar, anchor: date, months: int, expected: date
) -> None:
    assert eng.add(anchor, months, Unit.MONTHS) == expected


def test_months_are_counted_from_the_anchor_not_chained(eng: WorkingCalendar) -> None:
    # 31 Jan + 2m = 31 Mar; chaining one month at a time drifts: 31 Jan + 1m = 28 Feb, + 1m =
    # 28 Mar. Callers must count "3 months of X" from X, not from an earlier due date.
    assert eng.add(D(2026, 1, 31), 2, Unit.MONTHS) == D(2026, 3, 31)
    assert eng.add(eng.add(D(2026, 1, 31), 1, Unit.MONTHS), 1, Unit.MONTHS) == D(2026, 3, 28)


@pytest.mark.parametrize(
    ("anchor", "amount", "unit", "expected"),
    [
        # 91 days from 15 Jan 2026: 16 to Jan 31, +28 = Feb 28 (44), +31 = Mar 31 (75),
        # +16 = Apr 16 (91).
        (D(2026, 1, 15), 91, Unit.DAYS, D(2026, 4, 16)),
        # 183 days: Apr 16 (91) +14 = Apr 30 (105) +31 = May 31 (136) +30 = Jun 30 (166) +17.
        (D(2026, 1, 15), 183, Unit.DAYS, D(2026, 7, 17)),
        # Calendar units are not rolled onto working days: Mon 28 Dec 2026 is a bank holiday.
        (D(2026, 12, 14), 2, Unit.WEEKS, D(2026, 12, 28)),
        (D(2026, 12, 14), 14, Unit.DAYS, D(2026, 12, 28)),
    ],
)
def test_days_and_weeks(
    eng: WorkingCalendar, anchor: date, amount: int, unit: Unit, expected: date
) -> None:
    assert eng.add(anchor, amount, unit) == expected


def test_calendar_units_are_not_limited_to_the_bank_holiday_years(eng: WorkingCalendar) -> None:
    assert eng.add(D(2150, 1, 31), 1, Unit.MONTHS) == D(2150, 2, 28)
    assert eng.add(D(2150, 1, 31), 1, Unit.DAYS) == D(2150, 2, 1)


# -- anchor counted as day one -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("anchor", "amount", "unit", "expected"),
    [
        # Dudley ICPC: strategy discussion Mon 14 Dec 2026 is day 1; 15-18 = 2-5; 21-24 = 6-9;
        # 29, 30, 31 = 10-12; Jan 4, 5, 6 = 13-15. (Day 0 counting gives Jan 7.)
        (D(2026, 12, 14), 15, Unit.WORKING_DAYS, D(2027, 1, 6)),
        (D(2026, 12, 14), 1, Unit.WORKING_DAYS, D(2026, 12, 14)),  # day 1 is the anchor itself
        # Saturday anchor: day 1 is Mon 14, day 3 Wed 16 (the same as counting Sat as day 0).
        (D(2026, 12, 12), 3, Unit.WORKING_DAYS, D(2026, 12, 16)),
        # Christmas Day anchor: day 1 is Tue 29 Dec.
        (D(2026, 12, 25), 1, Unit.WORKING_DAYS, D(2026, 12, 29)),
        (D(2026, 12, 14), 10, Unit.DAYS, D(2026, 12, 23)),  # 14 + 10 = 24, minus one
        (D(2026, 12, 14), 2, Unit.WEEKS, D(2026, 12, 27)),  # 14 + 14 = 28, minus one
        (D(2026, 1, 15), 3, Unit.MONTHS, D(2026, 4, 14)),  # 15 Apr minus one
        (D(2026, 11, 30), 3, Unit.MONTHS, D(2027, 2, 27)),  # clipped to 28 Feb, minus one
    ],
)
def test_anchor_is_day_one(
    eng: WorkingCalendar, anchor: date, amount: int, unit: Unit, expected: date
) -> None:
    assert eng.add(anchor, amount, unit, anchor_is_day_one=True) == expected


def test_day_one_and_day_zero_differ_by_one_working_day(eng: WorkingCalendar) -> None:
    # Day-0 count of 15 from Mon 14 Dec 2026: ... Jan 4, 5, 6, 7 = 12-15.
    assert eng.add(D(2026, 12, 14), 15, Unit.WORKING_DAYS) == D(2027, 1, 7)


@pytest.mark.parametrize("amount", [0, -1, -5])
@pytest.mark.parametrize("unit", list(Unit))
def test_anchor_is_day_one_needs_a_positive_amount(
    eng: WorkingCalendar, amount: int, unit: Unit
) -> None:
    with pytest.raises(CalendarError, match="anchor_is_day_one"):
        eng.add(D(2026, 12, 14), amount, unit, anchor_is_day_one=True)


# -- compute / explain -------------------------------------------------------------------------


def test_compute_records_the_skipped_days(eng: WorkingCalendar) -> None:
    result = eng.compute(D(2026, 12, 14), 20, "working_days")
    assert result == Computation(
        anchor=D(2026, 12, 14),
        amount=20,
        unit=Unit.WORKING_DAYS,
        anchor_is_day_one=False,
        due_on=D(2027, 1, 14),
        skipped=(
            NonWorkingDay(D(2026, 12, 19), "Saturday"),
            NonWorkingDay(D(2026, 12, 20), "Sunday"),
            NonWorkingDay(D(2026, 12, 25), "Christmas Day"),
            NonWorkingDay(D(2026, 12, 26), "Boxing Day"),
            NonWorkingDay(D(2026, 12, 27), "Sunday"),
            NonWorkingDay(D(2026, 12, 28), "Boxing Day (observed)"),
            NonWorkingDay(D(2027, 1, 1), "New Year's Day"),
            NonWorkingDay(D(2027, 1, 2), "Saturday"),
            NonWorkingDay(D(2027, 1, 3), "Sunday"),
            NonWorkingDay(D(2027, 1, 9), "Saturday"),
            NonWorkingDay(D(2027, 1, 10), "Sunday"),
        ),
    )
    # 31 days from Dec 15 to Jan 14 inclusive = 20 working + 11 skipped.
    assert len(result.skipped) == 11
    assert isinstance(result.unit, Unit)


def test_compute_from_a_weekend_anchor_does_not_list_the_anchor(eng: WorkingCalendar) -> None:
    result = eng.compute(D(2026, 12, 12), 1, Unit.WORKING_DAYS)  # Sat -> Mon 14
    assert result.due_on == D(2026, 12, 14)
    assert result.skipped == (NonWorkingDay(D(2026, 12, 13), "Sunday"),)


def test_compute_backwards_lists_days_between_due_and_anchor(eng: WorkingCalendar) -> None:
    # Tue 29 Dec 2026 - 1: Mon 28 (substitute), Sun 27, Sat 26 (Boxing Day), Fri 25 -> Thu 24.
    result = eng.compute(D(2026, 12, 29), -1, Unit.WORKING_DAYS)
    assert result.due_on == D(2026, 12, 24)
    assert [s.day for s in result.skipped] == [
        D(2026, 12, 25),
        D(2026, 12, 26),
        D(2026, 12, 27),
        D(2026, 12, 28),
    ]


def test_compute_day_one_with_non_working_anchor(eng: WorkingCalendar) -> None:
    # Christmas Day anchor, day 1 is Tue 29: skipped are 26, 27, 28 (not the anchor itself).
    result = eng.compute(D(2026, 12, 25), 1, Unit.WORKING_DAYS, anchor_is_day_one=True)
    assert result.due_on == D(2026, 12, 29)
    assert result.anchor_is_day_one is True
    assert [s.day for s in result.skipped] == [D(2026, 12, 26), D(2026, 12, 27), D(2026, 12, 28)]


@pytest.mark.parametrize("unit", [Unit.DAYS, Unit.WEEKS, Unit.MONTHS])
def test_compute_lists_no_skipped_days_for_calendar_units(eng: WorkingCalendar, unit: Unit) -> None:
    result = eng.compute(D(2026, 12, 14), 2, unit)
    assert result.skipped == ()
    assert result.due_on == eng.add(D(2026, 12, 14), 2, unit)


# -- closure days ------------------------------------------------------------------------------

SHUTDOWN = {
    D(2026, 12, 29): "Christmas shutdown",
    D(2026, 12, 30): "Christmas shutdown",
    D(2026, 12, 31): "Christmas shutdown",
}


def test_closure_days_are_not_working_days() -> None:
    cal = WorkingCalendar(ENG, SHUTDOWN)
    # Dec 15-24 = 1-8; 25-31 and Jan 1-3 off; Jan 4-8 = 9-13; Jan 11-15 = 14-18; 18, 19 = 19, 20.
    assert cal.add_working_days(D(2026, 12, 14), 20) == D(2027, 1, 19)
    assert cal.is_working_day(D(2026, 12, 29)) is False
    assert cal.non_working_reason(D(2026, 12, 29)) == "Authority closure: Christmas shutdown"
    assert cal.working_days_between(D(2026, 12, 24), D(2027, 1, 4)) == 1
    # Thu 24 Dec + 1: everything from Fri 25 to Sun 3 Jan is off, Mon 4 Jan is day 1.
    result = cal.compute(D(2026, 12, 24), 1, Unit.WORKING_DAYS)
    assert result.due_on == D(2027, 1, 4)
    assert [s.reason for s in result.skipped] == [
        "Christmas Day",  # Fri 25
        "Boxing Day",  # Sat 26
        "Sunday",  # 27
        "Boxing Day (observed)",  # Mon 28
        "Authority closure: Christmas shutdown",  # Tue 29
        "Authority closure: Christmas shutdown",  # Wed 30
        "Authority closure: Christmas shutdown",  # Thu 31
        "New Year's Day",  # Fri 1
        "Saturday",  # 2
        "Sunday",  # 3
    ]


def test_closure_days_do_not_leak_into_other_calendars(eng: WorkingCalendar) -> None:
    WorkingCalendar(ENG, SHUTDOWN).is_working_day(D(2026, 12, 29))
    assert eng.is_working_day(D(2026, 12, 29)) is True
    assert eng.add_working_days(D(2026, 12, 14), 20) == D(2027, 1, 14)


def test_closure_on_a_bank_holiday_or_weekend_changes_nothing(eng: WorkingCalendar) -> None:
    cal = WorkingCalendar(ENG, {D(2026, 12, 25): "Closed", D(2026, 12, 19): "Closed"})
    assert cal.non_working_reason(D(2026, 12, 25)) == "Christmas Day"  # the bank holiday wins
    assert cal.non_working_reason(D(2026, 12, 19)) == "Saturday"
    assert cal.add_working_days(D(2026, 12, 14), 20) == D(2027, 1, 14)


def test_closure_days_are_read_only(eng: WorkingCalendar) -> None:
    cal = WorkingCalendar(ENG, {D(2026, 12, 29): "  Christmas shutdown "})
    assert dict(cal.closure_days) == {D(2026, 12, 29): "Christmas shutdown"}
    with pytest.raises(TypeError):
        cal.closure_days[D(2026, 12, 30)] = "late addition"  # type: ignore[index]


@pytest.mark.parametrize(
    "closures",
    [
        {datetime(2026, 12, 29, 9, 0): "has a time"},
        {D(2026, 12, 29): ""},
        {D(2026, 12, 29): "   "},
        {D(2026, 12, 29): None},
        {"2026-12-29": "text key"},
        {D(2101, 1, 3): "beyond the bank holiday years"},
    ],
)
def test_invalid_closure_days_are_rejected(closures: dict) -> None:
    with pytest.raises(CalendarError):
        WorkingCalendar(ENG, closures)


# -- version -----------------------------------------------------------------------------------


def test_version_is_short_stable_and_tracks_non_working_days() -> None:
    plain = WorkingCalendar(ENG)
    assert len(plain.version) == 12
    assert all(c in "0123456789abcdef" for c in plain.version)
    assert WorkingCalendar(ENG).version == plain.version
    assert WorkingCalendar(ENG, {}).version == plain.version

    shutdown = WorkingCalendar(ENG, SHUTDOWN)
    assert shutdown.version != plain.version
    reordered = dict(reversed(list(SHUTDOWN.items())))
    assert WorkingCalendar(ENG, reordered).version == shutdown.version
    # Renaming a closure moves no deadline, so it keeps the version.
    relabelled = {day: "Winter closure" for day in SHUTDOWN}
    assert WorkingCalendar(ENG, relabelled).version == shutdown.version
    one_more = {**SHUTDOWN, D(2027, 1, 4): "Christmas shutdown"}
    assert WorkingCalendar(ENG, one_more).version != shutdown.version

    versions = {WorkingCalendar(nation).version for nation in Nation}
    assert len(versions) == 3


def test_version_does_not_depend_on_use() -> None:
    cal = WorkingCalendar(SCT)
    before = cal.version
    cal.add_working_days(D(2026, 12, 14), 20)
    assert cal.version == before


# -- working_days_between ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nation", "start", "end", "expected"),
    [
        (ENG, D(2026, 12, 14), D(2027, 1, 14), 20),  # the brief example
        (ENG, D(2027, 1, 14), D(2026, 12, 14), -20),  # mirror
        (ENG, D(2026, 12, 18), D(2027, 1, 13), 15),  # ICPC on time
        (ENG, D(2026, 12, 18), D(2027, 1, 14), 16),  # one day late
        (ENG, D(2026, 12, 14), D(2026, 12, 14), 0),
        (ENG, D(2026, 12, 12), D(2026, 12, 14), 1),  # Sat -> Mon: Mon counts
        (ENG, D(2026, 12, 11), D(2026, 12, 13), 0),  # Fri -> Sun: only the weekend
        (ENG, D(2026, 12, 14), D(2026, 12, 11), -1),  # Mon back to Fri: Mon counts
        (ENG, D(2025, 12, 31), D(2026, 1, 2), 1),  # Jan 1 off, Jan 2 counts
        (SCT, D(2025, 12, 31), D(2026, 1, 2), 0),  # both off in Scotland
        (SCT, D(2026, 12, 14), D(2027, 1, 14), 19),  # Scotland also loses Jan 4
    ],
)
def test_working_days_between(
    calendars: dict[Nation, WorkingCalendar], nation: Nation, start: date, end: date, expected: int
) -> None:
    assert calendars[nation].working_days_between(start, end) == expected


def test_working_days_between_inverts_add_working_days(eng: WorkingCalendar) -> None:
    rng = random.Random(20261214)
    for _ in range(2000):
        start = D(2000, 1, 1) + timedelta(days=rng.randrange(365 * 40))
        n = rng.randrange(0, 300)
        assert eng.working_days_between(start, eng.add_working_days(start, n)) == n
        if eng.is_working_day(start):
            assert eng.working_days_between(start, eng.add_working_days(start, -n)) == -n


# -- next_working_day --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nation", "day", "expected"),
    [
        (ENG, D(2026, 12, 14), D(2026, 12, 14)),  # already a working day
        (ENG, D(2026, 12, 26), D(2026, 12, 29)),  # Sat, Sun, Mon substitute -> Tue
        (ENG, D(2027, 1, 1), D(2027, 1, 4)),
        (SCT, D(2027, 1, 1), D(2027, 1, 5)),  # Scotland: Mon 4 Jan is off too
    ],
)
def test_next_working_day(
    calendars: dict[Nation, WorkingCalendar], nation: Nation, day: date, expected: date
) -> None:
    assert calendars[nation].next_working_day(day) == expected


# -- range of years ----------------------------------------------------------------------------


def test_years_before_1990_are_counted(eng: WorkingCalendar) -> None:
    # Thu 24 Dec 1987: Fri 25 Christmas, Sat 26 Boxing Day -> substitute Mon 28 -> Tue 29.
    assert eng.add_working_days(D(1987, 12, 24), 1) == D(1987, 12, 29)


def test_last_supported_year(eng: WorkingCalendar) -> None:
    # Dec 2100: Sat 25, Sun 26, substitutes Mon 27 and Tue 28; Fri 24 + 1 -> Wed 29.
    assert eng.add_working_days(D(2100, 12, 24), 1) == D(2100, 12, 29)
    assert eng.add_working_days(D(2100, 12, 30), 1) == D(2100, 12, 31)
    assert eng.supported_range == (D(1872, 1, 1), D(2100, 12, 31))


def test_counting_across_the_lazily_built_decades_is_exact() -> None:
    """The day table is built a decade at a time (1872-1881, ..., 2022-2031): counts that cross
    a boundary, or span every decade, agree with counting day by day."""
    cal = WorkingCalendar(Nation.ENGLAND_AND_WALES)
    # Fri 24 Dec 2021: Christmas and Boxing Day fall at the weekend (substitutes Mon 27, Tue 28),
    # New Year's Day on Sat 1 Jan 2022 (substitute Mon 3): 29, 30, 31 Dec, 4 and 5 Jan.
    assert cal.add_working_days(D(2021, 12, 24), 5) == D(2022, 1, 5)
    assert cal.add_working_days(D(2022, 1, 5), -5) == D(2021, 12, 24)
    assert cal.working_days_between(D(2021, 12, 24), D(2022, 1, 5)) == 5
    assert cal.working_days_between(D(2022, 1, 5), D(2021, 12, 24)) == -5
    assert [d.day for d in cal.compute(D(2021, 12, 24), 5, Unit.WORKING_DAYS).skipped] == [
        D(2021, 12, 25), D(2021, 12, 26), D(2021, 12, 27), D(2021, 12, 28),
        D(2022, 1, 1), D(2022, 1, 2), D(2022, 1, 3),
    ]
    first, last = cal.supported_range
    every = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    total = sum(cal.is_working_day(day) for day in every[1:])
    assert cal.working_days_between(first, last) == total
    assert cal.add_working_days(first, total) == max(day for day in every if cal.is_working_day(day))


@pytest.mark.parametrize(
    "call",
    [
        lambda cal: cal.add_working_days(D(2100, 12, 31), 1),  # the answer is in 2101
        lambda cal: cal.add_working_days(D(2100, 6, 1), 1000),
        lambda cal: cal.add_working_days(D(2101, 1, 3), 1),
        lambda cal: cal.add_working_days(D(1872, 1, 2), -5),
        lambda cal: cal.add_working_days(D(1800, 1, 1), 5),
        lambda cal: cal.is_working_day(D(2101, 1, 3)),
        lambda cal: cal.non_working_reason(D(1871, 12, 31)),
        lambda cal: cal.working_days_between(D(2100, 12, 1), D(2101, 1, 3)),
        lambda cal: cal.add(D(2101, 1, 3), 20, Unit.WORKING_DAYS),
        lambda cal: cal.compute(D(2101, 1, 3), 20, Unit.WORKING_DAYS),
    ],
)
def test_outside_the_bank_holiday_years_raises(eng: WorkingCalendar, call) -> None:
    # The holidays package returns no holidays at all after its last year: counting there would
    # be silently wrong, so it must raise.
    with pytest.raises(ValueError, match="outside the supported range"):
        call(eng)


# -- input checking ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda cal: cal.add_working_days(datetime(2026, 12, 14, 9), 1),
        lambda cal: cal.add_working_days("2026-12-14", 1),
        lambda cal: cal.add_working_days(D(2026, 12, 14), 1.0),
        lambda cal: cal.add_working_days(D(2026, 12, 14), True),
        lambda cal: cal.add(D(2026, 12, 14), 2, "fortnights"),
        lambda cal: cal.add(D(2026, 12, 14), 2, "wd"),  # short forms belong to parse_offset
        lambda cal: cal.working_days_between(D(2026, 12, 14), None),
        lambda cal: cal.is_working_day(datetime(2026, 12, 14)),
        lambda cal: cal.add(D(9999, 12, 1), 2, Unit.MONTHS),
        lambda cal: cal.add(D(9999, 12, 31), 1, Unit.DAYS),
    ],
)
def test_bad_inputs_raise_calendar_error(eng: WorkingCalendar, call) -> None:
    with pytest.raises(CalendarError):
        call(eng)


def test_calendar_error_is_a_value_error() -> None:
    assert issubclass(CalendarError, ValueError)


def test_nation_accepts_its_value_and_rejects_others() -> None:
    assert WorkingCalendar("scotland").nation is Nation.SCOTLAND
    assert WorkingCalendar().nation is Nation.ENGLAND_AND_WALES
    with pytest.raises(CalendarError, match="england-and-wales"):
        WorkingCalendar("wales")


# -- parse_offset ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20wd", (20, Unit.WORKING_DAYS)),
        ("3m", (3, Unit.MONTHS)),
        ("10d", (10, Unit.DAYS)),
        ("2w", (2, Unit.WEEKS)),
        ("-5wd", (-5, Unit.WORKING_DAYS)),
        ("+5wd", (5, Unit.WORKING_DAYS)),
        ("0d", (0, Unit.DAYS)),
        ("183d", (183, Unit.DAYS)),
        (" 15wd ", (15, Unit.WORKING_DAYS)),
        ("6M", (6, Unit.MONTHS)),
    ],
)
def test_parse_offset(text: str, expected: tuple[int, Unit]) -> None:
    assert parse_offset(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "wd", "20", "20 wd", "20x", "2.5wd", "20wdd", "twenty wd", "--5wd", "5dw", "20y", "١٢d"],
)
def test_parse_offset_rejects(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_offset(text)
    message = str(caught.value)
    assert repr(text) in message
    assert "wd" in message and "d (days)" in message and "w (weeks)" in message
    assert "m (months)" in message


@pytest.mark.parametrize("value", [None, 20, ("20", "wd")])
def test_parse_offset_rejects_non_text(value: object) -> None:
    with pytest.raises(CalendarError):
        parse_offset(value)  # type: ignore[arg-type]


# -- due_at and local_date ---------------------------------------------------------------------

UTC = timezone.utc


@pytest.mark.parametrize(
    ("due_on", "expected"),
    [
        (D(2026, 7, 1), datetime(2026, 7, 1, 23, 0, tzinfo=UTC)),  # BST: midnight is 23:00Z
        (D(2026, 12, 1), datetime(2026, 12, 2, 0, 0, tzinfo=UTC)),  # GMT
        # Clocks go forward at 01:00Z on Sun 29 Mar 2026: midnight starting the 29th is still GMT,
        # midnight starting the 30th is BST.
        (D(2026, 3, 28), datetime(2026, 3, 29, 0, 0, tzinfo=UTC)),
        (D(2026, 3, 29), datetime(2026, 3, 29, 23, 0, tzinfo=UTC)),
        # Clocks go back at 01:00Z on Sun 25 Oct 2026: midnight starting the 25th is BST,
        # midnight starting the 26th is GMT.
        (D(2026, 10, 24), datetime(2026, 10, 24, 23, 0, tzinfo=UTC)),
        (D(2026, 10, 25), datetime(2026, 10, 26, 0, 0, tzinfo=UTC)),
        (D(2026, 12, 31), datetime(2027, 1, 1, 0, 0, tzinfo=UTC)),  # across a year end
    ],
)
def test_due_at(due_on: date, expected: datetime) -> None:
    result = due_at(due_on)
    assert result == expected
    assert result.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 7, 1, 22, 59, tzinfo=UTC), D(2026, 7, 1)),
        (datetime(2026, 7, 1, 23, 0, tzinfo=UTC), D(2026, 7, 2)),  # 00:00 BST
        (datetime(2026, 12, 1, 23, 59, tzinfo=UTC), D(2026, 12, 1)),  # 23:59 GMT
        (datetime(2026, 12, 2, 0, 0, tzinfo=UTC), D(2026, 12, 2)),
        (datetime(2026, 7, 2, 0, 30, tzinfo=LONDON), D(2026, 7, 2)),  # already London time
    ],
)
def test_local_date(moment: datetime, expected: date) -> None:
    assert local_date(moment) == expected


@pytest.mark.parametrize(
    "due_on", [D(2026, 3, 28), D(2026, 3, 29), D(2026, 7, 1), D(2026, 10, 25), D(2026, 12, 1)]
)
def test_a_deadline_is_met_all_day_and_overdue_from_midnight(due_on: date) -> None:
    deadline = due_at(due_on)
    assert local_date(deadline - timedelta(microseconds=1)) == due_on
    assert local_date(deadline) == due_on + timedelta(days=1)


def test_local_date_rejects_naive_and_non_datetimes() -> None:
    with pytest.raises(ValueError, match="no timezone"):
        local_date(datetime(2026, 7, 1, 12, 0))
    with pytest.raises(CalendarError):
        local_date(D(2026, 7, 1))  # type: ignore[arg-type]


def test_due_at_rejects_datetimes() -> None:
    with pytest.raises(CalendarError):
        due_at(datetime(2026, 7, 1, 12, 0, tzinfo=UTC))  # type: ignore[arg-type]


# -- module surface ----------------------------------------------------------------------------


def test_public_names() -> None:
    for name in calendar_module.__all__:
        assert hasattr(calendar_module, name)
    assert LONDON.key == "Europe/London"
    assert [n.value for n in Nation] == ["england-and-wales", "scotland", "northern-ireland"]
    assert [u.value for u in Unit] == ["working_days", "days", "weeks", "months"]


# -- independent checks over many dates --------------------------------------------------------


_SUBDIVISIONS = {ENG: "ENG", SCT: "SCT", NIR: "NIR"}


@pytest.mark.parametrize("nation", list(Nation))
def test_agrees_with_numpy_busday_offset(
    calendars: dict[Nation, WorkingCalendar], nation: Nation
) -> None:
    # A second computation of the same rule, written here from scratch: numpy's own busday
    # arithmetic over the `holidays` package's dates. It checks the index arithmetic of the
    # prefix-count table over thousands of (start, n) pairs, including weekend anchors.
    days_off = list(holidays.UK(subdiv=_SUBDIVISIONS[nation], years=range(1980, 2091)))
    busdaycal = np.busdaycalendar(weekmask="Mon Tue Wed Thu Fri", holidays=days_off)
    cal = calendars[nation]
    rng = random.Random(1872)
    for _ in range(3000):
        start = D(1985, 1, 1) + timedelta(days=rng.randrange(365 * 100))
        n = rng.randrange(-120, 121)
        if n == 0:
            continue
        # busday_offset first rolls a non-working start: backward for counting forward (so Sat
        # + 1 = Mon), forward for counting backward (so Sun - 1 = Fri).
        roll = "backward" if n > 0 else "forward"
        expected = np.busday_offset(start, n, roll=roll, busdaycal=busdaycal).item()
        assert cal.add_working_days(start, n) == expected, (start, n)
        end = start + timedelta(days=rng.randrange(-400, 401))
        # busday_count(a, b) counts [a, b) when a <= b, and minus (b, a] when b < a.
        if start <= end:
            count = np.busday_count(start + ONE_DAY, end + ONE_DAY, busdaycal=busdaycal)
        else:
            count = np.busday_count(start, end, busdaycal=busdaycal)
        assert cal.working_days_between(start, end) == int(count), (start, end)


@pytest.mark.parametrize("nation", list(Nation))
def test_agrees_with_gov_uk_2018_to_2028(
    calendars: dict[Nation, WorkingCalendar], nation: Nation
) -> None:
    # GOV.UK's own bank-holiday data as shipped in the govuk-bank-holidays package (cached copy,
    # no network). Only weekdays are listed there, so compare working days day by day.
    bank_holidays = pytest.importorskip("govuk_bank_holidays.bank_holidays")
    gov_uk = bank_holidays.BankHolidays(use_cached_holidays=True)
    division = {
        ENG: gov_uk.ENGLAND_AND_WALES,
        SCT: gov_uk.SCOTLAND,
        NIR: gov_uk.NORTHERN_IRELAND,
    }[nation]
    listed = {h["date"] for h in gov_uk.get_holidays(division=division)}
    cal = calendars[nation]
    disagreements = set()
    day = D(2018, 1, 1)
    while day <= D(2028, 12, 31):
        gov_uk_working = day.weekday() < 5 and day not in listed
        if cal.is_working_day(day) != gov_uk_working:
            disagreements.add(day)
        day += timedelta(days=1)
    # The only known difference: a one-off Scottish bank holiday on Mon 15 Jun 2026 that the
    # `holidays` package has and this cached GOV.UK copy predates. Anything else is news.
    known = {SCT: {D(2026, 6, 15)}}.get(nation, set())
    assert disagreements == known


@pytest.mark.parametrize("nation", list(Nation))
def test_bank_holidays_are_holidays_uk_in_every_supported_year(nation: Nation) -> None:
    """The UK class is loaded from its file (not through `holidays.countries`): same days."""
    first, last = calendar_module._supported_years()
    assert (first, last) == (holidays.UK.start_year, holidays.UK.end_year)
    subdivision = calendar_module._SUBDIVISION[nation]
    ours = calendar_module._united_kingdom()(subdiv=subdivision, years=range(first, last + 1))
    assert dict(ours) == dict(holidays.UK(subdiv=subdivision, years=range(first, last + 1)))
