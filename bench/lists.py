"""The monitoring lists on a database of any size: first pages, filtered pages, and counts.

    python bench/lists.py DB.sqlite [DB2.sqlite ...] [--at 2025-07-01] [--repeats 3] [--export]

Prints, per database, the median of REPEATS calls (ms) of: the first page of 100 overdue rows
alone; Engine.overdue_page and upcoming_page (a page of 100 with total, counts by workflow and,
for overdue, by age band), whole and filtered by workflow, team and IRO (assigned_to); and the
dashboard's Overdue now and Due next pages (a page with every band's count). Then the ratio of
each to the first database's time (build a small and a large database, e.g. with bench-peers'
caseclock_overdue_scale.py build, to see how the lists scale), the load average, and with
--export the time and peak memory of streaming the whole overdue list. The team and IRO
filters pick the team and IRO of the case whose deadline went overdue last.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import statistics
import time

from sqlalchemy import text

from engine import Engine, Registry, Store, WorkingCalendar, logs
from engine.monitor import lists as monitor
from engine.time.calendar import LONDON
from persistence import lists


def median_ms(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), result


def calls(engine: Engine, as_at: dt.datetime, team: str | None, iro: str | None):
    today = as_at.date()
    first_page = lambda: [engine._overdue_item(r, today)  # noqa: E731
                          for r in lists.page(engine.store.db, lists.ListQuery(due_before=as_at), 100)]
    return (
        ("overdue first page (no counts)", first_page),
        ("overdue page + counts", lambda: engine.overdue_page(as_at)),
        ("overdue page, workflow", lambda: engine.overdue_page(as_at, workflow="drp")),
        ("overdue page, team", lambda: engine.overdue_page(as_at, case_filters={"team": team})),
        ("overdue page, IRO", lambda: engine.overdue_page(as_at, case_filters={"assigned_to": iro})),
        ("upcoming 10wd page + counts", lambda: engine.upcoming_page(10, at=as_at)),
        ("upcoming page, workflow", lambda: engine.upcoming_page(10, at=as_at, workflow="drp")),
        ("upcoming page, team", lambda: engine.upcoming_page(10, at=as_at, case_filters={"team": team})),
        ("upcoming page, IRO", lambda: engine.upcoming_page(10, at=as_at, case_filters={"assigned_to": iro})),
        ("dashboard overdue + bands", lambda: monitor.overdue_page(engine, at=as_at, limit=100)),
        ("dashboard due next + bands", lambda: monitor.due_next_page(engine, at=as_at, limit=100)),
        ("dashboard overdue, IRO", lambda: monitor.overdue_page(engine, monitor.Filters(iro=iro), at=as_at, limit=100)),
    )


def size(page) -> str:
    total = getattr(page, "total", None)
    return f"total {total:,}" if total is not None else f"rows {len(page)}"


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
        with engine.store.db.reader.connect() as conn:
            team, iro = conn.execute(text(  # of a case with an overdue deadline
                "SELECT team, assigned_to FROM cases WHERE id = (SELECT case_id FROM deadlines WHERE status = 'open' "
                "AND due_at <= :at ORDER BY due_at DESC LIMIT 1)"), {"at": as_at.astimezone(dt.timezone.utc).replace(tzinfo=None)}).one()
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        print(f"{path}: schema {revision}, team {team!r}, IRO {iro!r}, code {os.path.dirname(lists.__file__)}")
        engine.overdue_page(as_at, limit=1)  # warm: calendars built, statements compiled
        for name, call in calls(engine, as_at, team, iro):
            call()
            ms, page = median_ms(call, args.repeats)
            ratio = f"{ms / first[name]:.2f}x" if name in first else "1.00x"
            first.setdefault(name, ms)
            print(f"  {name:32s} {ms:8.1f} ms  (x first db: {ratio})  {size(page)}", flush=True)
        if args.export:
            t = time.perf_counter()
            n = sum(1 for _ in engine.iter_overdue(as_at))
            print(f"  overdue --all streamed {n:,} rows in {time.perf_counter() - t:.1f} s, "
                  f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
        engine.store.close()
    print("load average:", " ".join(open("/proc/loadavg").read().split()[:3]))


if __name__ == "__main__":
    main()
