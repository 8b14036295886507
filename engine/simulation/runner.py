"""Drive a plan through the real engine, store and timers on a simulated clock.

Nothing sleeps and nothing goes around the engine: each planned event is an `open_case` or a
`fire` with its effective time, the clock is moved to that time first (the engine refuses
events in its future), and at every London midnight in between the engine's own `tick` runs
the expiries and reminders then due - the same path the worker takes. A deadline is due at the
end of its day, so a midnight tick fires it at its due time, before the next day's events.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from engine.errors import CaseError
from engine.runtime.engine import Engine
from engine.time.calendar import LONDON
from engine.time.clock import SimulatedClock

from engine.simulation.generator import Event, year_bounds


@dataclass
class RunReport:
    events: int = 0
    ticks: int = 0
    timers_fired: int = 0
    expired: int = 0
    reminders: int = 0
    failures: list[str] = field(default_factory=list)


def _midnight_after(moment: dt.datetime) -> dt.datetime:
    day = moment.astimezone(LONDON).date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(), tzinfo=LONDON)


def run(events: list[Event], engines: dict[str, Engine], clock: SimulatedClock, end: dt.datetime,
        progress: Callable[[int, dt.datetime], None] | None = None) -> RunReport:
    """Apply `events` (sorted by time) through `engines` (one per authority, sharing a store and
    `clock`), ticking the timers at each midnight up to `end`."""
    report = RunReport()
    refs: dict[str, str] = {}          # token of a starting event -> the dispute it started
    timer_engine = next(iter(engines.values()))
    next_tick = _midnight_after(events[0].at) if events else end
    done = 0

    def tick_until(moment: dt.datetime) -> None:
        nonlocal next_tick
        while next_tick <= moment:
            clock.set(next_tick)
            t = timer_engine.tick(next_tick)
            report.ticks += 1
            report.timers_fired += t.fired
            report.expired += t.expired
            report.reminders += t.reminders
            report.failures.extend(f"timer {f['case_ref']} {f['deadline']}: {f['reason']}" for f in t.failed)
            next_tick = _midnight_after(next_tick)

    def apply(e: Event) -> None:
        if e.at > clock.now():
            clock.set(e.at)
        engine = engines[e.authority]
        case_ref = refs.get(e.case_ref) if e.token_case else e.case_ref
        try:
            if case_ref is None:
                raise CaseError(e.case_ref, "its dispute was never started")
            if e.trigger == "open":
                engine.open_case(e.workflow, case_ref, at=e.at, data=e.data, state=e.state, actor=e.actor,
                                 child_ref=e.child_ref, assigned_to=e.assigned_to, team=e.team)
            else:
                outcome = engine.fire(case_ref, e.trigger, at=e.at, actor=e.actor, role=e.role, data=e.data)
                if e.starts:
                    refs[e.starts] = f"{case_ref}-DRP-{outcome.seq}"
        except CaseError as exc:
            report.failures.append(f"{e.at.isoformat()} {case_ref or e.case_ref} {e.trigger}: {exc}")
        report.events += 1

    # a day's events share one transaction (the batch path stores exactly what one-by-one
    # commands store); it is committed before the midnight tick, so the timers see all of it
    store = timer_engine.store
    i = 0
    while i < len(events):
        tick_until(events[i].at)
        with store.batch(every=len(events) + 1):
            while i < len(events) and events[i].at < next_tick:
                apply(events[i])
                i += 1
                done += 1
                if progress and done % 100 == 0:
                    progress(100, events[i - 1].at)
    if progress and events:
        progress(done % 100, events[-1].at)
    tick_until(end)
    if end > clock.now():
        clock.set(end)
    return report


@dataclass
class Simulation:
    database_url: str
    start: dt.datetime
    end: dt.datetime
    plans: list
    report: RunReport


def simulate(database: Path, shapes: list, year: int, seed: int, *, children: int | None = None,
             cp_cases: int | None = None, drps: int | None = None, late_rate: float | None = None,
             escalation_rate: float | None = None, progress_total: Callable[[int], None] | None = None,
             progress: Callable[[int, dt.datetime], None] | None = None, processes: int = 1) -> Simulation:
    """Generate each authority's year and run it into a new SQLite file at `database`.

    Authorities run one after another, each on its own simulated clock from the start of its
    warm-up: cases of one authority never touch another's, and every deadline of an authority
    run earlier is due after the year's end by the time the next starts, so the store-wide
    timer ticks of one never fire another's. Only one authority's plan is held in memory at a
    time (for more than one, each plan's events are dropped once they have run).

    With `processes` > 1 and several authorities, they run at once in that many processes, each
    into a file of its own, appended to `database` in order afterwards (`merge.append`): the
    file is the same, row for row, as one run one after another."""
    start, end = year_bounds(year)
    options = dict(children=children, cp_cases=cp_cases, drps=drps, late_rate=late_rate,
                   escalation_rate=escalation_rate)
    if processes > 1 and len(shapes) > 1:
        report, plans = _in_processes(database, shapes, year, seed, options, processes, progress_total, progress)
    else:
        report, plans = RunReport(), []
        for shape in shapes:
            part, plan = _authority(database, shape, year, seed, options, progress_total, progress)
            _add(report, part)
            if len(shapes) > 1:
                plan.events = []
            plans.append(plan)
    return Simulation(f"sqlite:///{database}", start, end, plans, report)


def _add(report: RunReport, part: RunReport) -> None:
    for name in ("events", "ticks", "timers_fired", "expired", "reminders"):
        setattr(report, name, getattr(report, name) + getattr(part, name))
    report.failures.extend(part.failures)


def _authority(database: Path, shape, year: int, seed: int, options: dict, progress_total, progress):
    """One authority's year into `database` (created if need be): (its RunReport, its Plan)."""
    from persistence.store import Store

    from engine.language.bundled import bundled_dir
    from engine.language.registry import Registry
    from engine.simulation.generator import generate
    from engine.time.calendar import WorkingCalendar

    start, end = year_bounds(year)
    store = Store.open(f"sqlite:///{database}", create=True)
    try:
        clock = SimulatedClock(start - dt.timedelta(days=366))
        registry = Registry.load([bundled_dir("workflows")], authority=shape.name)
        engine = Engine(store, registry, WorkingCalendar(), clock, authority=shape.name)
        workflows = {name: registry.get(name) for name in ("cla_review", "child_protection", "drp")}
        plan = generate(shape, workflows, engine.calendars.of(shape.name), year, seed, **options)
        if progress_total:
            progress_total(len(plan.events))
        return run(plan.events, {shape.name: engine}, clock, end, progress), plan
    finally:
        store.close()


_queue = None  # a process's channel for progress, in a pool of `_in_processes`


def _start_process(queue) -> None:
    global _queue
    _queue = queue


def _authority_in_process(database: Path, shape, year: int, seed: int, options: dict):
    from engine import logs

    logs.configure(level="warning")
    report, plan = _authority(database, shape, year, seed, options,
                              lambda n: _queue.put(("total", n)), lambda n, at: _queue.put(("step", n, at)))
    plan.events = []
    return report, plan


def _in_processes(database: Path, shapes: list, year: int, seed: int, options: dict, processes: int,
                  progress_total, progress):
    """Each authority in a file of its own, `processes` at a time, then appended in order."""
    import multiprocessing
    import queue as queues
    from concurrent.futures import ProcessPoolExecutor

    from engine.simulation import merge

    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited connections
    channel = context.Queue()
    parts = [Path(f"{database}.part{i}") for i in range(len(shapes))]

    def drain(wait: float) -> None:
        try:
            while True:
                message = channel.get(timeout=wait)
                if message[0] == "total" and progress_total:
                    progress_total(message[1])
                elif message[0] == "step" and progress:
                    progress(message[1], message[2])
                wait = 0
        except queues.Empty:
            pass

    try:
        with ProcessPoolExecutor(max_workers=min(processes, len(shapes)), mp_context=context,
                                 initializer=_start_process, initargs=(channel,)) as pool:
            futures = [pool.submit(_authority_in_process, part, shape, year, seed, options)
                       for part, shape in zip(parts, shapes)]
            while not all(f.done() for f in futures):
                drain(0.2)
            results = [f.result() for f in futures]
        drain(0)
        report, plans = RunReport(), []
        for i, (part_report, plan) in enumerate(results):
            _add(report, part_report)
            plans.append(plan)
            if i == 0:
                merge.checkpoint(parts[0])  # all of it in the main file, which becomes `database`
                parts[0].replace(database)
            else:
                merge.append(database, parts[i])
        return report, plans
    finally:
        for part in parts:
            for leftover in (part, Path(f"{part}-wal"), Path(f"{part}-shm")):
                leftover.unlink(missing_ok=True)
