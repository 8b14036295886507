"""Import throughput: a generated SSDA903 return of N children replayed through the engine.

    python bench/import.py [--children 1000] [--url sqlite:///bench.db]

Prints the time to read the extract, to import it (through the engine in a batch: commands
share transactions, committed every 500 commands between children, each child in a savepoint of
its own), to import it again (every event already there),
and the rate in children and events a second, with what that rate means for a national extract
of 100,000 children.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import Engine, Registry, Store, WorkingCalendar, logs  # noqa: E402
from engine.exchange import ssda903  # noqa: E402
from engine.exchange.replay import Importer  # noqa: E402
from engine.time.calendar import Unit  # noqa: E402
from tests.extracts import episode, header, review, write_903  # noqa: E402

TODAY = dt.date(2026, 11, 30)


def generate(directory: Path, children: int, seed: int = 7) -> int:
    """A return of `children` children in care since 2023-2025, each reviewed on time or a few
    days late, a fifth of them since returned home. Returns the number of review rows."""
    rng = random.Random(seed)
    calendar = WorkingCalendar()
    headers, episodes, reviews = [], [], []
    for n in range(children):
        child = f"B{n:06d}"
        start = dt.date(2023, 1, 2) + dt.timedelta(days=rng.randrange(0, 900))
        headers.append(header(child))
        on = calendar.add(start, 20, Unit.WORKING_DAYS) - dt.timedelta(days=rng.randrange(0, 5))
        held = []
        while on < TODAY and len(held) < 6:
            held.append(on)
            months = 3 if len(held) == 1 else 6
            on = calendar.add(on, months, Unit.MONTHS) + dt.timedelta(days=rng.randrange(-10, 4))
        ended = rng.random() < 0.2 and held and held[-1] + dt.timedelta(days=30) < TODAY
        end = held[-1] + dt.timedelta(days=30) if ended else None
        episodes.append(episode(child, start, dec=end, rec="E4A" if end else ""))
        reviews.extend(review(child, r) for r in held)
    write_903(directory, headers, episodes, reviews)
    return len(reviews)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--children", type=int, default=1000)
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    logs.configure(json_output=True, level="warning")
    with tempfile.TemporaryDirectory() as tmp:
        rows = generate(Path(tmp) / "return", args.children)
        url = args.url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = Engine(Store.open(url), Registry.load())
        t0 = time.perf_counter()
        extract = ssda903.read(Path(tmp) / "return", TODAY)
        read_s = time.perf_counter() - t0
        with Importer(engine) as importer:
            t0, c0 = time.perf_counter(), time.process_time()
            report = importer.run(extract)
            first_s, first_cpu = time.perf_counter() - t0, time.process_time() - c0
            t0 = time.perf_counter()
            again = importer.run(extract)
            second_s = time.perf_counter() - t0
        events = report.written
        print(f"extract: {args.children} children, {rows} review rows; read in {read_s:.2f} s")
        print(f"import: {report.imported} children, {report.cases} cases, {events} events, "
              f"{len(report.skipped)} skipped in {first_s:.1f} s = {args.children / first_s:.0f} children/s, "
              f"{events / first_s:.0f} events/s; "
              f"CPU {first_cpu:.1f} s = {events / first_cpu:.0f} events per CPU second")
        print(f"import again: {again.written} events written, {again.already} already there, in {second_s:.1f} s "
              f"= {args.children / second_s:.0f} children/s")
        print(f"at this rate 100,000 children take {100_000 / (args.children / first_s) / 60:.0f} min")


if __name__ == "__main__":
    main()
