"""Moments as people type them (`--at`, `"at"` in the REST API), read one way everywhere.

    2026-03-02                    the start of that day in Europe/London
    2026-03-02T10:00              Europe/London local time
    2026-03-02T10:00:00+00:00     as given (any offset, or Z)

A local time that the clocks skip (01:30 on the last Sunday of March in London) does not
exist and is refused. A local time that happens twice (01:30 on the last Sunday of October)
means its first occurrence, still British Summer Time (fold=0). A moment that cannot be
represented both in UTC and in London (e.g. `0001-01-01T00:00:00+14:00`) is refused with a
clear message rather than an OverflowError deep in the engine.

Error messages echo the text only when it is short: it may be free text pasted by mistake.
"""

from __future__ import annotations

import datetime as dt

from engine.errors import CalendarError
from engine.time.calendar import LONDON
from engine.time.clock import ensure_aware

__all__ = ["FORMAT_HELP", "MomentError", "as_utc", "parse_moment"]

FORMAT_HELP = "YYYY-MM-DD (start of that day, London), YYYY-MM-DDTHH:MM (London time) or an ISO datetime with offset"
_ECHO_LIMIT = 32


class MomentError(CalendarError):
    """Text that is not a moment caseclock can use."""


def parse_moment(text: str) -> dt.datetime:
    """The instant `text` names, as an aware UTC datetime (see the module docstring)."""
    text = text.strip()
    try:
        if len(text) == 10:
            return _london(dt.datetime.combine(dt.date.fromisoformat(text), dt.time(0)), text)
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise MomentError(f"{_shown(text)} is not a date or datetime; use {FORMAT_HELP}") from None
    if value.tzinfo is None:
        return _london(value, text)
    return as_utc(value)


def as_utc(moment: dt.datetime) -> dt.datetime:
    """An aware moment in UTC (the clock's own check), refusing one London time cannot represent."""
    try:
        utc = ensure_aware(moment)
        utc.astimezone(LONDON)  # every deadline is a London day: that must be representable too
    except OverflowError:
        raise MomentError(f"{moment.isoformat()} is outside the range of representable dates") from None
    except ValueError as exc:
        raise MomentError(str(exc)) from None
    return utc


def _london(local: dt.datetime, text: str) -> dt.datetime:
    """A wall-clock time in London; fold=0 (the first occurrence) for a time that happens twice."""
    aware = local.replace(tzinfo=LONDON, fold=0)
    utc = as_utc(aware)
    if utc.astimezone(LONDON).replace(tzinfo=None) != local:
        raise MomentError(
            f"{_shown(text)} does not exist in London: the clocks go forward that night "
            f"(give a time after the change, or an offset such as +00:00)"
        )
    return utc


def _shown(text: str) -> str:
    return f"'{text}'" if len(text) <= _ECHO_LIMIT and text.isprintable() else f"the value ({len(text)} characters)"
