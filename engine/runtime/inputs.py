"""A command's own fields, checked before anything reaches the database.

The limits are the column sizes in `persistence.models`, read from the tables, so SQLite (which
does not enforce them) and PostgreSQL (which fails with a driver error) refuse the same input with
the same clear message. Messages name the field and the rule, never the rejected value.
"""

from __future__ import annotations

from persistence.models import CaseRow, TransitionRow

from engine.errors import InvalidCommand
from engine.language.casedata import text_problem

CASE_REF_MAX = CaseRow.__table__.c.case_ref.type.length
ACTOR_MAX = TransitionRow.__table__.c.actor.type.length
KEY_MAX = TransitionRow.__table__.c.idempotency_key.type.length
NAME_MAX = TransitionRow.__table__.c.trigger.type.length  # workflow, state, trigger and role names
HOST_ID_MAX = {field: CaseRow.__table__.c[field].type.length for field in ("child_ref", "assigned_to", "team")}


def case_ref(value: str | None) -> str:
    """The host system's case reference, stripped: 1 to CASE_REF_MAX printable characters, no spaces.
    (A printable string's only whitespace character is the space itself.)"""
    ref = value.strip() if isinstance(value, str) else ""
    if not ref or len(ref) > CASE_REF_MAX or not ref.isprintable() or " " in ref:
        raise InvalidCommand(
            ref or "<empty>",
            f"a case reference must be 1-{CASE_REF_MAX} printable characters with no spaces"
            + (f" (this one has {len(ref)})" if len(ref) > CASE_REF_MAX else ""),
        )
    return ref


def name(ref: str, field: str, value: str | None) -> None:
    """A workflow, state, trigger or role name (None: not given)."""
    if value is None:
        return
    if not isinstance(value, str) or not 0 < len(value) <= NAME_MAX or not value.isprintable() or " " in value:
        raise InvalidCommand(ref, f"{field} must be a name of 1-{NAME_MAX} printable characters with no spaces")


def actor(ref: str, value: str) -> None:
    if not isinstance(value, str) or not 0 < len(value) <= ACTOR_MAX or not value.isprintable():
        raise InvalidCommand(ref, f"actor must be 1-{ACTOR_MAX} printable characters")


def idempotency_key(ref: str, value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not 0 < len(value) <= KEY_MAX or not value.isprintable():
        raise InvalidCommand(ref, f"idempotency key must be 1-{KEY_MAX} printable characters")


def reason(ref: str, value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise InvalidCommand(ref, "reason must be text")
    problem = text_problem(value)
    if problem:
        raise InvalidCommand(ref, f"reason {problem}")


def host_id(ref: str, field: str, value: str | None) -> str | None:
    """A host-system id (child_ref, assigned_to, team), stripped; None or empty: not given."""
    if value is None:
        return None
    text = value.strip() if isinstance(value, str) else ""
    limit = HOST_ID_MAX[field]
    if isinstance(value, str) and not text:
        return None
    if not text or len(text) > limit or not text.isprintable():
        raise InvalidCommand(ref, f"{field} must be 1-{limit} printable characters")
    return text
