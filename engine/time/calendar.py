"""UK working-day arithmetic for statutory deadlines.

Statutory timescales ("within 15 working days", "within 3 months") are counted on a nation's
calendar of bank holidays plus the authority's own closure days. Miscounting them is the most
common reason a review goes late, so every rule lives here, in one place, and every result can
be explained (`Computation`).

Dates outside the years the `holidays` package can compute raise `CalendarError` (a
`ValueError`) rather than being counted as if they had no bank holidays.
"""

from __future__ import annotations

import enum
import hashlib
import re
import threading
import zoneinfo
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from types import MappingProxyType

from dateutil.relativedelta import relativedelta

from engine.errors import CalendarError

__all__ = [
    "LONDON",
    "Computation",
    "Nation",
    "NonWorkingDay",
    "Unit",
    "WorkingCalendar",
    "due_at",
    "local_date",
    "parse_offset",
]

LONDON = zoneinfo.ZoneInfo("Europe/London")

# Bump when the counting rules change, so stored deadlines know they must be recomputed.
_ALGORITHM = "caseclock-calendar/1"


class Nation(str, enum.Enum):
    """Whose bank holidays apply: they differ between the UK's three legal jurisdictions."""

    ENGLAND_AND_WALES = "england-and-wales"
    SCOTLAND = "scotland"
    NORTHERN_IRELAND = "northern-ireland"


# England and Wales have identical bank holidays, so ENG stands for both.
_SUBDIVISION: dict[Nation, str] = {
    Nation.ENGLAND_AND_WALES: "ENG",
    Nation.SCOTLAND: "SCT",
    Nation.NORTHERN_IRELAND: "NIR",
}


class Unit(str, enum.Enum):
    """The units that statutory guidance and local procedures use for timescales."""

    WORKING_DAYS = "working_days"
    DAYS = "days"
    WEEKS = "weeks"
    MONTHS = "months"


@dataclass(frozen=True)
class NonWorkingDay:
    """A day skipped while counting working days, and why (shown to practitioners)."""

    day: date
    reason: str  # "Saturday", "Sunday", a bank holiday name, or "Authority closure: <label>"


@dataclass(frozen=True)
class Computation:
    """How a due date was derived - stored with each deadline and shown by `explain`."""

    anchor: date
    amount: int
    unit: Unit
    anchor_is_day_one: bool
    due_on: date
    # Non-working days strictly after the anchor and up to due_on (for negative amounts: strictly
    # before the anchor and down to due_on), ascending; only for WORKING_DAYS, empty otherwise.
    skipped: tuple[NonWorkingDay, ...]


@dataclass(frozen=True)
class _Table:
    """Working days of one chunk of CHUNK_YEARS years as prefix counts: O(1) list look-ups per query."""

    chunk: int  # the chunk's number: 0 starts on the first supported year
    first: date
    last: date
    base: int  # ordinal of `first`
    size: int  # number of days from first to last inclusive
    before: list[int]  # before[i] = working days in [first, first + i days); len == size + 1
    working: list[int]  # ordinals of the working days, ascending
    non_working: list[int]  # ordinals of the other days, ascending


class WorkingCalendar:
    """Working days of one nation plus one authority's closure days.

    Immutable after construction. The day table is built in chunks of CHUNK_YEARS years, each
    on first use (once per instance), and each chunk's bank holidays once per nation per process:
    a command that counts days this year computes a decade of holidays, not two centuries.
    """

    def __init__(
        self,
        nation: Nation | str = Nation.ENGLAND_AND_WALES,
        closure_days: Mapping[date, str] | None = None,
    ) -> None:
        self._nation = _as_nation(nation)
        self._closures: Mapping[date, str] = MappingProxyType(_checked_closures(closure_days))
        self._version = _version(self._nation, self._closures)
        self._tables: dict[int, _Table] = {}
        self._skipped: dict[int, NonWorkingDay] = {}  # by ordinal, filled by `compute`
        self._lock = threading.Lock()

    @property
    def nation(self) -> Nation:
        return self._nation

    @property
    def version(self) -> str:
        """Changes whenever the set of non-working days could change; stored with deadlines."""
        return self._version

    @property
    def closure_days(self) -> Mapping[date, str]:
        """The authority's closure days (read-only), as given."""
        return self._closures

    @property
    def supported_range(self) -> tuple[date, date]:
        """First and last day this calendar can count on (the `holidays` package's years)."""
        first_year, last_year = _supported_years()
        return date(first_year, 1, 1), date(last_year, 12, 31)

    def __repr__(self) -> str:
        return (
            f"WorkingCalendar(nation={self._nation.value!r}, "
            f"closure_days={len(self._closures)}, version={self._version!r})"
        )

    # -- days ------------------------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        """Monday to Friday, and neither a bank holiday of the nation nor a closure day."""
        _check_date(day, "day")
        table = self._table_of(day.toordinal())
        i = day.toordinal() - table.base
        return table.before[i + 1] - table.before[i] == 1

    def non_working_reason(self, day: date) -> str | None:
        """None for a working day; else the bank holiday, closure or weekend that makes it one.

        A bank holiday that falls on a weekend is named as the holiday (as GOV.UK lists it);
        its substitute day carries the package's "(observed)" name. A closure day that is also
        a bank holiday or a weekend day is named as that.
        """
        if self.is_working_day(day):
            return None
        return self._reason(day)

    def next_working_day(self, day: date) -> date:
        """`day` itself if it is a working day, else the first working day after it."""
        if self.is_working_day(day):
            return day
        return self.add_working_days(day, 1)

    # -- counting --------------------------------------------------------------------------

    def add_working_days(self, start: date, n: int) -> date:
        """The nth working day after `start` (start is day 0, and need not be a working day).

        n == 0 returns `start` unchanged; n < 0 gives the |n|th working day before `start`.
        This is the hot path (a million recomputations): two list look-ups, no loop.
        """
        _check_date(start, "start")
        _check_int(n, "n")
        return self._offset(start, n)

    def _offset(self, start: date, n: int) -> date:
        if n == 0:
            return start
        table = self._table_of(start.toordinal())
        i = start.toordinal() - table.base
        # k indexes the working days of `table`; past either end it walks into the next chunk
        k = table.before[i + 1] + n - 1 if n > 0 else table.before[i] + n
        while not 0 <= k < len(table.working):
            chunk = table.chunk + (1 if k >= 0 else -1)
            if chunk not in range(_chunk_count()):
                first, last = self.supported_range
                raise CalendarError(
                    f"{start.isoformat()} {n:+d} working days falls outside the supported range "
                    f"{first.isoformat()} to {last.isoformat()}"
                )
            if k >= 0:
                k -= len(table.working)
                table = self._chunk(chunk)
            else:
                table = self._chunk(chunk)
                k += len(table.working)
        return date.fromordinal(table.working[k])

    def working_days_between(self, start: date, end: date) -> int:
        """Working days d with start < d <= end; the negative of the mirror count if end < start.

        This is how timeliness is measured (DfE: strategy discussion to ICPC).
        """
        _check_date(start, "start")
        _check_date(end, "end")
        start_table = self._table_of(start.toordinal())
        end_table = self._table_of(end.toordinal())
        if end_table.chunk < start_table.chunk:
            return -self.working_days_between(end, start)
        # working days up to and including each date, counted from the start of start's chunk
        up_to_start = start_table.before[start.toordinal() - start_table.base + 1]
        up_to_end = end_table.before[end.toordinal() - end_table.base + 1]
        for chunk in range(start_table.chunk, end_table.chunk):
            up_to_end += len(self._chunk(chunk).working)
        return up_to_end - up_to_start

    def add(
        self,
        anchor: date,
        amount: int,
        unit: Unit | str,
        *,
        anchor_is_day_one: bool = False,
    ) -> date:
        """The due date `amount` units after `anchor`.

        By default the anchor is day 0 (statutory reading). With `anchor_is_day_one` (Dudley
        timelines, DfE CIN validator) the anchor counts as day 1, so the result is one working
        day (or one calendar day) earlier; that convention only makes sense for amount >= 1.
        Calendar units (days, weeks, months) are never rolled onto a working day.
        """
        _check_date(anchor, "anchor")
        _check_int(amount, "amount")
        unit = _as_unit(unit)
        if anchor_is_day_one and amount < 1:
            raise CalendarError(
                f"anchor_is_day_one needs an amount of at least 1, got {amount} {unit.value}: "
                "counting the anchor as day 1 has no meaning for offsets before or at the anchor"
            )
        if unit is Unit.WORKING_DAYS:
            if anchor_is_day_one:
                return self._offset(self.next_working_day(anchor), amount - 1)
            return self._offset(anchor, amount)
        due = _add_calendar(anchor, amount, unit)
        if anchor_is_day_one:
            due = _shift(due, -1)
        return due

    def compute(
        self,
        anchor: date,
        amount: int,
        unit: Unit | str,
        *,
        anchor_is_day_one: bool = False,
    ) -> Computation:
        """`add`, plus the record of how the date was reached, for storage and explanation."""
        unit = _as_unit(unit)
        due_on = self.add(anchor, amount, unit, anchor_is_day_one=anchor_is_day_one)
        skipped: tuple[NonWorkingDay, ...] = ()
        if unit is Unit.WORKING_DAYS:
            if due_on >= anchor:  # (anchor, due_on]
                skipped = self._non_working_days(anchor.toordinal() + 1, due_on.toordinal())
            else:  # [due_on, anchor), and due_on itself is a working day
                skipped = self._non_working_days(due_on.toordinal(), anchor.toordinal() - 1)
        return Computation(
            anchor=anchor,
            amount=amount,
            unit=unit,
            anchor_is_day_one=anchor_is_day_one,
            due_on=due_on,
            skipped=skipped,
        )

    # -- internals -------------------------------------------------------------------------

    def _non_working_days(self, first: int, last: int) -> tuple[NonWorkingDay, ...]:
        """The non-working days with ordinals in [first, last]: a bisect per chunk, then cached objects."""
        found: list[NonWorkingDay] = []
        for chunk in range(self._table_of(first).chunk, self._table_of(last).chunk + 1):
            ordinals = self._chunk(chunk).non_working
            for ordinal in ordinals[bisect_left(ordinals, first) : bisect_right(ordinals, last)]:
                skipped = self._skipped.get(ordinal)
                if skipped is None:
                    day = date.fromordinal(ordinal)
                    skipped = self._skipped[ordinal] = NonWorkingDay(day=day, reason=self._reason(day))
                found.append(skipped)
        return tuple(found)

    def _table_of(self, ordinal: int) -> _Table:
        """The chunk holding the day with this ordinal; CalendarError outside the supported years."""
        first_year, last_year = _supported_years()
        year = date.fromordinal(ordinal).year
        if not first_year <= year <= last_year:
            raise self._out_of_range(date.fromordinal(ordinal))
        return self._chunk((year - first_year) // CHUNK_YEARS)

    def _chunk(self, chunk: int) -> _Table:
        table = self._tables.get(chunk)
        if table is None:
            with self._lock:
                table = self._tables.get(chunk)
                if table is None:
                    table = self._tables[chunk] = _build_table(self._nation, self._closures, chunk)
        return table

    def _reason(self, day: date) -> str:
        """The most telling reason: a bank holiday, else the weekend, else the closure."""
        first_year = _supported_years()[0]
        bank_holiday = _bank_holidays(self._nation, (day.year - first_year) // CHUNK_YEARS).get(day)
        if bank_holiday is not None:
            return bank_holiday
        if day.weekday() >= 5:
            return "Saturday" if day.weekday() == 5 else "Sunday"
        return f"Authority closure: {self._closures[day]}"

    def _out_of_range(self, day: date) -> CalendarError:
        first, last = self.supported_range
        return CalendarError(
            f"{day.isoformat()} is outside the supported range {first.isoformat()} to "
            f"{last.isoformat()} (the years for which holidays {_holidays_version()} "
            "knows UK bank holidays)"
        )


# -- building the table ------------------------------------------------------------------------


CHUNK_YEARS = 10
"""Years per lazily built piece of the day table (a decade of UK bank holidays takes about 3 ms)."""


@lru_cache(maxsize=None)
def _supported_years() -> tuple[int, int]:
    """The years `holidays` computes UK bank holidays for; outside them it silently returns none."""
    uk = _united_kingdom()
    return uk.start_year, uk.end_year


@lru_cache(maxsize=None)
@lru_cache(maxsize=None)
def _united_kingdom() -> type:
    """`holidays`' UK class, loaded on first use (commands that count no days start without it)
    from its own file: importing it as `holidays.countries.united_kingdom`, or through
    `holidays.UK`, first runs the `holidays.countries` package, which imports all 250 countries
    (about 0.5 s of a command's start-up) to name one. The module only imports from `holidays`'
    core, never from its package; a test checks it counts the same days as `holidays.UK`."""
    import importlib.util
    import sys
    from pathlib import Path

    import holidays

    name = "holidays.countries.united_kingdom"
    if name in sys.modules:
        return sys.modules[name].UnitedKingdom
    spec = importlib.util.spec_from_file_location(name, Path(holidays.__file__).parent / "countries" / "united_kingdom.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.UnitedKingdom


def _chunk_count() -> int:
    first_year, last_year = _supported_years()
    return (last_year - first_year) // CHUNK_YEARS + 1


def _chunk_years(chunk: int) -> tuple[int, int]:
    """First and last year of a chunk (the last chunk ends with the last supported year)."""
    first_year, last_year = _supported_years()
    start = first_year + chunk * CHUNK_YEARS
    return start, min(start + CHUNK_YEARS - 1, last_year)


@lru_cache(maxsize=None)
def _bank_holidays(nation: Nation, chunk: int) -> Mapping[date, str]:
    """The bank holidays of the nation in one chunk's years, computed once per process."""
    first_year, last_year = _chunk_years(chunk)
    found = _united_kingdom()(subdiv=_SUBDIVISION[nation], years=range(first_year, last_year + 1))
    return MappingProxyType({day: name for day, name in found.items() if first_year <= day.year <= last_year})


def _build_table(nation: Nation, closures: Mapping[date, str], chunk: int) -> _Table:
    """Mark every day of the chunk working or not (Monday to Friday, not a bank holiday or a
    closure), then prefix-count. A plain loop over 3,650 days takes about a millisecond; numpy
    was no faster once its import was counted."""
    first_year, last_year = _chunk_years(chunk)
    first, last = date(first_year, 1, 1), date(last_year, 12, 31)
    days_off = {day.toordinal() for day in _bank_holidays(nation, chunk)}
    days_off |= {day.toordinal() for day in closures if first <= day <= last}
    base = first.toordinal()
    size = last.toordinal() - base + 1
    before = [0] * (size + 1)
    working: list[int] = []
    non_working: list[int] = []
    count = 0
    for ordinal in range(base, base + size):
        # date.fromordinal(1) is a Monday: weekday = (ordinal - 1) % 7, Saturday 5, Sunday 6
        if (ordinal - 1) % 7 < 5 and ordinal not in days_off:
            working.append(ordinal)
            count += 1
        else:
            non_working.append(ordinal)
        before[ordinal - base + 1] = count
    return _Table(chunk=chunk, first=first, last=last, base=base, size=size, before=before,
                  working=working, non_working=non_working)


@lru_cache(maxsize=None)
def _holidays_version() -> str:
    import holidays

    return holidays.__version__


def _version(nation: Nation, closures: Mapping[date, str]) -> str:
    """A short hash of everything that decides which days are non-working.

    Closure labels are left out: renaming a closure moves no deadline.
    """
    parts = [
        _ALGORITHM,
        nation.value,
        f"holidays={_holidays_version()}",
        ",".join(day.isoformat() for day in sorted(closures)),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


# -- checking inputs ---------------------------------------------------------------------------


def _check_date(value: object, name: str) -> None:
    """Reject datetimes too: a datetime passed as a date has lost track of its timezone."""
    if type(value) is date:
        return
    if isinstance(value, datetime) or not isinstance(value, date):
        raise CalendarError(f"{name} must be a datetime.date, got {value!r}")


def _check_int(value: object, name: str) -> None:
    if type(value) is int:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise CalendarError(f"{name} must be a whole number, got {value!r}")


def _as_nation(value: Nation | str) -> Nation:
    try:
        return Nation(value)
    except ValueError:
        accepted = ", ".join(n.value for n in Nation)
        raise CalendarError(f"unknown nation {value!r}; accepted: {accepted}") from None


_UNITS: dict[str, Unit] = {unit.value: unit for unit in Unit}


def _as_unit(value: Unit | str) -> Unit:
    if isinstance(value, Unit):
        return value
    unit = _UNITS.get(value) if isinstance(value, str) else None
    if unit is None:
        accepted = ", ".join(_UNITS)
        raise CalendarError(f"unknown unit {value!r}; accepted: {accepted}")
    return unit


def _checked_closures(closure_days: Mapping[date, str] | None) -> dict[date, str]:
    if closure_days is None:
        return {}
    first_year, last_year = _supported_years()
    checked: dict[date, str] = {}
    for day, label in closure_days.items():
        _check_date(day, "closure day")
        if not first_year <= day.year <= last_year:
            raise CalendarError(
                f"closure day {day.isoformat()} is outside the supported years "
                f"{first_year}-{last_year}"
            )
        if not isinstance(label, str) or not label.strip():
            raise CalendarError(f"closure day {day.isoformat()} needs a label, got {label!r}")
        checked[day] = label.strip()
    return checked


# -- calendar units ----------------------------------------------------------------------------


def _shift(day: date, days: int) -> date:
    try:
        return day + timedelta(days=days)
    except OverflowError:
        raise CalendarError(
            f"{day.isoformat()} {days:+d} days is not a representable date"
        ) from None


def _add_calendar(anchor: date, amount: int, unit: Unit) -> date:
    """Days and weeks are exact; months are calendar months clipped to the month's last day."""
    if unit is Unit.DAYS:
        return _shift(anchor, amount)
    if unit is Unit.WEEKS:
        return _shift(anchor, 7 * amount)
    try:
        return anchor + relativedelta(months=amount)
    except (ValueError, OverflowError):
        raise CalendarError(
            f"{anchor.isoformat()} {amount:+d} months is not a representable date"
        ) from None


# -- offsets and instants ----------------------------------------------------------------------

_OFFSET = re.compile(r"([+-]?[0-9]+)(wd|d|w|m)")
_OFFSET_UNITS: dict[str, Unit] = {
    "wd": Unit.WORKING_DAYS,
    "d": Unit.DAYS,
    "w": Unit.WEEKS,
    "m": Unit.MONTHS,
}


def parse_offset(text: str) -> tuple[int, Unit]:
    """Read a workflow offset such as "20wd", "3m", "10d", "2w" or "-5wd" (case-insensitive)."""
    match = _OFFSET.fullmatch(text.strip().lower()) if isinstance(text, str) else None
    if match is None:
        shown = repr(text) if isinstance(text, str) and len(text) <= 32 and text.isprintable() else "(the value)"
        raise CalendarError(
            f"cannot read offset {shown}: expected a whole number followed by a unit, "
            "e.g. '20wd' or '-5wd'; accepted units: wd (working days), d (days), "
            "w (weeks), m (months)"
        )
    return int(match.group(1)), _OFFSET_UNITS[match.group(2)]


@lru_cache(maxsize=8192)  # every command opening a deadline asks; a few thousand days in use
def due_at(due_on: date) -> datetime:
    """The instant a deadline passes: the end of its day in Europe/London, as aware UTC.

    A deadline is met any time on its due day, so "overdue at T" means T >= due_at(due_on).
    UK clocks change at 01:00 UTC, so local midnight always exists and is unambiguous.
    """
    _check_date(due_on, "due_on")
    next_day = _shift(due_on, 1)
    return datetime.combine(next_day, time(0), tzinfo=LONDON).astimezone(timezone.utc)


def local_date(moment: datetime) -> date:
    """The Europe/London calendar date of an instant: deadlines are days in England, not UTC."""
    if not isinstance(moment, datetime):
        raise CalendarError(f"expected a timezone-aware datetime, got {moment!r}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise CalendarError(f"datetime {moment.isoformat()} has no timezone")
    try:
        return moment.astimezone(LONDON).date()
    except OverflowError:
        raise CalendarError(f"{moment.isoformat()} has no date in London: outside the range of representable dates") from None
