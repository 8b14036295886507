"""Which calendar a case is counted on: its authority's, never the running process's.

A case with an authority is counted on that authority's profile calendar (nation and closure
days, `config/authorities/<name>.yaml`); a case with no authority on the deployment's calendar,
whose nation is stored in the database. Whatever process opens, fires, expires, recomputes or
explains a case, it counts on the same calendar, so no process can move another's dates.
"""

from __future__ import annotations

from persistence.store import Store

from engine.errors import DeploymentError
from engine.language.registry import Registry
from engine.time.calendar import Nation, WorkingCalendar

DEFAULT_NATION = Nation.ENGLAND_AND_WALES


class Calendars:
    """The calendar of each authority, built once per process (building one costs a table of
    every day the `holidays` package covers) and then looked up on every command."""

    def __init__(self, store: Store, registry: Registry, deployment: WorkingCalendar | None = None):
        requested = deployment.nation if deployment is not None else DEFAULT_NATION
        stored = Nation(store.deployment_nation(claim=requested.value))
        if deployment is not None and deployment.nation is not stored:
            raise DeploymentError(
                f"this database counts cases with no authority on the {stored.value} calendar, but this "
                f"process asks for {deployment.nation.value} (CASECLOCK_NATION, or the calendar given to "
                f"Engine). Unset it, or change the deployment's nation with "
                f"`caseclock calendar set-nation {deployment.nation.value}`"
            )
        self.deployment = deployment if deployment is not None else WorkingCalendar(stored)
        self._store = store
        self._given = deployment
        self._registry = registry
        self._by_authority: dict[str | None, WorkingCalendar] = {None: self.deployment}

    def refresh(self) -> None:
        """Read the stored nation and the authorities' profiles again, so a long-running worker or
        server counts on what `caseclock calendar set-nation` and edited closure days say now."""
        stored = Nation(self._store.deployment_nation(claim=self.deployment.nation.value))
        if self._given is not None and self._given.nation is not stored:
            raise DeploymentError(f"the deployment's nation is now {stored.value}, but this process was "
                                  f"given the {self._given.nation.value} calendar: restart it without one")
        if self.deployment.nation is not stored:
            self.deployment = WorkingCalendar(stored)
        self._by_authority = {None: self.deployment}

    def of(self, authority: str | None) -> WorkingCalendar:
        """The calendar a case of `authority` (None: no authority) is counted on."""
        calendar = self._by_authority.get(authority)
        if calendar is None:
            calendar = self._by_authority.setdefault(authority, self._registry.load_profile(authority).calendar)
        return calendar
