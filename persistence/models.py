"""The tables. Transitions are append-only; cases and deadlines are the current picture.

Every statutory date keeps the inputs it was computed from (anchor, amount, unit, counting
convention, calendar version), so a calendar change can recompute exactly the dates it moves.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Column, Index, Integer, SmallInteger, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from .types import UTCDateTime

# deadline statuses
OPEN, MET, MISSED, CANCELLED = "open", "met", "missed", "cancelled"


class DeploymentRow(SQLModel, table=True):
    """Settings of the deployment itself, one row (id 1), stored so that every process agrees:
    the nation whose calendar counts cases that have no authority."""

    __tablename__ = "deployment"
    id: int = Field(default=1, primary_key=True)
    nation: str = Field(max_length=32)


class SecretRow(SQLModel, table=True):
    """A random key of the deployment, made by the first process that needs it and read by every
    other, so that what one process signs another accepts (the sign-on proxy's CSRF tokens)."""

    __tablename__ = "secrets"
    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=128)


class DefinitionRow(SQLModel, table=True):
    """Each definition version a case was opened on, so the case can keep running on it."""

    __tablename__ = "definitions"
    version: str = Field(primary_key=True, max_length=32)
    workflow: str = Field(index=True, max_length=64)
    body: dict[str, Any] = Field(sa_type=JSON)
    stored_at: dt.datetime = Field(sa_type=UTCDateTime)


class CaseRow(SQLModel, table=True):
    """A case under the host system's reference. References are unique within an authority
    (two authorities' systems may both number a case 1234); cases with no authority share one
    namespace. `child_ref`, `assigned_to` and `team` are host-system ids: who the case is about
    and who holds it (the IRO or conference chair, and their team)."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("uq_cases_authority_ref", "authority", "case_ref", unique=True),
        Index("uq_cases_ref_without_authority", "case_ref", unique=True,
              sqlite_where=text("authority IS NULL"), postgresql_where=text("authority IS NULL")),
    )
    id: int | None = Field(default=None, primary_key=True)
    case_ref: str = Field(index=True, max_length=128)
    workflow: str = Field(index=True, max_length=64)
    version: str = Field(max_length=32)
    authority: str | None = Field(default=None, max_length=64)
    child_ref: str | None = Field(default=None, index=True, max_length=128)
    assigned_to: str | None = Field(default=None, index=True, max_length=128)
    team: str | None = Field(default=None, index=True, max_length=64)
    state: str = Field(index=True, max_length=64)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    opened_at: dt.datetime = Field(sa_type=UTCDateTime)
    last_effective_at: dt.datetime = Field(sa_type=UTCDateTime)
    closed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    row_version: int = Field(sa_column=Column("row_version", Integer, nullable=False))


class TransitionRow(SQLModel, table=True):
    """One row per event on a case; (case_id, seq) is unique, so history cannot fork."""

    __tablename__ = "transitions"
    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_transitions_case_seq"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    seq: int
    kind: str = Field(max_length=16)  # open | trigger | expiry | recompute | reassign
    trigger: str = Field(max_length=64)
    from_state: str | None = Field(default=None, max_length=64)
    to_state: str = Field(max_length=64)
    effective_at: dt.datetime = Field(sa_type=UTCDateTime)
    recorded_at: dt.datetime = Field(sa_type=UTCDateTime)
    actor: str = Field(max_length=128)
    reason: str | None = None
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    idempotency_key: str | None = Field(default=None, unique=True, max_length=200)
    definition_version: str = Field(max_length=32)


class DeadlineRow(SQLModel, table=True):
    __tablename__ = "deadlines"
    __table_args__ = (
        Index("ix_deadlines_status_due_at", "status", "due_at"),
        Index("ix_deadlines_expiry", "expired_at", "status", "due_at"),
        Index("ix_deadlines_list", "status", "due_at", "workflow", "authority"),
        # a list filtered by team or IRO: their cases' open deadlines in due range (persistence/lists.py)
        Index("ix_deadlines_case_open", "case_id", "status", "due_at", "workflow", "authority"),
    )
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    name: str = Field(max_length=64)
    title: str
    role: str | None = Field(default=None, max_length=64)
    source: str
    opened_at: dt.datetime = Field(sa_type=UTCDateTime)
    anchor: str = Field(max_length=80)  # entry | event | data.<field>
    anchor_on: dt.date
    amount: int
    unit: str = Field(max_length=16)
    anchor_is_day_one: bool = False
    calendar_version: str = Field(max_length=32)
    due_on: dt.date
    due_at: dt.datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default=OPEN, max_length=16)
    closed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    expired_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    expiry_outcome: str | None = None
    # a worker's lease on the row while it processes the expiry (see engine/worker.py)
    claimed_by: str | None = Field(default=None, max_length=128)
    claimed_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # the case's, copied so the lists count by them from the index alone (persistence/lists.py)
    workflow: str | None = Field(default=None, max_length=64)
    authority: str | None = Field(default=None, max_length=64)


class DeadlineCountRow(SQLModel, table=True):
    """Open deadlines per (due day, workflow, authority), kept exact by the database's own
    triggers on `deadlines` (migration 0007), so a list's counts sum days instead of walking
    every open deadline. '' stands for no workflow or authority (a key column cannot be NULL)."""

    __tablename__ = "deadline_counts"
    due_on: dt.date = Field(primary_key=True)
    workflow: str = Field(default="", primary_key=True, max_length=64)
    authority: str = Field(default="", primary_key=True, max_length=64)
    slot: int = Field(default=0, primary_key=True, sa_type=SmallInteger)  # deadline id % 32: workers on one day seldom meet
    n: int


class ReminderRow(SQLModel, table=True):
    __tablename__ = "reminders"
    __table_args__ = (Index("ix_reminders_pending", "sent_at", "remind_at"),)
    id: int | None = Field(default=None, primary_key=True)
    deadline_id: int = Field(foreign_key="deadlines.id", index=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    offset: str = Field(max_length=16)
    remind_on: dt.date
    remind_at: dt.datetime = Field(sa_type=UTCDateTime)
    sent_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled: bool = False
    claimed_by: str | None = Field(default=None, max_length=128)
    claimed_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class OutboxRow(SQLModel, table=True):
    """Notifications, written in the transaction that caused them and delivered from here."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "status", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True, max_length=200)
    case_ref: str = Field(max_length=128, index=True)
    kind: str = Field(max_length=32)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default="pending", max_length=16)  # pending | delivered | dead
    attempts: int = 0
    next_attempt_at: dt.datetime = Field(sa_type=UTCDateTime)
    delivered_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = None
    claimed_by: str | None = Field(default=None, max_length=128)
    claimed_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class UserRow(SQLModel, table=True):
    """A person who signs in (or is vouched for by the authority's single sign-on proxy).
    `password_hash` is argon2; empty for a user who only ever comes through the proxy."""

    __tablename__ = "users"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=128)
    password_hash: str | None = Field(default=None, max_length=256)
    roles: list[str] = Field(default_factory=list, sa_type=JSON)  # access roles (engine.access.principal.Role)
    authority: str | None = Field(default=None, max_length=64)  # None: every authority
    user_id: str | None = Field(default=None, max_length=128)  # host-system id, matched to cases.assigned_to
    acts_as: list[str] = Field(default_factory=list, sa_type=JSON)  # workflow roles they may fire as
    created_at: dt.datetime = Field(sa_type=UTCDateTime)


class ApiKeyRow(SQLModel, table=True):
    """A machine's key. Only its public prefix (for lookup) and the SHA-256 of the whole key are
    stored: the key itself is shown once, when it is made."""

    __tablename__ = "api_keys"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128)
    prefix: str = Field(unique=True, max_length=16)
    key_hash: str = Field(max_length=64)
    roles: list[str] = Field(default_factory=list, sa_type=JSON)
    authority: str | None = Field(default=None, max_length=64)
    user_id: str | None = Field(default=None, max_length=128)
    acts_as: list[str] = Field(default_factory=list, sa_type=JSON)
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class SessionRow(SQLModel, table=True):
    """A signed-in person's session. The cookie carries a random id; only its SHA-256 is stored,
    with the CSRF token every form of the session must send back."""

    __tablename__ = "sessions"
    id_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="users.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)


class AuditRow(SQLModel, table=True):
    """Who read or changed which case, when (append-only). Names and references only: no case data."""

    __tablename__ = "audit"
    __table_args__ = (Index("ix_audit_case", "case_ref", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(sa_type=UTCDateTime, index=True)
    principal: str = Field(max_length=128, index=True)
    kind: str = Field(max_length=16)  # user | key | anonymous
    action: str = Field(max_length=128)  # e.g. "GET /cases/{case_ref}", "login"
    authority: str | None = Field(default=None, max_length=64)
    case_ref: str | None = Field(default=None, max_length=128)
    outcome: int  # the HTTP status, or 0 for a command-line action
