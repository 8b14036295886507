"""The overdue-now and due-next lists and the DRP tracker: filtered, sorted, paged and counted
in SQL, so a page costs the same on 100 cases or 100,000.

Working days overdue (or left) depend on each case's calendar, so they are computed in Python
for the rows of one page only. Filters and sorting never need them: sorting by due time is
sorting by working days overdue, and an age band ("6-20 working days overdue") is a range of due
times whose boundary is found on each authority's calendar (the Nth working day before today),
so SQL can filter and count by band exactly.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from typing import Any, Iterator

from sqlalchemy import and_, case, func, literal, or_, select, true
from sqlalchemy.sql import visitors

from engine.time.calendar import LONDON, WorkingCalendar, due_at, local_date
from persistence.models import OPEN, CaseRow, DeadlineRow, TransitionRow

CASES = CaseRow.__table__
DEADLINES = DeadlineRow.__table__
TRANSITIONS = TransitionRow.__table__

DUE_NEXT_WORKING_DAYS = 10  # business support's horizon (the same as `caseclock upcoming --within 10wd`)

# age bands: (name, least, most) working days overdue (or, for due next, working days left)
OVERDUE_BANDS = (("0-5", 0, 5), ("6-20", 6, 20), ("21-60", 21, 60), ("61+", 61, None))
DUE_NEXT_BANDS = (("0-2", 0, 2), ("3-5", 3, 5), ("6-10", 6, 10))

# the columns a list may be sorted by (a link per column header); anything else is refused
SORTS = {
    "due": DEADLINES.c.due_at,
    "case": CASES.c.case_ref,
    "child": CASES.c.child_ref,
    "workflow": CASES.c.workflow,
    "state": CASES.c.state,
    "deadline": DEADLINES.c.name,
    "role": DEADLINES.c.role,
    "iro": CASES.c.assigned_to,
    "team": CASES.c.team,
}


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
    with engine.store.db.reader.connect() as conn:
        return list(conn.execute(select(CASES.c.authority).distinct()).scalars())


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

    def _authorities(self, filters: Filters) -> list[str | None]:
        return [filters.authority] if filters.authority is not None else authorities(self.engine)

    def _by_authority(self, filters: Filters, bound) -> Any:
        """OR over authorities of (authority = A AND bound(A's calendar)): each case is counted on
        its own calendar. Authorities whose calendars are the same share one term, and when every
        authority counts on one calendar the bound needs no authority at all (nor the cases table)."""
        groups: dict[str, tuple[WorkingCalendar, list[str | None]]] = {}
        for authority in self._authorities(filters):
            calendar = self.calendar(authority)
            groups.setdefault(calendar.version, (calendar, []))[1].append(authority)
        if len(groups) == 1:
            (calendar, _members), = groups.values()
            return bound(calendar)
        parts = []
        for calendar, members in groups.values():
            named = [a for a in members if a is not None]
            same = [CASES.c.authority.in_(named)] if named else []
            if None in members:
                same.append(CASES.c.authority.is_(None))
            parts.append(and_(or_(*same), bound(calendar)))
        return or_(*parts) if parts else ~true()

    # -- overdue now ---------------------------------------------------------------------------

    def overdue_window(self, filters: Filters, band: tuple[str, int, int | None] | None = None):
        """Open deadlines past the end of their due day; within a band, also due between the band's
        boundaries. N working days overdue = working days d with due_on < d <= today, so
        N >= k exactly when due_on is before W_k, the kth working day counting back from today."""
        cond = [DEADLINES.c.status == OPEN, DEADLINES.c.due_at <= self.at]
        if band is not None:
            _name, least, most = band

            def bound(cal: WorkingCalendar):
                parts = []
                if least > 0:
                    parts.append(DEADLINES.c.due_at < due_at(_working_day_back(cal, self.today, least)))
                if most is not None:  # N <= most: not N >= most + 1
                    parts.append(DEADLINES.c.due_at >= due_at(_working_day_back(cal, self.today, most + 1)))
                return and_(true(), *parts)

            cond.append(self._by_authority(filters, bound))
        return cond

    def due_next_window(self, filters: Filters, band: tuple[str, int, int | None] | None = None):
        """Open deadlines not yet overdue, due on or before the 10th working day after today (as
        `caseclock upcoming --within 10wd`). N working days left = working days d with
        today < d <= due_on, so N >= k exactly when due_on is on or after V_k = today + k wd."""
        least, most = (0, DUE_NEXT_WORKING_DAYS) if band is None else band[1:]
        most = DUE_NEXT_WORKING_DAYS if most is None else min(most, DUE_NEXT_WORKING_DAYS)

        def bound(cal: WorkingCalendar):
            if most >= DUE_NEXT_WORKING_DAYS:  # the horizon itself, as `upcoming` draws it
                parts = [DEADLINES.c.due_at <= due_at(cal.add_working_days(self.today, DUE_NEXT_WORKING_DAYS))]
            else:  # N <= most: before V_(most+1)
                parts = [DEADLINES.c.due_at < due_at(cal.add_working_days(self.today, most + 1))]
            if least > 0:
                parts.append(DEADLINES.c.due_at >= due_at(cal.add_working_days(self.today, least)))
            return and_(*parts)

        return [DEADLINES.c.status == OPEN, DEADLINES.c.due_at > self.at, self._by_authority(filters, bound)]

    # -- shared --------------------------------------------------------------------------------

    @staticmethod
    def _filters(filters: Filters) -> list:
        cond = []
        for column, value in ((CASES.c.workflow, filters.workflow), (CASES.c.team, filters.team),
                              (CASES.c.assigned_to, filters.iro), (DEADLINES.c.role, filters.role),
                              (CASES.c.child_ref, filters.child)):
            if value is not None:
                cond.append(column == value)
        if filters.authority is not None:
            cond.append(CASES.c.authority == filters.authority)
        return cond

    def _select(self, window: list, filters: Filters, columns, *, cases: bool = True):
        source = DEADLINES.join(CASES, CASES.c.id == DEADLINES.c.case_id) if cases else DEADLINES
        return select(*columns).select_from(source).where(*window, *self._filters(filters))

    def _count_needs_cases(self, filters: Filters, window: list) -> bool:
        """Counting reads the deadlines alone (an index range) unless a filter or the calendars
        of several authorities need the case."""
        if any(v is not None for v in (filters.workflow, filters.team, filters.iro, filters.child, filters.authority)):
            return True
        return any(getattr(element, "table", None) is CASES for part in window for element in visitors.iterate(part))

    def page(self, kind: str, filters: Filters, *, sort: str = "due", descending: bool = False,
             offset: int = 0, limit: int = 50) -> Page:
        bands = _bands(kind)
        band = _band(bands, filters.band)
        order = _order(sort, descending)
        # one scan counts every band (the bands partition the list): CASE over each band's
        # condition, which is the last part of its window
        label = case(*[(self._window(kind, filters, b)[-1], b[0]) for b in bands], else_=literal("")).label("band")
        with self.engine.store.db.reader.connect() as conn:
            whole = self._window(kind, filters, None)
            cases = self._count_needs_cases(filters, whole + [label])
            counted = dict(conn.execute(self._select(whole, filters, [label, func.count()], cases=cases)
                                        .group_by(label)).all())
            rows = conn.execute(self._select(self._window(kind, filters, band), filters, _COLUMNS).order_by(*order)
                                .limit(max(1, min(limit, 500))).offset(max(0, offset))).all()
        counts = {b[0]: counted.get(b[0], 0) for b in bands}
        total = counts[band[0]] if band else sum(counted.values())
        return Page([self._row(kind, r) for r in rows], total, offset, limit, counts)

    def _window(self, kind: str, filters: Filters, band):
        return self.overdue_window(filters, band) if kind == "overdue" else self.due_next_window(filters, band)

    def _row(self, kind: str, r) -> Row:
        cal = self.calendar(r.authority)
        days = (cal.working_days_between(r.due_on, self.today) if kind == "overdue"
                else cal.working_days_between(self.today, r.due_on))
        return Row(r.case_ref, r.authority, r.child_ref, r.workflow, r.state, r.name, r.title, r.role,
                   r.assigned_to, r.team, r.due_on, days, r.source)

    def stream(self, kind: str, filters: Filters, *, sort: str = "due", descending: bool = False,
               chunk: int = 1000) -> Iterator[Row]:
        """Every matching row, fetched `chunk` rows at a time (constant memory), for `--all` and CSV."""
        window = self._window(kind, filters, _band(_bands(kind), filters.band))
        query = self._select(window, filters, _COLUMNS).order_by(*_order(sort, descending))
        with self.engine.store.db.reader.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=chunk).execute(query)
            for r in result:
                yield self._row(kind, r)


_COLUMNS = (CASES.c.case_ref, CASES.c.authority, CASES.c.child_ref, CASES.c.workflow, CASES.c.state,
            DEADLINES.c.name, DEADLINES.c.title, DEADLINES.c.role, CASES.c.assigned_to, CASES.c.team,
            DEADLINES.c.due_on, DEADLINES.c.source)


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


def _order(sort: str, descending: bool):
    column = SORTS.get(sort)
    if column is None:
        raise ListError(f"sort: not one of {', '.join(SORTS)}")
    # ties broken by due time then row id, so paging is stable
    return [column.desc() if descending else column.asc(), DEADLINES.c.due_at, DEADLINES.c.id]


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
    # the response due at the current stage: at most one stage deadline is open per case
    stage = DEADLINES.alias("stage")
    with_stage = CASES.outerjoin(stage, and_(stage.c.case_id == CASES.c.id, stage.c.status == OPEN,
                                             stage.c.name.in_(DRP_STAGE_DEADLINES.values())))
    base = [CASES.c.workflow == DRP_WORKFLOW, *_Lists._filters(filters)]
    open_cond = [*base, CASES.c.closed_at.is_(None), CASES.c.opened_at <= lists.at]
    closed_cond = [*base, CASES.c.closed_at.is_not(None),
                   CASES.c.closed_at >= dt.datetime.combine(closed_since, dt.time(), tzinfo=LONDON)]
    cols = (CASES.c.case_ref, CASES.c.authority, CASES.c.child_ref, CASES.c.assigned_to, CASES.c.team,
            CASES.c.state, CASES.c.data, CASES.c.opened_at, CASES.c.closed_at, stage.c.due_on.label("stage_due_on"))
    with engine.store.db.reader.connect() as conn:
        open_total = conn.execute(select(func.count()).select_from(CASES).where(*open_cond)).scalar_one()
        closed_total = conn.execute(select(func.count()).select_from(CASES).where(*closed_cond)).scalar_one()
        open_rows = conn.execute(select(*cols).select_from(with_stage).where(*open_cond).order_by(CASES.c.opened_at, CASES.c.id)
                                 .limit(limit).offset(offset)).all()
        closed_rows = conn.execute(select(*cols).select_from(with_stage).where(*closed_cond).order_by(CASES.c.closed_at.desc(), CASES.c.id)
                                   .limit(limit).offset(offset)).all()
    return Tracker([_dispute(lists, r) for r in open_rows], [_dispute(lists, r) for r in closed_rows],
                   open_total, closed_total)


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
