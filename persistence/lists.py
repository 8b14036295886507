"""The monitoring lists (overdue, upcoming, due next, the DRP tracker): every query they send.

A list is the open deadlines with due_at in a range, joined to their cases and filtered by case
columns (workflow, authority, team, assigned_to, child_ref) and the deadline's role, sorted.
A page is one LIMIT/OFFSET slice in that order (the (status, due_at) index gives the due order,
so the first page reads about a page of rows however long the list); an export streams rows
from a server-side cursor in constant memory.

Counts (totals, by workflow, by age band) sum whole due days from `deadline_counts`, which the
database's triggers keep exact (migration 0007): its rows are (due day, workflow, authority), a
few per day, so counting costs the same at ten thousand open deadlines or a million. This is
exact because a deadline passes at the end of its due day (due_at is due_on's next London
midnight), so every bound on due_at is a bound on due_on. A list filtered by team, assigned_to,
child or role is a small slice: it is counted from the deadlines themselves, reached through
the cases' index on that column.

Each case is counted on its own authority's calendar, so a bound can differ by authority: a
`Limit` is a default instant and the authorities whose instant differs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.selectable import Join

from .models import OPEN, CaseRow, DeadlineCountRow, DeadlineRow

CASES = CaseRow.__table__
DEADLINES = DeadlineRow.__table__
COUNTS = DeadlineCountRow.__table__
LONDON = ZoneInfo("Europe/London")
NONE = ""  # deadline_counts' workflow or authority for none

COLUMNS = (CASES.c.case_ref, CASES.c.workflow, CASES.c.state, CASES.c.authority, DEADLINES.c.name, DEADLINES.c.title,
           DEADLINES.c.due_on, DEADLINES.c.due_at, DEADLINES.c.role, DEADLINES.c.source,
           CASES.c.child_ref, CASES.c.assigned_to, CASES.c.team)
# the deadline carries its case's workflow and authority: filters and counts on them need no join
ON_DEADLINE = {"workflow": DEADLINES.c.workflow, "authority": DEADLINES.c.authority}
DEADLINE_FILTERS = {"role": DEADLINES.c.role}
# case columns with an index that narrows a list to a small slice (a team's, an IRO's, a child's)
SLICES = ("team", "assigned_to", "child_ref")

# the columns a list may be sorted by; ties are broken by due time then row id, so paging is stable
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


# the most rows a page may skip: past any real list, and well inside a 64-bit OFFSET
MAX_OFFSET = 1_000_000_000

@dataclass(frozen=True)
class Limit:
    """An instant bounding due_at: `default`, or `own[authority]` for the authorities (None: cases
    with no authority) whose calendar puts it elsewhere."""

    default: dt.datetime
    own: Mapping[str | None, dt.datetime] = field(default_factory=dict)


@dataclass(frozen=True)
class ListQuery:
    """Which open deadlines: due by `due_before` and after `due_from` (if given); by `until`,
    before `before` and from `since` on each authority's own limits (if given); `bounds` is
    `until` given as every present authority's limit; on cases whose columns equal
    `case_filters` and with deadline columns (role) equal to `deadline_filters`."""

    due_before: dt.datetime
    due_from: dt.datetime | None = None
    bounds: dict[str | None, dt.datetime] = field(default_factory=dict)
    case_filters: dict[str, Any] = field(default_factory=dict)
    deadline_filters: dict[str, Any] = field(default_factory=dict)
    until: Limit | None = None  # due_at <= limit
    before: Limit | None = None  # due_at < limit
    since: Limit | None = None  # due_at >= limit

    def __post_init__(self):
        for name in self.case_filters:
            if name not in CASES.c:
                raise ValueError(f"cases have no column '{name}' to filter on")
        for name in self.deadline_filters:
            if name not in DEADLINE_FILTERS:
                raise ValueError(f"deadlines have no column '{name}' to filter on")

    def limits(self) -> list[tuple[str, Limit]]:
        """Every bound on due_at as (operator, Limit)."""
        out = [("<=", Limit(self.due_before))]
        if self.due_from is not None:
            out.append((">", Limit(self.due_from)))
        if self.bounds and len(set(self.bounds.values())) > 1:
            out.append(("<=", Limit(self.due_before, self.bounds)))
        for op, limit in (("<=", self.until), ("<", self.before), (">=", self.since)):
            if limit is not None:
                out.append((op, limit))
        return out

    def where(self) -> list:
        """The conditions on the deadlines (joined to their cases when `needs_cases`)."""
        cond = [DEADLINES.c.status == OPEN]
        for op, limit in self.limits():
            cond.append(_compare(DEADLINES.c.due_at, op, _rows_limit(limit)))
        for name, value in self.case_filters.items():
            cond.append(_equals(ON_DEADLINE.get(name, CASES.c[name]), value))
        for name, value in self.deadline_filters.items():
            cond.append(_equals(DEADLINE_FILTERS[name], value))
        return cond

    @property
    def needs_cases(self) -> bool:
        """Whether the filters name case columns the deadline does not carry."""
        return any(name not in ON_DEADLINE for name in self.case_filters)

    @property
    def sliced(self) -> bool:
        """Whether a filter narrows the list to a few cases: read those cases first."""
        return any(name in SLICES for name in self.case_filters)

    def source(self):
        """The tables to read: the deadlines alone, or joined to their cases (cases first when
        a filter picks a few of them)."""
        if self.sliced:
            return _CasesFirst(CASES, DEADLINES, CASES.c.id == DEADLINES.c.case_id)
        return DEADLINES.join(CASES, CASES.c.id == DEADLINES.c.case_id)

    @property
    def counted(self) -> bool:
        """Whether `deadline_counts` answers counts: filters only by workflow and authority."""
        return not self.needs_cases and not self.deadline_filters


class _CasesFirst(Join):
    """cases JOIN deadlines, read case by case. SQLite's planner, without statistics, would
    rather walk the deadlines in due order and drop the other teams' rows (all of them, at a
    million); a CROSS JOIN is its documented way to fix the loop order. PostgreSQL plans the
    plain join from its statistics."""

    inherit_cache = True


@compiles(_CasesFirst, "sqlite")
def _cases_first(join, compiler, **kw):
    kw["asfrom"] = True
    return (f"{join.left._compiler_dispatch(compiler, **kw)} CROSS JOIN "
            f"{join.right._compiler_dispatch(compiler, **kw)} ON {join.onclause._compiler_dispatch(compiler, **kw)}")


def _equals(column, value):
    return column.is_(None) if value is None else column == value


def _compare(left, op: str, right):
    return {"<=": left <= right, "<": left < right, ">=": left >= right, ">": left > right}[op]


def _rows_limit(limit: Limit):
    """A Limit as due_at: a CASE on the deadline's authority when authorities differ."""
    typed = lambda v: literal(v, DEADLINES.c.due_at.type)  # noqa: E731
    if not limit.own:
        return typed(limit.default)
    whens = [(DEADLINES.c.authority.is_(None) if a is None else DEADLINES.c.authority == a, typed(v))
             for a, v in limit.own.items()]
    return case(*whens, else_=typed(limit.default))


# ---- the same bounds on due days (deadline_counts) ---------------------------------------------
# due_at(d) is the London midnight starting d + 1, so for any instant T:
#   due_at <= T  <=>  due_on <= last_by(T)        due_at > T   <=>  due_on > last_by(T)
#   due_at <  T  <=>  due_on <= last_before(T)    due_at >= T  <=>  due_on > last_before(T)

def _last_by(moment: dt.datetime) -> dt.date:
    """The last due day whose due_at is at or before `moment`."""
    return moment.astimezone(LONDON).date() - dt.timedelta(days=1)


def _last_before(moment: dt.datetime) -> dt.date:
    """The last due day whose due_at is before `moment`."""
    local = moment.astimezone(LONDON)
    at_midnight = local.timetz().replace(tzinfo=None) == dt.time(0)
    return local.date() - dt.timedelta(days=2 if at_midnight else 1)


_DAY_OF = {"<=": (_last_by, "<="), ">": (_last_by, ">"), "<": (_last_before, "<="), ">=": (_last_before, ">")}


def _days_limit(limit: Limit, day_of):
    typed = lambda v: literal(day_of(v), COUNTS.c.due_on.type)  # noqa: E731
    if not limit.own:
        return typed(limit.default)
    whens = [(COUNTS.c.authority == (NONE if a is None else a), typed(v)) for a, v in limit.own.items()]
    return case(*whens, else_=typed(limit.default))


def _counted_where(query: ListQuery) -> list:
    cond = []
    for op, limit in query.limits():
        day_of, day_op = _DAY_OF[op]
        cond.append(_compare(COUNTS.c.due_on, day_op, _days_limit(limit, day_of)))
    for name, value in query.case_filters.items():
        cond.append(COUNTS.c[name] == (NONE if value is None else value))
    return cond


def _none(value: str | None) -> str | None:
    return None if value == NONE else value


# ---- rows --------------------------------------------------------------------------------------

def _order(sort: str, descending: bool) -> list:
    column = SORTS.get(sort)
    if column is None:
        raise ValueError(f"sort: not one of {', '.join(SORTS)}")
    first = column.desc() if descending else column.asc()
    return [first, DEADLINES.c.id] if sort == "due" else [first, DEADLINES.c.due_at, DEADLINES.c.id]


def _select(query: ListQuery, sort: str, descending: bool):
    return (select(*COLUMNS).select_from(query.source())
            .where(and_(*query.where())).order_by(*_order(sort, descending)))


def page(database, query: ListQuery, limit: int, offset: int = 0, *, sort: str = "due",
         descending: bool = False) -> list:
    with database.reader.connect() as conn:
        return conn.execute(_select(query, sort, descending).limit(limit).offset(offset)).all()


def stream(database, query: ListQuery, chunk: int = 1000, *, sort: str = "due", descending: bool = False) -> Iterator:
    """Every row, fetched `chunk` at a time from a server-side cursor (constant memory)."""
    with database.reader.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=chunk).execute(_select(query, sort, descending))
        yield from result


# ---- counts ------------------------------------------------------------------------------------

def authorities(database, query: ListQuery) -> list[str | None]:
    """The authorities (None: no authority) of the deadlines a list covers: their calendars
    set the list's bounds and bands."""
    if query.counted:
        statement = select(COUNTS.c.authority).where(*_counted_where(query)).distinct()
        with database.reader.connect() as conn:
            return [_none(a) for a in conn.execute(statement).scalars()]
    statement = select(DEADLINES.c.authority).where(*query.where()).distinct()
    if query.needs_cases:
        statement = statement.select_from(query.source())
    with database.reader.connect() as conn:
        return list(conn.execute(statement).scalars())


def counts(database, query: ListQuery, bands: list[tuple[str, Limit]] | None = None,
           otherwise: str | None = None) -> list[tuple[str | None, str | None, str | None, int]]:
    """(workflow, authority, band, count) for the list. A deadline is in the first band whose
    limit its due_at is after, else in band `otherwise` (no bands: band None). From
    deadline_counts when the filters allow, else one grouped query over the deadlines."""
    if query.counted:
        cols = [COUNTS.c.workflow, COUNTS.c.authority]
        if bands:
            whens = [(COUNTS.c.due_on > _days_limit(limit, _last_by), literal(label)) for label, limit in bands]
            cols.append(case(*whens, else_=literal(otherwise)).label("band"))
        statement = select(*cols, func.sum(COUNTS.c.n).label("n")).where(*_counted_where(query)).group_by(*cols)
        with database.reader.connect() as conn:
            return [(_none(r.workflow), _none(r.authority), r.band if bands else None, int(r.n))
                    for r in conn.execute(statement)]
    cols = [DEADLINES.c.workflow, DEADLINES.c.authority]
    if bands:
        whens = [(DEADLINES.c.due_at > _rows_limit(limit), literal(label)) for label, limit in bands]
        cols.append(case(*whens, else_=literal(otherwise)).label("band"))
    statement = select(*cols, func.count().label("n")).where(and_(*query.where())).group_by(*cols)
    if query.needs_cases:
        statement = statement.select_from(query.source())
    with database.reader.connect() as conn:
        return [(r.workflow, r.authority, r.band if bands else None, r.n) for r in conn.execute(statement)]


def case_authorities(database) -> list[str | None]:
    """Every authority that has cases (None: cases with no authority)."""
    with database.reader.connect() as conn:
        return list(conn.execute(select(CASES.c.authority).distinct()).scalars())


# ---- the DRP tracker ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Disputes:
    open_total: int
    closed_total: int
    open_rows: list
    closed_rows: list


def disputes(database, workflow: str, stage_deadlines: list[str], case_filters: dict[str, Any], *,
             at: dt.datetime, closed_since: dt.datetime, limit: int, offset: int) -> Disputes:
    """Cases of `workflow` open at `at` (oldest first) and closed since `closed_since` (newest
    first), each with the due day of its open stage deadline (at most one per case), counted
    and paged."""
    stage = DEADLINES.alias("stage")
    with_stage = CASES.outerjoin(stage, and_(stage.c.case_id == CASES.c.id, stage.c.status == OPEN,
                                             stage.c.name.in_(stage_deadlines)))
    base = [CASES.c.workflow == workflow, *[CASES.c[name] == value for name, value in case_filters.items()]]
    open_cond = [*base, CASES.c.closed_at.is_(None), CASES.c.opened_at <= at]
    closed_cond = [*base, CASES.c.closed_at.is_not(None), CASES.c.closed_at >= closed_since]
    cols = (CASES.c.case_ref, CASES.c.authority, CASES.c.child_ref, CASES.c.assigned_to, CASES.c.team,
            CASES.c.state, CASES.c.data, CASES.c.opened_at, CASES.c.closed_at, stage.c.due_on.label("stage_due_on"))
    with database.reader.connect() as conn:
        open_total = conn.execute(select(func.count()).select_from(CASES).where(*open_cond)).scalar_one()
        closed_total = conn.execute(select(func.count()).select_from(CASES).where(*closed_cond)).scalar_one()
        open_rows = conn.execute(select(*cols).select_from(with_stage).where(*open_cond)
                                 .order_by(CASES.c.opened_at, CASES.c.id).limit(limit).offset(offset)).all()
        closed_rows = conn.execute(select(*cols).select_from(with_stage).where(*closed_cond)
                                   .order_by(CASES.c.closed_at.desc(), CASES.c.id).limit(limit).offset(offset)).all()
    return Disputes(open_total, closed_total, open_rows, closed_rows)

