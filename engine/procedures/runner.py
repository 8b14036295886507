"""Running scenarios: each on a simulated clock against a throwaway SQLite file, through the real
Engine and Store, so a scenario proves what a deployment would do - nothing is stubbed.

Every step happens at 10:00 London time on its date; a `tick` runs every expiry and reminder due
by then (a deadline due on day D expires at midnight ending D, so `tick: D+1` sees it expired).
A scenario stops at its first difference, which is reported with the date it happened on and,
for a due date, how the engine counted that date (the `explain` of the deadline).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path

from engine.errors import CaseError, DefinitionError, Problem, UnknownWorkflow
from engine.language.yamlsource import locate
from engine.procedures.scenarios import Expect, Scenario, check_against
from engine.time.calendar import LONDON

STEP_TIME = dt.time(10, 0)


@dataclass(frozen=True)
class Result:
    scenario: str
    file: str
    steps: int
    passed: bool
    on: dt.date | None = None  # the first date something differed
    difference: str = ""
    explanation: str = ""  # how the engine counted the differing deadline


class _Differs(Exception):
    def __init__(self, on: dt.date, message: str, explanation: str = ""):
        super().__init__(message)
        self.on, self.message, self.explanation = on, message, explanation


def moment(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, STEP_TIME, tzinfo=LONDON)


class Runner:
    """Runs scenarios; registries (one per authority) are loaded once and shared."""

    def __init__(self, workflow_paths: list[Path] | None = None):
        self.workflow_paths = workflow_paths
        self._registries: dict = {}

    def registry(self, authority: str | None):
        from engine.language.registry import Registry

        if authority not in self._registries:
            self._registries[authority] = Registry.load(self.workflow_paths, authority=authority)
        return self._registries[authority]

    def prepare(self, scenario: Scenario):
        """The registry and workflow the scenario runs on; DefinitionError if it names what they lack."""
        spec = scenario.spec
        try:
            registry = self.registry(spec.authority)
        except DefinitionError as exc:
            if spec.authority is not None and any(p.field == "authority" for p in exc.problems):
                file, line = locate(scenario.lines, ("authority",), scenario.file)
                raise DefinitionError([Problem(file, line, "authority", p.message) for p in exc.problems
                                       if p.field == "authority"]) from None
            raise
        try:
            workflow = registry.get(spec.workflow)
        except UnknownWorkflow:
            file, line = locate(scenario.lines, ("workflow",), scenario.file)
            raise DefinitionError([Problem(file, line, "workflow", f"unknown workflow '{spec.workflow}' "
                                                                   f"(known: {', '.join(registry.names())})")]) from None
        problems = check_against(scenario, workflow)
        if problems:
            raise DefinitionError(problems)
        return registry, workflow

    def run(self, scenario: Scenario) -> Result:
        from engine.runtime.engine import Engine
        from engine.time.clock import SimulatedClock
        from persistence.store import Store

        registry, _workflow = self.prepare(scenario)
        spec = scenario.spec
        with tempfile.TemporaryDirectory(prefix="caseclock-scenario-") as tmp:
            store = Store.open(f"sqlite:///{Path(tmp) / 'scenario.db'}", create=True)
            try:
                clock = SimulatedClock(moment(spec.open.at))
                engine = Engine(store, registry, None, clock, authority=spec.authority)
                checker = _Checker(engine, spec.open.case_ref)
                try:
                    try:
                        engine.open_case(spec.workflow, spec.open.case_ref, at=clock.now(), data=dict(spec.open.data),
                                         state=spec.open.state, actor="scenario")
                    except CaseError as exc:
                        raise _Differs(spec.open.at, f"the case could not be opened: {_without_ref(exc)}") from None
                    checker.check(spec.open.at, spec.open.expect, clock.now())
                    for step in spec.steps:
                        clock.set(moment(step.on))
                        if step.kind == "fire":
                            try:
                                engine.fire(spec.open.case_ref, step.fire, at=clock.now(), actor=step.actor,
                                            role=step.role, data=dict(step.data))
                            except CaseError as exc:
                                raise _Differs(step.on, f"{step.fire} was refused: {_without_ref(exc)}") from None
                        elif step.kind == "tick":
                            engine.tick(at=clock.now())
                        checker.check(step.on, step.expect, clock.now())
                except _Differs as diff:
                    return Result(spec.name, scenario.file, len(spec.steps), False, diff.on, diff.message, diff.explanation)
            finally:
                store.close()
        return Result(spec.name, scenario.file, len(spec.steps), True)


class _Checker:
    """Compares what the engine holds for the case with what a step expects."""

    def __init__(self, engine, case_ref: str):
        self.engine, self.case_ref = engine, case_ref
        self.seen_outbox = 0

    def check(self, on: dt.date, expect: Expect, now: dt.datetime) -> None:
        view = self.engine.case(self.case_ref)
        queued = [n for n in self.engine.store.outbox() if n.case_ref == self.case_ref and n.id > self.seen_outbox]
        self.seen_outbox = max([self.seen_outbox, *(n.id for n in queued)])
        if expect.state is not None and view.state != expect.state:
            raise _Differs(on, f"state is {view.state}, expected {expect.state}")
        open_ = {}
        for d in sorted(view.open_deadlines, key=lambda d: d.opened_at):
            open_[d.name] = d
        for name, due in expect.deadlines.items():
            if name not in open_:
                raise _Differs(on, f"{name} is not open (open: {', '.join(open_) or 'none'}), expected due {_day(due)}")
            if open_[name].due_on != due:
                raise _Differs(on, f"{name} is due {_day(open_[name].due_on)}, expected {_day(due)}",
                               self.explain(name))
        for name in expect.not_open:
            if name in open_:
                raise _Differs(on, f"{name} is open (due {_day(open_[name].due_on)}), expected it not to be")
        if expect.overdue is not None:
            overdue = sorted(i.deadline for i in self.engine.overdue(at=now) if i.case_ref == self.case_ref)
            if overdue != sorted(expect.overdue):
                raise _Differs(on, f"overdue: {', '.join(overdue) or 'nothing'}; expected "
                                   f"{', '.join(sorted(expect.overdue)) or 'nothing'}")
        if expect.notifications is not None:
            got = sorted(_key(n.kind, n.payload.get("deadline"), n.payload.get("role")) for n in queued)
            want = sorted(_key(n.kind, n.deadline, n.role) for n in expect.notifications)
            if got != want:
                raise _Differs(on, f"notifications queued: {'; '.join(got) or 'none'}; expected {'; '.join(want) or 'none'}")

    def explain(self, name: str) -> str:
        for item in self.engine.explain(self.case_ref):
            if item.deadline == name:
                return describe(item)
        return ""


def describe(item) -> str:
    """One deadline's computation in words: anchor, amount, the days skipped, the source."""
    c = item.computation
    unit = c.unit.value.replace("_", " ")
    text = (f"{item.deadline}: {item.anchor} on {c.anchor:%a %d %b %Y} ({'day 1' if c.anchor_is_day_one else 'day 0'}) "
            f"{c.amount:+d} {unit} = {c.due_on:%a %d %b %Y}")
    if c.skipped:
        text += "; skipped " + ", ".join(f"{s.day:%a %d %b} ({s.reason})" for s in c.skipped)
    return text + f"; source: {item.source}"


def _key(kind: str, deadline: str | None, role: str | None) -> str:
    return " ".join(x for x in (kind, deadline, role and f"to {role}") if x)


def _day(day: dt.date) -> str:
    return f"{day:%a} {day.isoformat()}"


def _without_ref(exc: CaseError) -> str:
    text = str(exc)
    return text.split(": ", 1)[1] if text.startswith("case ") and ": " in text else text
