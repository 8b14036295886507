"""A year's events for every child of an authority, planned in advance from a seed.

The plan is deterministic: one `random.Random(seed)` draws everything, in a fixed order, so
the same seed gives the same events. Dates are counted on the authority's own calendar and the
statutory intervals are read from its workflows (a profile that changes the second review to
91 days changes the plan too), so that "on time" and "late" here mean what the engine will
record. The plan holds only what people do; what the timers do (decisions standing after the
team manager's silence, reminders, notifications) is left to the engine's own timers.

The report year runs from 1 April of `year` to 31 March (the reporting year of every seed
report). Children already in care, and child protection plans already running, enter during a
warm-up year before it, so that the year starts with reviews and conferences in mid-cycle.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from engine.time.calendar import LONDON, WorkingCalendar

from engine.simulation.profiles import CATEGORIES, CEASED_REASONS, AuthorityShape

WD = "working_days"
DRP_OUTCOMES = {"agreed_action": 50, "care_plan_changed": 30, "resolved_at_meeting": 15, "concern_not_upheld": 5}


@dataclass(frozen=True)
class Event:
    """One command: open a case, or fire a trigger on it.

    `case_ref` of a dispute is known only when the event that starts it has run (the engine
    names it after that transition's number): such events carry the token of the starting
    event in `case_ref` and `token_case=True`."""

    at: dt.datetime
    order: int
    authority: str
    case_ref: str
    trigger: str                      # "open" opens the case
    data: dict[str, Any] = field(default_factory=dict)
    workflow: str | None = None
    state: str | None = None
    role: str | None = None
    actor: str = "system"
    starts: str | None = None         # token under which the started dispute's reference is kept
    token_case: bool = False
    child_ref: str | None = None
    assigned_to: str | None = None
    team: str | None = None


@dataclass
class Rates:
    """The inputs a run recovers from its own database (the closed loop)."""

    review_late: float
    escalation: tuple[float, float, float]


@dataclass
class Plan:
    authority: str
    start: dt.datetime                # the report year, [start, end)
    end: dt.datetime
    events: list[Event]
    rates: Rates
    children: int
    cp_cases: int
    drps: int


def year_bounds(year: int) -> tuple[dt.datetime, dt.datetime]:
    """1 April `year` to 1 April `year + 1`, London midnight."""
    return (dt.datetime(year, 4, 1, tzinfo=LONDON), dt.datetime(year + 1, 4, 1, tzinfo=LONDON))


class _Generator:
    def __init__(self, shape: AuthorityShape, workflows: dict, calendar: WorkingCalendar, year: int, rng: random.Random,
                 *, children: int, entries: int, exits: int, cp_cases: int, drps: int, rates: Rates):
        self.s, self.wf, self.cal, self.rng, self.rates = shape, workflows, calendar, rng, rates
        self.start, self.end = year_bounds(year)
        self.warm = self.start - dt.timedelta(days=365)
        self.n_children, self.entries, self.exits, self.n_cp, self.n_drps = children, entries, exits, cp_cases, drps
        self.prefix = shape.name[:3].upper()
        self.events: list[Event] = []
        self.order = 0
        self.iros = max(1, -(-(children + entries) // shape.iro_caseload))
        self.teams = max(1, -(-(children + entries) // 60))
        self.triggers = {name: {t.trigger for t in w.spec.transitions} for name, w in workflows.items()}
        self.review_slots: list[tuple[dt.datetime, dt.datetime, str, dict]] = []
        self.tokens = 0

    # -- helpers -------------------------------------------------------------------------------

    def has(self, workflow: str, trigger: str) -> bool:
        return trigger in self.triggers[workflow]

    def due(self, workflow: str, deadline: str, anchor: dt.date) -> dt.date:
        spec = self.wf[workflow].spec.deadlines[deadline].due
        return self.cal.add(anchor, spec.amount, spec.unit, anchor_is_day_one=spec.anchor_is_day_one)

    def wd(self, day: dt.date, n: int) -> dt.date:
        return self.cal.add(day, n, WD)

    def at(self, day: dt.date, earliest: int = 9, latest: int = 16) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(self.rng.randint(earliest, latest), self.rng.randrange(0, 60, 5)), tzinfo=LONDON)

    def pick(self, weights: dict[str, float]) -> str:
        names = list(weights)
        return self.rng.choices(names, weights=[weights[n] for n in names])[0]

    def working_day(self, day: dt.date) -> dt.date:
        return day if self.cal.is_working_day(day) else self.cal.next_working_day(day)

    def case_events(self, items: list[Event], stop: dt.datetime | None) -> None:
        """A case's events in time order; nothing after the case ends or the year does."""
        items.sort(key=lambda e: (e.at, e.order))
        limit = min(stop, self.end) if stop else self.end
        self.events.extend(e for e in items if e.at < limit or (stop is not None and e.at == stop and e.at < self.end))

    def event(self, at: dt.datetime, case_ref: str, trigger: str, **kw: Any) -> Event:
        self.order += 1
        return Event(at=at.astimezone(dt.timezone.utc), order=self.order, authority=self.s.name,
                     case_ref=case_ref, trigger=trigger, **kw)

    # -- children looked after -------------------------------------------------------------------

    def children(self) -> None:
        span = (self.start - self.warm).days
        year_days = (self.end - self.start).days
        became = [self.warm.date() + dt.timedelta(days=self.rng.randrange(span)) for _ in range(self.n_children)]
        became += [self.start.date() + dt.timedelta(days=self.rng.randrange(year_days - 21)) for _ in range(self.entries)]
        leaving = set(self.rng.sample(range(len(became)), min(self.exits, len(became))))
        for i, b in enumerate(became):
            ceased = None
            if i in leaving:
                first = max(self.start.date(), b + dt.timedelta(days=21))
                if first < self.end.date():
                    ceased = self.at(first + dt.timedelta(days=self.rng.randrange(max(1, (self.end.date() - first).days))))
            self.child(i, b, ceased)

    def child(self, i: int, became: dt.date, ceased: dt.datetime | None) -> None:
        ref = f"{self.prefix}-CLA-{i:06d}"
        iro = f"iro-{self.rng.randrange(self.iros) + 1:02d}"
        team = f"team-{self.rng.randrange(self.teams) + 1:02d}"
        sw, tm = f"sw-{team}", f"tm-{team}"
        opened = self.at(self.working_day(became + dt.timedelta(days=self.rng.randint(0, 2))))
        # the review dates first (each due date follows from the last review held)
        reviews: list[tuple[dt.date, bool, dt.date]] = []
        due = self.due("cla_review", "first_review", became)
        while True:
            late = self.rng.random() < self.rates.review_late
            held = self.wd(due, self.rng.randint(1, 20)) if late else self.wd(due, -self.rng.randint(0, 8))
            if ceased is not None and due >= ceased.date():
                break
            reviews.append((held, late, due))
            if dt.datetime.combine(held, dt.time(), tzinfo=LONDON) >= self.end:
                break   # the first review after the year: only its preparation falls in the year
            if ceased is not None and held >= ceased.date():
                ceased = self.at(held + dt.timedelta(days=self.rng.randint(1, 3)))
            due = self.due("cla_review", "second_review" if len(reviews) == 1 else "subsequent_review", held)
        next_due = due

        ev: list[Event] = []
        iro_kw = dict(role="iro", actor=iro)
        planned = lambda k: (reviews[k][0] if k < len(reviews) else next_due - dt.timedelta(days=5)).isoformat()  # noqa: E731
        ev.append(self.event(opened, ref, "open", workflow="cla_review", actor="business-support",
                             data={"became_looked_after": became.isoformat(), "next_review_on": planned(0)},
                             child_ref=f"C{i:06d}", assigned_to=iro, team=team))
        not_before = opened + dt.timedelta(minutes=30)

        def before(day: dt.date) -> dt.datetime:
            return max(self.at(day), not_before)

        if self.has("cla_review", "notification_recorded"):        # Dudley's first-review chart
            ev.append(self.event(before(self.wd(became, 1)), ref, "notification_recorded", role="business_support", actor="business-support"))
            ev.append(self.event(before(self.wd(became, 3)), ref, "iro_allocated", role="iro_manager", actor="iro-manager"))
            ev.append(self.event(before(self.wd(became, self.rng.randint(8, 18))), ref, "pep_completed", role="social_worker", actor=sw))
        for k, (held, late, due) in enumerate(reviews):
            ev.extend(self.before_review(ref, held, before, iro, sw))
            data: dict[str, Any] = {"next_review_on": planned(k + 1)}
            if k == 1:
                data["permanence_plan_ratified"] = self.rng.random() < 0.9
            if late:
                data["lateness_reason"] = self.pick(self.s.lateness_reasons)
            h = self.at(held, 10, 14)
            ev.append(self.event(h, ref, "review_held", data=data, **iro_kw))
            not_before = h + dt.timedelta(minutes=30)
            if data.get("permanence_plan_ratified") is False:
                ev.append(self.event(self.at(held + dt.timedelta(days=self.rng.randint(20, 60))), ref, "permanence_ratified", **iro_kw))
            ev.extend(self.after_review(ref, held, iro, sw, tm))
            midway = "midway_review_before_second" if k == 0 else "midway_review"
            mid = self.due("cla_review", midway, held) - dt.timedelta(days=self.rng.randint(1, 10))
            if k + 1 == len(reviews) or mid < reviews[k + 1][0] - dt.timedelta(days=30):
                ev.append(self.event(self.at(mid), ref, "midway_review_held", **iro_kw))
            self.review_slots.append((h, ceased or self.end, ref, {"iro": iro, "sw": sw, "tm": tm}))
        if ceased is not None:
            ev.append(self.event(ceased, ref, "ceased_looked_after", role="social_worker", actor=sw,
                                 data={"ceased_reason": self.pick(CEASED_REASONS)}))
        self.case_events(ev, ceased)

    def before_review(self, ref: str, held: dt.date, before, iro: str, sw: str) -> list[Event]:
        r = self.rng
        ev = [self.event(before(self.wd(held, -r.randint(12, 15))), ref, "invitations_sent", role="business_support", actor="business-support"),
              self.event(before(self.wd(held, -r.randint(6, 9))), ref, "iro_visit", role="iro", actor=iro),
              self.event(before(self.wd(held, -r.randint(6, 9))), ref, "report_filed", role="social_worker", actor=sw)]
        if self.has("cla_review", "consultation_held"):
            ev.append(self.event(before(self.wd(held, -r.randint(16, 18))), ref, "consultation_held", role="iro", actor=iro))
        return ev

    def after_review(self, ref: str, held: dt.date, iro: str, sw: str, tm: str) -> list[Event]:
        r = self.rng
        recorded = self.wd(held, r.randint(1, 3))
        ev = [self.event(self.at(recorded), ref, "decisions_recorded", role="iro", actor=iro)]
        answer = r.random()
        if answer < 0.90:
            agreed = self.wd(recorded, r.randint(1, 3))
            ev.append(self.event(self.at(agreed), ref, "tm_agreed", role="team_manager", actor=tm))
        elif answer < 0.94:
            disagreed = self.wd(recorded, r.randint(1, 3))
            ev.append(self.event(self.at(disagreed), ref, "tm_disagreed", role="team_manager", actor=tm))
            agreed = self.wd(disagreed, r.randint(1, 4))
            ev.append(self.event(self.at(agreed), ref, "disagreement_resolved", role="iro", actor=iro))
        else:
            # no answer: the team manager's deadline expires and the decisions stand (a timer)
            agreed = self.due("cla_review", "team_manager_comments", recorded)
        ev.append(self.event(self.at(self.wd(agreed, r.randint(1, 8))), ref, "care_plan_updated", role="social_worker", actor=sw))
        ev.append(self.event(self.at(self.wd(held, r.randint(5, 15))), ref, "record_distributed", role="business_support", actor="business-support"))
        if self.has("cla_review", "monitoring_form_completed"):
            ev.append(self.event(self.at(self.wd(held, r.randint(1, 4))), ref, "monitoring_form_completed", role="business_support", actor="business-support"))
        if self.has("cla_review", "rag_rated"):          # Shropshire: a RAG form after every review
            rated = self.wd(held, r.randint(1, 4))
            ev.append(self.event(self.at(rated), ref, "rag_rated", role="iro", actor=iro,
                                 data={"rag_rating": self.pick({"green": 70, "amber": 30}), "rag_reasons": "synthetic"}))
            ev.append(self.event(self.at(self.wd(rated, r.randint(1, 4))), ref, "rag_responded", role="team_manager", actor=tm,
                                 data={"rag_response": "synthetic"}))
        return ev

    # -- disputes --------------------------------------------------------------------------------

    def disputes(self) -> None:
        """Disputes are raised a few days after a review in the year, on a child still in care."""
        slots = [s for s in self.review_slots if s[0] >= self.start and s[0] + dt.timedelta(days=14) < s[1]]
        slots.sort(key=lambda s: (s[0], s[2]))
        if not slots:
            return
        # more disputes than reviews (a small run): some children have more than one
        chosen = self.rng.sample(slots, self.n_drps) if self.n_drps <= len(slots) else self.rng.choices(slots, k=self.n_drps)
        chosen.sort(key=lambda s: (s[0], s[2]))
        for n, (held, _ceased, ref, people) in enumerate(chosen):
            theme = self.pick(self.s.drp_themes)
            token = f"{self.prefix}-drp-{n}"
            if self.has("cla_review", "rag_rated"):
                # Shropshire: a red RAG rating opens the dispute at stage 1 (replacing the form's green or amber)
                raised = self.at(self.wd(held.astimezone(LONDON).date(), 5), 17, 17)
                ev = [self.event(raised, ref, "rag_rated", role="iro", actor=people["iro"], starts=token,
                                 data={"rag_rating": "red", "rag_reasons": "synthetic", "rag_theme": theme})]
                stage = "stage_1"
            else:
                raised = self.at(self.wd(held.astimezone(LONDON).date(), self.rng.randint(2, 6)))
                ev = [self.event(raised, ref, "dispute_raised", role="iro", actor=people["iro"], starts=token,
                                 data={"dispute_theme": theme, "dispute_concern": f"Synthetic concern {n}"})]
                stage = "informal"
            self.events.extend(e for e in ev if e.at < self.end)
            self.dispute(token, raised, stage, people["iro"])

    def dispute(self, token: str, raised: dt.datetime, stage: str, iro: str) -> None:
        r = self.rng
        ev: list[Event] = []
        day = raised.astimezone(LONDON).date()
        kw = dict(role="iro", actor=iro, token_case=True)
        if stage == "informal" and self.has("drp", "informal_resolution_recorded"):   # Croydon: recorded first
            day = self.wd(day, r.randint(1, 2))
            ev.append(self.event(self.at(day), token, "informal_resolution_recorded",
                                 data={"informal_resolution": "synthetic discussion"}, **kw))
        following = {"informal": "stage_1", "stage_1": "stage_2", "stage_2": "stage_3"}
        rates = dict(zip(following, self.rates.escalation))
        while True:
            # every decision within 4 working days of entering the stage: before its 5-day response
            day = self.wd(day, r.randint(1, 4) if not ev or ev[-1].trigger != "informal_resolution_recorded" else r.randint(1, 2))
            if stage in following and r.random() < rates[stage]:
                ev.append(self.event(self.at(day), token, "escalate", **kw))
                stage = following[stage]
                continue
            ev.append(self.event(self.at(day), token, "resolve", data={"outcome": self.pick(DRP_OUTCOMES)}, **kw))
            break
        self.case_events(ev, None)

    # -- child protection --------------------------------------------------------------------------

    def child_protection(self) -> None:
        span = (self.start - self.warm).days
        for i in range(2 * self.n_cp):
            base = self.warm if i < self.n_cp else self.start
            strategy = self.working_day(base.date() + dt.timedelta(days=self.rng.randrange(span)))
            self.cp_case(i, strategy)

    def cp_case(self, i: int, strategy: dt.date) -> None:
        r, s = self.rng, self.s
        ref = f"{self.prefix}-CP-{i:06d}"
        chair = f"chair-{r.randrange(max(1, self.iros)) + 1:02d}"
        team = f"team-{r.randrange(self.teams) + 1:02d}"
        sw, admin = f"sw-{team}", "business-support"
        rag = self.has("child_protection", "rag_rated")
        ev: list[Event] = []
        opened = self.at(strategy, 9, 16)
        ev.append(self.event(opened, ref, "open", workflow="child_protection", actor=admin,
                             data={"strategy_discussion_on": strategy.isoformat()},
                             child_ref=f"P{i:06d}", assigned_to=chair, team=team))
        late = r.random() < s.icpc_late_rate
        conference = self.wd(strategy, r.randint(16, 25) if late else r.randint(8, 15))
        ev.append(self.event(max(self.at(self.wd(strategy, 1)), opened), ref, "convening_form_sent", role="social_worker", actor=sw))
        ev.append(self.event(self.at(self.wd(strategy, 2)), ref, "conference_scheduled", role="business_support", actor=admin,
                             data={"conference_date": conference.isoformat()}))
        ev.append(self.event(self.at(self.wd(strategy, 3)), ref, "invitations_sent", role="business_support", actor=admin))
        ev.extend(self.quoracy(ref, conference, admin, sw))
        plan = r.random() < s.icpc_plan_rate
        data: dict[str, Any] = {"outcome": "plan" if plan else "no_plan", "quorate": True}
        if plan:
            data["category"] = self.pick(CATEGORIES)
        if late:
            data["lateness_reason"] = self.pick(s.conference_lateness)
        ev.append(self.event(self.at(conference, 10, 14), ref, "icpc_held", role="conference_chair", actor=chair, data=data))
        ev.extend(self.after_conference(ref, conference, chair, admin, rag, final=not plan))
        if plan:
            ev.append(self.event(self.at(self.wd(conference, r.randint(2, 8))), ref, "core_group_held", role="social_worker", actor=sw))
            ev.append(self.event(self.at(conference + dt.timedelta(days=r.randint(10, 25))), ref, "chair_follow_up_done",
                                 role="conference_chair", actor=chair))
            ends_after = dt.timedelta(days=30.4 * r.expovariate(1 / s.plan_months_mean))
            last, held_count = conference, 1
            due = self.due("child_protection", "first_rcpc", conference)
            designated = ("designated_conference" in self.wf["child_protection"].spec.deadlines)
            while dt.datetime.combine(last, dt.time(), tzinfo=LONDON) < self.end:
                late = r.random() < s.rcpc_late_rate
                held = self.wd(due, r.randint(1, 10)) if late else self.wd(due, -r.randint(0, 10))
                ev.append(self.event(self.at(self.wd(last, r.randint(1, 3))), ref, "conference_scheduled", role="business_support",
                                     actor=admin, data={"conference_date": held.isoformat()}))
                ev.append(self.event(self.at(self.wd(held, -21)), ref, "invite_list_requested", role="business_support", actor=admin))
                ev.append(self.event(self.at(self.wd(held, -16)), ref, "invite_list_received", role="business_support", actor=admin))
                ev.append(self.event(self.at(self.wd(held, -14)), ref, "invitations_sent", role="business_support", actor=admin))
                ev.extend(self.quoracy(ref, held, admin, sw))
                ending = held - conference >= ends_after
                data = {"outcome": "end_plan" if ending else "continue", "quorate": True}
                if late:
                    data["lateness_reason"] = self.pick(s.conference_lateness)
                trigger = "rcpc_held"
                if designated and held_count == 3:      # Gateshead: the 15-month conference, another chair
                    trigger, data["chair"] = "designated_conference_held", "designated chair"
                ev.append(self.event(self.at(held, 10, 14), ref, trigger, role="conference_chair", actor=chair, data=data))
                ev.extend(self.after_conference(ref, held, chair, admin, rag, final=ending))
                held_count += 1
                if ending:
                    break
                last, due = held, self.due("child_protection", "next_rcpc", held)
        self.case_events(ev, None)

    def quoracy(self, ref: str, conference: dt.date, admin: str, sw: str) -> list[Event]:
        ev = [self.event(self.at(self.wd(conference, -5)), ref, "quoracy_checked", role="business_support", actor=admin, data={"quorate": True}),
              self.event(self.at(self.wd(conference, -4), 9, 12), ref, "quoracy_rechecked", role="business_support", actor=admin, data={"quorate": True}),
              self.event(self.at(self.wd(conference, -2)), ref, "go_ahead_decided", role="service_manager", actor="service-manager", data={"proceed": True})]
        if self.has("child_protection", "report_to_chair"):       # Dudley: the report 3 days before
            ev.append(self.event(self.at(self.wd(conference, -4), 13, 16), ref, "report_to_chair", role="social_worker", actor=sw))
        return ev

    def after_conference(self, ref: str, held: dt.date, chair: str, admin: str, rag: bool, final: bool) -> list[Event]:
        r = self.rng
        ev = []
        if rag:     # Shropshire: a RAG form after every conference, answered by the team manager
            rated = self.wd(held, r.randint(1, 3))
            ev.append(self.event(self.at(rated), ref, "rag_rated", role="conference_chair", actor=chair,
                                 data={"rag_rating": self.pick({"green": 70, "amber": 30}), "rag_reasons": "synthetic"}))
            ev.append(self.event(self.at(self.wd(rated, r.randint(1, 3))), ref, "rag_responded", role="team_manager", actor="tm",
                                 data={"rag_response": "synthetic"}))
        ev.append(self.event(self.at(self.wd(held, r.randint(8, 15))), ref, "minutes_shared", role="business_support", actor=admin))
        return ev


def generate(shape: AuthorityShape, workflows: dict, calendar: WorkingCalendar, year: int, seed: int, *,
             children: int | None = None, cp_cases: int | None = None, drps: int | None = None,
             late_rate: float | None = None, escalation_rate: float | None = None) -> Plan:
    """Every event of `shape`'s year (and its warm-up), in time order. Sizes and rates default to
    the authority's report; `children` scales entries and exits with it."""
    n = shape.children_in_care if children is None else children
    factor = n / shape.children_in_care
    rates = Rates(review_late=shape.review_late_rate if late_rate is None else late_rate,
                  escalation=shape.escalation_rates if escalation_rate is None else (escalation_rate,) * 3)
    rng = random.Random(f"{shape.name}:{year}:{seed}")
    g = _Generator(shape, workflows, calendar, year, rng,
                   children=n, entries=round(shape.entries_per_year * factor), exits=round(shape.exits_per_year * factor),
                   cp_cases=shape.icpcs_per_year if cp_cases is None else cp_cases,
                   drps=shape.drps_per_year if drps is None else drps, rates=rates)
    g.children()
    g.disputes()
    g.child_protection()
    g.events.sort(key=lambda e: (e.at, e.order))
    return Plan(shape.name, g.start, g.end, g.events, rates, n, g.n_cp, g.n_drps)
