"""What the engine returns: plain, typed, JSON-ready records (never ORM rows)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from engine.time.calendar import Computation


def _jsonable(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


class _View:
    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))  # type: ignore[call-overload]


@dataclass(frozen=True)
class DeadlineView(_View):
    name: str
    title: str
    status: str
    due_on: dt.date
    due_at: dt.datetime
    source: str
    role: str | None
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    anchor: str
    anchor_on: dt.date
    amount: int
    unit: str
    anchor_is_day_one: bool
    calendar_version: str
    expired_at: dt.datetime | None
    expiry_outcome: str | None
    # an open deadline past its due day: working days since it fell due (as the overdue list counts)
    working_days_overdue: int | None = None

    @property
    def overdue(self) -> bool:
        return self.working_days_overdue is not None


@dataclass(frozen=True)
class HistoryEntry(_View):
    seq: int
    kind: str
    trigger: str
    from_state: str | None
    to_state: str
    effective_at: dt.datetime
    recorded_at: dt.datetime
    actor: str
    reason: str | None
    data: dict[str, Any]
    definition_version: str
    idempotency_key: str | None

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["from"] = out.pop("from_state")
        out["to"] = out.pop("to_state")
        return out


@dataclass(frozen=True)
class CaseView(_View):
    case_ref: str
    workflow: str
    version: str
    authority: str | None
    state: str
    data: dict[str, Any]
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    row_version: int
    deadlines: list[DeadlineView] = field(default_factory=list)
    child_ref: str | None = None  # the host system's person id
    assigned_to: str | None = None  # the IRO or conference chair holding the case
    team: str | None = None
    # the version of the workflow this process's registry runs now (None: it does not know the
    # workflow); when it differs from `version`, `caseclock migrate-cases` can move the case to it
    current_version: str | None = None

    @property
    def newer_version_exists(self) -> bool:
        return self.current_version is not None and self.current_version != self.version

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["newer_version_exists"] = self.newer_version_exists
        return out

    @property
    def open_deadlines(self) -> list[DeadlineView]:
        return [d for d in self.deadlines if d.status == "open"]

    def deadline(self, name: str, status: str | None = "open") -> DeadlineView:
        """The latest deadline of that name (with that status, if given)."""
        matches = [d for d in self.deadlines if d.name == name and (status is None or d.status == status)]
        if not matches:
            raise KeyError(f"case {self.case_ref} has no {status or ''} deadline '{name}'")
        return max(matches, key=lambda d: d.opened_at)


@dataclass(frozen=True)
class Outcome(_View):
    """The result of one fired trigger (or its replay under the same idempotency key)."""

    case_ref: str
    trigger: str
    from_state: str | None
    to_state: str
    effective_at: dt.datetime
    seq: int
    replayed: bool = False


@dataclass(frozen=True)
class OverdueItem(_View):
    case_ref: str
    workflow: str
    state: str
    deadline: str
    title: str
    due_on: dt.date
    working_days_overdue: int
    role: str | None
    source: str
    child_ref: str | None = None
    assigned_to: str | None = None
    team: str | None = None


@dataclass(frozen=True)
class UpcomingItem(_View):
    case_ref: str
    workflow: str
    state: str
    deadline: str
    title: str
    due_on: dt.date
    working_days_left: int
    role: str | None
    source: str
    child_ref: str | None = None
    assigned_to: str | None = None
    team: str | None = None


@dataclass(frozen=True)
class DeadlinePage(_View):
    """One page of a monitoring list with the whole list's counts, all computed in SQL."""

    items: list[Any]  # OverdueItem or UpcomingItem, sorted by due time
    total: int
    by_workflow: dict[str, int]
    by_age: dict[str, int] | None  # overdue only: working days overdue, by band
    limit: int
    offset: int


@dataclass
class TickReport(_View):
    at: dt.datetime
    expired: int = 0
    fired: int = 0
    notified: int = 0
    reminders: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    opened: list[tuple[int, dt.datetime]] = field(default_factory=list)  # (id, due_at) of deadlines the fired triggers opened


@dataclass(frozen=True)
class Explanation(_View):
    """How one deadline's date was computed, for `caseclock explain`."""

    deadline: str
    title: str
    due_on: dt.date
    anchor: str
    computation: Computation
    source: str
    stale: bool = False  # the calendar changed since it was stored: `caseclock recompute` moves it


@dataclass(frozen=True)
class Moved(_View):
    case_ref: str
    deadline: str
    old_due_on: dt.date
    new_due_on: dt.date
