"""Scenario files: a procedure's dates, stated in the domain's words and checked by running them.

A scenario opens one case of a workflow (optionally under an authority profile) on a date, then
fires events and lets timers run on later dates, and after each step states what must hold: the
state, the open deadlines and the day each is due, what is overdue on that day, and which
notifications were queued. It is read like a definition: schema first (pydantic, unknown keys
forbidden), then the names are checked against the workflow, and every problem names the file,
line and field to edit.

    name: Stage 1 unanswered escalates to stage 2
    workflow: drp
    open: {at: 2026-12-14, data: {theme: safety, concern: Unsafe placement}}
    steps:
      - check: 2026-12-14
        expect: {state: informal, deadlines: {informal_response: 2026-12-21}}
      - fire: escalate
        at: 2026-12-16
        role: iro
        expect: {state: stage_1, deadlines: {stage_1_response: 2026-12-23}}
      - tick: 2026-12-24
        expect: {state: stage_2}
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, model_validator

from engine.errors import DefinitionError, Problem
from engine.language.definition import Name
from engine.language.yamlsource import LineMap, dotted, load_yaml_file, locate

CaseRef = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^\S+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NotificationExpected(_Strict):
    """A notification queued for the case: its kind, and the deadline and role it is about."""

    kind: Name
    deadline: Name | None = None
    role: Name | None = None


class Expect(_Strict):
    state: Name | None = None
    deadlines: dict[Name, dt.date] = {}  # each open, due on that day
    not_open: list[Name] = []  # none of these is open
    overdue: list[Name] | None = None  # exactly these are overdue on the step's day
    notifications: list[NotificationExpected] | None = None  # exactly these queued since the previous step


class Step(_Strict):
    """One of: `fire` a trigger `at` a date; `tick` to a date (timers due by then run); `check` a date."""

    fire: Name | None = None
    at: dt.date | None = None
    tick: dt.date | None = None
    check: dt.date | None = None
    role: Name | None = None
    actor: Annotated[str, StringConstraints(min_length=1, max_length=128)] = "scenario"
    data: dict[Name, Any] = {}
    expect: Expect = Expect()

    @model_validator(mode="after")
    def _one_kind(self) -> "Step":
        kinds = [k for k in ("fire", "tick", "check") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"a step needs exactly one of fire (with at), tick or check; found {len(kinds)}")
        if self.fire is not None and self.at is None:
            raise ValueError("a 'fire' step needs 'at': the date the event happened")
        if self.fire is None and (self.at is not None or self.role is not None or self.data):
            raise ValueError("'at', 'role' and 'data' belong to a 'fire' step")
        return self

    @property
    def on(self) -> dt.date:
        return self.at or self.tick or self.check  # type: ignore[return-value]

    @property
    def kind(self) -> str:
        return "fire" if self.fire is not None else ("tick" if self.tick is not None else "check")


class OpenCase(_Strict):
    at: dt.date
    state: Name | None = None
    data: dict[Name, Any] = {}
    case_ref: CaseRef = "SCENARIO-1"
    expect: Expect = Expect()


class ScenarioSpec(_Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    description: str = ""
    workflow: Name
    authority: Name | None = None
    open: OpenCase
    steps: list[Step] = []


@dataclass(frozen=True)
class Scenario:
    spec: ScenarioSpec
    file: str
    lines: LineMap

    @property
    def name(self) -> str:
        return self.spec.name

    def line_of(self, path: tuple) -> int | None:
        return locate(self.lines, path, self.file)[1]


def load_scenario(path: Path) -> Scenario:
    """Read and check one scenario file; DefinitionError lists every problem (file:line: field)."""
    data, lines = load_yaml_file(path)
    file = str(path)
    if not isinstance(data, dict):
        raise DefinitionError([Problem(file, 1, "", "a scenario must be a mapping")])
    try:
        spec = ScenarioSpec.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function"))))
            f, line = locate(lines, loc, file)
            problems.append(Problem(f, line, dotted(loc), _message(err, loc)))
        raise DefinitionError(list(dict.fromkeys(problems))) from None
    scenario = Scenario(spec, file, lines)
    problems = _order_problems(scenario)
    if problems:
        raise DefinitionError(problems)
    return scenario


def check_against(scenario: Scenario, workflow) -> list[Problem]:
    """Names the scenario uses that the workflow (as the scenario's authority runs it) lacks."""
    spec, wf = scenario.spec, workflow.spec
    problems: list[Problem] = []

    def problem(path: tuple, message: str) -> None:
        file, line = locate(scenario.lines, path, scenario.file)
        problems.append(Problem(file, line, dotted(path), message))

    def check_expect(expect: Expect, path: tuple) -> None:
        if expect.state is not None and expect.state not in wf.states:
            problem(path + ("state",), f"unknown state '{expect.state}' (states: {', '.join(wf.states)})")
        for key in ("deadlines", "not_open", "overdue"):
            for name in getattr(expect, key) or []:
                if name not in wf.deadlines:
                    problem(path + (key, name) if key == "deadlines" else path + (key,),
                            f"unknown deadline '{name}' (deadlines: {', '.join(wf.deadlines)})")

    if spec.open.state is not None and spec.open.state not in workflow.openable_states:
        problem(("open", "state"), f"a '{wf.name}' case cannot be opened at '{spec.open.state}' "
                                   f"(allowed: {', '.join(workflow.openable_states)})")
    check_expect(spec.open.expect, ("open", "expect"))
    for i, step in enumerate(spec.steps):
        if step.fire is not None and step.fire not in workflow.triggers:
            problem(("steps", i, "fire"), f"unknown trigger '{step.fire}' (triggers: {', '.join(workflow.triggers)})")
        check_expect(step.expect, ("steps", i, "expect"))
    return problems


def _order_problems(scenario: Scenario) -> list[Problem]:
    """Steps happen in date order from the opening: the simulated clock never goes back."""
    problems = []
    previous = scenario.spec.open.at
    for i, step in enumerate(scenario.spec.steps):
        if step.on < previous:
            key = {"fire": "at", "tick": "tick", "check": "check"}[step.kind]
            file, line = locate(scenario.lines, ("steps", i, key), scenario.file)
            problems.append(Problem(file, line, f"steps[{i}].{key}",
                                    f"{step.on.isoformat()} is before the previous step ({previous.isoformat()}): "
                                    "steps run in date order"))
        previous = max(previous, step.on)
    return problems


def _message(err: dict, loc: tuple) -> str:
    if err["type"] == "extra_forbidden":
        return f"unknown key '{loc[-1]}'"
    if err["type"] == "missing":
        return "is required"
    if err["type"].startswith("date"):
        return "is not a date (write it as YYYY-MM-DD)"
    if err["type"] == "string_pattern_mismatch":
        return "is not a valid name: use lower_snake_case (a-z, 0-9, _), starting with a letter"
    return err["msg"].removeprefix("Value error, ")


def bundled_scenario_files() -> list[Path]:
    """The scenarios shipped beside the bundled workflows and authority profiles."""
    from engine.language.bundled import bundled_dir

    folders = [bundled_dir("workflows") / "scenarios", bundled_dir("config") / "authorities" / "scenarios"]
    return [p for folder in folders if folder.is_dir() for p in sorted(folder.glob("*.yaml"))]


def scenario_files(paths: list[Path]) -> list[Path]:
    """Files named, and the YAML files in folders named (sorted)."""
    out: list[Path] = []
    for p in paths:
        out.extend(sorted(p.glob("*.yaml")) if p.is_dir() else [p])
    return out
