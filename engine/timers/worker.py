"""The timer worker: runs every due `on_expiry`, reminder and notification, exactly once.

The deadlines, reminders and outbox tables are the only record of a timer. A worker runs two
threads, one sweeping timers and one delivering notifications; each works, then sleeps on a
`threading.Event` until its next due time, a wake-up or the periodic sweep (`sweep_seconds`),
whichever comes first. The work is claimed in the database:

    claim   one short transaction leases up to `batch` due rows, oldest first
            (PostgreSQL: ... FOR UPDATE SKIP LOCKED, so any number of workers share the work;
            SQLite: one writer at a time, so in practice one worker)
    process each row through the engine's per-row path (`Engine.expire_deadline`), whose guarded
            write (`Store._apply`: the Expiry claim, the idempotency key, the case row version)
            makes it exactly once even if a lease lapses and two workers race for a row
    deliver outbox rows through a `Notifier` (engine.notify), retried with backoff, then dead

A killed worker's leases run out (`lease_seconds`) and another worker takes its rows; SIGTERM
stops a worker between two rows and gives its remaining leases back. Deadlines that fell due
while no worker ran fire on start, oldest first, at their original due time (so the next stage's
deadline counts from there); the `mark_missed` policy instead marks those more than
`max_lateness` late as expired ("skipped: ...") and notifies, without firing.

Time comes from the engine's Clock; only the thread's sleeps use real time.
"""

from __future__ import annotations

import datetime as dt
import heapq
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field, fields

from sqlalchemy.exc import InterfaceError, OperationalError

from engine import logs
from engine.time.clock import describe_span
from engine.settings import NotifySettings, Settings, WorkerSettings
from engine.timers.notify import LogNotifier, Notifier, backoff, build_notifier

log = logs.get_logger("caseclock.worker")


@dataclass
class SweepReport:
    """What one or more sweeps did."""

    claimed: int = 0
    expired: int = 0
    fired: int = 0
    skipped: int = 0
    reminders: int = 0
    notified: int = 0
    errors: int = 0  # rows left for a later try (database unavailable); their lease lapses
    max_late_s: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)

    def add(self, other: "SweepReport") -> "SweepReport":
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            setattr(self, f.name, max(mine, theirs) if f.name == "max_late_s" else mine + theirs)
        return self

    @property
    def did_something(self) -> bool:
        return bool(self.claimed or self.reminders)


@dataclass
class DeliveryReport:
    delivered: int = 0
    retried: int = 0
    dead: int = 0

    def add(self, other: "DeliveryReport") -> "DeliveryReport":
        self.delivered += other.delivered
        self.retried += other.retried
        self.dead += other.dead
        return self


_TRANSIENT = (OperationalError, InterfaceError)
MIN_PAUSE_SECONDS = 0.05  # rows due but not claimable now (e.g. just released) are retried this soon


class Worker:
    """Claims and runs due timers and delivers notifications for one Engine (one process may
    run one Worker; any number of processes may share a PostgreSQL database)."""

    def __init__(self, engine, *, settings: WorkerSettings | None = None, notifier: Notifier | None = None,
                 notify_settings: NotifySettings | None = None, worker_id: str | None = None):
        self.engine = engine
        self.store = engine.store
        self.clock = engine.clock
        self.settings = settings or WorkerSettings()
        self.notify_settings = notify_settings or NotifySettings()
        self.notifier = notifier or LogNotifier()
        self.worker_id = worker_id or f"{socket.gethostname()[:64]}:{os.getpid()}:{secrets.token_hex(3)}"
        self.lease = dt.timedelta(seconds=self.settings.lease_seconds)
        # a slow endpoint must not outlive the lease on the rows it is working through
        self.outbox_batch = 10
        self.outbox_lease = self.lease + dt.timedelta(
            seconds=self.outbox_batch * (self.notify_settings.webhook_timeout_seconds + 1))
        self._stopping = threading.Event()
        self._wakeups = {"timers": threading.Event(), "delivery": threading.Event()}
        # when each loop last finished a round (wall clock, seconds): the metrics' heartbeat
        self.heartbeats: dict[str, float] = {}
        self._threads: dict[str, threading.Thread] = {}
        self.scheduler = None  # APScheduler: the daily calendar refresh
        self.started: dt.datetime | None = None

    @classmethod
    def from_settings(cls, engine, settings: Settings, **kw) -> "Worker":
        """A worker as the process's settings (engine.settings) configure it."""
        return cls(engine, settings=settings.worker, notifier=build_notifier(settings.notify),
                   notify_settings=settings.notify, **kw)

    @property
    def max_lateness(self) -> dt.timedelta | None:
        return self.settings.max_lateness if self.settings.expiry_policy == "mark_missed" else None

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    # ---- timers ------------------------------------------------------------------------------

    def sweep(self) -> SweepReport:
        """Claim and process every expiry and reminder due now, oldest first, until none is left
        (or the worker is stopping). Rows other workers hold are left to them."""
        report = SweepReport()
        self._sweep_expiries(report)
        if not self.stopping:
            self._sweep_reminders(report)
        if report.did_something:
            log.info("sweep", worker=self.worker_id, claimed=report.claimed, expired=report.expired,
                     fired=report.fired, skipped=report.skipped, failed=len(report.failed),
                     reminders=report.reminders, errors=report.errors,
                     max_late=describe_span(dt.timedelta(seconds=report.max_late_s)), max_late_s=report.max_late_s)
        return report

    def _sweep_expiries(self, report: SweepReport) -> None:
        size = self.settings.batch
        while not self.stopping:
            now = self.clock.now()
            batch = self.store.claim_expiries(self.worker_id, now, now + self.lease, size)
            if not batch:
                return
            report.claimed += len(batch)
            # strict due order: a deadline opened by an escalation that is itself already due
            # joins this batch if it falls before the batch's last row (it would otherwise wait
            # behind rows due after it); rows after that wait for the next claim, in order.
            horizon = batch[-1].due_at if len(batch) == size else None
            queue = [(d.due_at, d.id, d) for d in batch]
            heapq.heapify(queue)
            while queue:
                if self.stopping:
                    self.store.release_claims(self.worker_id, [d.id for _, _, d in queue])
                    return
                _, _, deadline = heapq.heappop(queue)
                opened = self._expire_one(deadline, report)
                if opened:
                    at = self.clock.now()
                    follow = [i for i, due in opened if due <= at and (horizon is None or due <= horizon)]
                    if follow:
                        more = self.store.claim_expiries(self.worker_id, at, at + self.lease, len(follow), ids=follow)
                        report.claimed += len(more)
                        for d in more:
                            heapq.heappush(queue, (d.due_at, d.id, d))

    def _expire_one(self, deadline, report: SweepReport) -> list[tuple[int, dt.datetime]]:
        """Process one claimed deadline; return the (id, due_at) of deadlines its trigger opened."""
        at = self.clock.now()
        try:
            result = self.engine.expire_deadline(deadline, at, max_lateness=self.max_lateness)
        except _TRANSIENT as exc:
            report.errors += 1
            log.error("timer not processed; it will be retried", worker=self.worker_id, deadline_id=deadline.id,
                      deadline=deadline.name, error=f"{type(exc).__name__}")
            return []
        except Exception as exc:  # a bug or a broken definition: record it once, never loop on it
            reason = f"{type(exc).__name__}: {exc}"
            try:
                if self.engine.fail_deadline(deadline, at, reason):
                    report.expired += 1
                    report.failed.append({"deadline_id": str(deadline.id), "deadline": deadline.name, "reason": reason})
            except _TRANSIENT:
                report.errors += 1
            log.error("timer error", worker=self.worker_id, deadline_id=deadline.id, deadline=deadline.name,
                      error=type(exc).__name__)
            return []
        report.expired += result.expired
        report.fired += result.fired
        report.notified += result.notified
        if result.notified:
            self._wakeups["delivery"].set()  # deliver while the sweep goes on
        report.failed.extend(result.failed)
        if result.expired:
            late = int((at - deadline.due_at).total_seconds())
            report.max_late_s = max(report.max_late_s, late)
            if not result.fired and not result.failed and self.max_lateness is not None and at - deadline.due_at > self.max_lateness:
                report.skipped += 1
        return result.opened

    def _sweep_reminders(self, report: SweepReport) -> None:
        while not self.stopping:
            now = self.clock.now()
            batch = self.store.claim_reminders(self.worker_id, now, now + self.lease, self.settings.batch)
            if not batch:
                return
            for reminder, deadline, case in batch:
                if self.stopping:
                    self.store.release_claims(self.worker_id)
                    return
                try:
                    result = self.engine.send_reminder(reminder, deadline, case.case_ref, case.workflow, self.clock.now())
                except _TRANSIENT as exc:
                    report.errors += 1
                    log.error("reminder not processed; it will be retried", worker=self.worker_id,
                              reminder_id=reminder.id, error=type(exc).__name__)
                    continue
                report.reminders += result.reminders
                report.notified += result.reminders
                if result.reminders:
                    self._wakeups["delivery"].set()

    # ---- notifications -----------------------------------------------------------------------

    def deliver(self) -> DeliveryReport:
        """Deliver every notification due now; failures back off, and die after max_attempts."""
        report = DeliveryReport()
        cfg = self.notify_settings
        while not self.stopping:
            now = self.clock.now()
            rows = self.store.claim_outbox(self.worker_id, now, now + self.outbox_lease, self.outbox_batch)
            if not rows:
                break
            delivered: list[int] = []  # marked in one transaction per batch: a crash re-sends them (same keys)
            for row in rows:
                if self.stopping:
                    break
                try:
                    self.notifier.deliver(row)
                except Exception as exc:
                    error = str(exc) or type(exc).__name__
                    attempts = row.attempts + 1
                    retry_at = self.clock.now() + backoff(attempts, cfg.backoff_seconds)
                    status = self.store.outbox_failed(row.id, self.worker_id, error, retry_at, cfg.max_attempts)
                    if status == "dead":
                        report.dead += 1
                        log.error("notification dead-lettered", outbox_id=row.id, kind=row.kind, case_ref=row.case_ref,
                                  attempts=attempts, error=error)
                    elif status == "pending":
                        report.retried += 1
                        log.warning("notification failed; will retry", outbox_id=row.id, kind=row.kind,
                                    case_ref=row.case_ref, attempts=attempts, retry_at=retry_at.isoformat(), error=error)
                else:
                    delivered.append(row.id)
            report.delivered += self.store.outbox_delivered(delivered, self.clock.now())
        if self.stopping:
            self.store.release_claims(self.worker_id)
        return report

    # ---- running -----------------------------------------------------------------------------

    def run_once(self, *, wait_for_others: bool = True, max_wait: float | None = None) -> tuple[SweepReport, DeliveryReport]:
        """Process everything due now and deliver what is queued, then return. With
        `wait_for_others`, rows due now but leased by other (or dead) workers are waited for
        until they are done or their lease lapses and this worker takes them (real time)."""
        self._announce()
        sweeps, deliveries = SweepReport(), DeliveryReport()
        waited = 0.0
        while not self.stopping:
            round_ = self.sweep()
            sweeps.add(round_)
            deliveries.add(self.deliver())
            if not wait_for_others or self.stopping:
                break
            counts = self.store.due_counts(self.clock.now())
            if not counts["expiries"] and not counts["reminders"]:
                break
            if round_.errors and not round_.expired:
                break  # the database is failing us: leave the rest to the next run
            pause = 0.05 if round_.did_something else 0.25
            if max_wait is not None and waited + pause > max_wait:
                break
            waited += pause
            self._stopping.wait(pause)
        if self.stopping:
            self.store.release_claims(self.worker_id)
        return sweeps, deliveries

    def _announce(self) -> None:
        if self.started is not None:
            return
        self.started = self.clock.now()
        counts = self.store.due_counts(self.started)
        log.info("worker started", worker=self.worker_id, database=self.store.db.dialect,
                 policy=self.settings.expiry_policy, due_expiries=counts["expiries"],
                 due_reminders=counts["reminders"], due_notifications=counts["outbox"])

    def start(self) -> None:
        """Run in two background threads, one for timers and one for deliveries: each works at
        once (catch-up, and what was queued before the start), then again at its next due time,
        on a wake-up, and at least every `sweep_seconds`. Returns at once; `stop()` ends them."""
        if self._threads:
            raise RuntimeError("this worker has already been started")
        self._announce()
        loops = {"timers": (self.sweep, ("expiries", "reminders")), "delivery": (self.deliver, ("outbox",))}
        for name, (work, kinds) in loops.items():
            thread = threading.Thread(target=self._run, args=(name, work, kinds), name=f"caseclock-{name}", daemon=True)
            self._threads[name] = thread
            thread.start()
        self.scheduler = self._schedule_calendar_refresh()

    def _schedule_calendar_refresh(self):
        """A job at a time of day in London, whatever the offset that day: APScheduler's cron
        trigger does the calendar arithmetic (and a missed run, e.g. while the host slept, runs
        once on waking). The job only re-reads calendars and recomputes; the tables stay the
        only record of a timer."""
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.cron import CronTrigger

        at = self.settings.calendar_refresh_at
        scheduler = BackgroundScheduler(timezone="Europe/London")
        scheduler.add_job(self.refresh_calendars, CronTrigger(hour=at.hour, minute=at.minute, timezone="Europe/London"),
                          id="calendar-refresh", coalesce=True, max_instances=1, misfire_grace_time=None)
        scheduler.start()
        return scheduler

    def refresh_calendars(self) -> int | None:
        """Count on the calendars as they are now (the stored nation, the profiles' closure days)
        and move the open deadlines they change, with old and new dates in each case's history.
        Returns how many moved, or None if it could not run (logged, never raised: the timers go on)."""
        try:
            self.engine.calendars.refresh()
            moved = len(self.engine.recompute())
        except Exception as exc:  # noqa: BLE001 - a failed refresh must not stop the timers
            log.error("calendar refresh failed", worker=self.worker_id, error=type(exc).__name__)
            return None
        log.info("calendars refreshed", worker=self.worker_id, moved=moved)
        return moved

    def stop(self, wait: bool = True, grace_seconds: float = 5.0) -> None:
        """Stop between two rows: the row in hand is finished (or rolled back), leases on rows not
        yet processed are given back, so nothing claimed is lost. Waits at most `grace_seconds`
        for the row in hand; one still in hand after that is rolled back when the process exits
        and its lease lapses (its guarded write makes a second try safe)."""
        self._stopping.set()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        for event in self._wakeups.values():
            event.set()
        if wait:
            give_up = time.monotonic() + grace_seconds
            for thread in self._threads.values():
                if thread is not threading.current_thread():
                    thread.join(max(give_up - time.monotonic(), 0))
        try:
            released = self.store.release_claims(self.worker_id)
        except _TRANSIENT as exc:  # the database is away: the leases lapse on their own
            released = None
            log.warning("leases not given back; they will lapse", worker=self.worker_id, error=type(exc).__name__)
        log.info("worker stopped", worker=self.worker_id, released=released)

    def wake(self) -> None:
        """Sweep now (e.g. a command just opened a deadline that is already due). A wake-up during
        a sweep leads to one more sweep after it; a burst of calls coalesces into one."""
        self._wakeups["timers"].set()

    @property
    def status(self) -> str:
        """'running'; 'dead' if a thread ended without being stopped; 'stopped'; or 'not started'."""
        if not self._threads:
            return "not started"
        if all(t.is_alive() for t in self._threads.values()):
            return "running"
        return "stopped" if self.stopping else "dead"

    def _run(self, name: str, work, kinds: tuple[str, ...]) -> None:
        """One loop: work, then sleep until the next due time, a wake-up or the periodic sweep,
        whichever is first. An error in a round is logged (its type only: a driver's message may
        carry case data) and the round retried with backoff, so a database outage never ends
        the thread; anything that does end it is logged, and /health reports it."""
        wakeup = self._wakeups[name]
        failures = 0
        try:
            while not self.stopping:
                wakeup.clear()  # before the round: a wake-up during it means one more round
                try:
                    work()
                    self.heartbeats[name] = time.time()
                    pause = self._until_next(kinds)
                    failures = 0
                except Exception as exc:
                    failures += 1
                    pause = min(self.settings.sweep_seconds, 0.5 * 2 ** min(failures, 10))
                    log.error("worker round failed; retrying", worker=self.worker_id, loop=name,
                              error=type(exc).__name__, failures=failures, retry_in_s=round(pause, 2))
                wakeup.wait(pause)
        except BaseException as exc:
            log.critical("worker thread died", worker=self.worker_id, loop=name, error=type(exc).__name__)
            raise

    def _until_next(self, kinds: tuple[str, ...]) -> float:
        """Seconds (real time) until the next row of these kinds needs a worker, at most one
        periodic sweep away."""
        now = self.clock.now()
        nxt = self.store.next_wakeup(now, kinds)
        every = self.settings.sweep_seconds
        if nxt is None:
            return every
        return min(every, max((nxt - now).total_seconds(), MIN_PAUSE_SECONDS))
