"""`caseclock demo`: a handful of cases recorded late, run through the real engine on SQLite.

The demo runs "as at" a fixed moment on a simulated clock, so its dates are the same every day
it is run and can be checked by hand against the calendar.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from rich.console import Console
from rich.table import Table

from persistence.store import Store

from engine import logs
from engine.time.calendar import LONDON, WorkingCalendar
from engine.time.clock import SimulatedClock
from engine.runtime.engine import Engine
from engine.language.registry import Registry

AS_AT = dt.datetime(2026, 1, 21, 9, 0, tzinfo=LONDON)


def _day(text: str, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(hour), tzinfo=LONDON)


def run(database: Path, console: Console) -> Engine:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    logs.configure(level="warning")
    clock = SimulatedClock(AS_AT)
    engine = Engine(Store.open(f"sqlite:///{database}"), Registry.load(), WorkingCalendar(), clock)
    console.print(f"caseclock demo: disputes, a child looked after and a child protection enquiry on {database}, as at {AS_AT:%A %d %B %Y %H:%M} (Europe/London)\n")

    # 1. raised informally a week before Christmas; the informal response was due Mon 22 Dec and
    #    nobody answered, so the IRO took formal action the next day; after that nobody responds,
    #    so every formal stage escalates itself
    engine.open_case("drp", "DRP-0001", at=_day("2025-12-15"), actor="iro.a",
                     data={"theme": "drift_and_delay", "concern": "Permanence plan not progressed"})
    engine.fire("DRP-0001", "escalate", at=_day("2025-12-23"), actor="iro.a", role="iro")
    # 2. opened straight at stage 2 (the IRO may bypass stages) and resolved in three days
    engine.open_case("drp", "DRP-0002", at=_day("2026-01-12"), state="stage_2", actor="iro.b",
                     data={"theme": "care_planning", "concern": "Contact arrangements not reviewed"})
    engine.fire("DRP-0002", "resolve", at=_day("2026-01-15"), actor="iro.b", role="iro",
                data={"outcome": "care_plan_changed"})
    # 3. skipped to stage 3 on a safety concern, with a Cafcass referral alongside
    engine.open_case("drp", "DRP-0003", at=_day("2026-01-06"), actor="iro.c",
                     data={"theme": "safety", "concern": "Placement risk not addressed"})
    engine.fire("DRP-0003", "escalate_to", at=_day("2026-01-08"), actor="iro.c", role="iro",
                data={"target_stage": "stage_3"})
    engine.fire("DRP-0003", "refer_to_cafcass", at=_day("2026-01-13"), actor="iro.c", role="iro",
                data={"cafcass_referred_on": "2026-01-13"})
    # 4. raised this week: its informal response is still running
    engine.open_case("drp", "DRP-0004", at=_day("2026-01-19"), actor="iro.a",
                     data={"theme": "practice", "concern": "Statutory visits overdue"})
    # 5. opened at stage 1, then withdrawn once the team manager acted
    engine.open_case("drp", "DRP-0005", at=_day("2026-01-05"), state="stage_1", actor="iro.b",
                     data={"theme": "practice", "concern": "Health assessment outstanding"})
    engine.fire("DRP-0005", "withdraw", at=_day("2026-01-07"), actor="iro.b", role="iro", reason="action taken")

    # a child became looked after the week before Christmas; the first review was held on time
    engine.open_case("cla_review", "CLA-0001", at=_day("2025-12-19"), actor="business.support",
                     data={"became_looked_after": "2025-12-17"})
    engine.fire("CLA-0001", "review_held", at=_day("2026-01-14"), actor="iro.a", role="iro",
                data={"next_review_on": "2026-04-08"})
    # a strategy discussion decided to convene an initial child protection conference
    engine.open_case("child_protection", "CP-0001", at=_day("2026-01-05"), actor="business.support",
                     data={"strategy_discussion_on": "2026-01-05"})

    report = engine.tick(AS_AT)
    console.print(f"timers processed as at now: {report.expired} expired, {report.fired} escalated automatically, "
                  f"{report.reminders} reminders, {report.notified} notifications queued\n")

    table = Table(title="Cases", title_justify="left")
    for col in ("case", "state", "open deadlines (due)", "history"):
        table.add_column(col, overflow="fold")
    for ref in ("DRP-0001", "DRP-0002", "DRP-0003", "DRP-0004", "DRP-0005", "CLA-0001", "CP-0001"):
        view = engine.case(ref)
        due = ", ".join(f"{d.name} {d.due_on}" for d in sorted(view.open_deadlines, key=lambda d: d.due_on)[:4]) or "-"
        if len(view.open_deadlines) > 4:
            due += f" (+{len(view.open_deadlines) - 4} more)"
        path = " -> ".join(dict.fromkeys(h.to_state for h in engine.history(ref)))
        table.add_row(ref, view.state, due, path)
    console.print(table)

    overdue = Table(title="Overdue now", title_justify="left")
    for col in ("case", "state", "deadline", "due", "working days over"):
        overdue.add_column(col)
    for item in engine.overdue(AS_AT):
        overdue.add_row(item.case_ref, item.state, item.deadline, item.due_on.isoformat(), str(item.working_days_overdue))
    console.print(overdue)
    upcoming = Table(title="Due within 5 working days", title_justify="left")
    for col in ("case", "state", "deadline", "due", "working days left"):
        upcoming.add_column(col)
    for item in engine.upcoming(5, at=AS_AT):
        upcoming.add_row(item.case_ref, item.state, item.deadline, item.due_on.isoformat(), str(item.working_days_left))
    console.print(upcoming)
    console.print(f"\nExplore it: caseclock --database sqlite:///{database} show DRP-0001")
    return engine
