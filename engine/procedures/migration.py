"""Moving running cases to a new version of their workflow.

A case keeps the definition version it was opened on, so a changed procedure reaches running
cases only when they are moved on purpose. Each case is planned on a snapshot (the engine's
side: which state it lands in, which open deadlines are recounted, cancelled or opened, what is
recorded) and written by the store as one Change, guarded by the case's row version, in one
transaction per case. A case that cannot move (its state is gone and no mapping names a new
one, its data does not fit the new fields, a deadline's new anchor is missing) is refused with
the reason, and nothing of it is written. A case already on the new version is not touched, so
a second run moves nothing; a dry run plans exactly what the real run writes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from engine.errors import CaseError, ConflictError
from engine.language.casedata import coerce, from_json, to_json
from engine.language.definition import DeadlineSpec, Workflow
from engine.runtime.engine import reminders_before
from engine.time.calendar import Unit, WorkingCalendar, due_at
from persistence.models import CANCELLED
from persistence.transaction import Record
from persistence.store import CaseSnapshot, Change, Closing, NewDeadline

MIGRATE = "migrate"


@dataclass(frozen=True)
class DeadlineMove:
    """One open deadline of a moved case: its due date before and after (None: none)."""

    deadline: str
    old_due_on: dt.date | None  # None: opened by the move
    new_due_on: dt.date | None  # None: cancelled by the move
    note: str = ""

    def describe(self) -> str:
        old = self.old_due_on.isoformat() if self.old_due_on else "not open"
        new = self.new_due_on.isoformat() if self.new_due_on else "cancelled"
        return f"{self.deadline}: {old} -> {new}" + (f" ({self.note})" if self.note else "")


@dataclass(frozen=True)
class CaseMove:
    case_ref: str
    from_version: str
    to_version: str
    from_state: str
    to_state: str | None
    deadlines: tuple[DeadlineMove, ...] = ()
    refused: str | None = None  # why the case cannot move


@dataclass
class MigrationReport:
    workflow: str
    to_version: str
    dry_run: bool
    cases: list[CaseMove] = field(default_factory=list)

    @property
    def moved(self) -> list[CaseMove]:
        return [c for c in self.cases if c.refused is None]

    @property
    def refused(self) -> list[CaseMove]:
        return [c for c in self.cases if c.refused is not None]


class Refused(Exception):
    """A case cannot move to the new version; the message says why (never its data)."""


def migrate_cases(engine, workflow: str, target: Workflow, mapping: dict[str, str] | None = None, *,
                  dry_run: bool = False, actor: str = "system") -> MigrationReport:
    """Move every running case of `workflow` not yet on `target` to it (or, with `dry_run`, only
    plan it). `mapping` names the new state of cases in states the new version no longer has."""
    mapping = dict(mapping or {})
    report = MigrationReport(workflow, target.version, dry_run)
    for case_id in engine.store.running_cases(workflow, other_than=target.version):
        for _attempt in range(3):
            snap = engine.store.case_by_id(case_id)
            if snap is None or snap.closed_at is not None or snap.version == target.version:
                break
            try:
                change, move = plan(engine, snap, target, mapping, actor)
            except Refused as exc:
                report.cases.append(CaseMove(snap.case_ref, snap.version, target.version, snap.state, None,
                                             refused=str(exc)))
                break
            if not dry_run:
                try:
                    engine.store.apply(change)
                except ConflictError:
                    continue  # moved by someone else meanwhile: plan again on a fresh snapshot
            report.cases.append(move)
            break
    return report


def plan(engine, snap: CaseSnapshot, target: Workflow, mapping: dict[str, str], actor: str) -> tuple[Change, CaseMove]:
    """The Change that moves one case to `target`, and the report of it; Refused if it cannot move."""
    old = engine._workflow(snap.version)
    state = mapping.get(snap.state, snap.state)
    if state not in target.spec.states:
        raise Refused(f"state '{snap.state}' is not in version {target.version}; "
                      f"map it to one that is with --map {snap.state}=STATE")
    if state in target.final_states:
        raise Refused(f"state '{state}' is final in version {target.version}: a running case cannot be moved there")
    try:
        values = coerce(target, snap.case_ref, from_json(old, snap.data))
    except CaseError as exc:
        raise Refused(f"its data does not fit version {target.version}: {str(exc).split(': ', 1)[-1]}") from None
    calendar = engine.calendars.of(snap.authority)
    now = engine.clock.now()
    at = snap.last_effective_at  # an administrative record: it does not move the case's clock
    closings: list[Closing] = []
    openings: list[NewDeadline] = []
    moves: list[DeadlineMove] = []
    still_open: set[str] = set()
    for row in snap.deadlines:
        spec = target.spec.deadlines.get(row.name)
        if spec is None or (spec.states and state not in spec.states):
            why = "not in the new version" if spec is None else f"not open in {state} in the new version"
            closings.append(Closing(row.id, CANCELLED, at))
            moves.append(DeadlineMove(row.name, row.due_on, None, why))
            continue
        still_open.add(row.name)
        if row.expired_at is not None:
            moves.append(DeadlineMove(row.name, row.due_on, row.due_on, "its expiry has run: kept as it was"))
            continue
        new_row = _recounted(target, state, row, spec, values, calendar)
        if _same(row, new_row):
            moves.append(DeadlineMove(row.name, row.due_on, row.due_on))
            continue
        closings.append(Closing(row.id, CANCELLED, at))
        openings.append(NewDeadline(new_row, reminders_before(spec, new_row.due_on, calendar, now)))
        moves.append(DeadlineMove(row.name, row.due_on, new_row.due_on))
    entered = None
    for name, spec in target.spec.deadlines.items():
        if name in still_open or state not in spec.states or not all(c.holds(values) for c in spec.when):
            continue
        entered = entered or _entered(engine, snap)
        new = engine._new_deadline(target, snap.case_ref, name, spec, entered, values, {}, calendar, snap.authority)
        new.reminders = [r for r in new.reminders if r.remind_at > now]
        openings.append(new)
        note = f"counted from entering {snap.state}" + (", already past due" if new.row.due_at <= now else "")
        moves.append(DeadlineMove(name, None, new.row.due_on, note))
    move = CaseMove(snap.case_ref, snap.version, target.version, snap.state, state, tuple(moves))
    record = {"from_version": snap.version, "to_version": target.version,
              "deadlines": [{"deadline": m.deadline, "old_due_on": _iso(m.old_due_on), "new_due_on": _iso(m.new_due_on)}
                            for m in moves]}
    change = Change(
        case_ref=snap.case_ref, case_id=snap.id, expected_row_version=snap.row_version, version=target.version,
        state=state, data=to_json(values), effective_at=at, closed_at=None,
        transition=Record(
            case_id=0, seq=0, kind=MIGRATE, trigger=MIGRATE, from_state=snap.state, to_state=state, effective_at=at,
            recorded_at=now, actor=actor, reason=f"definition {snap.version} -> {target.version}", data=record,
            idempotency_key=None, definition_version=target.version,
        ),
        closings=closings, openings=openings,
        definition=Record(version=target.version, workflow=target.name, body=target.canonical, stored_at=now),
    )
    return change, move


def _recounted(target: Workflow, state: str, row, spec: DeadlineSpec, values: dict[str, Any],
               calendar: WorkingCalendar) -> Record:
    """The open deadline as the new version counts it, from the same anchor date."""
    anchor = spec.anchor
    if anchor == row.anchor or (anchor in ("entry", "event") and row.anchor in ("entry", "event")):
        anchor_on = row.anchor_on
    elif anchor.startswith("data."):
        anchor_on = values.get(anchor[5:])
        if anchor_on is None:
            raise Refused(f"deadline '{row.name}' is counted from {anchor} in the new version, which the case does not have")
    else:
        raise Refused(f"deadline '{row.name}' is counted from {anchor} in the new version instead of {row.anchor}: "
                      "it cannot be recounted; close it before moving the case")
    due_on = calendar.add(anchor_on, spec.due.amount, spec.due.unit, anchor_is_day_one=spec.due.anchor_is_day_one)
    role = spec.role
    if role is None and len(spec.states) == 1:
        role = target.spec.states[spec.states[0]].role
    return Record(
        case_id=row.case_id, name=row.name, title=spec.title, role=role, source=spec.source, opened_at=row.opened_at,
        anchor=anchor, anchor_on=anchor_on, amount=spec.due.amount, unit=Unit(spec.due.unit).value,
        anchor_is_day_one=spec.due.anchor_is_day_one, calendar_version=calendar.version,
        due_on=due_on, due_at=due_at(due_on), workflow=target.name, authority=row.authority,
    )


def _same(a, b) -> bool:
    keys = ("title", "role", "source", "anchor", "anchor_on", "amount", "unit", "anchor_is_day_one", "due_on")
    return all(getattr(a, k) == getattr(b, k) for k in keys)


def _entered(engine, snap: CaseSnapshot) -> dt.datetime:
    """When the case entered its current state: its last transition into it from elsewhere."""
    for t in reversed(engine.store.history(snap.id)):
        if t.to_state == snap.state and t.from_state != snap.state:
            return t.effective_at
    return snap.opened_at


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


__all__ = ["CaseMove", "DeadlineMove", "MigrationReport", "Refused", "migrate_cases", "plan"]
