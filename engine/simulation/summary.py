"""The year's figures, read back from the stored database - never from the generator's counters.

Everything here is a query on `cases`, `transitions` and `deadlines`: what a manager's report
would compute from the same tables. A review is counted in the year its statutory deadline
falls due; it is in timescale if that deadline was closed `met`, and late if it was closed
`missed` or is still open past its due day at the year's end. A review deadline cancelled
because the child left care is neither.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
from dataclasses import dataclass, field

from sqlalchemy import Integer, String, Text, and_, column, create_engine, func, select, table

from persistence.types import UTCDateTime

REVIEWS = ("first_review", "second_review", "subsequent_review")
CONFERENCES = ("first_rcpc", "next_rcpc")
ESCALATING_STAGES = ("informal", "stage_1", "stage_2")

cases = table("cases", column("id", Integer), column("case_ref", String), column("workflow", String),
              column("authority", String), column("state", String), column("closed_at", UTCDateTime))
transitions = table("transitions", column("case_id", Integer), column("seq", Integer), column("kind", String),
                    column("trigger", String), column("from_state", String), column("to_state", String),
                    column("effective_at", UTCDateTime), column("actor", String), column("data", Text))
deadlines = table("deadlines", column("case_id", Integer), column("name", String), column("status", String),
                  column("due_at", UTCDateTime))


@dataclass
class Timeliness:
    on_time: int = 0
    late: int = 0

    @property
    def total(self) -> int:
        return self.on_time + self.late

    @property
    def on_time_share(self) -> float | None:
        return self.on_time / self.total if self.total else None


@dataclass
class Summary:
    start: dt.datetime
    end: dt.datetime
    reviews_held: int = 0
    reviews: Timeliness = field(default_factory=Timeliness)
    lateness_reasons: dict[str, int] = field(default_factory=dict)
    icpcs_held: int = 0
    icpcs: Timeliness = field(default_factory=Timeliness)
    rcpcs: Timeliness = field(default_factory=Timeliness)
    children_entered: int = 0
    children_ceased: int = 0
    children_in_care_at_end: int = 0
    drps_raised: dict[str, int] = field(default_factory=dict)      # by the stage they were raised at
    drps_reached: dict[str, int] = field(default_factory=dict)     # by every formal stage they reached
    drp_escalations: int = 0            # by the IRO, from informal, stage 1 or stage 2
    drp_escalations_by_timer: int = 0
    drp_decisions: int = 0              # escalations and resolutions from informal, stage 1, stage 2
    drps_resolved: int = 0
    drps_open_at_end: int = 0
    overdue_at_end: dict[str, int] = field(default_factory=dict)    # by workflow

    @property
    def escalation_share(self) -> float | None:
        return self.drp_escalations / self.drp_decisions if self.drp_decisions else None


def summarise(database_url: str, start: dt.datetime, end: dt.datetime, authority: str | None = None) -> Summary:
    """The figures of the year [start, end) from the database at `database_url` (one authority's
    cases, or all of them)."""
    engine = create_engine(database_url)
    s = Summary(start, end)
    mine = cases.c.authority == authority if authority else cases.c.id.is_not(None)
    in_year = and_(transitions.c.effective_at >= start, transitions.c.effective_at < end)
    try:
        with engine.connect() as conn:
            def timeliness(names: tuple[str, ...]) -> Timeliness:
                rows = conn.execute(
                    select(deadlines.c.status, func.count())
                    .select_from(deadlines.join(cases, cases.c.id == deadlines.c.case_id))
                    .where(mine, deadlines.c.name.in_(names), deadlines.c.due_at >= start, deadlines.c.due_at < end)
                    .group_by(deadlines.c.status))
                counts = dict(rows.all())
                # every deadline counted here fell due before the year's end: open ones are overdue
                return Timeliness(on_time=counts.get("met", 0), late=counts.get("missed", 0) + counts.get("open", 0))

            s.reviews = timeliness(REVIEWS)
            s.icpcs = timeliness(("icpc",))
            s.rcpcs = timeliness(CONFERENCES)

            def events(workflow: str, *triggers: str):
                return conn.execute(
                    select(transitions.c.trigger, transitions.c.from_state, transitions.c.to_state,
                           transitions.c.actor, transitions.c.data, transitions.c.kind)
                    .select_from(transitions.join(cases, cases.c.id == transitions.c.case_id))
                    .where(mine, cases.c.workflow == workflow, in_year, transitions.c.trigger.in_(triggers))).all()

            reasons: collections.Counter[str] = collections.Counter()
            for row in events("cla_review", "review_held"):
                s.reviews_held += 1
                reason = _data(row.data).get("lateness_reason")
                if reason:
                    reasons[reason] += 1
            s.lateness_reasons = dict(reasons.most_common())
            s.icpcs_held = len(events("child_protection", "icpc_held"))
            s.children_entered = len(events("cla_review", "open"))
            s.children_ceased = len(events("cla_review", "ceased_looked_after"))
            s.children_in_care_at_end = conn.execute(
                select(func.count()).select_from(cases).where(mine, cases.c.workflow == "cla_review",
                                                              cases.c.closed_at.is_(None))).scalar_one()

            raised: collections.Counter[str] = collections.Counter()
            for row in events("drp", "open"):
                raised[row.to_state] += 1
            s.drps_raised = dict(sorted(raised.items()))
            reached = conn.execute(
                select(transitions.c.to_state, func.count(func.distinct(transitions.c.case_id)))
                .select_from(transitions.join(cases, cases.c.id == transitions.c.case_id))
                .where(mine, cases.c.workflow == "drp", in_year, transitions.c.to_state.in_(("stage_1", "stage_2", "stage_3")))
                .group_by(transitions.c.to_state)).all()
            s.drps_reached = dict(sorted(reached))
            for row in events("drp", "escalate", "escalate_to", "resolve"):
                if row.from_state not in ESCALATING_STAGES:
                    if row.trigger == "resolve":
                        s.drps_resolved += 1
                    continue
                if row.trigger == "resolve":
                    s.drps_resolved += 1
                    s.drp_decisions += 1
                elif row.kind == "expiry":
                    s.drp_escalations_by_timer += 1
                else:
                    s.drp_escalations += 1
                    s.drp_decisions += 1
            s.drps_open_at_end = conn.execute(
                select(func.count()).select_from(cases).where(mine, cases.c.workflow == "drp", cases.c.closed_at.is_(None))).scalar_one()

            overdue = conn.execute(
                select(cases.c.workflow, func.count())
                .select_from(deadlines.join(cases, cases.c.id == deadlines.c.case_id))
                .where(mine, deadlines.c.status == "open", deadlines.c.due_at < end)
                .group_by(cases.c.workflow)).all()
            s.overdue_at_end = dict(sorted(overdue))
    finally:
        engine.dispose()
    return s


def _data(value) -> dict:
    """Event data as stored: JSON text on SQLite, already decoded on PostgreSQL."""
    if isinstance(value, dict):
        return value
    return json.loads(value) if value else {}
