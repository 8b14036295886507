"""Who is asking, as the server established it (a signed-in person or an API key) - never
what the caller says about itself.

Access roles say which parts of caseclock a principal may use. They are distinct from the
workflow roles on a transition (`roles: [iro]` in the YAML): `acts_as` maps a principal onto
those, so an IRO's account may fire what the procedure lets an IRO fire, and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Role(str, Enum):
    ADMIN = "admin"  # users and keys
    INTEGRATOR = "integrator"  # opens cases and fires events through the API (a case system's link)
    MANAGER = "manager"  # reads everything, every IRO's cases
    IRO = "iro"  # their own cases, and the aggregates
    VIEWER = "viewer"  # aggregates only: no child-level data


class Permission(str, Enum):
    READ_ANY_CASE = "read any case"
    READ_OWN_CASES = "read own cases"  # cases whose assigned_to is the principal's user_id
    WRITE_CASES = "open cases and fire events"
    READ_AGGREGATES = "read counts and the scorecard"
    READ_METRICS = "read metrics"
    READ_AUDIT = "read the audit trail"
    MANAGE_ACCESS = "manage users and keys"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset({Permission.MANAGE_ACCESS, Permission.READ_METRICS, Permission.READ_AUDIT,
                           Permission.READ_AGGREGATES}),
    Role.INTEGRATOR: frozenset({Permission.WRITE_CASES, Permission.READ_ANY_CASE}),
    Role.MANAGER: frozenset({Permission.READ_ANY_CASE, Permission.READ_OWN_CASES, Permission.READ_AGGREGATES,
                             Permission.READ_METRICS, Permission.READ_AUDIT}),
    Role.IRO: frozenset({Permission.READ_OWN_CASES, Permission.READ_AGGREGATES}),
    Role.VIEWER: frozenset({Permission.READ_AGGREGATES}),
}


@dataclass(frozen=True)
class Principal:
    name: str  # the user's or key's name, as the audit trail records it
    roles: frozenset[Role]
    authority: str | None  # the one authority whose cases they may see; None: every authority
    user_id: str | None = None  # host-system user id, matched against a case's assigned_to
    acts_as: frozenset[str] = frozenset()  # workflow roles they may fire transitions as
    kind: str = "user"  # user | key

    def can(self, permission: Permission) -> bool:
        return any(permission in GRANTS[role] for role in self.roles)

    def may_read_case(self, authority: str | None, assigned_to: str | None) -> bool:
        """Child-level data: any case of their authority, or (an IRO) the cases they hold."""
        if self.authority is not None and authority != self.authority:
            return False
        if self.can(Permission.READ_ANY_CASE):
            return True
        return self.can(Permission.READ_OWN_CASES) and self.user_id is not None and assigned_to == self.user_id
