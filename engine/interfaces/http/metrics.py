"""Prometheus metrics, counted in SQL at scrape time (so every process reports the same numbers,
and a scrape costs a few grouped counts, never a row per case).

A principal scoped to one authority sees that authority's counts only; the worker's gauges are
this process's own.
"""

from __future__ import annotations

import datetime as dt

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import Integer, func, select

from persistence.models import OPEN, CaseRow, DeadlineRow, OutboxRow, TransitionRow

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Collector:
    def __init__(self, store, worker, authority: str | None, now: dt.datetime):
        self.store, self.worker, self.authority, self.now = store, worker, authority, now

    def _scoped(self, query):
        return query if self.authority is None else query.where(CaseRow.authority == self.authority)

    def collect(self):
        with self.store.db.reader.connect() as conn:
            by_workflow = conn.execute(self._scoped(
                select(CaseRow.workflow, func.count(), func.sum((DeadlineRow.due_at <= self.now).cast(Integer)))
                .select_from(DeadlineRow).join(CaseRow, CaseRow.id == DeadlineRow.case_id)
                .where(DeadlineRow.status == OPEN).group_by(CaseRow.workflow))).all()
            fired = conn.execute(self._scoped(
                select(TransitionRow.kind, func.count()).select_from(TransitionRow)
                .join(CaseRow, CaseRow.id == TransitionRow.case_id).group_by(TransitionRow.kind))).all()
            oldest_due = conn.execute(self._scoped(
                select(func.min(DeadlineRow.due_at)).select_from(DeadlineRow)
                .join(CaseRow, CaseRow.id == DeadlineRow.case_id)
                .where(DeadlineRow.status == OPEN, DeadlineRow.expired_at.is_(None), DeadlineRow.due_at <= self.now)
            )).scalar()
            outbox = dict(conn.execute(select(OutboxRow.status, func.count()).group_by(OutboxRow.status)).all())
        open_ = GaugeMetricFamily("caseclock_open_deadlines", "Open deadlines, by workflow", labels=["workflow"])
        overdue = GaugeMetricFamily("caseclock_overdue_deadlines", "Open deadlines past their due time, by workflow",
                                    labels=["workflow"])
        for workflow, count, late in by_workflow:
            open_.add_metric([workflow], count)
            overdue.add_metric([workflow], late or 0)
        yield open_
        yield overdue
        transitions = CounterMetricFamily("caseclock_transitions", "Events recorded on cases, by kind",
                                          labels=["kind"])
        for kind, count in fired:
            transitions.add_metric([kind], count)
        yield transitions
        lag = 0.0
        if oldest_due is not None:
            due = oldest_due if oldest_due.tzinfo else oldest_due.replace(tzinfo=dt.timezone.utc)
            lag = max((self.now - due).total_seconds(), 0.0)
        yield GaugeMetricFamily("caseclock_timer_lag_seconds",
                                "How long the oldest due, unprocessed expiry has waited", value=lag)
        yield GaugeMetricFamily("caseclock_outbox_backlog", "Notifications waiting to be delivered",
                                value=outbox.get("pending", 0))
        yield GaugeMetricFamily("caseclock_outbox_dead_letters", "Notifications given up on (caseclock outbox --status dead)",
                                value=outbox.get("dead", 0))
        up = GaugeMetricFamily("caseclock_worker_up", "1 if this process's worker threads are running (none: no worker)")
        up.add_metric([], 1 if self.worker is not None and self.worker.status == "running" else 0)
        yield up
        beat = GaugeMetricFamily("caseclock_worker_heartbeat_timestamp_seconds",
                                 "When each worker loop last finished a round", labels=["loop"])
        for loop, when in sorted((getattr(self.worker, "heartbeats", None) or {}).items()):
            beat.add_metric([loop], when)
        yield beat


def render(store, worker, authority: str | None, now: dt.datetime) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(store, worker, authority, now))
    return generate_latest(registry)
