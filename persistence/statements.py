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
from sqlalchemy.dialects.sqlite import DATE as SQLITE_DATE
from sqlalchemy.exc import DBAPIError

from .types import UTCDateTime, sqlite_date_bind, sqlite_utc_bind, sqlite_utc_result

_SQLITE_DATE_FORMAT = "%(year)04d-%(month)02d-%(day)02d"

_MISSING = object()


def record_type(table: Table) -> type:
    """A plain named tuple with the table's columns, in table order: what a read returns."""
    return collections.namedtuple(f"{table.name.title()}Record", [c.name for c in table.columns])


class Prepared:
    """One statement compiled for one dialect: its SQL, its parameters in order with their bind
    processors and fixed values, and (for a SELECT or RETURNING) its result processors.

    `bind` and `row` are each one function made for the statement (a tuple or dict built in one
    expression, a processor called only for the columns that have one), because looping over
    the parameters in Python cost as much as executing the statement."""

    def __init__(self, statement, dialect, columns: Iterable = ()):
        compiled = statement.compile(dialect=dialect)
        self.dialect = dialect
        self.sql = compiled.string
        self.positional = compiled.positional
        names = compiled.positiontup if compiled.positional else list(compiled.binds)
        self.params = []
        for name in names:
            bind = compiled.binds[name]
            processor = bind_processor(bind.type, dialect)
            fixed = bind.effective_value if bind.value is not None or bind.callable is not None else _MISSING
            self.params.append((name, bind.key, processor, fixed))
        self.results = [result_processor(c.type, dialect) for c in columns]
        self.defaults: dict[str, Any] = {}
        self._compose()

    def _compose(self) -> None:
        """Make `bind` and `row` for this statement (again after `defaults` change)."""
        scope: dict[str, Any] = {}
        items = []
        for i, (name, key, processor, fixed) in enumerate(self.params):
            if fixed is not _MISSING:
                scope[f"f{i}"] = fixed if processor is None else processor(fixed)
                items.append((name, f"f{i}"))
                continue
            if key in self.defaults:
                scope[f"d{i}"] = self.defaults[key]
                value = f"values.get({key!r}, d{i})"
            else:
                value = f"values[{key!r}]"
            if processor is not None:
                scope[f"p{i}"] = processor
                value = f"p{i}({value})"
            items.append((name, value))
        if self.positional:
            body = "(" + "".join(f"{v}, " for _, v in items) + ")"
        else:
            body = "{" + ", ".join(f"{n!r}: {v}" for n, v in items) + "}"
        columns = []
        for i, processor in enumerate(self.results):
            if processor is None:
                columns.append(f"raw[{i}]")
            else:
                scope[f"r{i}"] = processor
                columns.append(f"r{i}(raw[{i}])")
        source = (f"def bind(values):\n    return {body}\n"
                  f"def row(raw):\n    return ({''.join(c + ', ' for c in columns)})\n")
        exec(compile(source, f"<statement {self.sql[:40]!r}>", "exec"), scope)  # noqa: S102
        self.bind = scope["bind"]
        self.row = scope["row"]

    def run(self, cursor, values: dict[str, Any] | None = None):
        """Execute; returns the cursor (fetch from it, or read rowcount)."""
        try:
            cursor.execute(self.sql, self.bind(values or _EMPTY))
        except self.dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(self.sql, None, exc, self.dialect.loaded_dbapi.Error,
                                      hide_parameters=True, dialect=self.dialect) from None
        return cursor


_EMPTY: dict[str, Any] = {}


def bind_processor(type_, dialect):
    """The column type's bind processor for `dialect`: SQLAlchemy's, or for `UTCDateTime` on
    SQLite one function that produces the same string as SQLAlchemy's chain."""
    if dialect.name == "sqlite" and isinstance(type_, UTCDateTime):
        return sqlite_utc_bind
    impl = type_.dialect_impl(dialect)
    processor = impl.bind_processor(dialect)
    if isinstance(impl, SQLITE_DATE) and impl._storage_format == _SQLITE_DATE_FORMAT:
        return sqlite_date_bind(processor)
    return processor


def result_processor(type_, dialect):
    """The column type's result processor, likewise."""
    if dialect.name == "sqlite" and isinstance(type_, UTCDateTime):
        return sqlite_utc_result
    return type_.dialect_impl(dialect).result_processor(dialect, None)


def insert_all(table: Table, dialect, returning: bool = True) -> Prepared:
    """INSERT of every column but the id (RETURNING the id): missing values take the column's
    default, as a Core insert would."""
    cols = [c for c in table.columns if c.name != "id"]
    statement = insert(table).values({c.name: bindparam(c.name) for c in cols})
    if returning:
        statement = statement.returning(table.c.id)
    prepared = Prepared(statement, dialect, [table.c.id] if returning else [])
    prepared.defaults = {c.name: _default(c) for c in cols}
    prepared._compose()  # a column left out takes its default
    return prepared


def _default(column) -> Any:
    default = column.default
    if default is None:
        return None
    if default.is_scalar:
        return default.arg
    return default.arg(None)

