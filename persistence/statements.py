"""Statements on every command's path, compiled once per dialect and run on the driver's cursor.

SQLAlchemy Core costs tens of microseconds per execution above the driver (parameter and
result processing in Python, events, the compiled-cache lookup), which measured as more than
half of a command's time. A `Prepared` statement is compiled by SQLAlchemy once, so the SQL text,
quoting, casts and each column type's own conversions (UTC datetimes, JSON, dates, booleans)
are exactly SQLAlchemy's, and then runs on the DBAPI cursor directly. Driver errors are
re-raised as SQLAlchemy's exceptions (parameters hidden), so callers catch one hierarchy.
"""

from __future__ import annotations

import collections
from typing import Any, Iterable

from sqlalchemy import Table, bindparam, insert
from sqlalchemy.exc import DBAPIError

_MISSING = object()


def record_type(table: Table) -> type:
    """A plain named tuple with the table's columns, in table order: what a read returns."""
    return collections.namedtuple(f"{table.name.title()}Record", [c.name for c in table.columns])


class Prepared:
    """One statement compiled for one dialect: its SQL, its parameters in order with their bind
    processors and fixed values, and (for a SELECT or RETURNING) its result processors."""

    def __init__(self, statement, dialect, columns: Iterable = ()):
        compiled = statement.compile(dialect=dialect)
        self.dialect = dialect
        self.sql = compiled.string
        self.positional = compiled.positional
        names = compiled.positiontup if compiled.positional else list(compiled.binds)
        self.params = []
        for name in names:
            bind = compiled.binds[name]
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            fixed = bind.effective_value if bind.value is not None or bind.callable is not None else _MISSING
            self.params.append((name, bind.key, processor, fixed))
        self.results = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]

    def bind(self, values: dict[str, Any]):
        out = {} if not self.positional else []
        for name, key, processor, fixed in self.params:
            value = values[key] if fixed is _MISSING else fixed
            if processor is not None:
                value = processor(value)
            if self.positional:
                out.append(value)
            else:
                out[name] = value
        return out

    def row(self, raw) -> list:
        return [raw[i] if p is None else p(raw[i]) for i, p in enumerate(self.results)]

    def run(self, cursor, values: dict[str, Any] | None = None):
        """Execute; returns the cursor (fetch from it, or read rowcount)."""
        try:
            cursor.execute(self.sql, self.bind(values or {}))
        except self.dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(self.sql, None, exc, self.dialect.loaded_dbapi.Error,
                                      hide_parameters=True, dialect=self.dialect) from None
        return cursor


def insert_all(table: Table, dialect, returning: bool = True) -> Prepared:
    """INSERT of every column but the id (RETURNING the id): missing values take the column's
    default, as a Core insert would."""
    cols = [c for c in table.columns if c.name != "id"]
    statement = insert(table).values({c.name: bindparam(c.name) for c in cols})
    if returning:
        statement = statement.returning(table.c.id)
    prepared = Prepared(statement, dialect, [table.c.id] if returning else [])
    prepared.defaults = {c.name: _default(c) for c in cols}
    return prepared


def _default(column) -> Any:
    default = column.default
    if default is None:
        return None
    if default.is_scalar:
        return default.arg
    return default.arg(None)


def with_defaults(prepared: Prepared, values: dict[str, Any]) -> dict[str, Any]:
    """`values` with every column it leaves out set to the column's default."""
    missing = prepared.defaults.keys() - values.keys()
    if not missing:
        return values
    out = dict(values)
    for name in missing:
        value = prepared.defaults[name]
        out[name] = dict(value) if isinstance(value, dict) else value
    return out
