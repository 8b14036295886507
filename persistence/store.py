"""The store: reads snapshots and applies one Change per transaction.

The engine decides (pure computation on a snapshot); the store writes. A Change is applied in
one transaction guarded by the case's row version, so two writers racing on one case cannot
both win, and history (unique case_id + seq) cannot fork.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterator

from sqlalchemy import and_, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from engine.errors import CaseExists, ConflictError

from .db import Database, connect, migrate
from .models import (
    CANCELLED,
    OPEN,
    CaseRow,
    DeadlineRow,
    DefinitionRow,
    OutboxRow,
    ReminderRow,
    TransitionRow,
)


@dataclass(frozen=True)
class CaseSnapshot:
    id: int
    case_ref: str
    workflow: str
    version: str
    authority: str | None
    state: str
    data: dict[str, Any]
    opened_at: dt.datetime
    last_effective_at: dt.datetime
    closed_at: dt.datetime | None
    row_version: int
    deadlines: tuple[DeadlineRow, ...]  # open ones only

    def open_deadline(self, name: str) -> DeadlineRow | None:
        return next((d for d in self.deadlines if d.name == name), None)


@dataclass
class NewReminder:
    offset: str
    remind_on: dt.date
    remind_at: dt.datetime


@dataclass
class NewDeadline:
    row: DeadlineRow  # case_id filled in by the store
    reminders: list[NewReminder] = field(default_factory=list)


@dataclass
class Closing:
    deadline_id: int
    status: str
    closed_at: dt.datetime


@dataclass
class Notification:
    idempotency_key: str
    kind: str
    payload: dict[str, Any]
    due_at: dt.datetime


@dataclass
class Expiry:
    """Marks a deadline's on_expiry as processed; guarded so it happens once."""

    deadline_id: int
    expired_at: dt.datetime
    outcome: str


@dataclass
class Change:
    """Everything one command writes, applied atomically."""

    case_ref: str
    case_id: int | None = None  # None: open a new case
    expected_row_version: int = 0
    workflow: str = ""
    version: str = ""
    authority: str | None = None
    state: str | None = None  # None: the case row is not touched
    data: dict[str, Any] | None = None
    effective_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    transition: TransitionRow | None = None
    closings: list[Closing] = field(default_factory=list)
    openings: list[NewDeadline] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    expiry: Expiry | None = None
    reminders_sent: list[int] = field(default_factory=list)
    reminders_cancelled: list[int] = field(default_factory=list)
    moved: list[tuple[int, dt.date, dt.datetime, str]] = field(default_factory=list)  # recompute
    definition: DefinitionRow | None = None


class ClaimLost(Exception):
    """A guarded timer row was processed by someone else first; nothing was written."""


class Store:
    def __init__(self, database: Database):
        self.db = database

    @classmethod
    def open(cls, url: str, *, migrate_schema: bool = True) -> "Store":
        database = connect(url)
        if migrate_schema:
            migrate(database)
        return cls(database)

    def close(self) -> None:
        self.db.dispose()

    # ---- reads -------------------------------------------------------------------------------

    def read(self) -> Session:
        return Session(self.db.reader, expire_on_commit=False)

    def case(self, case_ref: str) -> CaseSnapshot | None:
        with self.read() as s:
            row = s.exec(select(CaseRow).where(CaseRow.case_ref == case_ref)).scalars().first()
            return self._snapshot(s, row) if row else None

    def case_by_id(self, case_id: int) -> CaseSnapshot | None:
        with self.read() as s:
            row = s.get(CaseRow, case_id)
            return self._snapshot(s, row) if row else None

    def _snapshot(self, s: Session, row: CaseRow) -> CaseSnapshot:
        deadlines = s.exec(
            select(DeadlineRow).where(DeadlineRow.case_id == row.id, DeadlineRow.status == OPEN).order_by(DeadlineRow.id)
        ).scalars().all()
        return CaseSnapshot(
            id=row.id, case_ref=row.case_ref, workflow=row.workflow, version=row.version,
            authority=row.authority, state=row.state, data=dict(row.data), opened_at=row.opened_at,
            last_effective_at=row.last_effective_at, closed_at=row.closed_at,
            row_version=row.row_version, deadlines=tuple(deadlines),
        )

    def deadlines(self, case_id: int) -> list[DeadlineRow]:
        with self.read() as s:
            return list(s.exec(select(DeadlineRow).where(DeadlineRow.case_id == case_id).order_by(DeadlineRow.due_at, DeadlineRow.id)).scalars())

    def history(self, case_id: int) -> list[TransitionRow]:
        with self.read() as s:
            return list(s.exec(select(TransitionRow).where(TransitionRow.case_id == case_id).order_by(TransitionRow.seq)).scalars())

    def transition_by_key(self, key: str) -> tuple[TransitionRow, str] | None:
        with self.read() as s:
            found = s.exec(
                select(TransitionRow, CaseRow.case_ref).join(CaseRow, CaseRow.id == TransitionRow.case_id)
                .where(TransitionRow.idempotency_key == key)
            ).first()
            return (found[0], found[1]) if found else None

    def definition(self, version: str) -> DefinitionRow | None:
        with self.read() as s:
            return s.get(DefinitionRow, version)

    def open_deadlines_due(self, *, due_before: dt.datetime, due_from: dt.datetime | None = None) -> list[tuple[DeadlineRow, CaseRow]]:
        """Open deadlines with due_at in [due_from, due_before), oldest first, with their case."""
        cond = [DeadlineRow.status == OPEN, DeadlineRow.due_at <= due_before]
        if due_from is not None:
            cond.append(DeadlineRow.due_at > due_from)
        with self.read() as s:
            rows = s.exec(
                select(DeadlineRow, CaseRow).join(CaseRow, CaseRow.id == DeadlineRow.case_id)
                .where(and_(*cond)).order_by(DeadlineRow.due_at, DeadlineRow.id)
            ).all()
            return [(d, c) for d, c in rows]

    def pending_expiries(self, at: dt.datetime, limit: int = 500) -> list[DeadlineRow]:
        with self.read() as s:
            return list(s.exec(
                select(DeadlineRow).where(
                    DeadlineRow.expired_at.is_(None), DeadlineRow.status == OPEN, DeadlineRow.due_at <= at
                ).order_by(DeadlineRow.due_at, DeadlineRow.id).limit(limit)
            ).scalars())

    def pending_reminders(self, at: dt.datetime, limit: int = 500) -> list[tuple[ReminderRow, DeadlineRow, CaseRow]]:
        with self.read() as s:
            rows = s.exec(
                select(ReminderRow, DeadlineRow, CaseRow)
                .join(DeadlineRow, DeadlineRow.id == ReminderRow.deadline_id)
                .join(CaseRow, CaseRow.id == ReminderRow.case_id)
                .where(ReminderRow.sent_at.is_(None), ReminderRow.cancelled.is_(False), ReminderRow.remind_at <= at)
                .order_by(ReminderRow.remind_at, ReminderRow.id).limit(limit)
            ).all()
            return [(r, d, c) for r, d, c in rows]

    def outbox(self, status: str | None = None) -> list[OutboxRow]:
        with self.read() as s:
            q = select(OutboxRow).order_by(OutboxRow.id)
            if status:
                q = q.where(OutboxRow.status == status)
            return list(s.exec(q).scalars())

    def count(self, model, *where) -> int:
        with self.read() as s:
            return s.exec(select(func.count()).select_from(model).where(*where)).scalar_one()

    # ---- writes ------------------------------------------------------------------------------

    def apply(self, change: Change) -> int:
        """Write a Change atomically; return the case id. Raises ConflictError, CaseExists,
        ClaimLost, or IntegrityError (an idempotency key reused concurrently)."""
        with Session(self.db.writer, expire_on_commit=False) as s:
            with s.begin():
                case_id = self._apply(s, change)
        return case_id

    def _apply(self, s: Session, change: Change) -> int:
        if change.expiry is not None:
            claimed = s.execute(
                update(DeadlineRow)
                .where(DeadlineRow.id == change.expiry.deadline_id, DeadlineRow.expired_at.is_(None), DeadlineRow.status == OPEN)
                .values(expired_at=change.expiry.expired_at, expiry_outcome=change.expiry.outcome)
            ).rowcount
            if claimed != 1:
                raise ClaimLost(change.expiry.deadline_id)
        for rid in change.reminders_sent:
            if s.execute(update(ReminderRow).where(ReminderRow.id == rid, ReminderRow.sent_at.is_(None))
                         .values(sent_at=change.effective_at)).rowcount != 1:
                raise ClaimLost(rid)
        if change.reminders_cancelled:
            s.execute(update(ReminderRow).where(ReminderRow.id.in_(change.reminders_cancelled)).values(cancelled=True))
        if change.definition is not None and s.get(DefinitionRow, change.definition.version) is None:
            s.add(change.definition)
            s.flush()
        case_id = change.case_id
        new_version = change.expected_row_version + (1 if change.transition is not None else 0)
        if case_id is None:
            if s.execute(select(CaseRow.id).where(CaseRow.case_ref == change.case_ref)).first():
                raise CaseExists(change.case_ref)
            row = CaseRow(
                case_ref=change.case_ref, workflow=change.workflow, version=change.version,
                authority=change.authority, state=change.state, data=change.data or {},
                opened_at=change.effective_at, last_effective_at=change.effective_at,
                closed_at=change.closed_at, row_version=1,
            )
            s.add(row)
            try:
                s.flush()
            except IntegrityError:
                raise CaseExists(change.case_ref) from None
            case_id = row.id
            new_version = 1
        elif change.transition is not None:
            values: dict[str, Any] = {"row_version": new_version, "last_effective_at": change.effective_at}
            if change.state is not None:
                values.update(state=change.state, data=change.data, closed_at=change.closed_at)
            moved = s.execute(
                update(CaseRow).where(CaseRow.id == case_id, CaseRow.row_version == change.expected_row_version).values(**values)
            ).rowcount
            if moved != 1:
                actual = s.execute(select(CaseRow.row_version).where(CaseRow.id == case_id)).scalar()
                raise ConflictError(change.case_ref, change.expected_row_version, actual)
        if change.transition is not None:
            t = change.transition
            t.case_id, t.seq = case_id, new_version
            s.add(t)
        for c in change.closings:
            done = s.execute(
                update(DeadlineRow).where(DeadlineRow.id == c.deadline_id, DeadlineRow.status == OPEN)
                .values(status=c.status, closed_at=c.closed_at)
            ).rowcount
            if done != 1:
                raise ConflictError(change.case_ref)
            s.execute(update(ReminderRow).where(ReminderRow.deadline_id == c.deadline_id, ReminderRow.sent_at.is_(None))
                      .values(cancelled=True))
        for deadline_id, due_on, due_at, calendar_version in change.moved:
            s.execute(update(DeadlineRow).where(DeadlineRow.id == deadline_id)
                      .values(due_on=due_on, due_at=due_at, calendar_version=calendar_version))
        for new in change.openings:
            new.row.case_id = case_id
            s.add(new.row)
        if change.openings:
            s.flush()
            for new in change.openings:
                for r in new.reminders:
                    s.add(ReminderRow(deadline_id=new.row.id, case_id=case_id, offset=r.offset,
                                      remind_on=r.remind_on, remind_at=r.remind_at))
        for n in change.notifications:
            s.add(OutboxRow(idempotency_key=n.idempotency_key, case_ref=change.case_ref, kind=n.kind,
                            payload=n.payload, created_at=change.effective_at or n.due_at,
                            next_attempt_at=n.due_at))
        s.flush()
        return case_id

    def iter_cases(self, batch: int = 1000) -> Iterator[CaseRow]:
        last = 0
        while True:
            with self.read() as s:
                rows = list(s.exec(select(CaseRow).where(CaseRow.id > last).order_by(CaseRow.id).limit(batch)).scalars())
            if not rows:
                return
            yield from rows
            last = rows[-1].id


__all__ = [
    "CANCELLED", "Change", "CaseSnapshot", "ClaimLost", "Closing", "Expiry", "NewDeadline",
    "NewReminder", "Notification", "Store",
]
