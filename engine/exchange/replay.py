"""Replay each child's history through the Engine as backdated events, all or nothing per child.

For each child the importer plans its commands (`plan_child`: pure, from the history), then
replays them through the real Engine - the same validation and deadlines - inside a store batch
(`Engine.batch`: commands share transactions, committed every `every` commands, but only between
children), each child in a savepoint of its own (`Batch.atomic`): a child refused anywhere is
rolled back whole and reported with where in the extract it failed. What a batch stores is
exactly what the same commands store one by one (tests/test_import_batch.py compares them).

Each command carries an idempotency key derived from the case reference, the trigger and the
date (never the row number, which changes between extracts), and each case reference from the
child id and the episode's start: importing the same extract again writes nothing, and a newer
extract adds only its new events.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from engine.errors import CaseclockError, CaseError
from engine.exchange.history import (
    CARE_ENDED,
    CARE_STARTED,
    CEASED_REASONS,
    CLA,
    CP_REVIEW,
    ENQUIRY_CLOSED,
    ICPC,
    PLAN_ENDED,
    REVIEW,
    S47_STARTED,
    ChildHistory,
    Extract,
    Origin,
    Problem,
    Spell,
    case_ref,
)
from engine.time.calendar import LONDON, Unit, WorkingCalendar

ACTOR = "import"
NOT_RECORDED = "not_recorded"  # the lateness reason of a late event the return gives no reason for


@dataclass(frozen=True)
class Step:
    """One engine command: open a case, or fire a trigger on it."""

    case_ref: str
    workflow: str
    trigger: str  # "open" or a trigger
    on: dt.date
    data: dict[str, Any]
    reason: str
    key: str
    origin: Origin
    child_ref: str | None = None  # the child's id in the extract, recorded on the case it opens


@dataclass
class ChildResult:
    child_id: str
    cases: list[str] = field(default_factory=list)
    written: int = 0  # commands newly stored
    already: int = 0  # commands an earlier import had stored
    problem: Problem | None = None


@dataclass
class ImportReport:
    source: str
    children: int = 0
    imported: int = 0  # children with something new
    unchanged: int = 0
    skipped: list[Problem] = field(default_factory=list)
    cases: int = 0
    written: int = 0
    already: int = 0
    notes: list[str] = field(default_factory=list)


def midday(on: dt.date) -> dt.datetime:
    """The effective time of an event known only by its date: midday in London, so it falls on
    that day whatever the clocks do."""
    return dt.datetime.combine(on, dt.time(12), tzinfo=LONDON)


def plan_child(child: ChildHistory, calendar: WorkingCalendar) -> list[Step]:
    """The engine commands that replay a child's history, in order; raises PlanProblem."""
    steps: list[Step] = []
    for spell in sorted(child.spells, key=lambda s: (s.starts_on, s.workflow)):
        ref = case_ref(spell, child.child_id)
        planned = _plan_care(spell, ref, calendar) if spell.workflow == CLA else _plan_protection(spell, ref, child)
        steps.extend(_child(planned, child.child_id))
    return steps


class PlanProblem(Exception):
    def __init__(self, origin: Origin, reason: str):
        super().__init__(reason)
        self.origin, self.reason = origin, reason


def _step(ref: str, workflow: str, trigger: str, on: dt.date, data: dict, reason: str, origin: Origin) -> Step:
    return Step(ref, workflow, trigger, on, data, reason, f"import:{ref}:{trigger}:{on:%Y%m%d}", origin)


def _child(steps: list[Step], child_id: str) -> list[Step]:
    return [replace(s, child_ref=child_id) if s.trigger == "open" else s for s in steps]


def _plan_care(spell: Spell, ref: str, calendar: WorkingCalendar) -> list[Step]:
    steps = []
    held = 0
    for fact in spell.facts:
        if fact.kind == CARE_STARTED:
            steps.append(_step(ref, CLA, "open", fact.on, {"became_looked_after": fact.on},
                               f"imported from {fact.origin}", fact.origin))
        elif fact.kind == REVIEW and fact.on is not None:
            months = 3 if held == 0 else 6
            next_on = calendar.add(fact.on, months, Unit.MONTHS)
            data: dict[str, Any] = {"next_review_on": next_on}
            reason = (f"imported from {fact.origin}; the return does not carry the next review date agreed at "
                      f"the meeting: next_review_on set to the statutory latest date, {next_on.isoformat()} "
                      f"({months} months after this review, Care Planning, Placement and Case Review (England) "
                      f"Regulations 2010, reg 33)")
            if held == 1:
                data["permanence_plan_ratified"] = False
                reason += ("; the return does not record whether a permanence plan was ratified at this second "
                           "review: recorded as not ratified, so the alert asks the IRO to confirm it")
            steps.append(_step(ref, CLA, "review_held", fact.on, data, reason, fact.origin))
            held += 1
        elif fact.kind == CARE_ENDED:
            steps.append(_step(ref, CLA, "ceased_looked_after", fact.on,
                               {"ceased_reason": CEASED_REASONS[fact.code]},
                               f"imported from {fact.origin} (reason episode ceased {fact.code})", fact.origin))
    return steps


def _plan_protection(spell: Spell, ref: str, child: ChildHistory) -> list[Step]:
    steps = []
    ended_by_review: set[dt.date] = set()
    ends = {f.on for f in spell.facts if f.kind == PLAN_ENDED}
    outcome_of_icpc = None
    for fact in spell.facts:
        if fact.kind == S47_STARTED:
            steps.append(_step(ref, "child_protection", "open", fact.on, {"strategy_discussion_on": fact.on},
                               f"imported from {fact.origin} (the section 47 enquiry's start is taken as the "
                               f"strategy discussion)", fact.origin))
        elif fact.kind == ICPC and fact.on is not None:
            outcome_of_icpc = fact.value("outcome", "no_plan")
            data: dict[str, Any] = {"outcome": outcome_of_icpc, "quorate": True}
            if outcome_of_icpc == "plan":
                if fact.value("category") is None:
                    raise PlanProblem(fact.origin, "the conference made a plan, but the extract has no plan (with its category) for it")
                data["category"] = fact.value("category")
            steps.append(_step(ref, "child_protection", "icpc_held", fact.on, data,
                               f"imported from {fact.origin}; the return does not record quoracy: recorded as quorate",
                               fact.origin))
        elif fact.kind == CP_REVIEW and fact.on is not None:
            ending = fact.value("outcome") == "end_plan" or fact.on in ends
            if ending:
                ended_by_review.add(fact.on)
            quorate = fact.value("quorate")
            reason = f"imported from {fact.origin}"
            if quorate is None:
                quorate = True
                reason += "; the return does not record quoracy: recorded as quorate"
            steps.append(_step(ref, "child_protection", "rcpc_held", fact.on,
                               {"outcome": "end_plan" if ending else "continue", "quorate": quorate}, reason, fact.origin))
        elif fact.kind == PLAN_ENDED and fact.on not in ended_by_review:
            steps.append(_step(ref, "child_protection", "rcpc_held", fact.on, {"outcome": "end_plan", "quorate": True},
                               f"imported from {fact.origin}; the plan ended that day and the return does not say at "
                               f"which conference: recorded as ended at a review conference, quorate", fact.origin))
        elif fact.kind == ENQUIRY_CLOSED:
            steps.append(_step(ref, "child_protection", "enquiry_concluded", fact.on, {},
                               f"imported from {fact.origin} (no initial conference)", fact.origin))
    return steps


class Importer:
    """Replay each child through the real engine inside a batch, one savepoint per child."""

    def __init__(self, engine, every: int = 500):
        self.engine = engine
        self.every = every

    def close(self) -> None:
        """Nothing to release; kept so an importer can be used in a `with` block."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def calendar(self) -> WorkingCalendar:
        return self.engine.calendars.of(self.engine.authority)

    def run(self, extract: Extract, progress: Callable[[ChildResult], None] | None = None) -> ImportReport:
        report = ImportReport(extract.source, children=len(extract.children))
        with self.engine.batch(self.every) as batch:
            for child in extract.children:
                report.notes.extend(f"child {child.child_id}: {n}" for n in child.notes)
                result = self.import_child(child, batch)
                if result.problem is not None:
                    report.skipped.append(result.problem)
                elif result.written:
                    report.imported += 1
                else:
                    report.unchanged += 1
                report.cases += len(result.cases) if result.problem is None else 0
                report.written += result.written
                report.already += result.already
                if progress is not None:
                    progress(result)
        return report

    def import_child(self, child: ChildHistory, batch) -> ChildResult:
        """Plan the child's commands and replay them in one savepoint of the batch: all kept, or
        (the first refusal reported with where in the extract it came from) none."""
        result = ChildResult(child.child_id)
        if child.problem is not None:
            result.problem = child.problem
            return result
        try:
            steps = plan_child(child, self.calendar)
            result.cases = sorted({s.case_ref for s in steps})
            if all(self._stored(s) for s in steps):  # imported before: nothing to write
                result.already = len(steps)
                return result
            with batch.atomic():
                self.write(steps, result)
        except PlanProblem as exc:
            result.problem = Problem(child.child_id, exc.origin, exc.reason)
        except CaseclockError as exc:  # not the history refused: a change made to a case since an earlier import
            result.problem = Problem(child.child_id, child.origin, f"{exc} (run the import again)")
        if result.problem is not None:
            result.written = result.already = 0
        return result

    def write(self, steps: list[Step], result: ChildResult) -> None:
        """One child's commands on the engine, in order, each as one engine command; raises
        PlanProblem at the first refused (`import_child` undoes the others)."""
        for step in steps:
            if self._stored(step):
                result.already += 1
                continue
            self._apply(step)
            result.written += 1

    def _stored(self, step: Step) -> bool:
        """Whether an earlier import stored this command (read in the batch, so it sees its writes)."""
        store = self.engine.store
        if step.trigger == "open":
            return store.case(step.case_ref, self.engine.authority) is not None
        return store.transition_by_key(step.key) is not None

    def _apply(self, step: Step) -> None:
        """One command; an event the engine refuses only for lacking a lateness reason (which the
        returns do not carry) is sent again with `not_recorded`. Raises PlanProblem."""
        at = min(midday(step.on), self.engine.clock.now())
        try:
            self._command(self.engine, step, at)
        except CaseError as exc:
            if getattr(exc, "field", None) != "lateness_reason" or "lateness_reason" in step.data:
                raise PlanProblem(step.origin, _without_ref(str(exc), step.case_ref)) from None
            step = replace(step, data={**step.data, "lateness_reason": NOT_RECORDED},
                           reason=step.reason + "; held late, and the return records no reason: lateness_reason not_recorded")
            try:
                self._command(self.engine, step, at)
            except CaseError as again:
                raise PlanProblem(step.origin, _without_ref(str(again), step.case_ref)) from None

    @staticmethod
    def _command(engine, step: Step, at: dt.datetime) -> None:
        if step.trigger == "open":
            engine.open_case(step.workflow, step.case_ref, at=at, data=step.data, actor=ACTOR,
                             reason=step.reason, idempotency_key=step.key, child_ref=step.child_ref)
        else:
            engine.fire(step.case_ref, step.trigger, at=at, actor=ACTOR, reason=step.reason, data=step.data,
                        idempotency_key=step.key)


def _without_ref(message: str, ref: str) -> str:
    return message.replace(f"case {ref}: ", "").replace(f"{ref}: ", "")
