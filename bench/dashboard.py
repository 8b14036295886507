"""Dashboard page times and the year's report time, on cases seeded through the Engine.

    python bench/dashboard.py [--cases 3000] [--steps 3] [--url sqlite:///bench.db]

An existing database given with --url is topped up to each size, so a long seeding can be
done once and measured again.

Every case is written by Engine commands (open, reviews, conferences, escalations,
resolutions), so its history, deadlines and their statuses are exactly what production writes;
nothing is copied into the tables behind the engine's back. Seeding runs the commands in the
engine's batch (`Engine.batch`: one transaction per 1,000 commands, each in its own savepoint),
which stores exactly what one-by-one commands store. The benchmark measures at `--steps` sizes
up to `--cases` and prints, besides the measured times, a straight-line extrapolation to
100,000 cases when it was not run that far. Pages are paged and counted in SQL, so their time
grows with the counts (index range scans) rather than with the rows built.

Targets (issue 8): each page under 300 ms server time; the year's report under 5 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

from engine import Engine, Registry, SimulatedClock, Store, WorkingCalendar, logs
from engine.monitor import scorecard
from engine.time.calendar import LONDON
from persistence.models import CaseRow

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=LONDON)
FY = scorecard.Period(dt.date(2025, 4, 1), dt.date(2026, 3, 31))
TARGET = 100_000
IROS = [f"iro.{i}" for i in range(40)]
TEAMS = [f"team.{i}" for i in range(8)]


def moment(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=LONDON)


def seed_case(e: Engine, i: int) -> None:
    """One case of a realistic shape; the kind and dates vary with i."""
    start = dt.date(2024, 4, 1) + dt.timedelta(days=(i * 7) % 760)
    owner = {"child_ref": f"K{i // 2}", "assigned_to": IROS[i % len(IROS)], "team": TEAMS[i % len(TEAMS)]}
    kind = i % 3
    if kind == 0:
        ref = f"CLA-{i}"
        e.open_case("cla_review", ref, at=moment(start), data={"became_looked_after": start.isoformat()}, **owner)
        held = start + dt.timedelta(days=26 + i % 6)  # around the 20th working day: some late
        if held < NOW.date():
            data = {"next_review_on": (held + dt.timedelta(days=90)).isoformat(), "lateness_reason": "calculation_error"}
            e.fire(ref, "review_held", at=moment(held), role="iro", data=data)
            second = held + dt.timedelta(days=88 + i % 6)
            if second < NOW.date():
                e.fire(ref, "review_held", at=moment(second), role="iro",
                       data={**data, "permanence_plan_ratified": True})
    elif kind == 1:
        ref = f"CP-{i}"
        e.open_case("child_protection", ref, at=moment(start), data={"strategy_discussion_on": start.isoformat()}, **owner)
        icpc = start + dt.timedelta(days=19 + i % 5)
        if icpc < NOW.date():
            e.fire(ref, "icpc_held", at=moment(icpc), data={"outcome": "plan", "category": "neglect", "quorate": True,
                                                            "lateness_reason": "late_request"})
            rcpc = icpc + dt.timedelta(days=88 + i % 6)
            if rcpc < NOW.date():
                e.fire(ref, "rcpc_held", at=moment(rcpc), data={"outcome": "continue" if i % 4 else "end_plan",
                                                                "quorate": True, "lateness_reason": "not_quorate"})
    else:
        ref = f"DRP-{i}"
        e.open_case("drp", ref, at=moment(start), data={"theme": ("safety", "practice", "drift_and_delay")[i % 3],
                                                        "concern": "benchmark"}, **owner)
        if i % 5:
            e.fire(ref, "escalate", at=moment(start + dt.timedelta(days=3)), role="iro")
            if i % 2:
                e.fire(ref, "resolve", at=moment(start + dt.timedelta(days=10 + i % 25)), role="iro",
                       data={"outcome": "agreed_action"})


def timed(fn, repeat: int = 3) -> float:
    """Median wall time in ms of `repeat` calls after one warm-up."""
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def pages(e: Engine) -> dict[str, float]:
    from fastapi.testclient import TestClient

    from engine.interfaces.api import create_app

    from engine.access import accounts

    # a manager's API key, checked by the server's own gate on every request as in production
    key = accounts.create_key(e.store, "dashboard bench", roles=["manager"], expires_in=dt.timedelta(hours=2)).key
    client = TestClient(create_app(e), headers={"Authorization": f"Bearer {key}"})
    paths = {
        "overdue": "/dashboard/overdue",
        "overdue page 20, band 21-60, by IRO": "/dashboard/overdue?band=21-60&sort=iro&page=20",
        "overdue, one team": "/dashboard/overdue?team=team.3",
        "due next": "/dashboard/due-next",
        "drp tracker": "/dashboard/drp",
        "case": "/dashboard/cases/CLA-0",
        "child": "/dashboard/children/K0",
        "scorecard (the year)": "/dashboard/scorecard?from=2025-04-01&to=2026-03-31",
    }

    def get(path):
        r = client.get(path)
        assert r.status_code == 200, (path, r.status_code)

    return {name: timed(lambda p=path: get(p)) for name, path in paths.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=3000)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    logs.configure(level="warning")
    url = args.url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'dashboard.db'}"
    e = Engine(Store.open(url), Registry.load(), WorkingCalendar(), SimulatedClock(NOW))
    sizes = [args.cases * (k + 1) // args.steps for k in range(args.steps)]
    measured: dict[int, dict[str, float]] = {}
    seeded = e.store.count(CaseRow)  # an existing --url database is topped up, not re-seeded
    for size in sizes:
        t0 = time.perf_counter()
        with e.batch(every=1000):
            while seeded < size:
                seed_case(e, seeded)
                seeded += 1
        rate = (time.perf_counter() - t0) / max(1, size - (sizes[sizes.index(size) - 1] if sizes.index(size) else 0))
        figures = pages(e)
        figures["report (scorecard.compute, the year)"] = timed(lambda: scorecard.compute(e, FY), repeat=1)
        measured[size] = figures
        print(f"-- {size} cases seeded through the Engine ({rate * 1000:.1f} ms a case)", flush=True)
        for name, ms in figures.items():
            print(f"   {name:40s} {ms:8.1f} ms", flush=True)
    if len(sizes) > 1 and sizes[-1] < TARGET:
        print(f"-- extrapolated to {TARGET:,} cases (least-squares line through the sizes above)")
        for name in measured[sizes[0]]:
            xs, ys = sizes, [measured[s][name] for s in sizes]
            slope, intercept = statistics.linear_regression(xs, ys)
            estimate = intercept + slope * TARGET
            limit = 5000 if name.startswith("report") or name.startswith("scorecard") else 300
            print(f"   {name:40s} {estimate:8.0f} ms  (target {limit} ms: {'ok' if estimate < limit else 'OVER'})")


if __name__ == "__main__":
    main()
