"""The engine: commands on cases, computed on a snapshot and written as one Change.

    open_case / fire  ->  plan (machine step + deadline changes)  ->  store.apply (one transaction)
    tick              ->  every on_expiry and reminder due at a time, each exactly once

Effective times come from the caller (events are often recorded late) and every deadline is
computed from them, never from the wall clock; the clock only bounds them ("not in the future").
"""

from __future__ import annotations

import collections
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Iterator, NamedTuple

from sqlalchemy.exc import IntegrityError

from persistence.models import CANCELLED, MET, MISSED, OPEN, DeadlineRow
from persistence import lists
from persistence.store import (
    Change,
    CaseSnapshot,
    ClaimLost,
    Closing,
    Expiry,
    NewDeadline,
    NewReminder,
    Notification,
    Record,
    Store,
)

from engine import logs
from engine.time.calendar import Unit, WorkingCalendar, due_at, local_date, parse_offset
from engine.language.casedata import coerce, from_json, to_json
from engine.time.clock import Clock, SystemClock, describe_span, ensure_aware
from engine.language.definition import OPEN_EVENT as OPEN_TRIGGER
from engine.language.definition import DeadlineSpec, Workflow
from engine.errors import (
    CaseError,
    CaseNotFound,
    ConditionNotMet,
    ConflictError,
    IdempotencyMismatch,
    InvalidCaseData,
    InvalidEffectiveTime,
    InvalidTrigger,
    RoleNotAllowed,
    UnknownWorkflow,
    RoleRequired,
)
from engine.runtime import inputs
from engine.runtime.calendars import Calendars
from engine.runtime.machine import CaseMachine, NoTransition
from engine.language.registry import Registry
from engine.runtime.views import (
    CaseView,
    DeadlinePage,
    DeadlineView,
    Explanation,
    HistoryEntry,
    Moved,
    Outcome,
    OverdueItem,
    TickReport,
    UpcomingItem,
)

log = logs.get_logger("caseclock.engine")

SYSTEM = "system"
REASSIGN = "reassign"  # the trigger and kind of a reassignment in history
# working days overdue, (from, to) inclusive: the overdue list's age bands
AGE_BANDS = ((0, 5), (6, 10), (11, 20), (21, None))
_FUTURE_TOLERANCE = dt.timedelta(minutes=5)


class Engine:
    """Commands and reads on cases.

    Each case is counted on its own authority's calendar (see `engine.runtime.calendars`).
    `calendar`, if given, is the calendar of cases with no authority; its nation must be the one
    the database stores (the first process to use a new database records it), else
    DeploymentError. Left out, it is built from the stored nation.
    """

    def __init__(
        self,
        store: Store,
        registry: Registry,
        calendar: WorkingCalendar | None = None,
        clock: Clock | None = None,
        authority: str | None = None,
    ):
        self.store = store
        self.registry = registry
        self.calendars = Calendars(store, registry, calendar)
        self.clock = clock or SystemClock()
        self.authority = authority
        self._machines: dict[str, CaseMachine] = {}
        self._rules: dict[str, dict[str, _DeadlineRule]] = {}  # per definition version

    # ---- commands ----------------------------------------------------------------------------

    def open_case(
        self,
        workflow: str,
        case_ref: str,
        *,
        at: dt.datetime | None = None,
        data: dict[str, Any] | None = None,
        state: str | None = None,
        actor: str = SYSTEM,
        reason: str | None = None,
        idempotency_key: str | None = None,
        child_ref: str | None = None,
        assigned_to: str | None = None,
        team: str | None = None,
    ) -> CaseView:
        """Open a case of `workflow` under the host system's reference, at its initial state or
        at another state the workflow allows cases to be opened at. `child_ref` is the host
        system's person id of the child; `assigned_to` and `team` who holds the case."""
        case_ref = inputs.case_ref(case_ref)
        _check_command(case_ref, actor, reason, idempotency_key, workflow=workflow, state=state)
        owner = {field: inputs.host_id(case_ref, field, value)
                 for field, value in (("child_ref", child_ref), ("assigned_to", assigned_to), ("team", team))}
        wf = self.registry.get(workflow)
        try:
            with self.store.transaction() as tx:
                if idempotency_key and self._replay(idempotency_key, case_ref, OPEN_TRIGGER, tx):
                    replayed = True
                else:
                    replayed = False
                    at = self._effective(case_ref, at, None)
                    change = self._plan_open(wf, case_ref, at, data, state, actor, reason, idempotency_key, self.authority)
                    change.child_ref = owner["child_ref"]
                    change.assignment = {"assigned_to": owner["assigned_to"], "team": owner["team"]}
                    tx.apply(change)
        except IntegrityError:
            if not (idempotency_key and self._replay(idempotency_key, case_ref, OPEN_TRIGGER)):
                raise
            replayed = True  # a concurrent retry with the same key won; its result stands
        if replayed:
            return self.case(case_ref)
        log.info("case opened", case_ref=case_ref, workflow=wf.name, version=wf.version, to_state=change.state,
                 deadlines=[n.row.name for n in change.openings])
        return self._opened_view(wf, change)

    def _opened_view(self, wf: Workflow, change: Change) -> CaseView:
        """The view of a case just opened, built from what was written (not read back)."""
        now = self.clock.now()
        calendar = self.calendars.of(change.authority)
        rows = sorted((n.row for n in change.openings), key=lambda r: (r.due_at, r.id))
        return CaseView(
            case_ref=change.case_ref, workflow=wf.name, version=wf.version, authority=change.authority,
            state=change.state, data=from_json(wf, change.data), opened_at=_utc(change.effective_at),
            closed_at=_utc(change.closed_at), row_version=1,
            deadlines=[_deadline_view(d, self._overdue_by(d, now, calendar)) for d in rows],
            child_ref=change.child_ref, **(change.assignment or {}), current_version=wf.version,
        )

    def _plan_open(self, wf: Workflow, case_ref: str, at: dt.datetime, data: dict[str, Any] | None,
                   state: str | None, actor: str, reason: str | None, idempotency_key: str | None,
                   authority: str | None) -> Change:
        values = coerce(wf, case_ref, data)
        start = state or wf.spec.initial
        if start not in wf.openable_states:
            raise InvalidTrigger(case_ref, OPEN_TRIGGER, start, []) if start not in wf.spec.states else CaseError(
                case_ref, f"a '{wf.name}' case cannot be opened at '{start}' (allowed: {', '.join(wf.openable_states)})"
            )
        for name in wf.spec.open.requires:
            if values.get(name) in (None, ""):
                raise InvalidCaseData(case_ref, name, f"is required to open a '{wf.name}' case")
        _closings, openings = self._deadline_changes(wf, case_ref, [], None, start, OPEN_TRIGGER, False, at, values,
                                                     self.calendars.of(authority), authority)
        return Change(
            case_ref=case_ref, workflow=wf.name, version=wf.version, authority=authority,
            state=start, data=to_json(values), effective_at=at,
            transition=self._transition_row(OPEN_TRIGGER, "open", None, start, at, actor, reason, values, idempotency_key, wf),
            openings=openings,
            definition=Record(version=wf.version, workflow=wf.name, body=wf.canonical, stored_at=self.clock.now()),
        )

    def fire(
        self,
        case_ref: str,
        trigger: str,
        *,
        at: dt.datetime | None = None,
        actor: str = SYSTEM,
        role: str | None = None,
        reason: str | None = None,
        data: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        role_required: bool = False,
    ) -> Outcome:
        """Fire `trigger` on a case. A retry with the same idempotency key returns the first
        outcome and stores nothing; `expected_version` turns a stale read into ConflictError.
        `role_required` (the REST API) refuses a transition that names its roles when no role
        is given, instead of skipping the check."""
        case_ref = inputs.case_ref(case_ref)
        _check_command(case_ref, actor, reason, idempotency_key, trigger=trigger, role=role)
        try:
            with self.store.transaction() as tx:
                if idempotency_key:
                    replay = self._replay(idempotency_key, case_ref, trigger, tx)
                    if replay is not None:
                        return replay
                snap = tx.case(case_ref, self.authority)
                if snap is None:
                    raise CaseNotFound(case_ref)
                if expected_version is not None and snap.row_version != expected_version:
                    raise ConflictError(case_ref, expected_version, snap.row_version)
                wf = self._workflow(snap.version)
                at = self._effective(case_ref, at, snap)
                change = self._plan(snap, wf, trigger, at=at, actor=actor, role=role, reason=reason,
                                    data=data, idempotency_key=idempotency_key, kind="trigger",
                                    role_required=role_required)
                tx.apply(change)
        except IntegrityError:
            replay = self._replay(idempotency_key, case_ref, trigger) if idempotency_key else None
            if replay is None:
                raise
            return replay  # a concurrent retry with the same key won; its result stands
        t = change.transition
        log.info("transition", case_ref=case_ref, workflow=wf.name, trigger=trigger,
                 from_state=t.from_state, to_state=t.to_state, version=wf.version)
        return Outcome(case_ref, trigger, t.from_state, t.to_state, at, t.seq)

    def reassign(
        self,
        case_ref: str,
        *,
        assigned_to: str | None,
        team: str | None = None,
        at: dt.datetime | None = None,
        actor: str = SYSTEM,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> Outcome:
        """Hand a case to another IRO or chair (and team). Recorded in history like any event;
        the state and deadlines do not change. None clears the field."""
        case_ref = inputs.case_ref(case_ref)
        _check_command(case_ref, actor, reason, idempotency_key)
        assignment = {"assigned_to": inputs.host_id(case_ref, "assigned_to", assigned_to),
                      "team": inputs.host_id(case_ref, "team", team)}
        try:
            with self.store.transaction() as tx:
                if idempotency_key:
                    replay = self._replay(idempotency_key, case_ref, REASSIGN, tx)
                    if replay is not None:
                        return replay
                snap = tx.case(case_ref, self.authority)
                if snap is None:
                    raise CaseNotFound(case_ref)
                wf = self._workflow(snap.version)
                at = self._effective(case_ref, at, snap)
                transition = self._transition_row(REASSIGN, REASSIGN, snap.state, snap.state, at, actor, reason,
                                                  {k: v for k, v in assignment.items() if v is not None},
                                                  idempotency_key, wf)
                tx.apply(Change(case_ref=case_ref, case_id=snap.id, expected_row_version=snap.row_version,
                                authority=snap.authority, effective_at=at, transition=transition,
                                assignment=assignment))
        except IntegrityError:
            replay = self._replay(idempotency_key, case_ref, REASSIGN) if idempotency_key else None
            if replay is None:
                raise
            return replay
        log.info("case reassigned", case_ref=case_ref, workflow=wf.name)
        return Outcome(case_ref, REASSIGN, snap.state, snap.state, at, transition.seq)

    def batch(self, every: int = 500):
        """`with engine.batch():` - the open_case and fire calls in the block share transactions
        (committed every `every` commands), for replaying many cases; they store exactly what
        they would one by one, refusals included (see `Store.batch`). `with batch.atomic():`
        inside it keeps a group of commands whole or undoes it whole (`Batch.atomic`)."""
        return self.store.batch(every)

    @property
    def calendar(self) -> WorkingCalendar:
        """The calendar of cases with no authority (the deployment's)."""
        return self.calendars.deployment

    # ---- reads -------------------------------------------------------------------------------

    def case(self, case_ref: str) -> CaseView:
        snap = self._snapshot(case_ref)
        wf = self._workflow(snap.version)
        now = self.clock.now()
        calendar = self.calendars.of(snap.authority)
        return CaseView(
            case_ref=snap.case_ref, workflow=snap.workflow, version=snap.version, authority=snap.authority,
            state=snap.state, data=from_json(wf, snap.data), opened_at=snap.opened_at, closed_at=snap.closed_at,
            row_version=snap.row_version,
            deadlines=[_deadline_view(d, self._overdue_by(d, now, calendar)) for d in self.store.deadlines(snap.id)],
            child_ref=snap.child_ref, assigned_to=snap.assigned_to, team=snap.team,
            current_version=self._current_version(snap.workflow),
        )

    def _current_version(self, workflow: str) -> str | None:
        """The version of `workflow` this registry runs now, or None if it does not know it."""
        try:
            return self.registry.get(workflow).version
        except UnknownWorkflow:
            return None

    @staticmethod
    def _overdue_by(d: DeadlineRow, now: dt.datetime, calendar: WorkingCalendar) -> int | None:
        """Working days an open deadline is past its due day at `now` (None: not overdue)."""
        if d.status != OPEN or now < d.due_at:
            return None
        return calendar.working_days_between(d.due_on, local_date(now))

    def history(self, case_ref: str) -> list[HistoryEntry]:
        snap = self._snapshot(case_ref)
        return [
            HistoryEntry(t.seq, t.kind, t.trigger, t.from_state, t.to_state, t.effective_at, t.recorded_at,
                         t.actor, t.reason, dict(t.data), t.definition_version, t.idempotency_key)
            for t in self.store.history(snap.id)
        ]

    def overdue(self, at: dt.datetime | None = None, *, workflow: str | None = None) -> list[OverdueItem]:
        """Every open deadline past the end of its due day at `at`, most overdue first (for a
        large list use `overdue_page`, or `iter_overdue` to export)."""
        return list(self.iter_overdue(at, workflow=workflow))

    def iter_overdue(self, at: dt.datetime | None = None, *, workflow: str | None = None,
                     case_filters: dict[str, Any] | None = None) -> Iterator[OverdueItem]:
        """The whole overdue list, streamed from the database in constant memory."""
        at = self._now(at)
        today = local_date(at)
        query = lists.ListQuery(due_before=at, case_filters=_filters(workflow, case_filters))
        for row in lists.stream(self.store.db, query):
            yield self._overdue_item(row, today)

    def overdue_page(self, at: dt.datetime | None = None, *, workflow: str | None = None,
                     case_filters: dict[str, Any] | None = None, limit: int = 100, offset: int = 0) -> DeadlinePage:
        """A page of the overdue list (most overdue first) with its total and its counts by
        workflow and by working days overdue (AGE_BANDS), all computed in SQL."""
        at = self._now(at)
        today = local_date(at)
        filters = _filters(workflow, case_filters)
        query = lists.ListQuery(due_before=at, case_filters=filters)
        labels = [_band_label(low, high) for low, high in AGE_BANDS]
        # each case is banded on its own authority's calendar: the authorities whose boundaries
        # differ from the deployment's have their own (none, when every calendar agrees on the dates)
        default = self._band_boundaries(None, today)
        own = {a: self._band_boundaries(a, today) for a in lists.authorities(self.store.db, query) if a is not None}
        bands = [(label, lists.Limit(limit, {a: mine[i] for a, mine in own.items() if mine[i] != limit}))
                 for i, (label, limit) in enumerate(zip(labels, default))]
        rows = lists.counts(self.store.db, query, bands, labels[-1])
        by_age = dict.fromkeys(labels, 0)
        for _wf, _authority, band, n in rows:
            by_age[band] += n
        items = [self._overdue_item(row, today) for row in lists.page(self.store.db, query, limit, offset)]
        return DeadlinePage(items, sum(r[3] for r in rows), _by_workflow(rows), by_age, limit, offset)

    def _band_boundaries(self, authority: str | None, today: dt.date) -> list[dt.datetime]:
        """The due_at limits of the age bands on `authority`'s calendar, newest first."""
        calendar = self.calendars.of(authority)
        return [due_at(self._overdue_since(calendar, today, low)) for low, _high in AGE_BANDS[1:]]

    @staticmethod
    def _overdue_since(calendar: WorkingCalendar, today: dt.date, days: int) -> dt.date:
        """The latest due day that is at least `days` working days overdue on `today`."""
        day = calendar.add_working_days(today, -days)
        while calendar.working_days_between(day + dt.timedelta(days=1), today) >= days:
            day += dt.timedelta(days=1)
        while calendar.working_days_between(day, today) < days:
            day -= dt.timedelta(days=1)
        return day

    def _overdue_item(self, row, today: dt.date) -> OverdueItem:
        return OverdueItem(row.case_ref, row.workflow, row.state, row.name, row.title, row.due_on,
                           self.calendars.of(row.authority).working_days_between(row.due_on, today), row.role, row.source,
                           row.child_ref, row.assigned_to, row.team)

    def upcoming(self, within: int, unit: Unit | str = Unit.WORKING_DAYS, at: dt.datetime | None = None, *,
                 workflow: str | None = None) -> list[UpcomingItem]:
        """Open deadlines not yet overdue that fall due within `within` units of `at`'s day,
        each counted on its own case's calendar (for a large list use `upcoming_page`)."""
        return list(self.iter_upcoming(within, unit, at, workflow=workflow))

    def _upcoming_query(self, within: int, unit: Unit | str, at: dt.datetime, workflow: str | None,
                        case_filters: dict[str, Any] | None) -> lists.ListQuery | None:
        today = local_date(at)
        filters = _filters(workflow, case_filters)
        # the authorities that may have deadlines in range: a month past the widest reach of the
        # period on any calendar bounds it (no UK run of non-working days is that long)
        reach = due_at(self.calendars.deployment.add(today, within, unit) + dt.timedelta(days=31))
        present = lists.authorities(self.store.db, lists.ListQuery(due_before=reach, due_from=at, case_filters=filters))
        if not present:
            return None
        horizons = {a: due_at(self.calendars.of(a).add(today, within, unit)) for a in present}
        return lists.ListQuery(due_before=max(horizons.values()), due_from=at, bounds=horizons, case_filters=filters)

    def iter_upcoming(self, within: int, unit: Unit | str = Unit.WORKING_DAYS, at: dt.datetime | None = None, *,
                      workflow: str | None = None, case_filters: dict[str, Any] | None = None) -> Iterator[UpcomingItem]:
        at = self._now(at)
        query = self._upcoming_query(within, unit, at, workflow, case_filters)
        if query is not None:
            today = local_date(at)
            for row in lists.stream(self.store.db, query):
                yield self._upcoming_item(row, today)

    def upcoming_page(self, within: int, unit: Unit | str = Unit.WORKING_DAYS, at: dt.datetime | None = None, *,
                      workflow: str | None = None, case_filters: dict[str, Any] | None = None,
                      limit: int = 100, offset: int = 0) -> DeadlinePage:
        """A page of the upcoming list (soonest first) with its total and counts by workflow."""
        at = self._now(at)
        query = self._upcoming_query(within, unit, at, workflow, case_filters)
        if query is None:
            return DeadlinePage([], 0, {}, None, limit, offset)
        today = local_date(at)
        rows = lists.counts(self.store.db, query)
        items = [self._upcoming_item(row, today) for row in lists.page(self.store.db, query, limit, offset)]
        return DeadlinePage(items, sum(r[3] for r in rows), _by_workflow(rows), None, limit, offset)

    def _upcoming_item(self, row, today: dt.date) -> UpcomingItem:
        return UpcomingItem(row.case_ref, row.workflow, row.state, row.name, row.title, row.due_on,
                            self.calendars.of(row.authority).working_days_between(today, row.due_on), row.role, row.source,
                            row.child_ref, row.assigned_to, row.team)

    def explain(self, case_ref: str) -> list[Explanation]:
        """How each open deadline's date was computed: anchor, amount, unit, the days skipped."""
        snap = self._snapshot(case_ref)
        calendar = self.calendars.of(snap.authority)
        out = []
        for row in sorted(snap.deadlines, key=lambda r: (r.due_at, r.id)):
            comp = calendar.compute(row.anchor_on, row.amount, row.unit, anchor_is_day_one=row.anchor_is_day_one)
            out.append(Explanation(row.name, row.title, row.due_on, row.anchor, comp, row.source,
                                   stale=comp.due_on != row.due_on or row.calendar_version != calendar.version))
        return out

    # ---- calendar changes --------------------------------------------------------------------

    def recompute(self) -> list[Moved]:
        """Recompute open deadlines counted on a version other than their case's calendar (a bank
        holiday proclaimed, a closure day added, the deployment's nation changed) from their stored
        inputs; record every moved date in history. Each case is recounted on its own authority's
        calendar, so which process runs this makes no difference.

        Deadlines whose expiry has already run are left as they are: what fired cannot unfire.
        """
        moved: list[Moved] = []
        for authority in self.store.authorities_with_open_deadlines():
            moved.extend(self._recompute(authority, self.calendars.of(authority)))
        return moved

    def _recompute(self, authority: str | None, calendar: WorkingCalendar) -> list[Moved]:
        moved: list[Moved] = []
        for case_id in self.store.cases_with_stale_deadlines(calendar.version, authority):
            for _attempt in range(3):
                snap = self.store.case_by_id(case_id)
                change = Change(case_ref=snap.case_ref, case_id=snap.id, expected_row_version=snap.row_version)
                dates = []
                for row in snap.deadlines:
                    if row.calendar_version == calendar.version or row.expired_at is not None:
                        continue
                    due_on = calendar.add(row.anchor_on, row.amount, row.unit, anchor_is_day_one=row.anchor_is_day_one)
                    change.moved.append((row.id, due_on, due_at(due_on), calendar.version))
                    if due_on != row.due_on:
                        dates.append({"deadline": row.name, "old_due_on": row.due_on.isoformat(), "new_due_on": due_on.isoformat()})
                        for r in self.store.unsent_reminders(row.id):
                            amount, unit = parse_offset(r.offset)
                            remind_on = calendar.add(due_on, -amount, unit)
                            change.moved_reminders.append((r.id, remind_on, due_at(remind_on - dt.timedelta(days=1))))
                if dates:
                    wf = self._workflow(snap.version)
                    # an administrative record: it does not move the case's clock (effective time)
                    change.effective_at = snap.last_effective_at
                    change.transition = Record(
                        case_id=0, seq=0, kind="recompute", trigger="recompute", from_state=snap.state,
                        to_state=snap.state, effective_at=snap.last_effective_at, recorded_at=self.clock.now(),
                        actor=SYSTEM, reason=f"calendar {calendar.version}", data={"moved": dates},
                        idempotency_key=None, definition_version=wf.version,
                    )
                try:
                    self.store.apply(change)
                except ConflictError:
                    continue
                moved.extend(Moved(snap.case_ref, x["deadline"], dt.date.fromisoformat(x["old_due_on"]),
                                   dt.date.fromisoformat(x["new_due_on"])) for x in dates)
                if dates:
                    log.info("deadlines recomputed", case_ref=snap.case_ref, workflow=snap.workflow,
                             calendar=calendar.version, moved=len(dates))
                break
        return moved

    # ---- timers ------------------------------------------------------------------------------

    def tick(self, at: dt.datetime | None = None, *, batch: int = 500,
             max_lateness: dt.timedelta | None = None) -> TickReport:
        """Process every on_expiry and reminder due at `at`, oldest first, each exactly once.

        `max_lateness` (the `mark_missed` catch-up policy): a deadline more than this late is
        marked expired with outcome "skipped: ..." and a notification, without firing its trigger."""
        at = self._now(at)
        report = TickReport(at=at)
        tried: set[int] = set()
        while True:
            due = [d for d in self.store.pending_expiries(at, batch + len(tried)) if d.id not in tried]
            if not due:
                break
            for d in due:
                tried.add(d.id)
                self._expire(d, at, report, max_lateness)
        sent: set[int] = set()
        while True:
            due_r = [r for r in self.store.pending_reminders(at, batch + len(sent)) if r[0].id not in sent]
            if not due_r:
                break
            for reminder, deadline, case in due_r:
                sent.add(reminder.id)
                self._remind(reminder, deadline, case.case_ref, case.workflow, report)
        return report

    def expire_deadline(self, deadline: DeadlineRow, at: dt.datetime, *,
                        max_lateness: dt.timedelta | None = None) -> TickReport:
        """Process one due deadline (for a worker that claims rows itself). Safe to call twice or
        from two processes at once: only one call writes; the others write nothing."""
        report = TickReport(at=at)
        self._expire(deadline, at, report, max_lateness)
        return report

    def _expire(self, d: DeadlineRow, at: dt.datetime, report: TickReport,
                max_lateness: dt.timedelta | None = None) -> None:
        for _attempt in range(3):
            try:
                # the snapshot is read in the transaction that writes the expiry
                with self.store.transaction() as tx:
                    planned = self._plan_expiry(tx.case_by_id(d.case_id), d, at, max_lateness)
                    if planned is None:
                        return
                    tx.apply(planned.change)
            except ConflictError:
                continue
            except (ClaimLost, IntegrityError):
                return
            snap, d, change, failure, skipped, late = planned
            report.expired += 1
            report.notified += len(change.notifications)
            if failure:
                report.failed.append({"case_ref": snap.case_ref, "deadline": d.name, "reason": failure})
                log.warning("timer failed", case_ref=snap.case_ref, workflow=snap.workflow, deadline=d.name, reason=failure)
            elif skipped:
                log.warning("timer skipped", case_ref=snap.case_ref, workflow=snap.workflow, deadline=d.name,
                            due_at=d.due_at.isoformat(), late_by=describe_span(late),
                         late_by_s=int(late.total_seconds()))
            elif change.transition is not None:
                report.fired += 1
                report.opened.extend((n.row.id, n.row.due_at) for n in change.openings)
                t = change.transition
                log.info("transition", case_ref=snap.case_ref, workflow=snap.workflow, trigger=t.trigger,
                         from_state=t.from_state, to_state=t.to_state, version=snap.version, deadline=d.name,
                         due_at=d.due_at.isoformat(), late_by=describe_span(late),
                         late_by_s=int(late.total_seconds()))
            return

    def _plan_expiry(self, snap: CaseSnapshot | None, d, at: dt.datetime,
                     max_lateness: dt.timedelta | None) -> "_PlannedExpiry | None":
        """What expiring `d` at `at` writes, or None if the row is no longer due (closed,
        expired or moved since the worker read it)."""
        if snap is None:  # pragma: no cover - foreign key
            return None
        current = next((x for x in snap.deadlines if x.id == d.id), None)
        if current is None or current.expired_at is not None or current.due_at > at:
            return None
        d = current
        wf = self._workflow(snap.version)
        spec = wf.spec.deadlines.get(d.name)
        action = spec.on_expiry if spec else None
        effective = max(d.due_at, snap.last_effective_at)
        late = at - d.due_at
        outcome, failure, skipped = "expired", None, None
        change = Change(case_ref=snap.case_ref, case_id=snap.id, expected_row_version=snap.row_version)
        if max_lateness is not None and late > max_lateness:
            skipped = (f"due {d.due_on.isoformat()}, {describe_span(late)} late, over the {describe_span(max_lateness)} "
                       f"limit of the mark_missed policy; {'trigger ' + repr(action.trigger) if action and action.trigger else 'nothing'} not fired")
            outcome = f"skipped: {skipped}"
        elif action is not None and action.trigger:
            try:
                change = self._plan(
                    snap, wf, action.trigger, at=effective, actor=SYSTEM, role=SYSTEM,
                    reason=f"deadline '{d.name}' due {d.due_on.isoformat()} expired",
                    data=action.data, idempotency_key=f"expiry:{d.id}", kind="expiry",
                )
                outcome = f"fired {action.trigger}"
            except CaseError as exc:
                failure = str(exc)
                outcome = f"failed: {exc}"
        change.expiry = Expiry(d.id, at, outcome, due_at=d.due_at)
        change.effective_at = change.effective_at or effective
        payload = {"case_ref": snap.case_ref, "workflow": snap.workflow, "state": snap.state,
                   "deadline": d.name, "title": d.title, "due_on": d.due_on.isoformat(),
                   "due_at": d.due_at.isoformat(), "late_by_s": int(late.total_seconds()),
                   "late_by": describe_span(late),
                   "source": d.source, "outcome": outcome}
        for role in (action.notify if action else []):
            change.notifications.append(Notification(f"expiry:{d.id}:{role}", "deadline_expired", {**payload, "role": role}, at))
        if failure:
            change.notifications.append(Notification(f"expiry:{d.id}:failed", "timer_failed", {**payload, "reason": failure}, at))
        if skipped:
            change.notifications.append(Notification(f"expiry:{d.id}:skipped", "timer_skipped", {**payload, "role": d.role}, at))
        return _PlannedExpiry(snap, d, change, failure, skipped, late)

    def _remind(self, reminder, deadline: DeadlineRow, case_ref: str, workflow: str, report: TickReport) -> None:
        if deadline.due_at <= report.at:  # too late to remind: the expiry speaks for itself
            self.store.apply(Change(case_ref=case_ref, case_id=deadline.case_id, reminders_cancelled=[reminder.id]))
            return
        payload = {"case_ref": case_ref, "workflow": workflow, "deadline": deadline.name, "title": deadline.title,
                   "due_on": deadline.due_on.isoformat(), "role": deadline.role, "source": deadline.source,
                   "reminder": reminder.offset}
        change = Change(case_ref=case_ref, case_id=deadline.case_id, effective_at=reminder.remind_at,
                        reminders_sent=[reminder.id],
                        notifications=[Notification(f"reminder:{reminder.id}", "deadline_reminder", payload, reminder.remind_at)])
        try:
            self.store.apply(change)
        except (ClaimLost, IntegrityError):
            return
        report.reminders += 1
        log.info("reminder queued", case_ref=case_ref, workflow=workflow, deadline=deadline.name)

    # ---- planning ----------------------------------------------------------------------------

    def _plan(self, snap: CaseSnapshot, wf: Workflow, trigger: str, *, at: dt.datetime, actor: str,
              role: str | None, reason: str | None, data: dict[str, Any] | None,
              idempotency_key: str | None, kind: str, role_required: bool = False) -> Change:
        if snap.closed_at is not None:
            raise InvalidTrigger(snap.case_ref, trigger, snap.state, [])
        valid = wf.valid_triggers(snap.state)
        if trigger not in valid:
            raise InvalidTrigger(snap.case_ref, trigger, snap.state, valid)
        event = coerce(wf, snap.case_ref, data)
        merged = {**from_json(wf, snap.data), **event}
        try:
            step = self._machine(wf).step(snap.state, trigger, merged)
        except NoTransition as exc:
            raise ConditionNotMet(snap.case_ref, trigger, snap.state, exc.unmet) from None
        t = step.transition
        if role is None and role_required and t.roles:
            raise RoleRequired(snap.case_ref, trigger, t.roles)
        if role is not None and role != SYSTEM and t.roles and role not in t.roles:
            raise RoleNotAllowed(snap.case_ref, trigger, role, t.roles)
        for name in t.requires:  # facts the event itself must bring
            if event.get(name) in (None, ""):
                raise InvalidCaseData(snap.case_ref, name, f"is required by '{trigger}'")
        for name in t.increments:
            merged[name] = (merged.get(name) or 0) + 1
        closings, openings = self._deadline_changes(
            wf, snap.case_ref, list(snap.deadlines), snap.state, step.dest, trigger, t.internal, at, merged,
            self.calendars.of(snap.authority), snap.authority,
        )
        if kind != "expiry":
            self._check_lateness(wf, snap, closings, event)
        final = step.dest in wf.final_states
        change = Change(
            case_ref=snap.case_ref, case_id=snap.id, expected_row_version=snap.row_version,
            state=step.dest, data=to_json(merged), effective_at=at, closed_at=at if final else None,
            transition=self._transition_row(trigger, kind, snap.state, step.dest, at, actor, reason, event, idempotency_key, wf),
            closings=closings, openings=openings,
        )
        if t.starts is not None and all(c.holds(merged) for c in t.starts.when):
            change.spawned.append(self._plan_start(t.starts, snap, trigger, at, merged))
        return change

    def _check_lateness(self, wf: Workflow, snap: CaseSnapshot, closings: list[Closing], event: dict[str, Any]) -> None:
        """A deadline closed late may demand a reason (e.g. why a review was out of timescale)."""
        rows = {d.id: d for d in snap.deadlines}
        for closing in closings:
            row = rows.get(closing.deadline_id)
            spec = wf.spec.deadlines.get(row.name) if row else None
            if closing.status != MISSED or spec is None:
                continue
            for name in spec.late_requires:
                if event.get(name) in (None, ""):
                    raise InvalidCaseData(
                        snap.case_ref, name,
                        f"is required: '{row.name}' was due {row.due_on.isoformat()} and this event meets it late",
                    )

    def _plan_start(self, start, snap: CaseSnapshot, trigger: str, at: dt.datetime, merged: dict[str, Any]) -> Change:
        """The opening of a case of another workflow, written with the transition that caused it."""
        names = {"case_ref": snap.case_ref, "seq": snap.row_version + 1, "trigger": trigger}
        new_ref = inputs.case_ref(start.case_ref.format(**names))
        known = collections.defaultdict(str, {k: ("" if v is None else v) for k, v in to_json(merged).items()})
        values = {}
        for key, value in start.data.items():
            if isinstance(value, str) and (whole := re.fullmatch(r"\{(\w+)\}", value)):
                value = merged.get(whole.group(1))  # a lone placeholder keeps the value's type
            elif isinstance(value, str) and "{" in value:
                value = value.format_map(known)
            values[key] = value
        wf = self.registry.get(start.workflow)
        # the new case is about the same child, held by the same IRO and team, and belongs to the
        # same authority (so it is counted on the same calendar)
        change = self._plan_open(wf, new_ref, at, values, start.state, SYSTEM,
                                 f"opened by '{trigger}' on {snap.case_ref}", None, snap.authority)
        change.child_ref = snap.child_ref
        change.assignment = {"assigned_to": snap.assigned_to, "team": snap.team}
        return change

    def _deadline_changes(self, wf: Workflow, case_ref: str, open_rows: list[DeadlineRow], source: str | None,
                          dest: str, trigger: str, internal: bool, at: dt.datetime, data: dict[str, Any],
                          calendar: WorkingCalendar, authority: str | None) -> tuple[list[Closing], list[NewDeadline]]:
        """Which deadlines a move from `source` to `dest` by `trigger` closes and opens."""
        final = dest in wf.final_states
        reentered = source is not None and not internal and source == dest
        rules = self._deadline_rules(wf)
        closings: list[Closing] = []
        still_open = {d.name: d for d in open_rows}
        for row in open_rows:
            rule = rules.get(row.name)
            status = None
            if rule is not None and trigger in rule.cancelled_by:
                status = CANCELLED
            elif rule is not None and trigger in rule.closed_by:
                status = _met_or_missed(row, at)
            elif rule is not None and rule.states and not internal and (dest not in rule.states or reentered):
                status = _met_or_missed(row, at)
            elif final:
                status = CANCELLED
            if status:
                closings.append(Closing(row.id, status, at))
                still_open.pop(row.name, None)
        openings: list[NewDeadline] = []
        if final:
            return closings, openings
        opened: dict[str, NewDeadline] = {}
        for name, rule in rules.items():  # those anchored on another deadline come after it
            if rule.states:
                opens = dest in rule.states and (source is None or (not internal and (source not in rule.states or reentered)))
            else:
                opens = trigger in rule.opened_by
            if not opens or (rule.when and not all(c.holds(data) for c in rule.when)):
                continue
            if name in still_open:  # opened again: the new date supersedes the old one
                closings.append(Closing(still_open.pop(name).id, CANCELLED, at))
            opened[name] = self._new_deadline(wf, case_ref, name, rule.spec, at, data, opened, calendar, authority)
            openings.append(opened[name])
        return closings, openings

    def _deadline_rules(self, wf: Workflow) -> dict[str, _DeadlineRule]:
        """A definition's deadlines as planning reads them, derived once per version; those
        counted from another deadline come after the ones they count from."""
        rules = self._rules.get(wf.version)
        if rules is None:
            ordered = sorted(wf.spec.deadlines.items(), key=lambda item: item[1].anchor.startswith("deadline."))
            rules = self._rules[wf.version] = {name: _DeadlineRule.of(wf, spec) for name, spec in ordered}
        return rules

    def _new_deadline(self, wf: Workflow, case_ref: str, name: str, spec: DeadlineSpec, at: dt.datetime,
                      data: dict[str, Any], opened: dict[str, NewDeadline], calendar: WorkingCalendar,
                      authority: str | None) -> NewDeadline:
        rule = self._deadline_rules(wf).get(name)
        if rule is None or rule.spec is not spec:
            rule = _DeadlineRule.of(wf, spec)
        anchor = rule.anchor
        if anchor.startswith("data."):
            anchor_on = data.get(anchor[5:])
            if anchor_on is None:
                raise InvalidCaseData(case_ref, anchor[5:], f"is needed to compute deadline '{name}'")
        elif anchor.startswith("deadline."):
            # validation guarantees the deadline counted from opens with this one
            anchor_on = opened[anchor[len("deadline."):]].row.due_on
        else:
            anchor_on = local_date(at)
        due_on = calendar.add(anchor_on, rule.amount, rule.spec.due.unit, anchor_is_day_one=rule.anchor_is_day_one)
        row = Record(
            id=None, case_id=0, name=name, title=spec.title, role=rule.role, source=spec.source, opened_at=at,
            anchor=anchor, anchor_on=anchor_on, amount=rule.amount, unit=rule.unit,
            anchor_is_day_one=rule.anchor_is_day_one, calendar_version=calendar.version,
            due_on=due_on, due_at=due_at(due_on), status=OPEN, closed_at=None, expired_at=None, expiry_outcome=None,
            workflow=wf.name, authority=authority,
        )
        return NewDeadline(row, _reminders(rule.reminders, due_on, calendar, at))

    def _transition_row(self, trigger, kind, source, dest, at, actor, reason, event, key, wf) -> Record:
        return Record(
            case_id=0, seq=0, kind=kind, trigger=trigger, from_state=source, to_state=dest, effective_at=at,
            recorded_at=self.clock.now(), actor=actor, reason=reason, data=to_json(event),
            idempotency_key=key, definition_version=wf.version,
        )

    # ---- plumbing ----------------------------------------------------------------------------

    def _replay(self, key: str, case_ref: str, trigger: str, tx=None) -> Outcome | None:
        found = (tx or self.store).transition_by_key(key)
        if found is None:
            return None
        t, ref = found
        if ref != case_ref or t.trigger != trigger:
            raise IdempotencyMismatch(case_ref, key)
        return Outcome(ref, t.trigger, t.from_state, t.to_state, t.effective_at, t.seq, replayed=True)

    def _snapshot(self, case_ref: str) -> CaseSnapshot:
        snap = self.store.case(inputs.case_ref(case_ref), self.authority)
        if snap is None:
            raise CaseNotFound(case_ref)
        return snap

    def _workflow(self, version: str) -> Workflow:
        wf = self.registry.by_version(version)
        if wf is None:
            stored = self.store.definition(version)
            if stored is None:  # pragma: no cover - written with the case
                raise LookupError(f"definition version {version} is not stored")
            wf = self.registry.remember(stored.body)
        return wf

    def _machine(self, wf: Workflow) -> CaseMachine:
        machine = self._machines.get(wf.version)
        if machine is None:
            machine = self._machines[wf.version] = CaseMachine(wf)
        return machine

    def _now(self, at: dt.datetime | None) -> dt.datetime:
        return self.clock.now() if at is None else ensure_aware(at)

    def _effective(self, case_ref: str, at: dt.datetime | None, snap: CaseSnapshot | None) -> dt.datetime:
        now = self.clock.now()
        try:
            at = now if at is None else ensure_aware(at)
        except ValueError as exc:
            raise InvalidEffectiveTime(case_ref, str(exc)) from None
        if at > now + _FUTURE_TOLERANCE:
            raise InvalidEffectiveTime(case_ref, f"effective time {at.isoformat()} is in the future (now {now.isoformat()})")
        if snap is not None and at < snap.last_effective_at:
            raise InvalidEffectiveTime(
                case_ref,
                f"effective time {at.isoformat()} is before the case's previous transition at "
                f"{snap.last_effective_at.isoformat()}; events may be backdated, but not before the last one",
            )
        return at

    # ---- worker entry points (engine/worker.py) ---------------------------------------------

    def send_reminder(self, reminder, deadline: DeadlineRow, case_ref: str, workflow: str, at: dt.datetime) -> TickReport:
        """Queue one claimed reminder (or cancel it if its deadline has passed); exactly once."""
        report = TickReport(at=at)
        self._remind(reminder, deadline, case_ref, workflow, report)
        return report

    def fail_deadline(self, deadline: DeadlineRow, at: dt.datetime, reason: str) -> bool:
        """Record a timer that could not be processed at all (an error outside the procedure's
        rules) as expired with outcome "failed: ...", and queue a timer_failed notification, so a
        broken timer is reported once instead of retried forever. False if it was processed meanwhile."""
        snap = self.store.case_by_id(deadline.case_id)
        if snap is None:  # pragma: no cover - foreign key
            return False
        payload = {"case_ref": snap.case_ref, "workflow": snap.workflow, "state": snap.state,
                   "deadline": deadline.name, "title": deadline.title, "due_on": deadline.due_on.isoformat(),
                   "due_at": deadline.due_at.isoformat(), "source": deadline.source,
                   "outcome": f"failed: {reason}", "reason": reason}
        change = Change(case_ref=snap.case_ref, case_id=snap.id, effective_at=at,
                        expiry=Expiry(deadline.id, at, f"failed: {reason}"[:2000]),
                        notifications=[Notification(f"expiry:{deadline.id}:failed", "timer_failed", payload, at)])
        try:
            self.store.apply(change)
        except (ClaimLost, IntegrityError):
            return False
        log.warning("timer failed", case_ref=snap.case_ref, workflow=snap.workflow, deadline=deadline.name, reason=reason)
        return True


class _PlannedExpiry(NamedTuple):
    snap: CaseSnapshot
    deadline: Any  # the row as it is now
    change: Change
    failure: str | None
    skipped: str | None
    late: dt.timedelta


def _filters(workflow: str | None, case_filters: dict[str, Any] | None) -> dict[str, Any]:
    out = dict(case_filters or {})
    if workflow is not None:
        out["workflow"] = workflow
    return out


def _by_workflow(rows) -> dict[str, int]:
    counts: dict[str, int] = {}
    for workflow, _authority, _band, n in rows:
        counts[workflow] = counts.get(workflow, 0) + n
    return dict(sorted(counts.items()))


def _band_label(low: int, high: int | None) -> str:
    return f"{low}+" if high is None else f"{low}-{high}"


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    """As the store returns moments: in UTC."""
    return None if moment is None else moment.astimezone(dt.timezone.utc)


def reminders_before(spec: DeadlineSpec, due_on: dt.date, calendar: WorkingCalendar,
                     after: dt.datetime) -> list[NewReminder]:
    """The reminders of a deadline due on `due_on` that are still to come after `after`; each is
    sent at the start of its day."""
    return _reminders(tuple((offset, *parse_offset(offset)) for offset in spec.remind), due_on, calendar, after)


def _reminders(offsets: tuple[tuple[str, int, Unit], ...], due_on: dt.date, calendar: WorkingCalendar,
               after: dt.datetime) -> list[NewReminder]:
    out = []
    for offset, amount, unit in offsets:
        remind_on = calendar.add(due_on, -amount, unit)
        remind_at = due_at(remind_on - dt.timedelta(days=1))
        if remind_at > after:
            out.append(NewReminder(offset, remind_on, remind_at))
    return out


@dataclass(frozen=True)
class _DeadlineRule:
    """What planning needs of one deadline of a definition, worked out once per version rather
    than on every command: its states and triggers as sets, its role, unit and parsed reminders."""

    spec: DeadlineSpec
    states: frozenset[str]
    opened_by: frozenset[str]
    closed_by: frozenset[str]
    cancelled_by: frozenset[str]
    anchor: str
    amount: int
    unit: str
    anchor_is_day_one: bool
    role: str | None
    reminders: tuple[tuple[str, int, Unit], ...]
    when: tuple

    @classmethod
    def of(cls, wf: Workflow, spec: DeadlineSpec) -> _DeadlineRule:
        states = spec.states
        role = spec.role
        if role is None and len(states) == 1:
            role = wf.spec.states[states[0]].role
        return cls(
            spec=spec, states=frozenset(states), opened_by=frozenset(spec.opened_by),
            closed_by=frozenset(spec.closed_by), cancelled_by=frozenset(spec.cancelled_by), anchor=spec.anchor,
            amount=spec.due.amount, unit=Unit(spec.due.unit).value, anchor_is_day_one=spec.due.anchor_is_day_one,
            role=role, reminders=tuple((offset, *parse_offset(offset)) for offset in spec.remind),
            when=tuple(spec.when),
        )


def _met_or_missed(row: DeadlineRow, at: dt.datetime) -> str:
    return MET if at < row.due_at else MISSED


def _check_command(case_ref: str, actor: str, reason: str | None, key: str | None, **names: str | None) -> None:
    """A command's own fields, before anything is read or written: the same limits on every backend."""
    for field, value in names.items():
        inputs.name(case_ref, field, value)
    inputs.actor(case_ref, actor)
    inputs.reason(case_ref, reason)
    inputs.idempotency_key(case_ref, key)


def _deadline_view(d: DeadlineRow, working_days_overdue: int | None = None) -> DeadlineView:
    return DeadlineView(
        name=d.name, title=d.title, status=d.status, due_on=d.due_on, due_at=d.due_at, source=d.source,
        role=d.role, opened_at=d.opened_at, closed_at=d.closed_at, anchor=d.anchor, anchor_on=d.anchor_on,
        amount=d.amount, unit=d.unit, anchor_is_day_one=d.anchor_is_day_one, calendar_version=d.calendar_version,
        expired_at=d.expired_at, expiry_outcome=d.expiry_outcome, working_days_overdue=working_days_overdue,
    )
