"""The monitoring lists on a database of any size: first page, counts, and the whole export.

    python bench/lists.py DB.sqlite [DB2.sqlite ...] [--at 2025-07-01] [--repeats 3]

Prints, per database, the median of REPEATS calls (ms) of Engine.overdue_page (first page of
100 and its total, workflow and age-band counts), overdue_page filtered by workflow, and
upcoming_page (10 working days); then the ratio of each to the first database's time (build a
small and a large database, e.g. with bench-peers' caseclock_overdue_scale.py build, to see
how the lists scale); and the time and peak memory of streaming the whole overdue list.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import statistics
import time

from engine import Engine, Registry, Store, WorkingCalendar, logs
from engine.runtime.views import DeadlinePage
from engine.time.calendar import LONDON
from persistence import lists


def median_ms(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("databases", nargs="+")
    parser.add_argument("--at", default="2025-07-01")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--export", action="store_true", help="also stream the whole overdue list")
    args = parser.parse_args()
    logs.configure(level="warning")
    as_at = dt.datetime.combine(dt.date.fromisoformat(args.at), dt.time(0), tzinfo=LONDON)
    first: dict[str, float] = {}
    for path in args.databases:
        engine = Engine(Store.open(f"sqlite:///{path}", create=False), Registry.load(), WorkingCalendar())
        today = as_at.date()
        first_page = lambda: [engine._overdue_item(r, today)  # noqa: E731
                              for r in lists.page(engine.store.db, lists.ListQuery(due_before=as_at), 100)]
        for name, call in (
            ("overdue first page (no counts)", lambda: DeadlinePage(first_page(), 0, {}, None, 100, 0)),
            ("overdue first page + counts", lambda: engine.overdue_page(as_at)),
            ("overdue page, workflow=drp", lambda: engine.overdue_page(as_at, workflow="drp")),
            ("upcoming 10wd page + counts", lambda: engine.upcoming_page(10, at=as_at)),
        ):
            engine.overdue_page(as_at, limit=1)  # warm: calendars built, statements compiled
            ms, page = median_ms(call, args.repeats)
            ratio = f"{ms / first[name]:.2f}x" if name in first else "1.00x"
            first.setdefault(name, ms)
            print(f"{path}: {name:30s} {ms:8.1f} ms  (x first db: {ratio})  total {page.total:,}  "
                  f"rows {len(page.items)}  by_age {page.by_age}")
        if args.export:
            t = time.perf_counter()
            n = sum(1 for _ in engine.iter_overdue(as_at))
            print(f"{path}: overdue --all streamed {n:,} rows in {time.perf_counter() - t:.1f} s, "
                  f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
        engine.store.close()


if __name__ == "__main__":
    main()
