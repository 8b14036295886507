"""The audit trail: who read or changed which case, when, and how it ended (append-only).

Rows hold names, references and a status - never case data, reasons or request bodies. Nothing
here updates or deletes a row.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, func, insert
from sqlmodel import select

from engine.access.principal import Principal
from persistence.models import AuditRow
from persistence.store import Store


def record(store: Store, principal: Principal | None, action: str, *, outcome: int, authority: str | None = None,
           case_ref: str | None = None, at: dt.datetime | None = None, name: str | None = None) -> None:
    """One row. `name` stands in for an unauthenticated caller's claimed name (a failed sign-in)."""
    values = {
        "at": at or dt.datetime.now(dt.timezone.utc),
        "principal": (principal.name if principal else (name or "anonymous"))[:128],
        "kind": principal.kind if principal else "anonymous",
        "action": action[:128],
        "authority": authority if authority is not None else (principal.authority if principal else None),
        "case_ref": case_ref[:128] if case_ref else None,
        "outcome": outcome,
    }
    with store.db.writer.begin() as conn:
        conn.execute(insert(AuditRow).values(**values))


def query(store: Store, *, case_ref: str | None = None, principal: str | None = None,
          since: dt.datetime | None = None, limit: int = 1000) -> list[AuditRow]:
    """Newest first."""
    with store.read() as s:
        q = select(AuditRow).order_by(AuditRow.at.desc(), AuditRow.id.desc()).limit(limit)
        if case_ref is not None:
            q = q.where(AuditRow.case_ref == case_ref)
        if principal is not None:
            q = q.where(AuditRow.principal == principal)
        if since is not None:
            q = q.where(AuditRow.at >= since)
        return list(s.exec(q).all())


def failed_sign_ins(store: Store, name: str, since: dt.datetime) -> list[dt.datetime]:
    """When `name` gave a wrong password since `since` and since its last right one, oldest
    first (the sign-in throttle counts these; every process of `serve` sees the same trail)."""
    signed_in = (select(func.max(AuditRow.at))
                 .where(AuditRow.principal == name, AuditRow.action == "login", AuditRow.outcome == 303)
                 .scalar_subquery())
    q = (select(AuditRow.at)
         .where(and_(AuditRow.principal == name, AuditRow.action == "login", AuditRow.outcome == 401,
                     AuditRow.at >= since, AuditRow.at > func.coalesce(signed_in, since)))
         .order_by(AuditRow.at))
    with store.read() as s:
        return list(s.exec(q).all())
