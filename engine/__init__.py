"""caseclock: statutory clocks for children's social care.

The public API: build an `Engine` from a `Store`, a `Registry` of workflows and (optionally) the
`WorkingCalendar` of cases with no authority and a `Clock`, then open cases, fire triggers and
read deadlines. Each case is counted on its authority's calendar (`engine.runtime.calendars`).
"""

from engine.time.calendar import Nation, Unit, WorkingCalendar
from engine.time.clock import Clock, SimulatedClock, SystemClock
from engine.errors import (
    CalendarError,
    CaseclockError,
    CaseError,
    CaseExists,
    CaseNotFound,
    ConditionNotMet,
    ConflictError,
    DatabaseError,
    DefinitionError,
    DeploymentError,
    IdempotencyMismatch,
    InvalidCaseData,
    InvalidCommand,
    InvalidEffectiveTime,
    InvalidTrigger,
    Problem,
    RoleNotAllowed,
    UnknownWorkflow,
)
from engine.language.registry import Registry
from engine.runtime.views import CaseView, DeadlineView, HistoryEntry, Outcome, OverdueItem, TickReport, UpcomingItem


def __getattr__(name: str):
    """Engine and Store load on first use: `persistence` imports `engine.errors`, so importing
    them here eagerly would make `import persistence.store` on its own circular."""
    if name == "Engine":
        from engine.runtime.engine import Engine

        return Engine
    if name == "Store":
        from persistence.store import Store

        return Store
    raise AttributeError(f"module 'engine' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"Engine", "Store"})


__all__ = [
    "CalendarError", "CaseError", "CaseExists", "CaseNotFound", "CaseView", "CaseclockError", "Clock",
    "ConditionNotMet", "ConflictError", "DatabaseError", "DeadlineView", "DefinitionError", "DeploymentError", "Engine", "HistoryEntry",
    "IdempotencyMismatch", "InvalidCaseData", "InvalidCommand", "InvalidEffectiveTime", "InvalidTrigger", "Nation", "Outcome",
    "OverdueItem", "Problem", "Registry", "RoleNotAllowed", "SimulatedClock", "Store", "SystemClock",
    "TickReport", "Unit", "UnknownWorkflow", "UpcomingItem", "WorkingCalendar",
]
