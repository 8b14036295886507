"""One small exception hierarchy, so callers can catch as broadly or narrowly as they need.

    CaseclockError
    ├── DefinitionError          a workflow or profile YAML is invalid (file, line, field)
    │   └── UnknownWorkflow      no workflow of that name is loaded
    ├── CalendarError            a date or offset cannot be computed
    ├── SettingsError            a setting (config file, CASECLOCK_* variable, flag) is invalid
    ├── DatabaseError            the database cannot be opened or reached
    │   └── DatabaseMissing      a SQLite file that does not exist (and was not to be created)
    ├── DeploymentError          a process's settings disagree with those the database stores
    ├── AccessError              a user or key cannot be made, found or changed as asked
    └── CaseError                a command on a case was refused; nothing was stored
        ├── CaseNotFound
        ├── CaseExists
        ├── InvalidTrigger       the trigger is not valid in the case's state
        ├── ConditionNotMet      the trigger is valid but its conditions on case data fail
        ├── RoleNotAllowed
        │   └── RoleRequired     the transition names who may fire it and the caller named no role
        ├── InvalidCaseData      unknown field, wrong type, missing required field
        ├── InvalidEffectiveTime before the previous transition, or in the future
        ├── InvalidCommand       a reference, name, actor, key or reason breaks a length or character rule
        ├── IdempotencyMismatch  a reused idempotency key with a different command
        └── ConflictError        another writer moved the case first
"""

from __future__ import annotations

from dataclasses import dataclass


class CaseclockError(Exception):
    """Base of every error caseclock raises on purpose."""


def shown(text: object, limit: int = 64) -> str:
    """A caller's text fit to repeat in a message: short and printable, or only its length."""
    value = str(text)
    return value if len(value) <= limit and value.isprintable() else f"<{len(value)} characters>"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a definition, located as precisely as the YAML allows."""

    file: str
    line: int | None
    field: str
    message: str
    column: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        if self.line and self.column:
            where += f":{self.column}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class DefinitionError(CaseclockError):
    """A definition failed validation; `problems` lists every problem found, not just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UnknownWorkflow(DefinitionError):
    def __init__(self, name: str, known: list[str]):
        self.name = name
        CaseclockError.__init__(self, f"unknown workflow '{shown(name)}' (known: {', '.join(known) or 'none'})")
        self.problems = []


class SettingsError(CaseclockError):
    """A setting is invalid; the message names each setting, its variable and the rule broken."""


class DatabaseError(CaseclockError):
    """The database URL is malformed or the server cannot be reached."""


class DeploymentError(CaseclockError):
    """A process's settings disagree with the deployment's, stored in its database (e.g. the
    nation): the database's are authoritative, so every process counts a case the same way."""


class DatabaseMissing(DatabaseError):
    """A SQLite database file does not exist; commands other than `migrate` do not create one."""


class AccessError(CaseclockError):
    """A user or API key could not be made, found or changed as asked."""


class CalendarError(CaseclockError, ValueError):
    """A date, offset or nation could not be understood."""


class CaseError(CaseclockError):
    """A command on a case was refused and nothing was stored."""

    def __init__(self, case_ref: str, message: str):
        self.case_ref = case_ref
        super().__init__(f"case {shown(case_ref, 128)}: {message}")


class CaseNotFound(CaseError):
    def __init__(self, case_ref: str):
        super().__init__(case_ref, "no such case")


class AmbiguousCase(CaseError):
    """The reference names cases of several authorities and the caller named none."""

    def __init__(self, case_ref: str, authorities: list[str]):
        self.authorities = authorities
        super().__init__(case_ref, f"cases of several authorities ({', '.join(authorities)}) have this reference; name the authority")


class CaseExists(CaseError):
    def __init__(self, case_ref: str):
        super().__init__(case_ref, "a case with this reference already exists")


class InvalidTrigger(CaseError):
    def __init__(self, case_ref: str, trigger: str, state: str, valid: list[str]):
        self.trigger, self.state, self.valid = trigger, state, list(valid)
        options = ", ".join(valid) if valid else "none (the case is closed)"
        super().__init__(
            case_ref, f"trigger '{shown(trigger)}' is not valid in state '{state}'; valid triggers: {options}"
        )


class ConditionNotMet(CaseError):
    def __init__(self, case_ref: str, trigger: str, state: str, unmet: list[str]):
        self.trigger, self.state, self.unmet = trigger, state, list(unmet)
        super().__init__(
            case_ref,
            f"trigger '{trigger}' from state '{state}' needs: " + "; or ".join(unmet),
        )


class RoleNotAllowed(CaseError):
    def __init__(self, case_ref: str, trigger: str, role: str, allowed: list[str]):
        self.trigger, self.role, self.allowed = trigger, role, list(allowed)
        super().__init__(
            case_ref, f"role '{shown(role)}' may not fire '{trigger}'; allowed roles: {', '.join(allowed)}"
        )


class RoleRequired(RoleNotAllowed):
    """Raised where the caller must say as whom it fires (the REST API): an unstated role would
    otherwise skip the check."""

    def __init__(self, case_ref: str, trigger: str, allowed: list[str]):
        self.trigger, self.role, self.allowed = trigger, None, list(allowed)
        CaseError.__init__(self, case_ref, f"'{trigger}' may be fired only as one of: {', '.join(allowed)}; "
                                           "name the role you act as")


class InvalidCaseData(CaseError):
    def __init__(self, case_ref: str, field: str, message: str):
        self.field = field
        super().__init__(case_ref, f"data field '{shown(field)}': {message}")


class InvalidEffectiveTime(CaseError):
    pass


class InvalidCommand(CaseError):
    """A command's own fields break a limit checked before the database (the same on every backend)."""


class IdempotencyMismatch(CaseError):
    def __init__(self, case_ref: str, key: str):
        self.key = key
        super().__init__(
            case_ref, f"idempotency key '{shown(key, 200)}' was already used for a different command"
        )


class ConflictError(CaseError):
    def __init__(self, case_ref: str, expected: int | None = None, actual: int | None = None):
        detail = "another writer changed the case first; reload it and retry"
        if expected is not None and actual is not None:
            detail += f" (expected version {expected}, found {actual})"
        super().__init__(case_ref, detail)
