"""Command throughput on the embedded default (SQLite file): opening cases, firing triggers,
and the monitoring queries managers run, on a table of realistic size.

    python bench/commands.py [--cases 2000] [--url sqlite:///bench.db]

Prints one line per measurement. Each command is a full transaction through the engine
(validation, machine step, deadline arithmetic, row-version guard, history row).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

from engine import Engine, Registry, SimulatedClock, Store, WorkingCalendar, logs
from engine.time.calendar import LONDON

RAISED = {"theme": "drift_and_delay", "concern": "benchmark"}


def moment(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=LONDON)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    logs.configure(level="warning")
    tmp = tempfile.mkdtemp()
    url = args.url or f"sqlite:///{Path(tmp) / 'bench.db'}"
    clock = SimulatedClock(moment(dt.date(2030, 1, 1)))
    engine = Engine(Store.open(url), Registry.load(), WorkingCalendar(), clock)
    start_day = dt.date(2026, 1, 5)

    latencies = []
    t0 = time.perf_counter()
    for i in range(args.cases):
        day = start_day + dt.timedelta(days=i % 300)
        t = time.perf_counter()
        engine.open_case("drp", f"B-{i}", at=moment(day), data=RAISED, actor="bench")
        latencies.append(time.perf_counter() - t)
    opened = time.perf_counter() - t0
    print(f"open_case            {args.cases / opened:8.0f} /s   median {statistics.median(latencies) * 1000:.2f} ms")

    latencies = []
    t0 = time.perf_counter()
    for i in range(args.cases):
        day = start_day + dt.timedelta(days=i % 300 + 1)
        t = time.perf_counter()
        engine.fire(f"B-{i}", "escalate", at=moment(day), actor="bench", role="iro")
        latencies.append(time.perf_counter() - t)
    fired = time.perf_counter() - t0
    print(f"fire (escalate)      {args.cases / fired:8.0f} /s   median {statistics.median(latencies) * 1000:.2f} ms")

    t0 = time.perf_counter()
    for i in range(min(args.cases, 500)):
        engine.case(f"B-{i}")
    shown = time.perf_counter() - t0
    print(f"case view            {min(args.cases, 500) / shown:8.0f} /s")

    as_at = moment(dt.date(2026, 7, 1))
    t0 = time.perf_counter()
    items = engine.overdue(as_at)
    print(f"overdue list         {len(items):8d} items in {(time.perf_counter() - t0) * 1000:.0f} ms")
    t0 = time.perf_counter()
    items = engine.upcoming(10, at=as_at)
    print(f"upcoming 10wd        {len(items):8d} items in {(time.perf_counter() - t0) * 1000:.0f} ms")

    proclaimed = WorkingCalendar(closure_days={dt.date(2026, 5, 5): "one-off"})
    later = Engine(engine.store, engine.registry, proclaimed, clock)
    t0 = time.perf_counter()
    moved = later.recompute()
    print(f"recompute            {len(moved):8d} moved in {(time.perf_counter() - t0):.2f} s "
          f"({2 * args.cases} open deadlines recounted)")

    cal = WorkingCalendar()
    t0 = time.perf_counter()
    day = dt.date(2026, 1, 1)
    for i in range(200_000):
        cal.add_working_days(day, 20)
    print(f"add 20 working days  {200_000 / (time.perf_counter() - t0):8.0f} /s")


if __name__ == "__main__":
    main()
