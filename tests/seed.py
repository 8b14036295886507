"""Bulk-load many DRP cases with a due `informal_response` deadline (tests and bench/).

The cases are of the test DRP tests/workflows/drp_escalating.yaml, whose informal stage
escalates itself (the base DRP's only notifies), so every timer is a full transition.

One case is opened through the engine (so the definition, the case, its opening transition and
its deadline are exactly what the engine writes); it is then copied `n` times with SQLAlchemy
Core executemany (or PostgreSQL COPY for large loads) and removed. Each copy's deadline is due
at `due_at(i)`, so a worker finds `n` due timers whose `on_expiry` fires `escalate`.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Callable

from sqlalchemy import delete, insert, select

from engine.time.calendar import LONDON, WorkingCalendar, local_date
from engine.time.clock import SimulatedClock
from engine.runtime.engine import Engine
from engine.language.bundled import bundled_dir
from engine.language.registry import Registry
from persistence.models import CaseRow, DeadlineRow, ReminderRow, TransitionRow
from persistence.store import Store

TEST_WORKFLOWS = Path(__file__).resolve().parent / "workflows"
RAISED = {"theme": "drift_and_delay", "concern": "Permanence plan not progressed"}

CASE_COLS = ("case_ref", "workflow", "version", "authority", "state", "data", "opened_at", "last_effective_at",
             "closed_at", "row_version")
TRANSITION_COLS = ("case_id", "seq", "kind", "trigger", "from_state", "to_state", "effective_at", "recorded_at",
                   "actor", "reason", "data", "idempotency_key", "definition_version")
DEADLINE_COLS = ("case_id", "name", "title", "role", "source", "opened_at", "anchor", "anchor_on", "amount", "unit",
                 "anchor_is_day_one", "calendar_version", "due_on", "due_at", "status", "closed_at", "expired_at",
                 "expiry_outcome", "claimed_by", "claimed_until")


def seed(url: str, n: int, due_at: Callable[[int], dt.datetime], *, opened_at: dt.datetime,
         prefix: str = "BULK", chunk: int = 20_000, workflow: str = "drp_escalating", data: dict | None = None,
         registry: Registry | None = None) -> None:
    """Add `n` open cases `{prefix}-{i}` of `workflow` opened at `opened_at`, each with the one
    deadline the workflow opens at the start, due at `due_at(i)` (and no reminders)."""
    store = Store.open(url)
    try:
        clock = SimulatedClock(opened_at + dt.timedelta(minutes=1))
        registry = registry or Registry.load([bundled_dir("workflows"), TEST_WORKFLOWS])
        engine = Engine(store, registry, WorkingCalendar(), clock)
        ref = f"{prefix}-TEMPLATE"
        engine.open_case(workflow, ref, at=opened_at, data=RAISED if data is None else data, actor="seed")
        with store.read() as s:
            case = s.exec(select(CaseRow).where(CaseRow.case_ref == ref)).scalars().one()
            transition = s.exec(select(TransitionRow).where(TransitionRow.case_id == case.id)).scalars().one()
            deadline = s.exec(select(DeadlineRow).where(DeadlineRow.case_id == case.id)).scalars().one()
        for start in range(0, n, chunk):
            _copy(store, case, transition, deadline, range(start, min(n, start + chunk)), due_at, prefix)
        with store.db.writer.begin() as conn:  # the template itself goes
            conn.execute(delete(ReminderRow).where(ReminderRow.case_id == case.id))
            conn.execute(delete(DeadlineRow).where(DeadlineRow.case_id == case.id))
            conn.execute(delete(TransitionRow).where(TransitionRow.case_id == case.id))
            conn.execute(delete(CaseRow).where(CaseRow.id == case.id))
    finally:
        store.close()


def _copy(store: Store, case: CaseRow, transition: TransitionRow, deadline: DeadlineRow, numbers: range,
          due_at: Callable[[int], dt.datetime], prefix: str) -> None:
    cases = [{**{c: getattr(case, c) for c in CASE_COLS}, "case_ref": f"{prefix}-{i}"} for i in numbers]
    pg = store.db.dialect == "postgresql"
    with store.db.writer.begin() as conn:
        if pg and len(numbers) > 2000:
            _copy_rows(conn, "cases", CASE_COLS, cases)
        else:
            conn.execute(insert(CaseRow), cases)
        ids = dict(conn.execute(select(CaseRow.case_ref, CaseRow.id).where(CaseRow.case_ref.in_([c["case_ref"] for c in cases]))).all())
        transitions, deadlines = [], []
        for i in numbers:
            case_id = ids[f"{prefix}-{i}"]
            transitions.append({**{c: getattr(transition, c) for c in TRANSITION_COLS}, "case_id": case_id})
            due = due_at(i)
            deadlines.append({**{c: getattr(deadline, c) for c in DEADLINE_COLS}, "case_id": case_id,
                              "due_at": due, "due_on": local_date(due - dt.timedelta(seconds=1))})
        if pg and len(numbers) > 2000:
            _copy_rows(conn, "transitions", TRANSITION_COLS, transitions)
            _copy_rows(conn, "deadlines", DEADLINE_COLS, deadlines)
        else:
            conn.execute(insert(TransitionRow), transitions)
            conn.execute(insert(DeadlineRow), deadlines)


def _copy_rows(conn, table: str, cols: tuple[str, ...], rows: list[dict]) -> None:
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([_pg_value(row[c]) for c in cols])


def _pg_value(value):
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).isoformat()
    return value


def london(day: str, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour, minute), tzinfo=LONDON)
