"""One command's transaction: read the snapshot, check the idempotency key, apply the Change -
all on one connection, in one transaction, with statements prepared once per database.

On SQLite a writing transaction begins with `BEGIN IMMEDIATE`, so the snapshot it reads cannot
be changed under it by another process before it writes; on PostgreSQL the case's row version
guards the write (a concurrent writer makes the guarded UPDATE match no row: ConflictError).
"""

from __future__ import annotations

import collections
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, Iterator

from sqlalchemy import bindparam, select, update

from engine.errors import AmbiguousCase, CaseExists, ConflictError

from .models import OPEN, CaseRow, DeadlineRow, DefinitionRow, OutboxRow, ReminderRow, TransitionRow
from .statements import Prepared, insert_all, record_type

CASES = CaseRow.__table__
TRANSITIONS = TransitionRow.__table__
DEADLINES = DeadlineRow.__table__
REMINDERS = ReminderRow.__table__
OUTBOX = OutboxRow.__table__
DEFINITIONS = DefinitionRow.__table__

CaseRecord = record_type(CASES)
DeadlineRecord = record_type(DEADLINES)
TransitionRecord = record_type(TRANSITIONS)
ReminderRecord = record_type(REMINDERS)
OutboxRecord = record_type(OUTBOX)
ReminderCase = collections.namedtuple("ReminderCase", ["case_ref", "workflow"])


class Record(SimpleNamespace):
    """A row to write, as plain attributes named after its table's columns (no ORM instance:
    building one costs more than the statement that writes it)."""


class ClaimLost(Exception):
    """A guarded timer row was processed by someone else first; nothing was written."""


def _statements(dialect) -> SimpleNamespace:
    """Every statement of a command, compiled for `dialect`."""
    p = lambda stmt, columns=(): Prepared(stmt, dialect, columns)  # noqa: E731
    case_cols, deadline_cols = list(CASES.columns), list(DEADLINES.columns)
    case_set = dict(row_version=bindparam("b_row_version"), last_effective_at=bindparam("b_last_effective_at"))
    return SimpleNamespace(
        case_by_ref=p(select(CASES).where(CASES.c.case_ref == bindparam("case_ref"),
                                          CASES.c.authority == bindparam("authority")), case_cols),
        cases_by_ref=p(select(CASES).where(CASES.c.case_ref == bindparam("case_ref")).order_by(CASES.c.id).limit(5),
                       case_cols),
        case_by_id=p(select(CASES).where(CASES.c.id == bindparam("id")), case_cols),
        case_id=p(select(CASES.c.id).where(CASES.c.case_ref == bindparam("case_ref"),
                                           CASES.c.authority == bindparam("authority")), [CASES.c.id]),
        case_id_without_authority=p(select(CASES.c.id).where(CASES.c.case_ref == bindparam("case_ref"),
                                                              CASES.c.authority.is_(None)), [CASES.c.id]),
        assign_case=p(update(CASES).where(CASES.c.id == bindparam("b_id"))
                      .values(assigned_to=bindparam("b_assigned_to"), team=bindparam("b_team"))),
        set_case_version=p(update(CASES).where(CASES.c.id == bindparam("b_id")).values(version=bindparam("b_version"))),
        row_version=p(select(CASES.c.row_version).where(CASES.c.id == bindparam("id")), [CASES.c.row_version]),
        open_deadlines=p(select(DEADLINES).where(DEADLINES.c.case_id == bindparam("case_id"), DEADLINES.c.status == OPEN)
                         .order_by(DEADLINES.c.id), deadline_cols),
        by_key=p(select(TRANSITIONS, CASES.c.case_ref).join(CASES, CASES.c.id == TRANSITIONS.c.case_id)
                 .where(TRANSITIONS.c.idempotency_key == bindparam("key")), [*TRANSITIONS.columns, CASES.c.case_ref]),
        definition_known=p(select(DEFINITIONS.c.version).where(DEFINITIONS.c.version == bindparam("version")),
                           [DEFINITIONS.c.version]),
        insert_definition=insert_all(DEFINITIONS, dialect, returning=False),
        insert_case=insert_all(CASES, dialect),
        move_case=p(update(CASES).where(CASES.c.id == bindparam("b_id"), CASES.c.row_version == bindparam("b_expected"))
                    .values(**case_set)),
        move_case_state=p(update(CASES).where(CASES.c.id == bindparam("b_id"), CASES.c.row_version == bindparam("b_expected"))
                          .values(**case_set, state=bindparam("b_state"), data=bindparam("b_data"),
                                  closed_at=bindparam("b_closed_at"))),
        insert_transition=insert_all(TRANSITIONS, dialect),
        insert_deadline=insert_all(DEADLINES, dialect),
        insert_reminder=insert_all(REMINDERS, dialect, returning=False),
        insert_outbox=insert_all(OUTBOX, dialect, returning=False),
        close_deadline=p(update(DEADLINES).where(DEADLINES.c.id == bindparam("b_id"), DEADLINES.c.status == OPEN)
                         .values(status=bindparam("b_status"), closed_at=bindparam("b_closed_at"))),
        cancel_reminders_of=p(update(REMINDERS).where(REMINDERS.c.deadline_id == bindparam("b_deadline_id"),
                                                      REMINDERS.c.sent_at.is_(None)).values(cancelled=True)),
        cancel_reminder=p(update(REMINDERS).where(REMINDERS.c.id == bindparam("b_id")).values(cancelled=True)),
        expire=p(update(DEADLINES).where(DEADLINES.c.id == bindparam("b_id"), DEADLINES.c.expired_at.is_(None),
                                         DEADLINES.c.status == OPEN)
                 .values(expired_at=bindparam("b_expired_at"), expiry_outcome=bindparam("b_outcome"))),
        expire_due=p(update(DEADLINES).where(DEADLINES.c.id == bindparam("b_id"), DEADLINES.c.expired_at.is_(None),
                                             DEADLINES.c.status == OPEN, DEADLINES.c.due_at == bindparam("b_due_at"))
                     .values(expired_at=bindparam("b_expired_at"), expiry_outcome=bindparam("b_outcome"))),
        reminder_sent=p(update(REMINDERS).where(REMINDERS.c.id == bindparam("b_id"), REMINDERS.c.sent_at.is_(None),
                                                REMINDERS.c.cancelled.is_(False)).values(sent_at=bindparam("b_sent_at"))),
        move_deadline=p(update(DEADLINES).where(DEADLINES.c.id == bindparam("b_id"))
                        .values(due_on=bindparam("b_due_on"), due_at=bindparam("b_due_at"),
                                calendar_version=bindparam("b_calendar_version"))),
        due_expiries=p(select(DEADLINES).where(DEADLINES.c.expired_at.is_(None), DEADLINES.c.status == OPEN,
                                               DEADLINES.c.due_at <= bindparam("at"))
                       .order_by(DEADLINES.c.due_at, DEADLINES.c.id).limit(bindparam("limit")), deadline_cols),
        due_reminders=p(select(REMINDERS, DEADLINES, CASES.c.case_ref, CASES.c.workflow)
                        .join(DEADLINES, DEADLINES.c.id == REMINDERS.c.deadline_id)
                        .join(CASES, CASES.c.id == REMINDERS.c.case_id)
                        .where(REMINDERS.c.sent_at.is_(None), REMINDERS.c.cancelled.is_(False),
                               REMINDERS.c.remind_at <= bindparam("at"))
                        .order_by(REMINDERS.c.remind_at, REMINDERS.c.id).limit(bindparam("limit")),
                        [*REMINDERS.columns, *deadline_cols, CASES.c.case_ref, CASES.c.workflow]),
        move_reminder=p(update(REMINDERS).where(REMINDERS.c.id == bindparam("b_id"), REMINDERS.c.sent_at.is_(None))
                        .values(remind_on=bindparam("b_remind_on"), remind_at=bindparam("b_remind_at"))),
    )


class Transaction:
    """Reads and writes of one command on one connection (see `Store.transaction`)."""

    def __init__(self, cursor, sql: SimpleNamespace, known_definitions: set[str]):
        self.cursor = cursor
        self.sql = sql
        self._known_definitions = known_definitions

    # ---- reads ---------------------------------------------------------------------------------

    def _one(self, prepared: Prepared, values: dict[str, Any]):
        raw = prepared.run(self.cursor, values).fetchone()
        return None if raw is None else prepared.row(raw)

    def case(self, case_ref: str, authority: str | None = None):
        """The case and its open deadlines (a CaseSnapshot), or None: the one with this
        reference in `authority`, or with no authority given, in any authority (AmbiguousCase
        when several authorities hold the reference)."""
        if authority is not None:
            return self._snapshot(self._one(self.sql.case_by_ref, {"case_ref": case_ref, "authority": authority}))
        q = self.sql.cases_by_ref
        found = [q.row(raw) for raw in q.run(self.cursor, {"case_ref": case_ref}).fetchall()]
        if len(found) > 1:
            raise AmbiguousCase(case_ref, sorted(CaseRecord._make(v).authority or "(none)" for v in found))
        return self._snapshot(found[0] if found else None)

    def case_by_id(self, case_id: int):
        return self._snapshot(self._one(self.sql.case_by_id, {"id": case_id}))

    def _snapshot(self, values):
        from .store import CaseSnapshot

        if values is None:
            return None
        row = CaseRecord._make(values)
        q = self.sql.open_deadlines
        deadlines = tuple(map(DeadlineRecord._make, map(q.row, q.run(self.cursor, {"case_id": row.id}).fetchall())))
        return CaseSnapshot(
            id=row.id, case_ref=row.case_ref, workflow=row.workflow, version=row.version,
            authority=row.authority, state=row.state, data=dict(row.data), opened_at=row.opened_at,
            last_effective_at=row.last_effective_at, closed_at=row.closed_at,
            row_version=row.row_version, deadlines=deadlines,
            child_ref=row.child_ref, assigned_to=row.assigned_to, team=row.team,
        )

    def transition_by_key(self, key: str):
        """(the transition recorded under an idempotency key, its case_ref), or None."""
        values = self._one(self.sql.by_key, {"key": key})
        return None if values is None else (TransitionRecord._make(values[:-1]), values[-1])

    def due_expiries(self, at, limit: int) -> list:
        """Up to `limit` deadlines whose expiry is due at `at` and not yet processed, oldest first."""
        q = self.sql.due_expiries
        return [DeadlineRecord._make(q.row(r)) for r in q.run(self.cursor, {"at": at, "limit": limit}).fetchall()]

    def due_reminders(self, at, limit: int) -> list:
        """Up to `limit` (reminder, its deadline, its case's ref and workflow) due at `at` and
        not yet sent or cancelled, oldest first."""
        q = self.sql.due_reminders
        split = len(REMINDERS.columns)
        out = []
        for raw in q.run(self.cursor, {"at": at, "limit": limit}).fetchall():
            v = q.row(raw)
            out.append((ReminderRecord._make(v[:split]), DeadlineRecord._make(v[split:-2]), ReminderCase._make(v[-2:])))
        return out

    # ---- writes --------------------------------------------------------------------------------

    def _insert(self, prepared: Prepared, values: dict[str, Any]) -> int | None:
        cursor = prepared.run(self.cursor, values)
        return cursor.fetchone()[0] if prepared.results else None

    def _update(self, prepared: Prepared, values: dict[str, Any]) -> int:
        return prepared.run(self.cursor, values).rowcount

    def apply(self, change) -> int:
        """Every write of a Change; returns the case id. Raises ConflictError, CaseExists,
        ClaimLost, or IntegrityError (an idempotency key reused concurrently)."""
        sql = self.sql
        if change.expiry is not None:
            e = change.expiry
            guard = {"b_id": e.deadline_id, "b_expired_at": e.expired_at, "b_outcome": e.outcome}
            if e.due_at is not None:
                claimed = self._update(sql.expire_due, {**guard, "b_due_at": e.due_at})
            else:
                claimed = self._update(sql.expire, guard)
            if claimed != 1:
                raise ClaimLost(e.deadline_id)
        for rid in change.reminders_sent:
            if self._update(sql.reminder_sent, {"b_id": rid, "b_sent_at": change.effective_at}) != 1:
                raise ClaimLost(rid)
        for rid in change.reminders_cancelled:
            self._update(sql.cancel_reminder, {"b_id": rid})
        definition = change.definition
        if definition is not None and definition.version not in self._known_definitions:
            if self._one(sql.definition_known, {"version": definition.version}) is None:
                self._insert(sql.insert_definition, _values(definition))
            # known once committed; a rolled-back insert is simply checked again next time
            self._pending_definitions = getattr(self, "_pending_definitions", set()) | {definition.version}
        case_id = change.case_id
        new_version = change.expected_row_version + (1 if change.transition is not None else 0)
        if case_id is None:
            if change.authority is None:
                taken = self._one(sql.case_id_without_authority, {"case_ref": change.case_ref})
            else:
                taken = self._one(sql.case_id, {"case_ref": change.case_ref, "authority": change.authority})
            if taken is not None:
                raise CaseExists(change.case_ref)
            case_id = self._insert(sql.insert_case, dict(
                case_ref=change.case_ref, workflow=change.workflow, version=change.version,
                authority=change.authority, state=change.state, data=change.data or {},
                opened_at=change.effective_at, last_effective_at=change.effective_at,
                closed_at=change.closed_at, row_version=1, child_ref=change.child_ref,
                **(change.assignment or {}),
            ))
            new_version = 1
        elif change.transition is not None:
            values = {"b_id": case_id, "b_expected": change.expected_row_version, "b_row_version": new_version,
                      "b_last_effective_at": change.effective_at}
            if change.state is not None:
                values.update(b_state=change.state, b_data=change.data, b_closed_at=change.closed_at)
                moved = self._update(sql.move_case_state, values)
            else:
                moved = self._update(sql.move_case, values)
            if moved != 1:
                actual = self._one(sql.row_version, {"id": case_id})
                raise ConflictError(change.case_ref, change.expected_row_version, actual[0] if actual else None)
            if change.assignment is not None:
                self._update(sql.assign_case, {"b_id": case_id, "b_assigned_to": change.assignment["assigned_to"],
                                               "b_team": change.assignment["team"]})
            if change.version:  # a case moved to another definition version (migrate-cases)
                self._update(sql.set_case_version, {"b_id": case_id, "b_version": change.version})
        if change.transition is not None:
            t = change.transition
            t.case_id, t.seq = case_id, new_version
            t.id = self._insert(sql.insert_transition, _values(t))
        for c in change.closings:
            if self._update(sql.close_deadline, {"b_id": c.deadline_id, "b_status": c.status, "b_closed_at": c.closed_at}) != 1:
                raise ConflictError(change.case_ref)
            self._update(sql.cancel_reminders_of, {"b_deadline_id": c.deadline_id})
        for deadline_id, due_on, due_at, calendar_version in change.moved:
            self._update(sql.move_deadline, {"b_id": deadline_id, "b_due_on": due_on, "b_due_at": due_at,
                                             "b_calendar_version": calendar_version})
        for reminder_id, remind_on, remind_at in change.moved_reminders:
            self._update(sql.move_reminder, {"b_id": reminder_id, "b_remind_on": remind_on, "b_remind_at": remind_at})
        for new in change.openings:
            new.row.case_id = case_id
            new.row.id = self._insert(sql.insert_deadline, _values(new.row))
            for r in new.reminders:
                self._insert(sql.insert_reminder, {
                    "deadline_id": new.row.id, "case_id": case_id, "offset": r.offset, "remind_on": r.remind_on,
                    "remind_at": r.remind_at, "cancelled": False})
        for n in change.notifications:
            self._insert(sql.insert_outbox, {
                "idempotency_key": n.idempotency_key, "case_ref": change.case_ref, "kind": n.kind, "payload": n.payload,
                "created_at": change.effective_at or n.due_at, "status": "pending", "attempts": 0,
                "next_attempt_at": n.due_at})
        for child in change.spawned:
            self.apply(child)
        return case_id


def _values(row) -> dict[str, Any]:
    """A record's column values for an insert (the id is the database's)."""
    values = dict(vars(row))
    values.pop("id", None)
    return values


@contextmanager
def begin(database, sql: SimpleNamespace, known_definitions: set[str], *, write: bool) -> Iterator[Transaction]:
    """A transaction on a pooled DBAPI connection: committed if the block ends normally, rolled
    back if it raises. SQLite writes begin IMMEDIATE (one writer at a time, no lock upgrade)."""
    engine = database.writer if write else database.reader
    pooled = engine.raw_connection()
    sqlite = database.dialect == "sqlite"
    try:
        cursor = pooled.cursor()
        if sqlite:
            cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        tx = Transaction(cursor, sql, known_definitions)
        try:
            yield tx
        except BaseException:
            _rollback(pooled, cursor, sqlite)
            raise
        try:
            if sqlite:
                cursor.execute("COMMIT")
            else:
                pooled.commit()
        except engine.dialect.loaded_dbapi.Error as exc:
            from sqlalchemy.exc import DBAPIError

            _rollback(pooled, cursor, sqlite)
            raise DBAPIError.instance("COMMIT", None, exc, engine.dialect.loaded_dbapi.Error,
                                      hide_parameters=True, dialect=engine.dialect) from None
        known_definitions.update(getattr(tx, "_pending_definitions", ()))
    finally:
        pooled.close()


def _rollback(pooled, cursor, sqlite: bool) -> None:
    if not sqlite:
        pooled.rollback()
    elif pooled.driver_connection.in_transaction:  # SQLite may have rolled back already
        cursor.execute("ROLLBACK")


class Batch:
    """Many commands sharing transactions, for replaying many cases (a simulation, an import):
    each command runs in its own SAVEPOINT, so a refused one writes nothing, exactly as alone,
    and the transaction is committed every `every` commands and at the end. The commands in the
    batch read their snapshots (and idempotency keys) in it, so they see its writes; other reads
    (case views, history, lists) see only what it has committed. `atomic()` groups commands that
    stand or fall together (one child's history in an import)."""

    def __init__(self, database, sql: SimpleNamespace, known_definitions: set[str], every: int):
        if every < 1:
            raise ValueError("a batch commits every 1 or more commands")
        self.every = every
        self.commands = 0
        self._uncommitted = 0  # commands since the last commit
        self._groups = 0  # `atomic()` blocks open: no commit inside one
        self._sqlite = database.dialect == "sqlite"
        self._dialect = database.writer.dialect
        self._known = known_definitions
        self._pooled = database.writer.raw_connection()
        self._cursor = self._pooled.cursor()
        self.tx = Transaction(self._cursor, sql, known_definitions)
        self._begin()

    def _begin(self) -> None:
        if self._sqlite:
            self._cursor.execute("BEGIN IMMEDIATE")
        self.tx._pending_definitions = set()

    def _commit(self) -> None:
        if self._sqlite:
            self._cursor.execute("COMMIT")
        else:
            self._pooled.commit()
        self._known.update(self.tx._pending_definitions)

    @contextmanager
    def _savepoint(self, name: str) -> Iterator[None]:
        """Undo the block's writes (and the definitions it noted as stored) if it raises."""
        pending = set(self.tx._pending_definitions)
        self._cursor.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            if not self._sqlite or self._pooled.driver_connection.in_transaction:
                self._cursor.execute(f"ROLLBACK TO SAVEPOINT {name}")
                self._cursor.execute(f"RELEASE SAVEPOINT {name}")
            self.tx._pending_definitions = pending
            raise
        self._cursor.execute(f"RELEASE SAVEPOINT {name}")

    @contextmanager
    def command(self) -> Iterator[Transaction]:
        with self._savepoint("caseclock_command"):
            yield self.tx
        self.commands += 1
        self._uncommitted += 1
        self._commit_if_due()

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """`with batch.atomic():` - the commands in the block are all kept or, if the block
        raises, all undone (each still in its own savepoint inside); the batch commits only
        between such blocks, never inside one."""
        self._groups += 1
        try:
            with self._savepoint("caseclock_group"):
                yield
        finally:
            self._groups -= 1
        self._commit_if_due()

    def _commit_if_due(self) -> None:
        if self._groups == 0 and self._uncommitted >= self.every:
            self._commit()
            self._begin()
            self._uncommitted = 0

    def close(self, commit: bool) -> None:
        try:
            if commit:
                self._commit()
            else:
                _rollback(self._pooled, self._cursor, self._sqlite)
        finally:
            self._pooled.close()
