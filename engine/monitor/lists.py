"""The overdue-now and due-next lists and the DRP tracker as the dashboard shows them: age bands
in working days, rows for the templates, CSV. The queries are persistence.lists': filtered,
sorted, paged and counted in SQL, so a page costs the same on 100 cases or a million.

Working days overdue (or left) depend on each case's calendar, so they are computed in Python
for the rows of one page only. Filters and sorting never need them: sorting by due time is
sorting by working days overdue, and an age band ("6-20 working days overdue") is a range of due
times whose boundary is found on each authority's calendar (the Nth working day before today),
so SQL can filter and count by band exactly.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import datetime as dt
import io
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from engine.time.calendar import LONDON, WorkingCalendar, due_at, local_date
from persistence import lists as sql

DUE_NEXT_WORKING_DAYS = 10  # business support's horizon (the same as `caseclock upcoming --within 10wd`)

# age bands: (name, least, most) working days overdue (or, for due next, working days left)
OVERDUE_BANDS = (("0-5", 0, 5), ("6-20", 6, 20), ("21-60", 21, 60), ("61+", 61, None))
DUE_NEXT_BANDS = (("0-2", 0, 2), ("3-5", 3, 5), ("6-10", 6, 10))

# the columns a list may be sorted by (a link per column header); anything else is refused
SORTS = tuple(sql.SORTS)


class ListError(ValueError):
    """A filter or sort the lists do not know (named, never echoing the value)."""


@dataclass(frozen=True)
class Filters:
    """What a list is narrowed to. `authority` and `assigned_to` also carry the reader's scope:
    the web layer sets them from the signed-in principal, never from the query string alone."""

    workflow: str | None = None
    team: str | None = None
    iro: str | None = None  # assigned_to
    role: str | None = None  # the deadline's responsible role
    band: str | None = None
    authority: str | None = None
    child: str | None = None

    def on_cases(self) -> dict[str, Any]:
        """The filters that are case columns, by column name."""
        named = {"workflow": self.workflow, "team": self.team, "assigned_to": self.iro, "child_ref": self.child,
                 "authority": self.authority}
        return {k: v for k, v in named.items() if v is not None}


@dataclass(frozen=True)
class Row:
    case_ref: str
    authority: str | None
    child_ref: str | None
    workflow: str
    state: str
    deadline: str
    title: str
    role: str | None
    assigned_to: str | None
    team: str | None
    due_on: dt.date
    working_days: int  # overdue by (Overdue now) or left (Due next)
    source: str


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    total: int  # rows matching the filters, counted in SQL
    offset: int
    limit: int
    bands: dict[str, int] = field(default_factory=dict)  # rows per age band, same filters but the band


def authorities(engine) -> list[str | None]:
    """Every authority that has cases (None: cases with no authority); one index scan."""
    return sql.case_authorities(engine.store.db)


def _working_day_back(calendar: WorkingCalendar, today: dt.date, k: int) -> dt.date:
    """The kth working day counting back from today, today included if it is a working day."""
    return calendar.add_working_days(today + dt.timedelta(days=1), -k)


class _Lists:
    """The lists at one moment, for one engine (its store and calendars)."""

    def __init__(self, engine, at: dt.datetime | None = None):
        self.engine = engine
        self.at = engine.clock.now() if at is None else at
        self.today = local_date(self.at)

    def calendar(self, authority: str | None) -> WorkingCalendar:
        return self.engine.calendars.of(authority)

    def _limit(self, present: list[str | None], day: Callable[[WorkingCalendar], dt.date]) -> sql.Limit:
        """The end of the day `day` finds on each authority's calendar: the deployment's for
        every authority whose calendar agrees, its own for the others."""
        default = due_at(day(self.calendar(None)))
        own = {}
        for authority in present:
            mine = due_at(day(self.calendar(authority)))
            if mine != default:
                own[authority] = mine
        return sql.Limit(default, own)

    def _base(self, kind: str, filters: Filters) -> sql.ListQuery:
        """The whole list (no band): overdue at `at`, or due next (after `at`, within the horizon)."""
        common = dict(case_filters=filters.on_cases(),
                      deadline_filters={"role": filters.role} if filters.role is not None else {})
        if kind == "overdue":
            return sql.ListQuery(due_before=self.at, **common)
        # a month past the horizon on the deployment's calendar bounds every calendar's horizon
        reach = due_at(self.calendar(None).add_working_days(self.today, DUE_NEXT_WORKING_DAYS) + dt.timedelta(days=31))
        return sql.ListQuery(due_before=reach, due_from=self.at, **common)

    def _query(self, kind: str, filters: Filters, present: list[str | None], band=None) -> sql.ListQuery:
        """The list, within `band` if given. Overdue: N working days overdue = working days d with
        due_on < d <= today, so N >= k exactly when due_on is before W_k, the kth working day
        counting back from today. Due next (as `caseclock upcoming --within 10wd`): N working days
        left = working days d with today < d <= due_on, so N >= k exactly when due_on is on or
        after V_k = today + k working days."""
        base = self._base(kind, filters)
        limits: dict[str, sql.Limit] = {}
        if kind == "overdue":
            if band is not None:
                _name, least, most = band
                if least > 0:
                    limits["before"] = self._limit(present, lambda cal: _working_day_back(cal, self.today, least))
                if most is not None:  # N <= most: not N >= most + 1
                    limits["since"] = self._limit(present, lambda cal: _working_day_back(cal, self.today, most + 1))
        else:
            least, most = (0, DUE_NEXT_WORKING_DAYS) if band is None else band[1:]
            most = DUE_NEXT_WORKING_DAYS if most is None else min(most, DUE_NEXT_WORKING_DAYS)
            if most >= DUE_NEXT_WORKING_DAYS:  # the horizon itself, as `upcoming` draws it
                limits["until"] = self._limit(present, lambda cal: cal.add_working_days(self.today, DUE_NEXT_WORKING_DAYS))
            else:  # N <= most: before V_(most+1)
                limits["before"] = self._limit(present, lambda cal: cal.add_working_days(self.today, most + 1))
            if least > 0:
                limits["since"] = self._limit(present, lambda cal: cal.add_working_days(self.today, least))
        return dataclasses.replace(base, **limits)

    def _bands(self, kind: str, present: list[str | None]) -> list[tuple[str, sql.Limit]]:
        """Each band but the last with the due_at its deadlines are after (checked in order)."""
        if kind == "overdue":  # newest first: 0-5 is due on or after W_6, ...
            return [(name, self._limit(present, lambda cal, k=most + 1: _working_day_back(cal, self.today, k)
                                       - dt.timedelta(days=1)))
                    for name, _least, most in OVERDUE_BANDS[:-1]]
        # furthest first: 6-10 is due on or after V_6, ...
        return [(name, self._limit(present, lambda cal, k=least: cal.add_working_days(self.today, k) - dt.timedelta(days=1)))
                for name, least, _most in reversed(DUE_NEXT_BANDS[1:])]

    def page(self, kind: str, filters: Filters, *, sort: str = "due", descending: bool = False,
             offset: int = 0, limit: int = 50) -> Page:
        bands = _bands(kind)
        band = _band(bands, filters.band)
        _check_sort(sort)
        db = self.engine.store.db
        present = sql.authorities(db, self._base(kind, filters))
        whole = self._query(kind, filters, present)
        last = OVERDUE_BANDS[-1][0] if kind == "overdue" else DUE_NEXT_BANDS[0][0]
        counted: dict[str, int] = {}
        for _workflow, _authority, name, n in sql.counts(db, whole, self._bands(kind, present), last):
            counted[name] = counted.get(name, 0) + n
        rows = sql.page(db, self._query(kind, filters, present, band), max(1, min(limit, 500)), max(0, offset),
                        sort=sort, descending=descending)
        counts = {b[0]: counted.get(b[0], 0) for b in bands}
        total = counts[band[0]] if band else sum(counted.values())
        return Page([self._row(kind, r) for r in rows], total, offset, limit, counts)

    def _row(self, kind: str, r) -> Row:
        cal = self.calendar(r.authority)
        days = (cal.working_days_between(r.due_on, self.today) if kind == "overdue"
                else cal.working_days_between(self.today, r.due_on))
        return Row(r.case_ref, r.authority, r.child_ref, r.workflow, r.state, r.name, r.title, r.role,
                   r.assigned_to, r.team, r.due_on, days, r.source)

    def stream(self, kind: str, filters: Filters, *, sort: str = "due", descending: bool = False,
               chunk: int = 1000) -> Iterator[Row]:
        """Every matching row, fetched `chunk` rows at a time (constant memory), for `--all` and CSV."""
        band = _band(_bands(kind), filters.band)
        _check_sort(sort)
        db = self.engine.store.db
        query = self._query(kind, filters, sql.authorities(db, self._base(kind, filters)), band)
        for r in sql.stream(db, query, chunk, sort=sort, descending=descending):
            yield self._row(kind, r)


def _bands(kind: str):
    if kind not in ("overdue", "due_next"):
        raise ListError(f"unknown list {kind!r}: overdue or due_next")
    return OVERDUE_BANDS if kind == "overdue" else DUE_NEXT_BANDS


def _band(bands, name: str | None):
    if name is None:
        return None
    for band in bands:
        if band[0] == name:
            return band
    raise ListError(f"band: not one of {', '.join(b[0] for b in bands)}")


def _check_sort(sort: str) -> None:
    if sort not in sql.SORTS:
        raise ListError(f"sort: not one of {', '.join(sql.SORTS)}")


def overdue_page(engine, filters: Filters = Filters(), **kw) -> Page:
    """Overdue now: open deadlines past their due day, most overdue first by default."""
    return _Lists(engine, kw.pop("at", None)).page("overdue", filters, **kw)


def due_next_page(engine, filters: Filters = Filters(), **kw) -> Page:
    """Due next: open deadlines falling due within the next 10 working days, soonest first."""
    return _Lists(engine, kw.pop("at", None)).page("due_next", filters, **kw)


def stream_rows(engine, kind: str, filters: Filters = Filters(), *, at: dt.datetime | None = None,
                sort: str = "due", descending: bool = False) -> Iterator[Row]:
    return _Lists(engine, at).stream(kind, filters, sort=sort, descending=descending)


CSV_HEADER = ("case_ref", "authority", "child_ref", "workflow", "state", "deadline", "title", "role",
              "assigned_to", "team", "due_on", "working_days", "source")


def csv_lines(rows: Iterator[Row], days_header: str = "working_days") -> Iterator[str]:
    """CSV text, one line at a time (for a streamed download)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def take() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow([days_header if h == "working_days" else h for h in CSV_HEADER])
    yield take()
    for r in rows:
        writer.writerow([_safe_cell(v) for v in (r.case_ref, r.authority or "", r.child_ref or "", r.workflow, r.state,
                                                 r.deadline, r.title, r.role or "", r.assigned_to or "", r.team or "",
                                                 r.due_on.isoformat(), r.working_days, r.source)])
        yield take()


def csv_lines_of(rows) -> Iterator[str]:
    """CSV text of plain rows (lists of cells), one line at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([_safe_cell(v) for v in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def _safe_cell(value: Any) -> Any:
    """A cell a spreadsheet would run as a formula (=, +, -, @) is quoted with an apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


# ---- the DRP tracker ---------------------------------------------------------------------------

DRP_WORKFLOW = "drp"
DRP_STAGES = ("informal", "stage_1", "stage_2", "stage_3")  # in order of seniority
DRP_STAGE_DEADLINES = {"informal": "informal_response", "stage_1": "stage_1_response",
                       "stage_2": "stage_2_response", "stage_3": "stage_3_response"}


@dataclass(frozen=True)
class Dispute:
    case_ref: str
    authority: str | None
    child_ref: str | None
    assigned_to: str | None
    team: str | None
    stage: str  # the current state (open) or the final one (resolved, withdrawn)
    theme: str | None
    raised_on: dt.date
    age_working_days: int  # from the day raised to today (open) or to the day closed
    stage_due_on: dt.date | None  # the response due at this stage
    days_left_at_stage: int | None  # working days to that date (negative: overdue)
    outcome: str | None  # resolved: the recorded outcome; withdrawn: "withdrawn"
    closed_on: dt.date | None


@dataclass(frozen=True)
class Tracker:
    open: list[Dispute]
    closed: list[Dispute]
    open_total: int
    closed_total: int


def drp_tracker(engine, filters: Filters = Filters(), *, at: dt.datetime | None = None,
                closed_since: dt.date | None = None, limit: int = 200, offset: int = 0) -> Tracker:
    """Sunderland's weekly tracker: every open dispute with its stage, theme, raised date, age and
    the working days left at this stage; closed ones (since `closed_since`, default 13 weeks
    ago) with their outcome. Paged and counted in SQL; open ones oldest first."""
    lists = _Lists(engine, at)
    closed_since = closed_since or (lists.today - dt.timedelta(weeks=13))
    found = sql.disputes(engine.store.db, DRP_WORKFLOW, list(DRP_STAGE_DEADLINES.values()), filters.on_cases(),
                         at=lists.at, closed_since=dt.datetime.combine(closed_since, dt.time(), tzinfo=LONDON),
                         limit=limit, offset=offset)
    return Tracker([_dispute(lists, r) for r in found.open_rows], [_dispute(lists, r) for r in found.closed_rows],
                   found.open_total, found.closed_total)


def _dispute(lists: _Lists, r) -> Dispute:
    cal = lists.calendar(r.authority)
    raised = local_date(r.opened_at)
    closed = local_date(r.closed_at) if r.closed_at is not None else None
    due = r.stage_due_on
    data = r.data or {}
    outcome = None
    if r.state == "resolved":
        outcome = data.get("outcome")
    elif r.state == "withdrawn":
        outcome = "withdrawn"
    return Dispute(r.case_ref, r.authority, r.child_ref, r.assigned_to, r.team, r.state, data.get("theme"), raised,
                   cal.working_days_between(raised, closed or lists.today),
                   due, cal.working_days_between(lists.today, due) if due is not None else None, outcome, closed)


def scoped_engine(engine, authority: str | None):
    """The engine reading cases of one authority (a shallow copy sharing store, calendars and
    clock): case references are unique only within an authority."""
    scoped = copy.copy(engine)
    scoped.authority = authority
    return scoped
