"""caseclock: statutory clocks for children's social care.

The public API: build an `Engine` from a `Store`, a `Registry` of workflows and (optionally) the
`WorkingCalendar` of cases with no authority and a `Clock`, then open cases, fire triggers and
read deadlines. Each case is counted on its authority's calendar (`engine.runtime.calendars`).
"""

# name -> module: everything loads on first use, so `import engine.<anything>` (the command line
# first of all) does not pay for the calendar, the definition language and SQLAlchemy up front;
# `persistence` imports `engine.errors`, so importing Store eagerly would also be circular
_PUBLIC = {
    **dict.fromkeys(("Nation", "Unit", "WorkingCalendar"), "engine.time.calendar"),
    **dict.fromkeys(("Clock", "SimulatedClock", "SystemClock"), "engine.time.clock"),
    **dict.fromkeys((
        "AmbiguousCase", "CalendarError", "CaseclockError", "CaseError", "CaseExists", "CaseNotFound", "ConditionNotMet",
        "ConflictError", "DatabaseError", "DefinitionError", "DeploymentError", "IdempotencyMismatch",
        "InvalidCaseData", "InvalidCommand", "InvalidEffectiveTime", "InvalidTrigger", "Problem", "RoleNotAllowed", "UnknownWorkflow",
    ), "engine.errors"),
    "Registry": "engine.language.registry",
    **dict.fromkeys(("CaseView", "DeadlineView", "HistoryEntry", "Outcome", "OverdueItem", "TickReport", "UpcomingItem"),
                    "engine.runtime.views"),
    "Engine": "engine.runtime.engine",
    "Store": "persistence.store",
}


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))


__all__ = [
    "AmbiguousCase", "CalendarError", "CaseError", "CaseExists", "CaseNotFound", "CaseView", "CaseclockError", "Clock",
    "ConditionNotMet", "ConflictError", "DatabaseError", "DeadlineView", "DefinitionError", "DeploymentError", "Engine", "HistoryEntry",
    "IdempotencyMismatch", "InvalidCaseData", "InvalidCommand", "InvalidEffectiveTime", "InvalidTrigger", "Nation", "Outcome",
    "OverdueItem", "Problem", "Registry", "RoleNotAllowed", "SimulatedClock", "Store", "SystemClock",
    "TickReport", "Unit", "UnknownWorkflow", "UpcomingItem", "WorkingCalendar",
]
