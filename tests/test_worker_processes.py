"""Workers as real processes (`caseclock worker`) against one database: several at once on
PostgreSQL, kill -9 in the middle of a sweep, SIGTERM. Deadlines are due in the past on the
system clock; counts are read from the tables themselves.

PostgreSQL tests use CASECLOCK_TEST_DATABASE_URL, or start a throwaway server (tests/pgserver.py).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from engine.time.clock import SystemClock
from engine.language.bundled import bundled_dir
from engine.language.registry import Registry
from persistence.models import CaseRow, DeadlineRow, OutboxRow, TransitionRow
from persistence.store import Store

from .seed import seed

# several worker processes each: run one such test at a time (pytest-xdist, --dist loadgroup)
pytestmark = pytest.mark.xdist_group("worker-processes")

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = REPO / "tests" / "workflows"


def load(url: str, n: int, prefix: str = "T") -> None:
    """`n` cases of the test 'chase' workflow, each with one deadline due in the last hour,
    oldest first by case number; each expiry fires 'escalate' and queues one notification."""
    now = SystemClock().now()
    registry = Registry.load([bundled_dir("workflows"), WORKFLOWS])
    seed(url, n, lambda i: now - dt.timedelta(hours=1) + dt.timedelta(milliseconds=i),
         opened_at=now - dt.timedelta(days=2), workflow="chase", data={}, registry=registry, prefix=prefix)


def worker(url: str, *args: str, stderr=subprocess.DEVNULL) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASECLOCK_")}
    env.update(CASECLOCK_DATABASE_URL=url, CASECLOCK_WORKFLOWS=str(WORKFLOWS))
    return subprocess.Popen(["caseclock", "--log-json", "worker", *args], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=stderr)


def fired(store: Store) -> int:
    return store.count(TransitionRow, TransitionRow.kind == "expiry")


def wait_for(condition, timeout: float = 120.0, every: float = 0.05) -> None:
    give_up = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > give_up:
            raise AssertionError("timed out waiting")
        time.sleep(every)


def held_by(store: Store, pid: int) -> int:
    """Deadlines leased by the worker process `pid` and not yet expired."""
    with store.read() as s:
        return s.exec(select(func.count()).select_from(DeadlineRow).where(
            DeadlineRow.expired_at.is_(None), DeadlineRow.claimed_by.like(f"%:{pid}:%"))).scalar_one()


def check_exactly_once(store: Store, n: int) -> None:
    """Every seeded deadline expired once, fired once, notified once; nothing else happened."""
    assert fired(store) == n
    assert store.count(TransitionRow, TransitionRow.kind == "open") == n
    with store.read() as s:
        per_case = Counter(s.exec(select(TransitionRow.case_id).where(TransitionRow.kind == "expiry")).scalars())
        assert len(per_case) == n and set(per_case.values()) == {1}
        outcomes = Counter(s.exec(select(DeadlineRow.expiry_outcome)).scalars())
        assert outcomes == {"fired escalate": n}
        assert s.exec(select(func.count()).select_from(CaseRow).where(CaseRow.state == "escalated", CaseRow.row_version == 2)).scalar_one() == n
    assert store.count(OutboxRow) == n
    assert store.count(OutboxRow, OutboxRow.kind == "deadline_expired") == n


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request, tmp_path):
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    Store.open(f"sqlite:///{tmp_path / 'w.db'}").close()
    return f"sqlite:///{tmp_path / 'w.db'}"


@pytest.mark.postgres
def test_claims_skip_rows_another_transaction_has_locked(pg_url):
    load(pg_url, 10)
    store = Store.open(pg_url)
    now = SystemClock().now()
    try:
        with store.db.writer.connect() as other:
            tx = other.begin()
            locked = other.execute(text("SELECT id FROM deadlines ORDER BY due_at LIMIT 4 FOR UPDATE")).scalars().all()
            started = time.monotonic()
            claimed = store.claim_expiries("me", now, now + dt.timedelta(seconds=60), 100)
            assert time.monotonic() - started < 5  # skipped, not waited for
            assert len(claimed) == 6 and not {r.id for r in claimed} & set(locked)
            tx.rollback()
        assert len(store.claim_expiries("you", now, now + dt.timedelta(seconds=60), 100)) == 4
    finally:
        store.close()


@pytest.mark.postgres
def test_four_workers_share_two_thousand_due_timers_and_fire_each_exactly_once(pg_url, tmp_path):
    n = 2_000  # enough for every worker to take part; the throughput figure is bench/timers.py's
    load(pg_url, n)
    logs = [tmp_path / f"worker{i}.log" for i in range(4)]
    handles = [open(p, "w") for p in logs]
    try:
        procs = [worker(pg_url, "--once", stderr=h) for h in handles]
        outputs = [p.communicate(timeout=600)[0] for p in procs]
    finally:
        for h in handles:
            h.close()
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outputs
    store = Store.open(pg_url)
    try:
        check_exactly_once(store, n)
        with store.read() as s:
            shares = Counter(s.exec(select(DeadlineRow.claimed_by).where(DeadlineRow.expired_at.is_not(None))).scalars())
        assert len(shares) == 4 and sum(shares.values()) == n  # every worker took part
        assert store.count(OutboxRow, OutboxRow.status == "delivered") == n
    finally:
        store.close()
    delivered = Counter()
    for p in logs:
        for line in p.read_text().splitlines():
            entry = json.loads(line)
            if entry["event"] == "notification":
                delivered[entry["key"]] += 1
    assert len(delivered) == n and set(delivered.values()) == {1}  # each delivered by one worker, once


def test_kill_9_in_the_middle_of_a_sweep_loses_nothing_and_doubles_nothing(url):
    n = 400
    load(url, n)
    store = Store.open(url)
    try:
        victim = worker(url, "--once", "--batch", "25", "--lease-seconds", "2")
        wait_for(lambda: fired(store) >= 60 or victim.poll() is not None)
        # kill it only while it holds leases, which it does not between two batches: freeze it,
        # look, and let it run on a moment if it holds none
        while True:
            victim.send_signal(signal.SIGSTOP)
            held = held_by(store, victim.pid)
            if held or victim.poll() is not None:
                break
            victim.send_signal(signal.SIGCONT)
            time.sleep(0.01)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        assert victim.returncode == -signal.SIGKILL
        assert fired(store) < n, "the worker finished before it could be killed: raise n"
        assert held > 0 and held_by(store, victim.pid) == held  # it died holding leases
        successor = worker(url, "--once", "--lease-seconds", "2")  # waits out the dead worker's lease
        out, _ = successor.communicate(timeout=600)
        assert successor.returncode == 0, out
        check_exactly_once(store, n)
        assert store.count(OutboxRow, OutboxRow.status == "delivered") == n
    finally:
        store.close()


def test_sigterm_stops_a_worker_between_rows_and_gives_its_claims_back(url):
    n = 1000
    load(url, n)
    store = Store.open(url)
    try:
        running = worker(url, "--batch", "50", "--sweep-seconds", "60")
        wait_for(lambda: fired(store) >= 100 or running.poll() is not None)
        running.send_signal(signal.SIGTERM)
        running.communicate(timeout=60)
        assert running.returncode == 0
        assert fired(store) < n
        with store.read() as s:
            held = s.exec(select(func.count()).select_from(DeadlineRow).where(
                DeadlineRow.expired_at.is_(None), DeadlineRow.claimed_by.is_not(None))).scalar_one()
        assert held == 0  # nothing left leased: the next worker starts at once
        started = time.monotonic()
        successor = worker(url, "--once", "--lease-seconds", "600")
        out, _ = successor.communicate(timeout=600)
        assert successor.returncode == 0, out
        check_exactly_once(store, n)
        assert time.monotonic() - started < 300  # it did not wait out a 10-minute lease
    finally:
        store.close()


@pytest.mark.postgres
def test_four_workers_stop_within_seconds_of_sigterm_in_the_middle_of_a_catch_up(pg_url):
    n = 500
    load(pg_url, n)
    store = Store.open(pg_url)
    try:
        procs = [worker(pg_url, "--batch", "20", "--sweep-seconds", "60") for _ in range(4)]
        wait_for(lambda: all(held_by(store, p.pid) for p in procs) or any(p.poll() is not None for p in procs))
        assert all(p.poll() is None for p in procs)  # every worker is mid-catch-up, holding leases
        sent = time.monotonic()
        for p in procs:
            p.send_signal(signal.SIGTERM)
        took = []
        for p in procs:
            p.communicate(timeout=60)
            took.append(round(time.monotonic() - sent, 2))
        assert [p.returncode for p in procs] == [0, 0, 0, 0]
        assert max(took) < 5, took  # a service manager kills at 30 s
        assert fired(store) < n
        assert sum(held_by(store, p.pid) for p in procs) == 0  # leases given back
        successor = worker(pg_url, "--once", "--lease-seconds", "600")
        out, _ = successor.communicate(timeout=600)
        assert successor.returncode == 0, out
        check_exactly_once(store, n)
    finally:
        store.close()
