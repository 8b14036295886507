"""Authority profiles: one authority's calendar, role titles and local variations.

A profile overlays the bundled base workflows (`workflows:`), may add workflows of its own
(`new_workflows:`), and sets the calendar its deadlines are counted on. It is validated like
a workflow, and its errors name the profile's file and line.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from engine.time.calendar import Nation, WorkingCalendar
from engine.language.definition import Located, Name
from engine.language.bundled import bundled_dir
from engine.errors import DefinitionError, Problem
from engine.language.yamlsource import dotted, load_yaml_file, locate


class CalendarSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    nation: Nation = Nation.ENGLAND_AND_WALES
    closure_days: dict[dt.date, str] = {}


class ProfileSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Name
    title: str
    description: str = ""
    calendar: CalendarSpec = CalendarSpec()
    roles: dict[Name, str] = {}
    workflows: dict[Name, dict[str, Any]] = {}
    new_workflows: dict[Name, dict[str, Any]] = {}


@dataclass
class Profile:
    spec: ProfileSpec
    file: str
    data: dict[str, Any]
    lines: dict
    calendar: WorkingCalendar = field(init=False)

    def __post_init__(self) -> None:
        self.calendar = WorkingCalendar(self.spec.calendar.nation, dict(self.spec.calendar.closure_days))

    @property
    def name(self) -> str:
        return self.spec.name

    def overlay(self, workflow: str) -> Located:
        return Located(self.data["workflows"][workflow], self.lines, self.file)

    def new_workflow(self, workflow: str) -> Located:
        """A workflow written inside the profile, with its line map re-rooted."""
        prefix = ("new_workflows", workflow)
        lines = {p[len(prefix):]: loc for p, loc in self.lines.items() if p[: len(prefix)] == prefix}
        return Located(self.data["new_workflows"][workflow], lines, self.file)

    def locate(self, path: tuple) -> tuple[str, int]:
        return locate(self.lines, path, self.file)


def profiles_dir() -> Path:
    return bundled_dir("config") / "authorities"


def available(directory: Path | None = None) -> list[str]:
    return sorted(p.stem for p in (directory or profiles_dir()).glob("*.yaml"))


PROFILE_KEYS = frozenset({"calendar", "workflows", "new_workflows"})
WORKFLOW_KEYS = frozenset({"extends", "remove", "initial", "open", "data", "states", "transitions", "deadlines"})


def is_profile_file(path: Path) -> bool:
    """A profile lives in an `authorities` folder, or has a profile's keys and none of a workflow's."""
    if path.parent.name == "authorities":
        return True
    try:
        data, _lines = load_yaml_file(path)
    except DefinitionError:
        return False
    return isinstance(data, dict) and bool(PROFILE_KEYS & data.keys()) and not WORKFLOW_KEYS & data.keys()


def load_profile(name: str, directory: Path | None = None) -> Profile:
    """The named authority's profile from `directory` (the bundled profiles by default)."""
    profile, problems = read_profile(name, directory)
    if problems or profile is None:
        raise DefinitionError(problems)
    return profile


def read_profile(name: str, directory: Path | None = None) -> tuple[Profile | None, list[Problem]]:
    """A profile and every problem with it. Parts the schema refuses are set aside, so the
    registry can still apply the rest and report its problems in the same run."""
    directory = directory or profiles_dir()
    path = directory / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(available(directory)) or "none"
        return None, [Problem(str(path), None, "authority", f"unknown authority '{name}' (profiles: {known})")]
    try:
        data, lines = load_yaml_file(path)
    except DefinitionError as exc:
        return None, exc.problems
    if not isinstance(data, dict):
        return None, [Problem(str(path), 1, "", "a profile must be a mapping")]
    problems: list[Problem] = []
    try:
        spec = ProfileSpec.model_validate(data)
    except ValidationError as exc:
        kept = dict(data)
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function")))
            file, line = locate(lines, loc, str(path))
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = f"unknown key '{loc[-1]}'"
            elif err["type"] == "missing":
                message = "is required"
            problems.append(Problem(file, line, dotted(loc), message))
            if loc and loc[0] in ("workflows", "new_workflows", "roles") and len(loc) > 1 and isinstance(kept.get(loc[0]), dict):
                kept[loc[0]] = {k: v for k, v in kept[loc[0]].items() if k != loc[1]}
            elif loc and loc[0] in ("name", "title"):
                kept[loc[0]] = path.stem if loc[0] == "name" else ""
            elif loc:
                kept.pop(loc[0], None)
        try:
            spec = ProfileSpec.model_validate(kept)
        except ValidationError:
            return None, list(dict.fromkeys(problems))
        data = kept
    if spec.name != path.stem:
        file, line = locate(lines, ("name",), str(path))
        problems.append(Problem(file, line, "name", f"'{spec.name}' must match the file name '{path.stem}'"))
    for wf, overlay in spec.workflows.items():
        for key in ("name", "extends"):
            if key in overlay:
                file, line = locate(lines, ("workflows", wf, key), str(path))
                problems.append(Problem(file, line, f"workflows.{wf}.{key}", f"an overlay cannot set '{key}'"))
    return Profile(spec, str(path), data, lines), list(dict.fromkeys(problems))
