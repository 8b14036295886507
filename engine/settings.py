"""Settings: defaults, overridden by CASECLOCK_* environment variables, overridden by flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from persistence.db import DEFAULT_URL


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_URL
    authority: str | None = None
    nation: str | None = None
    workflow_paths: list[Path] = field(default_factory=list)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        extra = [Path(p) for p in env.get("CASECLOCK_WORKFLOWS", "").split(os.pathsep) if p]
        return cls(
            database_url=env.get("CASECLOCK_DATABASE_URL") or DEFAULT_URL,
            authority=env.get("CASECLOCK_AUTHORITY") or None,
            nation=env.get("CASECLOCK_NATION") or None,
            workflow_paths=extra,
        )
