"""A national simulated year at a fraction of its size: events, wall time, CPU and memory, one
process against several, and what the whole would take at the measured rate.

    python bench/national.py [--fraction 0.02] [--processes 1 2] [--year 2023]

Runs `engine.simulation.runner.simulate` on the five authorities' shapes scaled to FRACTION of
`--scale national` (about 100,000 children), once per --processes value, each into a new
SQLite file, and prints per run: events, wall seconds, CPU seconds (this process and its
children), events a second, peak memory of the largest process; then the wall time the full
national year would take at that rate (events grow in proportion to the children).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from engine import logs
from engine.simulation import profiles
from engine.simulation.runner import simulate


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def peak_mb() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return max(own.ru_maxrss, children.ru_maxrss) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fraction", type=float, default=0.02)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--year", type=int, default=2023)
    args = parser.parse_args()
    logs.configure(level="warning")
    shapes = [s.scaled(args.fraction) for s in profiles.national()]
    children = sum(s.children_in_care for s in shapes)
    print(f"national year at {args.fraction:g} of its size: {children:,} children in care in "
          f"{len(shapes)} authorities; load average {os.getloadavg()[0]:.1f}; {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as folder:
        for n in args.processes:
            wall, cpu = time.perf_counter(), cpu_seconds()
            sim = simulate(Path(folder) / f"national-{n}.db", shapes, args.year, seed=1, processes=n)
            wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
            events = sim.report.events
            whole = wall / args.fraction
            print(f"  {n} process(es): {events:,} events, {wall:.1f} s wall, {cpu:.1f} s CPU "
                  f"({1000 * cpu / events:.2f} ms a command), {events / wall:,.0f} events/s, "
                  f"peak {peak_mb():.0f} MB; the whole year at this rate: about {whole / 60:.0f} min "
                  f"({events / args.fraction / 1e6:.1f} million events); load average now {os.getloadavg()[0]:.1f}",
                  flush=True)


if __name__ == "__main__":
    main()
