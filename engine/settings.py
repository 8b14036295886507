"""Settings: config/caseclock.yaml, overridden by CASECLOCK_* environment variables, then by flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from engine.language.bundled import bundled_dir
from persistence.db import DEFAULT_URL


def _defaults() -> dict:
    path = bundled_dir("config") / "caseclock.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_URL
    authority: str | None = None
    nation: str | None = None
    workflow_paths: list[Path] = field(default_factory=list)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        base = _defaults()
        extra = [Path(p) for p in env.get("CASECLOCK_WORKFLOWS", "").split(os.pathsep) if p]
        return cls(
            database_url=env.get("CASECLOCK_DATABASE_URL") or base.get("database_url") or DEFAULT_URL,
            authority=env.get("CASECLOCK_AUTHORITY") or base.get("authority") or None,
            nation=env.get("CASECLOCK_NATION") or base.get("nation") or None,
            workflow_paths=extra,
        )
