"""The KPI scorecard of the IRO annual reports, for a period (default the last financial year,
April to March) and month by month, computed from the stored deadlines and transitions.

Every KPI is read off what the engine already records: a statutory deadline closed by the
meeting it asks for is `met` if the meeting was on or before its due day (the deadline is due at
the end of that day) and `missed` otherwise, so "in timescale" is `met`. The table MEASURES
below is the one place that says which workflow, deadline, state or field each KPI reads; an
authority that renames a deadline changes it there.

Each KPI carries its definition and the source it follows (a seed report or the statutory
guidance), shown beside it on the dashboard and in `caseclock report`.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import and_, case, func, literal, or_, select

from engine.time.calendar import LONDON, local_date
from persistence.models import CANCELLED, MET, MISSED, CaseRow, DeadlineRow, TransitionRow

CASES = CaseRow.__table__
DEADLINES = DeadlineRow.__table__
TRANSITIONS = TransitionRow.__table__


# ---- which stored facts each KPI reads (workflows/*.yaml) -------------------------------------

@dataclass(frozen=True)
class Measure:
    workflow: str
    deadlines: tuple[str, ...] = ()  # the statutory deadlines whose met/missed is the KPI
    closed_by: tuple[str, ...] = ()  # the triggers that hold the meeting (and carry lateness_reason)
    state: str | None = None


MEASURES: dict[str, Measure] = {
    # cla_review.yaml: the review clock; review_held closes whichever of the three is open
    "cla_reviews": Measure("cla_review", ("first_review", "second_review", "subsequent_review"), ("review_held",)),
    # child_protection.yaml: icpc is due 15 working days after data.strategy_discussion_on (day 0)
    "icpc": Measure("child_protection", ("icpc",), ("icpc_held",)),
    # child_protection.yaml: first within 3 months of the ICPC, then every 6 months
    "rcpc": Measure("child_protection", ("first_rcpc", "next_rcpc"), ("rcpc_held", "designated_conference_held")),
    # child_protection.yaml: a plan is the time a case spends in this state
    "cp_plan": Measure("child_protection", state="child_protection_plan"),
    # drp.yaml: the stages in order of seniority; formal_resolution runs across the formal stages
    "drp": Measure("drp", ("formal_resolution",), ("resolve",), state="resolved"),
    # the caseload of an IRO / conference chair: open cases of these workflows by assigned_to
    "caseload": Measure("cla_review"),
    "caseload_cp": Measure("child_protection"),
}
DRP_STAGES = ("informal", "stage_1", "stage_2", "stage_3")
DRP_WITHDRAWN = "withdrawn"
LATENESS_FIELD = "lateness_reason"  # the event data late_requires demands (engine._check_lateness)
CASELOAD_RANGE = (50, 70)  # IRO Handbook 2010, as cited in Shropshire's report
NOT_RECORDED = "not recorded"


# ---- periods ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """Whole days, both ends included, in Europe/London."""

    first: dt.date
    last: dt.date

    def __post_init__(self):
        if self.last < self.first:
            raise ValueError(f"the period ends ({self.last}) before it starts ({self.first})")

    @classmethod
    def last_financial_year(cls, today: dt.date) -> "Period":
        """The last complete April-March year (as the annual reports use)."""
        end_year = today.year if today.month >= 4 else today.year - 1
        return cls(dt.date(end_year - 1, 4, 1), dt.date(end_year, 3, 31))

    @property
    def start(self) -> dt.datetime:
        return _midnight(self.first)

    @property
    def end(self) -> dt.datetime:
        """The first instant after the period."""
        return _midnight(self.last + dt.timedelta(days=1))

    def months(self) -> list["Period"]:
        out, first = [], self.first
        while first <= self.last:
            nxt = (first.replace(day=1) + relativedelta(months=1))
            out.append(Period(first, min(self.last, nxt - dt.timedelta(days=1))))
            first = nxt
        return out

    @property
    def label(self) -> str:
        return self.first.strftime("%b %Y")


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=LONDON)


# ---- results ---------------------------------------------------------------------------------

@dataclass
class Point:
    """One figure: a rate (numerator of denominator), a count, or a number of days."""

    label: str
    value: float | int | None
    numerator: int | None = None
    denominator: int | None = None


@dataclass
class Kpi:
    key: str
    title: str
    unit: str  # "%" | "count" | "working days"
    definition: str
    source: str
    value: Point
    monthly: list[Point] = field(default_factory=list)
    breakdown: list[Point] = field(default_factory=list)  # by reason, stage, theme, IRO ...
    target: str | None = None


@dataclass
class Scorecard:
    period: Period
    authority: str | None
    kpis: list[Kpi]

    def kpi(self, key: str) -> Kpi:
        return next(k for k in self.kpis if k.key == key)

    def to_dict(self) -> dict[str, Any]:
        return {"period": {"from": self.period.first.isoformat(), "to": self.period.last.isoformat()},
                "authority": self.authority, "kpis": [asdict(k) for k in self.kpis]}

    def rows(self) -> list[dict[str, Any]]:
        """Flat rows for CSV: one per KPI headline, month and breakdown line."""
        out = []
        for k in self.kpis:
            for part, points in (("period", [k.value]), ("month", k.monthly), ("breakdown", k.breakdown)):
                for p in points:
                    out.append({"kpi": k.key, "title": k.title, "unit": k.unit, "part": part, "label": p.label,
                                "value": p.value, "numerator": p.numerator, "denominator": p.denominator})
        return out


def _rate(label: str, met: int, total: int) -> Point:
    return Point(label, round(100.0 * met / total, 1) if total else None, met, total)


# ---- the computation ---------------------------------------------------------------------------

def compute(engine, period: Period | None = None, authority: str | None = None) -> Scorecard:
    """The scorecard for `period` (default the last financial year) over the cases of `authority`
    (None: every authority)."""
    period = period or Period.last_financial_year(local_date(engine.clock.now()))
    months = period.months()
    with engine.store.db.reader.connect() as conn:
        q = _Queries(conn, engine, period, months, authority)
        kpis = [q.cla_reviews(), q.cla_children(), q.icpc(), q.rcpc(), q.lateness(),
                *q.drp(), *q.cp_plans(), q.caseload()]
    return Scorecard(period, authority, kpis)


class _Queries:
    def __init__(self, conn, engine, period: Period, months: list[Period], authority: str | None):
        self.conn, self.engine, self.period, self.months, self.authority = conn, engine, period, months, authority

    def _scope(self, workflow: str) -> list:
        cond = [CASES.c.workflow == workflow]
        if self.authority is not None:
            cond.append(CASES.c.authority == self.authority)
        return cond

    def _month_of(self, column):
        """The index of the month an instant falls in (SQL CASE over the month boundaries)."""
        return case(*[(column < m.end, i) for i, m in enumerate(self.months)], else_=-1)

    # -- timeliness of meetings -----------------------------------------------------------------

    def _timeliness(self, measure: Measure, extra: tuple = ()) -> tuple[Point, list[Point]]:
        """Deadlines of `measure` closed (met or missed) in the period, by month, in SQL."""
        month = self._month_of(DEADLINES.c.closed_at).label("month")
        rows = self.conn.execute(
            select(month, DEADLINES.c.status, func.count())
            .select_from(DEADLINES.join(CASES, CASES.c.id == DEADLINES.c.case_id))
            .where(*self._scope(measure.workflow), *extra, DEADLINES.c.name.in_(measure.deadlines),
                   DEADLINES.c.status.in_((MET, MISSED)),
                   DEADLINES.c.closed_at >= self.period.start, DEADLINES.c.closed_at < self.period.end)
            .group_by(month, DEADLINES.c.status)
        ).all()
        met, total = Counter(), Counter()
        for m, status, n in rows:
            total[m] += n
            met[m] += n if status == MET else 0
        monthly = [_rate(p.label, met[i], total[i]) for i, p in enumerate(self.months)]
        return _rate("period", sum(met.values()), sum(total.values())), monthly

    def cla_reviews(self) -> Kpi:
        value, monthly = self._timeliness(MEASURES["cla_reviews"])
        return Kpi("cla_reviews_in_timescale", "CLA reviews held in timescale", "%",
                   "Reviews of children looked after held in the period (the first, second and subsequent "
                   "statutory reviews) that were held on or before their due day, as a percentage of all "
                   "reviews held in the period. The first is due 20 working days after the child became "
                   "looked after (that day is day 0), the second 3 months after the first, then every "
                   "6 months; a review held on its due day is in timescale, the next day is not.",
                   "Care Planning, Placement and Case Review (England) Regulations 2010, reg 33; Sunderland "
                   "IRO annual report 2016/17, para 5.2.1 (\"95% of reviews were held within timescale\"); "
                   "Shropshire independent chairperson annual report 2015/16 (statutory reviews in "
                   "timescale by month)", value, monthly)

    def _children_in_timescale(self, upto: Period) -> tuple[int, int]:
        """(children all in timescale, children looked after) at the end of `upto`."""
        m = MEASURES["cla_reviews"]
        start, end = upto.start, upto.end
        late = (select(DEADLINES.c.id).where(
            DEADLINES.c.case_id == CASES.c.id, DEADLINES.c.name.in_(m.deadlines), DEADLINES.c.status != CANCELLED,
            DEADLINES.c.due_at < end,
            or_(DEADLINES.c.closed_at.is_(None), DEADLINES.c.closed_at >= end,
                and_(DEADLINES.c.closed_at >= DEADLINES.c.due_at, DEADLINES.c.closed_at >= start)))
            .exists())
        rows = self.conn.execute(
            select(CASES.c.id, CASES.c.child_ref, late.label("late"))
            .where(*self._scope(m.workflow), CASES.c.opened_at < end,
                   or_(CASES.c.closed_at.is_(None), CASES.c.closed_at >= end))
        ).all()
        children: dict[Any, bool] = {}
        for case_id, child, is_late in rows:
            key = child if child is not None else ("case", case_id)
            children[key] = children.get(key, False) or bool(is_late)
        return sum(1 for late_ in children.values() if not late_), len(children)

    def cla_children(self) -> Kpi:
        monthly = []
        for month in self.months:
            ok, total = self._children_in_timescale(Period(self.period.first, month.last))
            monthly.append(_rate(month.label, ok, total))
        ok, total = self._children_in_timescale(self.period)
        return Kpi("cla_children_in_timescale", "Children looked after at period end whose reviews were all in timescale", "%",
                   "Children looked after on the last day of the period (an open CLA review case; a child "
                   "with several is counted once, by child_ref) none of whose statutory reviews in the "
                   "period was late: none held after its due day in the period, and none overdue and "
                   "not yet held at the period's end. Each month shows the figure from the start of the "
                   "period to that month's end.",
                   "Sunderland IRO annual report 2016/17, table 2 (\"% of CLA at end of period where reviews "
                   "were held in timescales\"); CPPCR 2010, reg 33", _rate("period", ok, total), monthly)

    def icpc(self) -> Kpi:
        value, monthly = self._timeliness(MEASURES["icpc"])
        return Kpi("icpc_in_timescale", "ICPCs within 15 working days of the strategy discussion", "%",
                   "Initial child protection conferences held in the period within 15 working days of the "
                   "strategy discussion at which the section 47 enquiry began: the strategy discussion is "
                   "day 0 and the conference is in timescale on or before the 15th working day after it "
                   "(the DfE children in need census measure). Enquiries that ended without a conference "
                   "are not counted.",
                   "Working Together to Safeguard Children 2018, chapter 1; Shropshire independent chairperson "
                   "annual report 2015/16 (\"88% of initial child protection conferences held within 15 "
                   "working days\"); Gateshead IRO annual report 2023/24, para 13 (89% of ICPCs in timescale)",
                   value, monthly)

    def rcpc(self) -> Kpi:
        value, monthly = self._timeliness(MEASURES["rcpc"])
        return Kpi("rcpc_in_timescale", "Review child protection conferences in timescale", "%",
                   "Review conferences held in the period (including designated conferences) on or before "
                   "their due day: the first within 3 months of the initial conference, then at intervals "
                   "of not more than 6 months.",
                   "Working Together to Safeguard Children 2018, chapter 1; Gateshead IRO annual report "
                   "2023/24, para 15 (99.9% of RCPCs in timescale); Shropshire independent chairperson annual "
                   "report 2015/16 (review conferences in timescale by month)", value, monthly)

    def lateness(self) -> Kpi:
        """Missed meeting deadlines closed in the period, joined to the event that held the meeting
        (same case, same effective time) for the lateness_reason it carried."""
        kinds = {name: key for key in ("cla_reviews", "icpc", "rcpc") for name in MEASURES[key].deadlines}
        closers = tuple(t for key in ("cla_reviews", "icpc", "rcpc") for t in MEASURES[key].closed_by)
        reason = TRANSITIONS.c.data[LATENESS_FIELD].as_string().label("reason")
        month = self._month_of(DEADLINES.c.closed_at).label("month")
        scope = [CASES.c.authority == self.authority] if self.authority is not None else []
        rows = self.conn.execute(
            select(DEADLINES.c.name, reason, month, func.count())
            .select_from(DEADLINES.join(CASES, CASES.c.id == DEADLINES.c.case_id)
                         .outerjoin(TRANSITIONS, and_(TRANSITIONS.c.case_id == DEADLINES.c.case_id,
                                                      TRANSITIONS.c.effective_at == DEADLINES.c.closed_at,
                                                      TRANSITIONS.c.trigger.in_(closers))))
            .where(*scope, CASES.c.workflow.in_({m.workflow for m in MEASURES.values()}),
                   DEADLINES.c.name.in_(kinds), DEADLINES.c.status == MISSED,
                   DEADLINES.c.closed_at >= self.period.start, DEADLINES.c.closed_at < self.period.end)
            .group_by(DEADLINES.c.name, reason, month)
        ).all()
        by_reason, by_month = Counter(), Counter()
        labels = {"cla_reviews": "CLA review", "icpc": "ICPC", "rcpc": "RCPC"}
        for name, why, m, n in rows:
            by_reason[f"{labels[kinds[name]]}: {why or NOT_RECORDED}"] += n
            by_month[m] += n
        total = sum(by_reason.values())
        return Kpi("lateness_reasons", "Reasons reviews and conferences were late", "count",
                   "Every CLA review, ICPC and RCPC held after its due day in the period, by the lateness "
                   "reason recorded when it was held (caseclock refuses a late review or conference "
                   "without one; \"not recorded\" only where an older record has none).",
                   "Sunderland IRO annual report 2016/17, table 3 (reasons looked after reviews were out of "
                   "timescale); Gateshead IRO annual report 2023/24, para 14 (reasons conferences were delayed)",
                   Point("period", total), [Point(p.label, by_month[i]) for i, p in enumerate(self.months)],
                   [Point(label, n) for label, n in sorted(by_reason.items(), key=lambda x: (-x[1], x[0]))])

    # -- disputes ---------------------------------------------------------------------------------

    def drp(self) -> list[Kpi]:
        m = MEASURES["drp"]
        rank = case(*[(TRANSITIONS.c.to_state == s, i) for i, s in enumerate(DRP_STAGES)], else_=-1)
        furthest = (select(func.max(rank)).where(TRANSITIONS.c.case_id == CASES.c.id).scalar_subquery())
        theme = CASES.c.data["theme"].as_string()
        outcome = CASES.c.data["outcome"].as_string()
        month = self._month_of(CASES.c.opened_at)
        rows = self.conn.execute(
            select(furthest.label("stage"), theme.label("theme"), CASES.c.state, outcome.label("outcome"),
                   month.label("month"), func.count())
            .where(*self._scope(m.workflow), CASES.c.opened_at >= self.period.start, CASES.c.opened_at < self.period.end)
            .group_by("stage", "theme", CASES.c.state, "outcome", "month")
        ).all()
        by = Counter()
        by_month = Counter()
        for stage, th, state, out, mon, n in rows:
            by[("stage", DRP_STAGES[stage] if stage is not None and stage >= 0 else "unknown")] += n
            by[("theme", th or NOT_RECORDED)] += n
            by[("outcome", out if state == m.state else (DRP_WITHDRAWN if state == DRP_WITHDRAWN else "open"))] += n
            by_month[mon] += n
        raised = Kpi("drp_raised", "Disputes raised (DRP), by furthest stage, theme and outcome", "count",
                     "Disputes the IRO raised in the period, counted by the most senior stage each reached "
                     "(informal, then formal stages 1-3), by theme, and by outcome (the recorded outcome "
                     "of a resolved dispute, withdrawn, or still open).",
                     "IRO Handbook 2010, chapter 6; Sunderland IRO annual report 2016/17, paras 7.2-7.3 and "
                     "table 4 (disputes by stage and theme, tracked weekly)",
                     Point("period", sum(by_month.values())), [Point(p.label, by_month[i]) for i, p in enumerate(self.months)],
                     [Point(f"{kind}: {label}", n) for (kind, label), n in sorted(by.items())])
        # resolution: working days from the day raised to the day resolved, on each case's calendar
        resolved = self.conn.execute(
            select(CASES.c.authority, CASES.c.opened_at, CASES.c.closed_at)
            .where(*self._scope(m.workflow), CASES.c.state == m.state,
                   CASES.c.closed_at >= self.period.start, CASES.c.closed_at < self.period.end)
        ).all()
        per_month: dict[int, list[int]] = defaultdict(list)
        for authority, opened, closed in resolved:
            days = self.engine.calendars.of(authority).working_days_between(local_date(opened), local_date(closed))
            index = next(i for i, p in enumerate(self.months) if closed < p.end)
            per_month[index].append(days)
        everything = [d for ds in per_month.values() for d in ds]
        median = Kpi("drp_median_days", "Median working days to resolve a dispute", "working days",
                     "For disputes resolved in the period: the median number of working days from the day "
                     "the dispute was raised (day 0) to the day it was resolved, counted on the case's "
                     "calendar. Withdrawn disputes are not counted.",
                     "IRO Handbook 2010, para 6.2 (disputes resolved quickly; the formal process within 20 "
                     "working days); Sunderland IRO annual report 2016/17, para 7.3",
                     Point("period", _median(everything), None, len(everything)),
                     [Point(p.label, _median(per_month[i]), None, len(per_month[i])) for i, p in enumerate(self.months)])
        value, monthly = self._timeliness(m, (CASES.c.state == m.state,))
        within = Kpi("drp_formal_within_20wd", "Formal disputes resolved within 20 working days", "%",
                     "Disputes resolved in the period after reaching a formal stage, whose formal process "
                     "(from first entering a formal stage, day 0) ended on or before the 20th working day. "
                     "Disputes resolved informally or withdrawn are not counted.",
                     "IRO Handbook 2010, para 6.2 (the formal process should take no more than 20 working "
                     "days); Sunderland IRO annual report 2016/17, para 7.1", value, monthly)
        return [raised, median, within]

    # -- child protection plans -------------------------------------------------------------------

    def _plans(self) -> list[tuple[str | None, int, dt.datetime, dt.datetime | None]]:
        """(child_ref, case id, plan start, plan end) of every plan started before the period ends."""
        m = MEASURES["cp_plan"]
        starts = (select(TRANSITIONS.c.case_id, func.min(TRANSITIONS.c.effective_at).label("started"))
                  .where(TRANSITIONS.c.to_state == m.state,
                         or_(TRANSITIONS.c.from_state.is_(None), TRANSITIONS.c.from_state != m.state))
                  .group_by(TRANSITIONS.c.case_id).subquery())
        ends = (select(TRANSITIONS.c.case_id, func.min(TRANSITIONS.c.effective_at).label("ended"))
                .where(TRANSITIONS.c.from_state == m.state, TRANSITIONS.c.to_state != m.state)
                .group_by(TRANSITIONS.c.case_id).subquery())
        started = starts.c.started
        rows = self.conn.execute(
            select(CASES.c.child_ref, CASES.c.id, started, ends.c.ended)
            .select_from(CASES.join(starts, starts.c.case_id == CASES.c.id).outerjoin(ends, ends.c.case_id == CASES.c.id))
            .where(*self._scope(m.workflow), started < self.period.end)
        ).all()
        return [(child, case_id, _aware(s), _aware(e)) for child, case_id, s, e in rows]

    def cp_plans(self) -> list[Kpi]:
        plans = self._plans()

        def open_for(month_period: Period, months: int) -> int:
            end = month_period.end
            boundary = _midnight(month_period.last - relativedelta(months=months) + dt.timedelta(days=1))
            return sum(1 for _c, _i, s, e in plans if s < boundary and (e is None or e >= end))

        first_starts: dict[str, list[dt.datetime]] = defaultdict(list)
        for child, _i, s, _e in plans:
            if child is not None:
                first_starts[child].append(s)

        def repeats(p: Period) -> tuple[int, int]:
            started = [(c, s) for c, _i, s, _e in plans if p.start <= s < p.end]
            again = sum(1 for c, s in started if c is not None and any(o < s for o in first_starts[c]))
            return again, len(started)

        at15 = Kpi("cp_plans_15_months", "Child protection plans open at 15 months or more", "count",
                   "Plans still open on the last day of the period (or month) that began 15 calendar months "
                   "or more before it (the plan begins when the initial conference makes it).",
                   "Gateshead IRO annual report 2023/24, para 17 (a designated conference when a plan has "
                   "been in place for 15 months)",
                   Point("period", open_for(self.period, 15)), [Point(p.label, open_for(p, 15)) for p in self.months])
        at24 = Kpi("cp_plans_2_years", "Child protection plans open for 2 years or more", "count",
                   "Plans still open on the last day of the period (or month) that began 24 calendar months "
                   "or more before it.",
                   "DfE characteristics of children in need (plans lasting 2 years or more); Shropshire "
                   "independent chairperson annual report 2015/16 (\"% Active CPP 2yrs +\"); Gateshead IRO "
                   "annual report 2023/24, para 22 (children on a plan over 24 months)",
                   Point("period", open_for(self.period, 24)), [Point(p.label, open_for(p, 24)) for p in self.months])
        again, total = repeats(self.period)
        second = Kpi("cp_second_plans", "Children starting a second or subsequent plan", "%",
                     "Plans that began in the period for a child (by child_ref) who had had a plan before, "
                     "as a percentage of all plans that began in the period. A case without a child_ref "
                     "cannot be linked and counts as a first plan.",
                     "Shropshire independent chairperson annual report 2015/16 (\"% Children starting CPP "
                     "with 2nd/Subsequent\"); DfE characteristics of children in need",
                     _rate("period", again, total), [_rate(p.label, *repeats(p)) for p in self.months])
        return [at15, at24, second]

    # -- caseloads --------------------------------------------------------------------------------

    def caseload(self) -> Kpi:
        end = self.period.end
        workflows = (MEASURES["caseload"].workflow, MEASURES["caseload_cp"].workflow)
        scope = [CASES.c.authority == self.authority] if self.authority is not None else []
        who = func.coalesce(CASES.c.assigned_to, literal("(unassigned)")).label("who")
        rows = self.conn.execute(
            select(who, CASES.c.workflow, func.count())
            .where(*scope, CASES.c.workflow.in_(workflows), CASES.c.opened_at < end,
                   or_(CASES.c.closed_at.is_(None), CASES.c.closed_at >= end))
            .group_by(who, CASES.c.workflow)
        ).all()
        loads: dict[str, Counter] = defaultdict(Counter)
        for person, workflow, n in rows:
            loads[person][workflow] += n
        low, high = CASELOAD_RANGE
        breakdown = []
        over = 0
        for person in sorted(loads):
            cla, cp = loads[person][workflows[0]], loads[person][workflows[1]]
            total = cla + cp
            verdict = "under 50" if total < low else ("within 50-70" if total <= high else "over 70")
            over += total > high and person != "(unassigned)"
            breakdown.append(Point(f"{person}: {cla} CLA + {cp} CP ({verdict})", total, cla, cp))
        iros = [p for p in loads if p != "(unassigned)"]
        return Kpi("caseload_per_iro", "Caseload per IRO (open CLA and CP cases)", "count",
                   "Open CLA review and child protection cases on the last day of the period, by the IRO or "
                   "conference chair they are assigned to now, against the IRO Handbook's 50-70 children "
                   "per full-time IRO. The headline is the number of IROs over 70.",
                   "IRO Handbook 2010 (caseload of 50-70 looked after children), as cited in Shropshire "
                   "independent chairperson annual report 2015/16 (average caseloads 95 and 106); Gateshead "
                   "IRO annual report 2023/24, para 3 (caseloads around 90)",
                   Point("IROs over 70", over, over, len(iros)), [], breakdown, target="50-70")


def _median(values: list[int]) -> float | None:
    return float(statistics.median(values)) if values else None


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """Aggregates bypass the column type: re-attach UTC to what SQLite returns naive (or as text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value
