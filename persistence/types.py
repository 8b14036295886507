"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime
from sqlalchemy.engine import processors
from sqlalchemy.types import TypeDecorator

UTC = dt.timezone.utc


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out, whatever the backend stores.

    SQLite has no timezone-aware type; storing naive UTC and re-attaching UTC on the way out
    keeps comparisons (`due_at <= now`) correct on both backends.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored")
        value = value.astimezone(dt.timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


def sqlite_utc_bind(value):
    """`UTCDateTime` then SQLite's DATETIME storage format ("YYYY-MM-DD HH:MM:SS.ffffff", naive
    UTC) in one step: the same string as SQLAlchemy's two chained processors, for the hot path."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} cannot be stored")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:-6]  # less the "+00:00"


def sqlite_date_bind(format_bind):
    """SQLite's DATE bind processor (`format_bind`) with a date formatted in one C call: the
    same "YYYY-MM-DD" as its storage format; anything else goes to `format_bind` as before."""
    date = dt.date

    def process(value):
        if type(value) is date:
            return value.isoformat()
        return format_bind(value)

    return process


def sqlite_utc_result(value):
    """SQLite's stored DATETIME string read back as `UTCDateTime` does, in one step."""
    if value is None:
        return None
    value = processors.str_to_datetime(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
