"""The timer worker on a simulated clock: claiming, exactly-once, catch-up, policies, failures.

Runs on SQLite, and on PostgreSQL when CASECLOCK_TEST_DATABASE_URL is set. Dates are worked out
by hand on the England and Wales calendar (2026: Good Friday 3 April, Easter Monday 6 April);
the day of an event is day 0, and a deadline passes at the end of its due day, London time.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from sqlalchemy import select, update

from engine.time.calendar import WorkingCalendar
from engine.time.clock import SimulatedClock, SystemClock
from engine.runtime.engine import Engine
from engine.language.bundled import bundled_dir
from engine.language.registry import Registry
from engine.settings import WorkerSettings, parse_span
from engine.timers.worker import Worker
from persistence.models import DeadlineRow, OutboxRow, ReminderRow, TransitionRow
from persistence.store import ClaimLost, Change, Expiry, Store

from .conftest import ESCALATING, at, d

RAISED = {"theme": "drift_and_delay", "concern": "Permanence plan not progressed"}


@pytest.fixture
def registry(escalating_registry):
    """The timers here need expiries that move cases: the test DRP whose informal stage escalates
    (tests/workflows/drp_escalating.yaml); the formal stages are the base DRP's."""
    return escalating_registry


def make_engine(store, registry, when: dt.datetime) -> tuple[Engine, SimulatedClock]:
    clock = SimulatedClock(when)
    return Engine(store, registry, WorkingCalendar(), clock), clock


def open_drp(engine, ref: str, day: str, hour: int = 10):
    return engine.open_case(ESCALATING, ref, at=at(day, hour), data=RAISED, actor="iro.1")


def expiry_transitions(store) -> list[tuple[str, TransitionRow]]:
    from persistence.models import CaseRow

    with store.read() as s:
        rows = s.exec(select(TransitionRow, CaseRow.case_ref).join(CaseRow, CaseRow.id == TransitionRow.case_id)
                      .where(TransitionRow.kind == "expiry").order_by(TransitionRow.id)).all()
    return [(ref, t) for t, ref in rows]


def test_a_due_expiry_fires_once_as_system_at_its_original_due_time(store, registry):
    engine, clock = make_engine(store, registry, at("2026-03-02", 11))
    open_drp(engine, "DRP-1", "2026-03-02")  # informal response due Mon 9 March
    clock.set(at("2026-03-10", 8))
    worker = Worker(engine, worker_id="w1")
    sweeps, deliveries = worker.run_once(wait_for_others=False)
    assert (sweeps.expired, sweeps.fired) == (1, 1)
    view = engine.case("DRP-1")
    assert view.state == "stage_1"
    [(ref, t)] = expiry_transitions(store)
    assert (ref, t.actor, t.trigger, t.effective_at) == ("DRP-1", "system", "escalate", at("2026-03-10", 0))
    missed = view.deadline("informal_response", status=None)
    assert missed.expired_at == at("2026-03-10", 8) and missed.expiry_outcome == "fired escalate"
    # 11, 12, 13, 16, 17 March: counted from the original due time, not from 8 am
    assert view.deadline("stage_1_response").due_on == d("2026-03-17")
    # the reminder (5 March) had not been sent: too late now, so it is cancelled, not sent
    assert deliveries.delivered == 2 == store.count(OutboxRow, OutboxRow.status == "delivered")
    again, _ = Worker(engine, worker_id="w2").run_once(wait_for_others=False)
    assert (again.claimed, again.expired) == (0, 0)
    assert store.count(TransitionRow) == 2


def test_catch_up_after_a_bank_holiday_weekend_fires_everything_once_in_due_order(store, registry):
    engine, clock = make_engine(store, registry, at("2026-03-31", 18))
    # opened in reverse order of their due dates, so row ids do not give the due order
    open_drp(engine, "B", "2026-03-26")  # 27, 30, 31 Mar, 1, 2 Apr -> due Thu 2 April
    open_drp(engine, "A", "2026-03-25")  # 26, 27, 30, 31 Mar, 1 Apr -> due Wed 1 April
    open_drp(engine, "D", "2026-03-31")  # 1, 2, [Good Friday, Easter Monday] 7, 8, 9 Apr -> due Thu 9 April
    assert engine.case("D").deadline("informal_response").due_on == d("2026-04-09")

    clock.set(at("2026-04-01", 17))  # the last sweep before the worker goes down
    before, _ = Worker(engine, worker_id="before").run_once(wait_for_others=False)
    assert (before.expired, before.reminders) == (0, 2)  # A's (30 Mar) and B's (31 Mar) reminders

    clock.set(at("2026-04-07", 9))  # nothing ran over Easter; the worker starts on Tuesday
    after, _ = Worker(engine, worker_id="after").run_once(wait_for_others=False)
    assert (after.expired, after.fired, after.reminders) == (2, 2, 1)  # D's reminder was due 7 April
    order = expiry_transitions(store)
    assert [ref for ref, _ in order] == ["A", "B"]
    assert [t.effective_at for _, t in order] == [at("2026-04-02", 0), at("2026-04-03", 0)]
    for ref, due_on, late in (("A", "2026-04-01", 5 * 86400 + 9 * 3600), ("B", "2026-04-02", 4 * 86400 + 9 * 3600)):
        view = engine.case(ref)
        assert view.state == "stage_1"
        expired = view.deadline("informal_response", status=None)
        assert (expired.due_on, expired.expired_at) == (d(due_on), at("2026-04-07", 9))
        [note] = [o for o in store.outbox() if o.case_ref == ref and o.kind == "deadline_expired" and o.payload["role"] == "iro"]
        assert note.payload["late_by_s"] == late and note.payload["due_at"] == expired.due_at.isoformat()
        assert note.payload["late_by"] == {"A": "5 days 9 hours", "B": "4 days 9 hours"}[ref]
        # the stage counts from the original due time: A from Thu 2 Apr, B from Good Friday:
        # 7, 8, 9, 10, 13 April either way (from the Tuesday restart it would be the 14th)
        assert view.deadline("stage_1_response").due_on == d("2026-04-13")
    reminders = [o.case_ref for o in store.outbox() if o.kind == "deadline_reminder"]
    assert sorted(reminders) == ["A", "B", "D"]
    assert engine.case("D").state == "informal"
    again, _ = Worker(engine, worker_id="again").run_once(wait_for_others=False)
    assert (again.expired, again.reminders) == (0, 0)


def test_an_escalation_already_due_joins_the_sweep_in_due_order(store, registry):
    engine, clock = make_engine(store, registry, at("2026-03-20", 12))
    open_drp(engine, "EARLY", "2026-03-02")  # due 9 Mar -> stage 1 due 17 Mar -> stage 2 due 25 Mar
    open_drp(engine, "LATE", "2026-03-13")   # due Fri 20 March
    clock.set(at("2026-03-27", 9))
    # a batch of one: the stage deadlines EARLY's escalations open are due before LATE's
    Worker(engine, settings=WorkerSettings(batch=1), worker_id="w").run_once(wait_for_others=False)
    fired = [(ref, t.effective_at) for ref, t in expiry_transitions(store)]
    assert fired == [("EARLY", at("2026-03-10", 0)), ("EARLY", at("2026-03-18", 0)),
                     ("LATE", at("2026-03-21", 0)), ("EARLY", at("2026-03-26", 0))]


def test_mark_missed_policy_marks_very_old_timers_without_firing(store, registry):
    engine, clock = make_engine(store, registry, at("2026-04-20", 11))
    open_drp(engine, "OLD", "2026-03-02")  # due 9 March: over 52 days late on 1 May
    open_drp(engine, "NEW", "2026-04-20")  # 21-24, 27 April: 3 days late on 1 May
    clock.set(at("2026-05-01", 9))
    settings = WorkerSettings(expiry_policy="mark_missed", max_lateness=parse_span("30d"))
    sweeps, _ = Worker(engine, settings=settings, worker_id="w").run_once(wait_for_others=False)
    assert (sweeps.expired, sweeps.fired, sweeps.skipped) == (2, 1, 1)
    assert engine.case("NEW").state == "stage_1"
    old = engine.case("OLD")
    assert old.state == "informal"
    deadline = old.deadline("informal_response")  # still open: it is overdue, and nothing moved it on
    assert deadline.expired_at == at("2026-05-01", 9)
    # elapsed time: midnight GMT on 10 March to 9 am BST on 1 May (the clocks went forward on 29 March)
    assert deadline.expiry_outcome.startswith("skipped: due 2026-03-09, 52 days 8 hours late, over the 30 days limit")
    assert "trigger 'escalate' not fired" in deadline.expiry_outcome
    kinds = sorted(o.kind for o in store.outbox() if o.case_ref == "OLD")
    assert kinds == ["deadline_expired", "deadline_expired", "timer_skipped"]  # team manager, IRO; operators
    assert [t.kind for t in engine.history("OLD")] == ["open"]
    assert [o.case_ref for o in engine.overdue(at("2026-05-01", 9))] == ["OLD"]


GATED = """\
name: gated
title: Gated
initial: waiting
roles:
  officer: Officer
data:
  kind: {type: choice, choices: [a, b]}
states:
  waiting: {role: officer}
  done: {final: true}
transitions:
  - trigger: finish
    source: waiting
    dest: done
    conditions: [{field: kind, equals: a}]
deadlines:
  finish_soon:
    title: Finish within 5 working days
    state: waiting
    due: {amount: 5, unit: working_days}
    on_expiry:
      trigger: finish
      notify: [officer]
    source: Local procedure para 1
"""


def test_an_expiry_trigger_invalid_for_the_case_is_a_failed_timer_not_a_crash_loop(store, tmp_path):
    (tmp_path / "gated.yaml").write_text(GATED)
    registry = Registry.load([bundled_dir("workflows"), tmp_path])
    engine, clock = make_engine(store, registry, at("2026-03-02", 11))
    engine.open_case("gated", "G-B", at=at("2026-03-02"), data={"kind": "b"})  # 'finish' needs kind a
    engine.open_case("gated", "G-A", at=at("2026-03-02"), data={"kind": "a"})
    clock.set(at("2026-03-10", 9))
    sweeps, _ = Worker(engine, worker_id="w").run_once(wait_for_others=False)
    assert (sweeps.expired, sweeps.fired, len(sweeps.failed)) == (2, 1, 1)
    assert engine.case("G-A").state == "done"
    broken = engine.case("G-B")
    assert broken.state == "waiting"
    outcome = broken.deadline("finish_soon").expiry_outcome
    assert outcome == "failed: case G-B: trigger 'finish' from state 'waiting' needs: kind equals a" or (
        outcome.startswith("failed: case G-B: trigger 'finish' from state 'waiting' needs:") and "kind" in outcome)
    [failed] = [o for o in store.outbox() if o.kind == "timer_failed"]
    assert failed.case_ref == "G-B" and failed.payload["deadline"] == "finish_soon"
    clock.advance(dt.timedelta(days=1))
    again, _ = Worker(engine, worker_id="w2").run_once(wait_for_others=False)
    assert (again.claimed, again.expired) == (0, 0)


def test_an_unexpected_error_is_recorded_once_and_the_other_timers_still_run(store, registry, monkeypatch):
    engine, clock = make_engine(store, registry, at("2026-03-02", 11))
    open_drp(engine, "BROKEN", "2026-03-02")
    open_drp(engine, "FINE", "2026-03-02")
    clock.set(at("2026-03-10", 9))
    plan = engine._plan

    def exploding(snap, *args, **kw):
        if snap.case_ref == "BROKEN":
            raise RuntimeError("definition bug")
        return plan(snap, *args, **kw)

    monkeypatch.setattr(engine, "_plan", exploding)
    sweeps, _ = Worker(engine, worker_id="w").run_once(wait_for_others=False)
    assert sweeps.fired == 1 and [f["reason"] for f in sweeps.failed] == ["RuntimeError: definition bug"]
    assert engine.case("FINE").state == "stage_1"
    broken = engine.case("BROKEN").deadline("informal_response")
    assert broken.expiry_outcome == "failed: RuntimeError: definition bug"
    assert [o.kind for o in store.outbox() if o.case_ref == "BROKEN"] == ["timer_failed"]
    again, _ = Worker(engine, worker_id="w2").run_once(wait_for_others=False)
    assert again.claimed == 0


def test_leases_keep_workers_apart_and_a_lapsed_lease_is_taken_over(store, registry):
    engine, clock = make_engine(store, registry, at("2026-03-02", 11))
    for i in range(3):
        open_drp(engine, f"L{i}", "2026-03-02")
    clock.set(at("2026-03-10", 9))
    now, lease = clock.now(), dt.timedelta(seconds=60)
    first = store.claim_expiries("A", now, now + lease, 2)
    second = store.claim_expiries("B", now, now + 2 * lease, 10)
    assert len(first) == 2 and len(second) == 1
    assert not {r.id for r in first} & {r.id for r in second}
    assert store.claim_expiries("B", now, now + lease, 10) == []  # every row is held
    later = now + dt.timedelta(seconds=61)  # A died: its lease lapses and B takes its rows
    taken = store.claim_expiries("B", later, later + lease, 10)
    assert sorted(r.id for r in taken) == sorted(r.id for r in first)
    assert store.release_claims("B") == 3
    with store.read() as s:
        assert s.exec(select(DeadlineRow.claimed_by).where(DeadlineRow.claimed_by.is_not(None))).all() == []


def test_racing_workers_on_one_row_fire_it_once(database_url, registry):
    stores = [Store.open(database_url) for _ in range(6)]
    clock = SimulatedClock(at("2026-03-02", 11))
    engines = [Engine(s, registry, WorkingCalendar(), clock) for s in stores]
    open_drp(engines[0], "RACE", "2026-03-02")
    clock.set(at("2026-03-10", 9))
    [row] = stores[0].pending_expiries(clock.now())
    start = threading.Barrier(len(engines))
    results = []

    def go(e):
        start.wait()
        results.append(e.expire_deadline(row, clock.now()))  # the same row, as after a lapsed lease

    threads = [threading.Thread(target=go, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.fired for r in results) == [0, 0, 0, 0, 0, 1]
    assert len(expiry_transitions(stores[0])) == 1
    assert stores[0].count(OutboxRow, OutboxRow.kind == "deadline_expired") == 2
    for s in stores:
        s.close()


def test_a_deadline_moved_after_it_was_claimed_does_not_fire_early(store, registry):
    engine, clock = make_engine(store, registry, at("2026-03-02", 11))
    open_drp(engine, "MOVED", "2026-03-02")
    clock.set(at("2026-03-10", 9))
    [row] = store.claim_expiries("w", clock.now(), clock.now() + dt.timedelta(seconds=60), 10)
    with store.db.writer.begin() as conn:  # e.g. a recompute for a new closure day
        conn.execute(update(DeadlineRow).where(DeadlineRow.id == row.id).values(due_at=at("2026-03-11", 0)))
    assert engine.expire_deadline(row, clock.now()).expired == 0
    assert engine.case("MOVED").state == "informal"
    # and the store refuses an expiry planned on a due time the row no longer has
    with pytest.raises(ClaimLost):
        store.apply(Change(case_ref="MOVED", case_id=row.case_id,
                           expiry=Expiry(row.id, clock.now(), "expired", due_at=row.due_at)))


def test_a_reminder_cancelled_after_it_was_claimed_is_not_sent(store, registry):
    engine, clock = make_engine(store, registry, at("2026-03-02", 11))
    open_drp(engine, "R", "2026-03-02")  # reminder at the start of 5 March
    clock.set(at("2026-03-05", 9))
    [(reminder, deadline, case)] = store.claim_reminders("w", clock.now(), clock.now() + dt.timedelta(seconds=60))
    engine.fire("R", "withdraw", at=at("2026-03-05", 8), role="iro")  # closes the deadline, cancels its reminder
    assert engine.send_reminder(reminder, deadline, case.case_ref, case.workflow, clock.now()).reminders == 0
    assert store.count(OutboxRow, OutboxRow.kind == "deadline_reminder") == 0
    assert store.count(ReminderRow, ReminderRow.sent_at.is_not(None)) == 0


def test_stopping_mid_sweep_finishes_the_row_in_hand_and_gives_the_rest_back(store, registry, monkeypatch):
    engine, clock = make_engine(store, registry, at("2026-03-02", 11))
    for i in range(5):
        open_drp(engine, f"S{i}", "2026-03-02")
    clock.set(at("2026-03-10", 9))
    worker = Worker(engine, worker_id="stopping")
    expire = engine.expire_deadline

    def expire_then_sigterm(*args, **kw):
        result = expire(*args, **kw)
        worker._stopping.set()  # what the SIGTERM handler does
        return result

    monkeypatch.setattr(engine, "expire_deadline", expire_then_sigterm)
    sweeps, _ = worker.run_once()
    assert (sweeps.claimed, sweeps.expired) == (5, 1)
    with store.read() as s:
        held = s.exec(select(DeadlineRow.id).where(DeadlineRow.claimed_by == "stopping", DeadlineRow.expired_at.is_(None))).all()
    assert held == []  # given back: another worker need not wait for the lease
    monkeypatch.undo()
    rest, _ = Worker(engine, worker_id="next").run_once(wait_for_others=False)
    assert rest.expired == 4
    assert len(expiry_transitions(store)) == 5


def test_the_worker_thread_wakes_at_the_next_due_time(store, registry):
    clock = SystemClock()
    engine = Engine(store, registry, WorkingCalendar(), clock)
    engine.open_case(ESCALATING, "SOON", at=clock.now() - dt.timedelta(minutes=1), data=RAISED)
    due = clock.now() + dt.timedelta(seconds=1.5)
    with store.db.writer.begin() as conn:  # a deadline due in 1.5 s; the periodic sweep is 30 s away
        conn.execute(update(DeadlineRow).where(DeadlineRow.name == "informal_response").values(due_at=due))
    worker = Worker(engine, settings=WorkerSettings(sweep_seconds=30), worker_id="sched")
    worker.start()
    try:
        deadline_ = time.monotonic() + 15
        while time.monotonic() < deadline_ and engine.case("SOON").state != "stage_1":
            time.sleep(0.05)
    finally:
        worker.stop()
    view = engine.case("SOON")
    assert view.state == "stage_1"
    expired = view.deadline("informal_response", status=None).expired_at
    assert dt.timedelta(0) <= expired - due < dt.timedelta(seconds=3)
    assert worker.status == "stopped"


class Recording:
    """A notifier that keeps the idempotency keys it was given."""

    def __init__(self):
        self.keys: list[str] = []

    def deliver(self, row) -> None:
        self.keys.append(row.idempotency_key)


def wait_until(condition, timeout: float = 15.0) -> None:
    give_up = time.monotonic() + timeout
    while not condition() and time.monotonic() < give_up:
        time.sleep(0.05)


def test_notifications_queued_before_the_worker_started_are_delivered_at_start(store, registry):
    clock = SystemClock()
    engine = Engine(store, registry, WorkingCalendar(), clock)
    engine.open_case("drp", "QUEUED", at=clock.now() - dt.timedelta(days=30), data=RAISED)
    Worker(engine, worker_id="earlier").sweep()  # fires the expiry and queues notifications; delivers none
    queued = store.count(OutboxRow, OutboxRow.status == "pending")
    assert queued > 0
    notifier = Recording()
    worker = Worker(engine, settings=WorkerSettings(sweep_seconds=60), notifier=notifier, worker_id="fresh")
    worker.start()
    try:
        wait_until(lambda: len(notifier.keys) >= queued)
    finally:
        worker.stop()
    assert len(notifier.keys) == queued  # at start, not a periodic sweep (60 s) later
    assert store.count(OutboxRow, OutboxRow.status == "delivered") == queued


def test_a_storm_of_wake_ups_from_many_threads_never_stops_the_timers(store, registry):
    clock = SystemClock()
    engine = Engine(store, registry, WorkingCalendar(), clock)
    notifier = Recording()
    worker = Worker(engine, settings=WorkerSettings(sweep_seconds=60), notifier=notifier, worker_id="storm")
    worker.start()
    stop_waking = threading.Event()

    def keep_waking():
        while not stop_waking.is_set():
            worker.wake()
            time.sleep(0.001)

    wakers = [threading.Thread(target=keep_waking) for _ in range(4)]
    for t in wakers:
        t.start()
    try:
        for i in range(10):  # each opens a deadline already due, as a backdated command does
            engine.open_case(ESCALATING, f"W{i}", at=clock.now() - dt.timedelta(days=30), data=RAISED)
            worker.wake()
            time.sleep(0.05)
        wait_until(lambda: not any(store.due_counts(clock.now()).values()), timeout=60)
        assert worker.status == "running"
    finally:
        stop_waking.set()
        for t in wakers:
            t.join()
        worker.stop()
    assert not any(store.due_counts(clock.now()).values())  # every deadline due fired, every notification went
    keys = [t.idempotency_key for _, t in expiry_transitions(store)]
    assert len({ref for ref, _ in expiry_transitions(store)}) == 10 and len(keys) == len(set(keys))
    assert len(notifier.keys) == len(set(notifier.keys)) == store.count(OutboxRow)
    assert worker.status == "stopped"


def test_lateness_reads_in_days_and_hours():
    from engine.time.clock import describe_span

    assert describe_span(dt.timedelta(seconds=29_098_231)) == "336 days 18 hours"
    assert describe_span(dt.timedelta(days=1, minutes=5)) == "1 day"
    assert describe_span(dt.timedelta(hours=2, minutes=1, seconds=3)) == "2 hours 1 minute"
    assert describe_span(dt.timedelta(seconds=40)) == "40 seconds"
    assert describe_span(dt.timedelta(0)) == "0 seconds"


def test_each_firing_reads_and_writes_in_one_transaction_with_no_orm_session(store, registry, monkeypatch):
    """The timer path's cost: a tick or a worker's sweep reads due rows and claims them without
    ORM sessions, and each firing reads its case in the transaction that writes it."""
    import persistence.store as store_module

    engine, clock = make_engine(store, registry, at("2026-03-02", 11))
    open_drp(engine, "TICKED", "2026-03-02")  # informal response due Mon 9 March
    open_drp(engine, "SWEPT", "2026-03-02")
    clock.set(at("2026-03-10", 9))
    transactions = []
    real_begin = store_module.begin

    def counting_begin(database, sql, known, *, write):
        transactions.append("write" if write else "read")
        return real_begin(database, sql, known, write=write)

    monkeypatch.setattr(store_module, "begin", counting_begin)
    monkeypatch.setattr(Store, "read", lambda self: pytest.fail("an ORM session on the timer path"))
    [due] = [row for row in store.pending_expiries(clock.now()) if row.case_id == engine.store.case("TICKED").id]
    transactions.clear()
    assert engine.expire_deadline(due, clock.now()).fired == 1
    assert transactions == ["write"]
    transactions.clear()
    report = Worker(engine, worker_id="w").sweep()
    assert report.fired == 1
    assert transactions.count("write") == 1
    assert engine.tick(clock.now()).expired == 0  # nothing left: an idle tick only reads
    monkeypatch.undo()
    assert [ref for ref, _ in expiry_transitions(store)] == ["TICKED", "SWEPT"]
