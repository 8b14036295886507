"""Who may see what on the dashboard, from the principal the sign-in middleware established
(`request.state.principal`): never from the query string.

- aggregates (the scorecard, counts): a principal with READ_AGGREGATES (viewer, iro, manager, admin);
- rows and case or child pages: any case (READ_ANY_CASE: manager, integrator) or, for an IRO,
  only the cases assigned to their user_id;
- a principal scoped to an authority sees only that authority's cases and figures.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException, Request

from engine.access.principal import Permission, Principal


def current_principal(request: Request) -> Principal:
    """The signed-in principal; 401 when there is none (the sign-in middleware sends page
    requests without a session to /login before they get here)."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        raise HTTPException(status_code=401, detail="sign in to see the dashboard")
    return principal


@dataclass(frozen=True)
class Scope:
    rows: bool  # may see case and child rows at all
    assigned_to: str | None  # only the cases held by this user (an IRO); None: any
    authority: str | None  # only this authority's cases; None: every authority
    aggregates: bool

    @property
    def anything(self) -> bool:
        return self.rows or self.aggregates


def scope_of(principal: Principal) -> Scope:
    if principal.can(Permission.READ_ANY_CASE):
        rows, assigned = True, None
    elif principal.can(Permission.READ_OWN_CASES) and principal.user_id is not None:
        rows, assigned = True, principal.user_id
    else:
        rows, assigned = False, None
    return Scope(rows, assigned, principal.authority, principal.can(Permission.READ_AGGREGATES))
