"""Time comes from an injected clock, so tests and simulations never sleep or depend on today.

No other module reads the wall clock: everything that needs "now" is handed a Clock.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current instant, timezone-aware (UTC)."""


class SystemClock:
    """The real clock: aware UTC datetimes."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)


class SimulatedClock:
    """A clock that only moves when told to."""

    def __init__(self, start: dt.datetime):
        self._now = ensure_aware(start)

    def now(self) -> dt.datetime:
        return self._now

    def set(self, moment: dt.datetime) -> None:
        moment = ensure_aware(moment)
        if moment < self._now:
            raise ValueError(f"a simulated clock cannot go back: {moment} < {self._now}")
        self._now = moment

    def advance(self, delta: dt.timedelta) -> None:
        self.set(self._now + delta)


def ensure_aware(moment: dt.datetime) -> dt.datetime:
    """Reject naive datetimes: a statutory clock that guesses its timezone is wrong twice a year."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"datetime {moment.isoformat()} has no timezone")
    try:
        return moment.astimezone(dt.timezone.utc)
    except OverflowError:
        raise ValueError(f"{moment.isoformat()} is outside the range of representable dates") from None


def describe_span(delta: dt.timedelta) -> str:
    """An elapsed time for people, in its largest unit and the next: '336 days 18 hours',
    '2 hours 5 minutes', '1 day', '40 seconds' (machines get the seconds alongside)."""
    rest = max(int(delta.total_seconds()), 0)
    counts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, rest = divmod(rest, size)
        counts.append((count, unit))
    first = next((i for i, (count, _) in enumerate(counts) if count), len(counts) - 1)
    shown = [(count, unit) for count, unit in counts[first:first + 2] if count] or [(0, "second")]
    return " ".join(f"{count} {unit}{'' if count == 1 else 's'}" for count, unit in shown)
