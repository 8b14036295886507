"""The store: reads snapshots and applies one Change per transaction.

The engine decides (pure computation on a snapshot); the store writes. A Change is applied in
one transaction guarded by the case's row version, so two writers racing on one case cannot
both win, and history (unique case_id + seq) cannot fork.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from dataclasses import dataclass, field
from contextlib import contextmanager, nullcontext
from typing import Any, Iterator

from sqlalchemy import func, insert, or_, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    IntegrityError,
    InterfaceError,
    NoSuchModuleError,
    SQLAlchemyError,
)
from sqlalchemy.exc import DatabaseError as SQLAlchemyDatabaseError
from sqlmodel import Session

from engine.errors import DatabaseError

from .db import Database, connect, migrate
from .transaction import (
    CASES,
    DEADLINES,
    Batch,
    ClaimLost,
    OUTBOX,
    REMINDERS,
    DeadlineRecord,
    OutboxRecord,
    Record,
    ReminderCase,
    ReminderRecord,
    Transaction,
    _statements,
    begin,
)
from .models import (
    CANCELLED,
    OPEN,
    DeadlineRow,
    DefinitionRow,
    DeploymentRow,
    OutboxRow,
    ReminderRow,
    SecretRow,
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
    deadlines: tuple[DeadlineRecord, ...]  # open ones only
    child_ref: str | None = None
    assigned_to: str | None = None
    team: str | None = None

    def open_deadline(self, name: str) -> DeadlineRecord | None:
        return next((d for d in self.deadlines if d.name == name), None)


@dataclass
class NewReminder:
    offset: str
    remind_on: dt.date
    remind_at: dt.datetime


@dataclass
class NewDeadline:
    row: Record  # the deadlines columns; case_id and id filled in by the store
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
    due_at: dt.datetime | None = None  # when given, the row must still be due then (not moved since)


@dataclass
class Change:
    """Everything one command writes, applied atomically."""

    case_ref: str
    case_id: int | None = None  # None: open a new case
    expected_row_version: int = 0
    workflow: str = ""
    version: str = ""  # a new case's definition version; on an existing case, the version it moves to
    authority: str | None = None
    child_ref: str | None = None  # set at open
    assignment: dict[str, str | None] | None = None  # at open, or a reassign: assigned_to, team
    state: str | None = None  # None: the case row is not touched
    data: dict[str, Any] | None = None
    effective_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    transition: Record | None = None  # the transitions columns; case_id, seq and id filled in by the store
    closings: list[Closing] = field(default_factory=list)
    openings: list[NewDeadline] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    expiry: Expiry | None = None
    reminders_sent: list[int] = field(default_factory=list)
    reminders_cancelled: list[int] = field(default_factory=list)
    moved: list[tuple[int, dt.date, dt.datetime, str]] = field(default_factory=list)  # recompute
    moved_reminders: list[tuple[int, dt.date, dt.datetime]] = field(default_factory=list)
    definition: Record | None = None  # the definitions columns, written if not stored yet
    spawned: list["Change"] = field(default_factory=list)  # cases opened by this change


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return repr(url)


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


DEPLOYMENT = DeploymentRow.__table__
SECRETS = SecretRow.__table__
_RECORDS = {DEADLINES.name: DeadlineRecord, REMINDERS.name: ReminderRecord, OUTBOX.name: OutboxRecord}


class Store:
    def __init__(self, database: Database):
        self.db = database
        self._sql = None  # the command statements, compiled for this database on first use
        self._known_definitions: set[str] = set()  # definition versions known to be stored
        self._batch: tuple[int, Batch] | None = None  # (thread, batch) while `batch()` is open

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Transaction]:
        """One command's reads and writes on one connection in one transaction: read the
        snapshot, plan, `apply`; committed when the block ends, rolled back if it raises."""
        batch = self._batch
        if batch is not None and batch[0] == threading.get_ident():
            with batch[1].command() as tx:
                yield tx
            return
        with begin(self.db, self._statements(), self._known_definitions, write=write) as tx:
            yield tx

    def _statements(self):
        if self._sql is None:
            self._sql = _statements(self.db.writer.dialect)
        return self._sql

    @contextmanager
    def batch(self, every: int = 500) -> Iterator[Batch]:
        """Share transactions between the commands this thread runs in the block (see
        `persistence.transaction.Batch`): what they store is exactly what they would store one
        by one; committed every `every` commands and when the block ends, rolled back (since the
        last commit) if it raises."""
        if self._batch is not None:
            raise RuntimeError("a batch is already open on this store")
        batch = Batch(self.db, self._statements(), self._known_definitions, every)
        self._batch = (threading.get_ident(), batch)
        ok = False
        try:
            yield batch
            ok = True
        finally:
            self._batch = None
            batch.close(commit=ok)

    @classmethod
    def open(cls, url: str, *, create: bool = True, migrate_schema: bool = True) -> "Store":
        """Connect (and bring the schema up to date). A SQLite file that does not exist is created
        only if `create` (else DatabaseMissing). A bad URL, an unreachable server or a file that
        is not a database is a DatabaseError naming the URL without its password."""
        database = None
        try:
            database = connect(url, create=create)
            if migrate_schema:
                migrate(database)
        except (ArgumentError, NoSuchModuleError, SQLAlchemyDatabaseError, InterfaceError) as exc:
            if database is not None:
                database.dispose()
            raise DatabaseError(f"cannot open database {_safe_url(url)}: {_first_line(exc)}") from None
        return cls(database)

    def close(self) -> None:
        self.db.dispose()

    def reachable(self) -> bool:
        """Whether the database answers a `SELECT 1` (for health checks: one round trip)."""
        try:
            with self.db.reader.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    # ---- reads -------------------------------------------------------------------------------

    def read(self) -> Session:
        return Session(self.db.reader, expire_on_commit=False)

    def case(self, case_ref: str, authority: str | None = None) -> CaseSnapshot | None:
        """The case with this reference in `authority`; with no authority, in any authority (a
        reference held by cases of several authorities is AmbiguousCase: name the authority)."""
        with self.transaction(write=False) as tx:
            return tx.case(case_ref, authority)

    def case_by_id(self, case_id: int) -> CaseSnapshot | None:
        with self.transaction(write=False) as tx:
            return tx.case_by_id(case_id)

    def deadlines(self, case_id: int) -> list[DeadlineRow]:
        with self.read() as s:
            return list(s.exec(select(DeadlineRow).where(DeadlineRow.case_id == case_id).order_by(DeadlineRow.due_at, DeadlineRow.id)).scalars())

    def history(self, case_id: int) -> list[TransitionRow]:
        with self.read() as s:
            return list(s.exec(select(TransitionRow).where(TransitionRow.case_id == case_id).order_by(TransitionRow.seq)).scalars())

    def authorities_with_open_deadlines(self) -> list[str | None]:
        """The authorities (None: cases with no authority) whose cases have open deadlines."""
        with self.db.reader.connect() as conn:
            return list(conn.execute(
                select(CASES.c.authority).join(DEADLINES, DEADLINES.c.case_id == CASES.c.id)
                .where(DEADLINES.c.status == OPEN).distinct()
            ).scalars())

    def cases_with_stale_deadlines(self, calendar_version: str, authority: str | None) -> list[int]:
        """Cases of `authority` (None: cases with no authority) with open, unexpired deadlines
        counted on a calendar version other than `calendar_version`."""
        same_authority = CASES.c.authority.is_(None) if authority is None else CASES.c.authority == authority
        with self.db.reader.connect() as conn:
            return list(conn.execute(
                select(DEADLINES.c.case_id).join(CASES, CASES.c.id == DEADLINES.c.case_id).where(
                    same_authority, DEADLINES.c.status == OPEN, DEADLINES.c.calendar_version != calendar_version,
                    DEADLINES.c.expired_at.is_(None),
                ).distinct().order_by(DEADLINES.c.case_id)
            ).scalars())

    # ---- the deployment's own settings ---------------------------------------------------------

    def running_cases(self, workflow: str, *, other_than: str) -> list[int]:
        """Open cases of `workflow` on a definition version other than `other_than`, oldest first."""
        with self.db.reader.connect() as conn:
            return list(conn.execute(
                select(CASES.c.id).where(CASES.c.workflow == workflow, CASES.c.closed_at.is_(None),
                                         CASES.c.version != other_than).order_by(CASES.c.id)
            ).scalars())

    def deployment_nation(self, claim: str | None = None) -> str | None:
        """The nation whose calendar counts this deployment's cases that have no authority.

        With `claim`, a database that has none stored yet records `claim`: the first process to
        use a database decides, and every later one reads what it chose."""
        stored = select(DEPLOYMENT.c.nation).where(DEPLOYMENT.c.id == 1)
        return self._first_written(stored, None if claim is None else insert(DEPLOYMENT).values(id=1, nation=claim))

    def secret(self, name: str) -> bytes:
        """The deployment's random key `name` (32 bytes), made by the first process that asks;
        every later one reads the same."""
        stored = select(SECRETS.c.value).where(SECRETS.c.name == name)
        return bytes.fromhex(self._first_written(stored, insert(SECRETS).values(name=name, value=secrets.token_hex(32))))

    def _first_written(self, stored, claim):
        """What `stored` reads; if nothing, `claim` is written first (when given). Of processes
        claiming at once the first writer wins, and every one reads what it wrote."""
        with self.db.reader.connect() as conn:
            found = conn.execute(stored).scalar()
        if found is not None or claim is None:
            return found
        try:
            with self.db.writer.begin() as conn:
                conn.execute(claim)
        except IntegrityError:
            pass  # another process wrote first; theirs stands
        with self.db.reader.connect() as conn:
            return conn.execute(stored).scalar()

    def set_deployment_nation(self, nation: str) -> str | None:
        """Change the stored nation (an explicit administrative act); returns the one replaced."""
        with self.db.writer.begin() as conn:
            old = conn.execute(select(DEPLOYMENT.c.nation).where(DEPLOYMENT.c.id == 1).with_for_update()).scalar()
            if old is None:
                conn.execute(insert(DEPLOYMENT).values(id=1, nation=nation))
            else:
                conn.execute(update(DEPLOYMENT).where(DEPLOYMENT.c.id == 1).values(nation=nation))
        return old

    def unsent_reminders(self, deadline_id: int) -> list[ReminderRow]:
        with self.read() as s:
            return list(s.exec(select(ReminderRow).where(
                ReminderRow.deadline_id == deadline_id, ReminderRow.sent_at.is_(None), ReminderRow.cancelled.is_(False)
            )).scalars())

    def transition_by_key(self, key: str):
        with self.transaction(write=False) as tx:
            return tx.transition_by_key(key)

    def definition(self, version: str) -> DefinitionRow | None:
        with self.read() as s:
            return s.get(DefinitionRow, version)

    def pending_expiries(self, at: dt.datetime, limit: int = 500) -> list[DeadlineRecord]:
        """Up to `limit` deadlines whose expiry is due at `at` and not yet processed, oldest first."""
        with self.transaction(write=False) as tx:
            return tx.due_expiries(at, limit)

    def pending_reminders(self, at: dt.datetime, limit: int = 500) -> list[tuple]:
        """Up to `limit` (reminder, deadline, case's ref and workflow) due at `at`, oldest first."""
        with self.transaction(write=False) as tx:
            return tx.due_reminders(at, limit)

    def outbox(self, status: str | None = None) -> list[OutboxRow]:
        with self.read() as s:
            q = select(OutboxRow).order_by(OutboxRow.id)
            if status:
                q = q.where(OutboxRow.status == status)
            return list(s.exec(q).scalars())

    def case_refs(self, workflow: str | None = None) -> list[str]:
        """Every case's reference (of one workflow, if given), in the order the cases were opened."""
        query = select(CASES.c.case_ref).order_by(CASES.c.id)
        if workflow is not None:
            query = query.where(CASES.c.workflow == workflow)
        with self.db.reader.connect() as conn:
            return list(conn.execute(query).scalars())

    def count(self, model, *where) -> int:
        with self.read() as s:
            return s.exec(select(func.count()).select_from(model).where(*where)).scalar_one()

    # ---- writes ------------------------------------------------------------------------------

    def apply(self, change: Change) -> int:
        """Write a Change atomically; return the case id. Raises ConflictError, CaseExists,
        ClaimLost, or IntegrityError (an idempotency key reused concurrently)."""
        with self.transaction() as tx:
            return tx.apply(change)

    # ---- worker claims (engine/worker.py) -----------------------------------------------------
    #
    # A worker leases due rows (claimed_by, claimed_until) in one short transaction; on PostgreSQL
    # the candidate rows are locked FOR UPDATE SKIP LOCKED, so concurrent workers take disjoint
    # rows without waiting (SQLite has one writer at a time and SQLAlchemy omits the clause there).
    # A lease only spreads the work: exactly-once rests on the guards in `_apply` (the Expiry claim,
    # the reminder's sent_at, the transition's idempotency key, the case row version), so a lease
    # that runs out while its worker is still busy costs a wasted plan, never a second firing.

    def _claim(self, model, pending: list, order: list, worker: str, now: dt.datetime,
               until: dt.datetime, limit: int, ids: list[int] | None = None, conn=None) -> list:
        """Lease the rows and return them whole (UPDATE ... RETURNING: no second read), as
        records in `order`."""
        table = model.__table__
        free = or_(model.claimed_until.is_(None), model.claimed_until < now)
        candidates = select(model.id).where(*pending, free)
        if ids is not None:
            candidates = candidates.where(model.id.in_(ids))
        candidates = candidates.order_by(*order).limit(limit).with_for_update(skip_locked=True)
        statement = (update(table).where(table.c.id.in_(candidates.scalar_subquery()))
                     .values(claimed_by=worker, claimed_until=until).returning(*table.columns))
        record = _RECORDS[table.name]
        with self.db.writer.begin() if conn is None else nullcontext(conn) as conn:
            rows = [record._make(r) for r in conn.execute(statement)]
        keys = [c.key for c in order]
        rows.sort(key=lambda r: tuple(getattr(r, k) for k in keys))
        return rows

    @staticmethod
    def _due_expiry(now: dt.datetime) -> list:
        return [DeadlineRow.expired_at.is_(None), DeadlineRow.status == OPEN, DeadlineRow.due_at <= now]

    def claim_expiries(self, worker: str, now: dt.datetime, until: dt.datetime, limit: int = 100,
                       ids: list[int] | None = None) -> list[DeadlineRecord]:
        """Lease up to `limit` due, unexpired, unleased deadlines (only `ids`, if given), oldest first."""
        order = [DeadlineRow.due_at, DeadlineRow.id]
        return self._claim(DeadlineRow, self._due_expiry(now), order, worker, now, until, limit, ids)

    def due_expiries_of_case(self, case_id: int, now: dt.datetime) -> list[DeadlineRow]:
        with self.read() as s:
            return list(s.exec(select(DeadlineRow).where(DeadlineRow.case_id == case_id, *self._due_expiry(now))
                               .order_by(DeadlineRow.due_at, DeadlineRow.id)).scalars())

    def claim_reminders(self, worker: str, now: dt.datetime, until: dt.datetime,
                        limit: int = 100) -> list[tuple[ReminderRecord, DeadlineRecord, ReminderCase]]:
        """Lease up to `limit` due reminders; each with its deadline and its case's ref and workflow."""
        pending = [ReminderRow.sent_at.is_(None), ReminderRow.cancelled.is_(False), ReminderRow.remind_at <= now]
        with self.db.writer.begin() as conn:
            got = self._claim(ReminderRow, pending, [ReminderRow.remind_at, ReminderRow.id], worker, now, until,
                              limit, conn=conn)
            if not got:
                return []
            found = {}
            for r in conn.execute(select(DEADLINES, CASES.c.case_ref, CASES.c.workflow)
                                  .join(CASES, CASES.c.id == DEADLINES.c.case_id)
                                  .where(DEADLINES.c.id.in_({r.deadline_id for r in got}))):
                found[r[0]] = (DeadlineRecord._make(r[:-2]), ReminderCase._make(r[-2:]))
        return [(r, *found[r.deadline_id]) for r in got]

    def claim_outbox(self, worker: str, now: dt.datetime, until: dt.datetime, limit: int = 50) -> list[OutboxRecord]:
        pending = [OutboxRow.status == "pending", OutboxRow.next_attempt_at <= now]
        return self._claim(OutboxRow, pending, [OutboxRow.next_attempt_at, OutboxRow.id], worker, now, until, limit)

    def release_claims(self, worker: str, deadline_ids: list[int] | None = None) -> int:
        """Give back leases still held by `worker` on unprocessed rows (all of them, or these deadlines)."""
        released = 0
        with self.db.writer.begin() as conn:
            for model, pending in (
                (DeadlineRow, [DeadlineRow.expired_at.is_(None)]),
                (ReminderRow, [ReminderRow.sent_at.is_(None)]),
                (OutboxRow, [OutboxRow.status == "pending"]),
            ):
                if deadline_ids is not None and model is not DeadlineRow:
                    continue
                cond = [model.claimed_by == worker, *pending]
                if deadline_ids is not None:
                    cond.append(model.id.in_(deadline_ids))
                released += conn.execute(
                    update(model.__table__).where(*cond).values(claimed_by=None, claimed_until=None)
                ).rowcount
        return released

    def next_wakeup(self, now: dt.datetime, kinds: tuple[str, ...] = ("expiries", "reminders", "outbox")) -> dt.datetime | None:
        """The earliest moment any timer or delivery needs a worker: a due time, a reminder time,
        a delivery attempt, or (for rows already due but leased) the end of the lease."""
        def soonest(model, col, pending) -> dt.datetime | None:
            with self.read() as s:
                first = s.exec(select(func.min(col)).where(*pending, or_(model.claimed_until.is_(None), model.claimed_until < now))).scalar()
                leased = s.exec(select(func.min(model.claimed_until)).where(*pending, col <= now, model.claimed_until >= now)).scalar()
            times = [t for t in (first, leased) if t is not None]
            return min(times) if times else None

        times = []
        if "expiries" in kinds:
            times.append(soonest(DeadlineRow, DeadlineRow.due_at, [DeadlineRow.expired_at.is_(None), DeadlineRow.status == OPEN]))
        if "reminders" in kinds:
            times.append(soonest(ReminderRow, ReminderRow.remind_at, [ReminderRow.sent_at.is_(None), ReminderRow.cancelled.is_(False)]))
        if "outbox" in kinds:
            times.append(soonest(OutboxRow, OutboxRow.next_attempt_at, [OutboxRow.status == "pending"]))
        times = [_aware(t) for t in times if t is not None]
        return min(times) if times else None

    def due_counts(self, now: dt.datetime) -> dict[str, int]:
        """Rows due at `now` and not yet processed (leased or not)."""
        return {
            "expiries": self.count(DeadlineRow, *self._due_expiry(now)),
            "reminders": self.count(ReminderRow, ReminderRow.sent_at.is_(None), ReminderRow.cancelled.is_(False),
                                    ReminderRow.remind_at <= now),
            "outbox": self.count(OutboxRow, OutboxRow.status == "pending", OutboxRow.next_attempt_at <= now),
        }

    def outbox_row(self, outbox_id: int) -> OutboxRow | None:
        with self.read() as s:
            return s.get(OutboxRow, outbox_id)

    def outbox_delivered(self, outbox_ids: list[int], at: dt.datetime) -> int:
        """Mark notifications delivered (one transaction for a batch); returns how many were still pending."""
        if not outbox_ids:
            return 0
        with self.db.writer.begin() as conn:
            return conn.execute(
                update(OutboxRow.__table__).where(OutboxRow.id.in_(outbox_ids), OutboxRow.status == "pending")
                .values(status="delivered", delivered_at=at, attempts=OutboxRow.attempts + 1,
                        claimed_by=None, claimed_until=None)
            ).rowcount

    def outbox_failed(self, outbox_id: int, worker: str, error: str, next_attempt_at: dt.datetime,
                      max_attempts: int) -> str | None:
        """Count a failed attempt: back to pending for `next_attempt_at`, or 'dead' after
        `max_attempts`. Returns the new status (None if the row was no longer this worker's)."""
        with self.db.writer.begin() as conn:
            row = conn.execute(
                select(OutboxRow.attempts).where(OutboxRow.id == outbox_id, OutboxRow.status == "pending",
                                                 OutboxRow.claimed_by == worker).with_for_update()
            ).first()
            if row is None:
                return None
            attempts = row[0] + 1
            status = "dead" if attempts >= max_attempts else "pending"
            conn.execute(
                update(OutboxRow.__table__).where(OutboxRow.id == outbox_id)
                .values(status=status, attempts=attempts, last_error=error[:2000], next_attempt_at=next_attempt_at,
                        claimed_by=None, claimed_until=None)
            )
            return status

    def outbox_retry(self, outbox_id: int, at: dt.datetime) -> bool:
        """Put a dead (or pending) notification back in the queue for delivery at `at`, attempts reset;
        its idempotency key is unchanged, so a receiver that saw it before can tell."""
        with self.db.writer.begin() as conn:
            return conn.execute(
                update(OutboxRow.__table__).where(OutboxRow.id == outbox_id, OutboxRow.status.in_(("dead", "pending")))
                .values(status="pending", attempts=0, next_attempt_at=at, claimed_by=None, claimed_until=None)
            ).rowcount == 1


def _aware(moment: dt.datetime) -> dt.datetime:
    """Aggregates (min) bypass the column type on SQLite: re-attach UTC there."""
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


__all__ = [
    "CANCELLED", "Change", "CaseSnapshot", "ClaimLost", "Closing", "Expiry", "NewDeadline",
    "NewReminder", "Notification", "Record", "Store",
]
