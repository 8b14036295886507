"""The monitoring lists (overdue, upcoming): pages, counts and exports computed in SQL.

A list is the open deadlines with due_at in a range, joined to their cases and filtered by case
columns (workflow; team or assigned_to when cases carry them), sorted by due time. A page is one
LIMIT/OFFSET slice in that order (the (status, due_at) index gives the order, so the first page
reads about a page of rows however long the list); counts are one grouped query; an export
streams rows from a server-side cursor in constant memory.

Each case is counted on its own authority's calendar, so the dates that bound a list can differ
by authority: `bounds` maps an authority (None: cases with no authority) to its due_at limit, and
age bands map each authority to the due_at boundaries of its bands.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterator

from sqlalchemy import and_, case, func, literal, select

from .models import OPEN, CaseRow, DeadlineRow

CASES = CaseRow.__table__
DEADLINES = DeadlineRow.__table__

COLUMNS = (CASES.c.case_ref, CASES.c.workflow, CASES.c.state, CASES.c.authority, DEADLINES.c.name, DEADLINES.c.title,
           DEADLINES.c.due_on, DEADLINES.c.due_at, DEADLINES.c.role, DEADLINES.c.source,
           CASES.c.child_ref, CASES.c.assigned_to, CASES.c.team)
# the deadline carries its case's workflow and authority: filters and counts on them need no join
ON_DEADLINE = {"workflow": DEADLINES.c.workflow, "authority": DEADLINES.c.authority}


@dataclass(frozen=True)
class ListQuery:
    """Which open deadlines: due after `due_from` (if given) and by `due_before`, or by the
    authority's own limit in `bounds`; on cases whose columns equal `case_filters`."""

    due_before: dt.datetime
    due_from: dt.datetime | None = None
    bounds: dict[str | None, dt.datetime] = field(default_factory=dict)
    case_filters: dict[str, Any] = field(default_factory=dict)

    def where(self) -> list:
        cond = [DEADLINES.c.status == OPEN, DEADLINES.c.due_at <= self.due_before]
        if self.due_from is not None:
            cond.append(DEADLINES.c.due_at > self.due_from)
        if self.bounds and len(set(self.bounds.values())) > 1:
            cond.append(DEADLINES.c.due_at <= _by_authority(self.bounds, self.due_before))
        for name, value in self.case_filters.items():
            if name not in CASES.c:
                raise ValueError(f"cases have no column '{name}' to filter on")
            cond.append((ON_DEADLINE.get(name, CASES.c[name])) == value)
        return cond

    @property
    def needs_cases(self) -> bool:
        """Whether the filters name case columns the deadline does not carry."""
        return any(name not in ON_DEADLINE for name in self.case_filters)


def _by_authority(values: dict[str | None, Any], default: Any):
    """A CASE on the case's authority choosing its value (default: an authority not listed)."""
    whens = [(DEADLINES.c.authority.is_(None) if a is None else DEADLINES.c.authority == a, literal(v, DEADLINES.c.due_at.type))
             for a, v in values.items()]
    return case(*whens, else_=literal(default, DEADLINES.c.due_at.type))


def _select(query: ListQuery):
    return (select(*COLUMNS).select_from(DEADLINES.join(CASES, CASES.c.id == DEADLINES.c.case_id))
            .where(and_(*query.where())).order_by(DEADLINES.c.due_at, DEADLINES.c.id))


def page(database, query: ListQuery, limit: int, offset: int = 0) -> list:
    with database.reader.connect() as conn:
        return conn.execute(_select(query).limit(limit).offset(offset)).all()


def stream(database, query: ListQuery, chunk: int = 1000) -> Iterator:
    """Every row, fetched `chunk` at a time from a server-side cursor (constant memory)."""
    with database.reader.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=chunk).execute(_select(query))
        yield from result


def authorities(database, query: ListQuery) -> list[str | None]:
    """The authorities (None: no authority) of the deadlines a list covers: their calendars
    set the list's bounds and bands (one index range, no join)."""
    statement = select(DEADLINES.c.authority).where(*query.where()).distinct()
    if query.needs_cases:
        statement = statement.select_from(DEADLINES.join(CASES, CASES.c.id == DEADLINES.c.case_id))
    with database.reader.connect() as conn:
        return list(conn.execute(statement).scalars())


def counts(database, query: ListQuery, boundaries: list[dt.datetime] | None = None,
           labels: list[str] | None = None) -> list[tuple[str, str | None, str | None, int]]:
    """(workflow, authority, band, count) for the list, in one grouped query over the (status,
    due_at, workflow, authority) index. A row with due_at > boundaries[0] is in band labels[0],
    > boundaries[1] in labels[1], ..., else in the last label (no boundaries: band None)."""
    cols = [DEADLINES.c.workflow, DEADLINES.c.authority]
    if boundaries:
        whens = [(DEADLINES.c.due_at > literal(b, DEADLINES.c.due_at.type), literal(label))
                 for b, label in zip(boundaries, labels)]
        cols.append(case(*whens, else_=literal(labels[-1])).label("band"))
    statement = select(*cols, func.count().label("n")).where(and_(*query.where())).group_by(*cols)
    if query.needs_cases:
        statement = statement.select_from(DEADLINES.join(CASES, CASES.c.id == DEADLINES.c.case_id))
    with database.reader.connect() as conn:
        return [(r.workflow, r.authority, r.band if boundaries else None, r.n) for r in conn.execute(statement)]
