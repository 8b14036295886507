"""Timer figures: expiries fired per second (1 and 4 workers on PostgreSQL, 1 on SQLite), the
delay between a deadline's due time and its firing, and a worker's start-up time with 1,000,000
pending deadlines in the table.

    python bench/timers.py [--rows 3000] [--big 1000000] [--fast]

Starts a throwaway PostgreSQL 15 server on a temp dir (tests/pgserver.py; durable settings -
fsync on - unless --fast) and a SQLite file. Workers are real `caseclock worker` processes.
Each timer is the DRP's informal_response expiring, in the test variant whose informal stage
escalates itself (tests/workflows/drp_escalating.yaml; the base DRP's only notifies): a full
transition through the engine (stage 1 entered, two deadlines and two reminders opened, two
notifications queued), at its original due time. Throughput is counted from the rows' own expired_at stamps (first to last firing), so
process start-up is not in it; notifications are delivered after the timers (not counted).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import func, select, text  # noqa: E402

from engine import logs  # noqa: E402
from engine.time.clock import SystemClock  # noqa: E402
from persistence.models import DeadlineRow  # noqa: E402
from persistence.store import Store  # noqa: E402
from tests import pgserver  # noqa: E402
from tests.seed import seed  # noqa: E402

TABLES = "outbox, reminders, deadlines, transitions, cases, definitions"


def reset(url: str) -> None:
    store = Store.open(url)
    if store.db.dialect == "postgresql":
        with store.db.writer.begin() as conn:
            conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    store.close()


def load_due(url: str, n: int, due) -> None:
    now = SystemClock().now()
    seed(url, n, due, opened_at=now - dt.timedelta(days=3))


def env_for(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASECLOCK_")}
    env["CASECLOCK_DATABASE_URL"] = url
    return env


def workers(url: str, count: int, *args: str) -> list[subprocess.Popen]:
    return [subprocess.Popen(["caseclock", "--log-json", "worker", *args], cwd=REPO, env=env_for(url),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(count)]


def fired_span(url: str) -> tuple[int, float]:
    store = Store.open(url)
    with store.read() as s:
        n, first, last = s.exec(select(func.count(), func.min(DeadlineRow.expired_at), func.max(DeadlineRow.expired_at))
                                .where(DeadlineRow.expired_at.is_not(None))).one()
    store.close()
    first, last = (_aware(first), _aware(last)) if n else (None, None)
    return n, (last - first).total_seconds() if n else 0.0


def _aware(value):
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def throughput(url: str, rows: int, count: int) -> dict:
    reset(url)
    now = SystemClock().now()
    load_due(url, rows, lambda i: now - dt.timedelta(hours=1) + dt.timedelta(milliseconds=i))
    started = time.monotonic()
    procs = workers(url, count, "--once")
    for p in procs:
        p.wait(timeout=3600)
    wall = time.monotonic() - started
    n, span = fired_span(url)
    assert n == rows, f"{n} of {rows} fired"
    return {"rows": rows, "workers": count, "per_s": n / span if span else float("inf"), "wall_s": wall}


def delay(url: str, rows: int, window: float) -> dict:
    """Deadlines due every few ms over `window` seconds from now; one scheduled worker."""
    reset(url)
    store = Store.open(url)  # migrate before the clock starts
    store.close()
    lead = 8.0  # time for the worker to start before the first one is due
    now = SystemClock().now()
    step = window / rows
    load_due(url, rows, lambda i: now + dt.timedelta(seconds=lead + i * step))
    [proc] = workers(url, 1, "--sweep-seconds", "30")
    store = Store.open(url)
    give_up = time.monotonic() + lead + window + 60
    while time.monotonic() < give_up:
        if store.count(DeadlineRow, DeadlineRow.expired_at.is_not(None)) >= rows:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    with store.read() as s:
        pairs = s.exec(select(DeadlineRow.due_at, DeadlineRow.expired_at).where(DeadlineRow.expired_at.is_not(None))).all()
    store.close()
    delays = sorted((_aware(e) - _aware(d)).total_seconds() for d, e in pairs)
    assert len(delays) == rows, f"{len(delays)} of {rows} fired"
    return {"rows": rows, "p50": statistics.median(delays), "p95": delays[int(0.95 * (len(delays) - 1))],
            "max": delays[-1], "min": delays[0]}


def startup(url: str, big: int) -> dict:
    reset(url)
    future = SystemClock().now() + dt.timedelta(days=30)
    started = time.monotonic()
    load_due(url, big, lambda i: future + dt.timedelta(seconds=i))
    loaded = time.monotonic() - started
    store = Store.open(url)
    pending = store.count(DeadlineRow, DeadlineRow.expired_at.is_(None))
    if store.db.dialect == "postgresql":
        with store.db.writer.begin() as conn:
            conn.execute(text("ANALYZE"))
    store.close()
    times = []
    for _ in range(3):
        t = time.monotonic()
        [p] = workers(url, 1, "--once")
        p.wait(timeout=600)
        times.append(time.monotonic() - t)
    t = time.monotonic()
    subprocess.run(["caseclock", "--help"], cwd=REPO, env=env_for(url), stdout=subprocess.DEVNULL, check=True)
    bare = time.monotonic() - t
    # in-process: connect + migrate check + catch-up sweep (nothing due) + next wake-up query
    from engine.time.calendar import WorkingCalendar
    from engine.runtime.engine import Engine
    from engine.language.registry import Registry
    from engine.timers.worker import Worker

    t = time.monotonic()
    engine = Engine(Store.open(url), Registry.load(), WorkingCalendar(), SystemClock())
    worker = Worker(engine, worker_id="bench")
    worker.run_once(wait_for_others=False)
    nxt = worker.store.next_wakeup(SystemClock().now())
    inproc = time.monotonic() - t
    engine.store.close()
    assert nxt is not None
    return {"pending": pending, "load_s": loaded, "once_s": min(times), "cli_bare_s": bare, "inproc_s": inproc}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=3000, help="due timers per throughput run (x2 for 4 workers)")
    parser.add_argument("--big", type=int, default=1_000_000, help="pending deadlines for the start-up test")
    parser.add_argument("--delay-rows", type=int, default=300)
    parser.add_argument("--delay-window", type=float, default=20.0)
    parser.add_argument("--fast", action="store_true", help="PostgreSQL with fsync off (as the tests run it)")
    args = parser.parse_args()
    logs.configure(level="warning", stream=io.StringIO())
    tmp = Path(tempfile.mkdtemp(prefix="caseclock-bench-"))
    pg_dir = Path(tempfile.mkdtemp(prefix="caseclock-bench-pg-"))  # its own: the server runs as `postgres`
    pg = pgserver.start(pg_dir, durable=not args.fast)
    sqlite = f"sqlite:///{tmp / 'bench.db'}"
    results = []
    try:
        print(f"PostgreSQL 15 ({'fsync off' if args.fast else 'durable: fsync on'}), unix socket; "
              f"SQLite WAL, synchronous=NORMAL; {os.cpu_count()} cores; load average before: "
              f"{os.getloadavg()[0]:.1f}", flush=True)
        r = throughput(pg, args.rows, 1)
        results.append(("PostgreSQL, 1 worker", r))
        print(f"  PostgreSQL 1 worker : {r['per_s']:7.0f} timers/s  ({r['rows']} fired, wall {r['wall_s']:.1f} s)", flush=True)
        r = throughput(pg, args.rows * 2, 4)
        results.append(("PostgreSQL, 4 workers", r))
        print(f"  PostgreSQL 4 workers: {r['per_s']:7.0f} timers/s  ({r['rows']} fired, wall {r['wall_s']:.1f} s)", flush=True)
        r = throughput(sqlite, args.rows, 1)
        results.append(("SQLite, 1 worker", r))
        print(f"  SQLite 1 worker     : {r['per_s']:7.0f} timers/s  ({r['rows']} fired, wall {r['wall_s']:.1f} s)", flush=True)
        r = delay(pg, args.delay_rows, args.delay_window)
        print(f"  due -> fired delay (PostgreSQL, 1 scheduled worker, {r['rows']} timers over {args.delay_window:.0f} s): "
              f"median {r['p50'] * 1000:.0f} ms, p95 {r['p95'] * 1000:.0f} ms, max {r['max'] * 1000:.0f} ms", flush=True)
        r = startup(pg, args.big)
        print(f"  start-up with {r['pending']:,} pending deadlines (PostgreSQL): `caseclock worker --once` "
              f"{r['once_s']:.2f} s (bare `caseclock --help` {r['cli_bare_s']:.2f} s); in-process connect + "
              f"catch-up sweep + next wake-up {r['inproc_s'] * 1000:.0f} ms; loading them took {r['load_s']:.0f} s",
              flush=True)
        print(f"  load average after: {os.getloadavg()[0]:.1f} (other processes on the machine skew these figures)")
    finally:
        pgserver.stop(pg_dir)
        shutil.rmtree(pg_dir, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
