"""The KPI scorecard on small histories written through the real Engine, with every figure
worked out by hand below (England and Wales calendar; the period is the 2025/26 financial
year, 1 April 2025 to 31 March 2026)."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.monitor.scorecard import Period, compute
from engine.runtime.engine import Engine
from engine.time.calendar import WorkingCalendar
from engine.time.clock import SimulatedClock
from persistence.store import Store

from .conftest import at

FY = Period(dt.date(2025, 4, 1), dt.date(2026, 3, 31))
LATE_CLA = {"lateness_reason": "calculation_error"}


@pytest.fixture
def eng(store, registry) -> Engine:
    return Engine(store, registry, WorkingCalendar(), SimulatedClock(at("2026-06-01")))


def held(e, ref, day, hour=10, **data):
    data.setdefault("next_review_on", "2030-01-01")
    e.fire(ref, "review_held", at=at(day, hour), role="iro", data=data)


@pytest.fixture(scope="module")
def history(tmp_path_factory, registry):
    """Built once for the module on its own SQLite file (the scorecard only reads)."""
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('scorecard') / 'kpi.db'}")
    yield _write_history(Engine(store, registry, WorkingCalendar(), SimulatedClock(at("2026-06-01"))))
    store.close()


def _write_history(e: Engine) -> Engine:
    # -- CLA reviews --------------------------------------------------------------------------
    # A and B became looked after on Mon 2 Jun 2025 (day 0). June 2025 has no bank holiday:
    # working days 3-6 Jun are 1-4, 9-13 are 5-9, 16-20 are 10-14, 23-27 are 15-19, Mon 30 Jun
    # is the 20th: the first review is due on 30 Jun.
    for ref, child in (("CLA-A", "K-A"), ("CLA-B", "K-B"), ("CLA-D", "K-D")):
        e.open_case("cla_review", ref, at=at("2025-06-02"), data={"became_looked_after": "2025-06-02"},
                    child_ref=child, assigned_to="iro.a" if ref != "CLA-D" else None)
    held(e, "CLA-A", "2025-06-30", 16)                       # on its due day: in timescale
    held(e, "CLA-B", "2025-07-01", 9, **LATE_CLA)            # the next day: late
    held(e, "CLA-D", "2025-06-30")                           # in timescale; D then ceases
    e.fire("CLA-D", "ceased_looked_after", at=at("2025-08-01"))
    # A's second review is due 3 months after 30 Jun: 30 Sep; held that day (in timescale). Its
    # third is due 6 months later, Mon 30 Mar 2026; held that day (in timescale).
    held(e, "CLA-A", "2025-09-30", permanence_plan_ratified=True)
    held(e, "CLA-A", "2026-03-30")
    # -- ICPCs: strategy discussion Mon 14 Apr 2025 (day 0); skip Good Friday 18 Apr, Easter
    # Monday 21 Apr and the May bank holiday 5 May: 15-17 Apr are 1-3, 22-25 Apr 4-7,
    # 28 Apr-2 May 8-12, 6-8 May 13-15: due Thu 8 May.
    for ref, child in (("CP-1", "K-P"), ("CP-2", "K-Q"), ("CP-3", "K-R")):
        e.open_case("child_protection", ref, at=at("2025-04-14"), data={"strategy_discussion_on": "2025-04-14"},
                    child_ref=child, assigned_to={"CP-1": "iro.a", "CP-2": "iro.b"}.get(ref))
    plan = {"outcome": "plan", "category": "neglect", "quorate": True}
    e.fire("CP-1", "icpc_held", at=at("2025-05-08"), data=plan)                            # in timescale
    e.fire("CP-2", "icpc_held", at=at("2025-05-09"),
           data={**plan, "lateness_reason": "key_person_unable_to_attend"})                # a day late
    e.fire("CP-3", "enquiry_concluded", at=at("2025-05-01"))                               # no conference
    # -- RCPCs: CP-1's first is due 3 months after 8 May: Fri 8 Aug (held that day, in time);
    # the next 6 months later, Sun 8 Feb 2026: held Mon 9 Feb, late. CP-2's first is due
    # Sat 9 Aug; held Fri 8 Aug (in time), ending the plan.
    e.fire("CP-1", "rcpc_held", at=at("2025-08-08"), data={"outcome": "continue", "quorate": True})
    e.fire("CP-1", "rcpc_held", at=at("2026-02-09"),
           data={"outcome": "continue", "quorate": True, "lateness_reason": "not_quorate"})
    e.fire("CP-2", "rcpc_held", at=at("2025-08-08"), data={"outcome": "end_plan", "quorate": True})
    # -- long plans: CP-4's began 20 Jan 2023 (38 months at 31 Mar 2026); CP-5's on 31 Dec 2024,
    # exactly 15 months before 31 Mar 2026; CP-6's a day later (not yet 15 months). CP-4 is the
    # same child as CP-1, so CP-1 (begun in the period) is that child's second plan.
    for ref, child, day in (("CP-4", "K-P", "2023-01-20"), ("CP-5", "K-S", "2024-12-31"), ("CP-6", "K-T", "2025-01-01")):
        e.open_case("child_protection", ref, at=at(day, 9), data={"strategy_discussion_on": day}, child_ref=child,
                    assigned_to="iro.b" if ref == "CP-4" else None)
        e.fire(ref, "icpc_held", at=at(day, 15), data=plan)
    # -- disputes ---------------------------------------------------------------------------
    # D1 and D2 raised Mon 2 Jun 2025 and escalated on Tue 3 Jun (day 0 of the formal 20
    # working days: 4-6 Jun 1-3, 9-13 4-8, 16-20 9-13, 23-27 14-18, 30 Jun 19, Tue 1 Jul 20).
    drp = {"concern": "x"}
    e.open_case("drp", "D1", at=at("2025-06-02"), data={**drp, "theme": "safety"})
    e.fire("D1", "escalate", at=at("2025-06-03"), role="iro")
    e.fire("D1", "resolve", at=at("2025-07-01"), role="iro", data={"outcome": "agreed_action"})       # formal: 20th day
    e.open_case("drp", "D2", at=at("2025-06-02"), data={**drp, "theme": "drift_and_delay"})
    e.fire("D2", "escalate", at=at("2025-06-03"), role="iro")
    e.fire("D2", "escalate", at=at("2025-06-04"), role="iro")
    e.fire("D2", "resolve", at=at("2025-07-02"), role="iro", data={"outcome": "care_plan_changed"})   # the 21st: late
    e.open_case("drp", "D3", at=at("2025-07-01"), data={**drp, "theme": "care_planning"})
    e.fire("D3", "resolve", at=at("2025-07-03"), role="iro", data={"outcome": "resolved_at_meeting"})  # informal
    e.open_case("drp", "D4", at=at("2025-08-01"), data={**drp, "theme": "practice"})
    e.fire("D4", "withdraw", at=at("2025-08-04"), role="iro")
    e.open_case("drp", "D5", at=at("2025-09-01"), data={**drp, "theme": "practice"})                  # still open
    # out of the period: raised and resolved in March 2025
    e.open_case("drp", "D0", at=at("2025-03-03"), data={**drp, "theme": "safety"})
    e.fire("D0", "resolve", at=at("2025-03-04"), role="iro", data={"outcome": "agreed_action"})
    return e


def test_cla_reviews_in_timescale_counts_the_due_day_in_and_the_next_day_out(history):
    card = compute(history, FY)
    k = card.kpi("cla_reviews_in_timescale")
    # held in the period: A 30 Jun, 30 Sep, 30 Mar (all on the due day), D 30 Jun, B 1 Jul (late)
    assert (k.value.numerator, k.value.denominator, k.value.value) == (4, 5, 80.0)
    by_month = {p.label: (p.numerator, p.denominator) for p in k.monthly}
    assert by_month["Jun 2025"] == (2, 2)
    assert by_month["Jul 2025"] == (0, 1)
    assert by_month["Sep 2025"] == (1, 1)
    assert by_month["Mar 2026"] == (1, 1)
    assert by_month["Apr 2025"] == (0, 0) and k.monthly[0].value is None
    assert len(k.monthly) == 12


def test_children_at_period_end_whose_reviews_were_all_in_timescale(history):
    k = compute(history, FY).kpi("cla_children_in_timescale")
    # looked after on 31 Mar 2026: A (every review on time) and B (first review late; D ceased)
    assert (k.value.numerator, k.value.denominator) == (1, 2)
    # at the end of June B's first review is due that very day: not late yet (3 of 3); at the
    # end of July it was held a day late (A and D, who ceases on 1 Aug, were on time): 2 of 3
    assert (k.monthly[2].numerator, k.monthly[2].denominator) == (3, 3)
    assert (k.monthly[3].numerator, k.monthly[3].denominator) == (2, 3)


def test_icpcs_within_15_working_days_of_the_strategy_discussion(history):
    k = compute(history, FY).kpi("icpc_in_timescale")
    # CP-1 on 8 May (the 15th working day), CP-2 on 9 May; CP-3 had no conference; CP-4..6 out of period
    assert (k.value.numerator, k.value.denominator) == (1, 2)
    assert (k.monthly[1].numerator, k.monthly[1].denominator) == (1, 2)  # May 2025


def test_rcpcs_in_timescale(history):
    k = compute(history, FY).kpi("rcpc_in_timescale")
    # CP-1 8 Aug (due day), CP-2 8 Aug (a day early), CP-1 9 Feb (due Sun 8 Feb): 2 of 3
    assert (k.value.numerator, k.value.denominator) == (2, 3)
    assert round(k.value.value, 1) == 66.7


def test_lateness_reasons_by_count(history):
    k = compute(history, FY).kpi("lateness_reasons")
    assert k.value.value == 3
    assert {p.label: p.value for p in k.breakdown} == {
        "CLA review: calculation_error": 1, "ICPC: key_person_unable_to_attend": 1, "RCPC: not_quorate": 1}
    assert sum(p.value for p in k.monthly) == 3


def test_disputes_by_stage_theme_and_outcome(history):
    card = compute(history, FY)
    raised = card.kpi("drp_raised")
    assert raised.value.value == 5  # D0 was raised before the period
    b = {p.label: p.value for p in raised.breakdown}
    assert b["stage: informal"] == 3 and b["stage: stage_1"] == 1 and b["stage: stage_2"] == 1
    assert b["theme: practice"] == 2 and b["theme: safety"] == 1
    assert b["outcome: agreed_action"] == 1 and b["outcome: withdrawn"] == 1 and b["outcome: open"] == 1
    # raised 2 Jun, resolved 1 Jul: 21 working days (3-6 Jun 4, 9-27 Jun 15, 30 Jun, 1 Jul);
    # D2 22; D3 raised Tue 1 Jul, resolved Thu 3 Jul: 2. Median of 2, 21, 22 is 21.
    median = card.kpi("drp_median_days")
    assert median.value.value == 21.0 and median.value.denominator == 3
    within = card.kpi("drp_formal_within_20wd")
    assert (within.value.numerator, within.value.denominator) == (1, 2)  # D1 on its 20th day; D2 the 21st


def test_long_plans_and_second_plans(history):
    card = compute(history, FY)
    at15 = card.kpi("cp_plans_15_months")
    at24 = card.kpi("cp_plans_2_years")
    # on 31 Mar 2026: CP-4 (38 months) and CP-5 (begun 31 Dec 2024: exactly 15 months); CP-6 begun
    # 1 Jan 2025 is a day short; CP-1 (May 2025) is young; CP-2's plan ended
    assert at15.value.value == 2
    assert at24.value.value == 1
    assert at15.monthly[0].value == 1 and at24.monthly[0].value == 1  # 30 Apr 2025: CP-4 only
    assert at15.monthly[-2].value == 1  # 28 Feb 2026: CP-5 is 14 months
    second = card.kpi("cp_second_plans")
    # plans begun in the period: CP-1 (child K-P, who had CP-4's plan) and CP-2: 1 of 2
    assert (second.value.numerator, second.value.denominator) == (1, 2)


def test_caseload_per_iro(history):
    k = compute(history, FY).kpi("caseload_per_iro")
    loads = {p.label.split(":")[0]: (p.value, p.numerator, p.denominator) for p in k.breakdown}
    # iro.a: A and B (CLA) and CP-1; iro.b: CP-2 (plan ended, minutes not yet shared) and CP-4;
    # unassigned: CP-5, CP-6 (D ceased, CP-3 closed, disputes are not caseload)
    assert loads == {"iro.a": (3, 2, 1), "iro.b": (2, 0, 2), "(unassigned)": (2, 0, 2)}
    assert k.value.value == 0


def test_caseload_against_the_handbooks_50_to_70(eng):
    for i in range(71):
        eng.open_case("cla_review", f"X-{i}", at=at("2025-04-01"), data={"became_looked_after": "2025-04-01"},
                      assigned_to="iro.over" if i < 71 else None)
    for i in range(70):
        eng.open_case("cla_review", f"Y-{i}", at=at("2025-04-01"), data={"became_looked_after": "2025-04-01"},
                      assigned_to="iro.within")
    k = compute(eng, FY).kpi("caseload_per_iro")
    labels = sorted(p.label for p in k.breakdown)
    assert labels == ["iro.over: 71 CLA + 0 CP (over 70)", "iro.within: 70 CLA + 0 CP (within 50-70)"]
    assert (k.value.value, k.value.denominator) == (1, 2)


def test_default_period_is_the_last_financial_year():
    assert Period.last_financial_year(dt.date(2026, 6, 1)) == FY
    assert Period.last_financial_year(dt.date(2026, 3, 31)) == Period(dt.date(2024, 4, 1), dt.date(2025, 3, 31))
    assert [m.label for m in FY.months()][:2] == ["Apr 2025", "May 2025"]


def test_authority_filter_leaves_other_authorities_out(eng, store, registry):
    eng.open_case("drp", "N1", at=at("2025-06-02"), data={"theme": "safety", "concern": "x"})
    sunderland = Engine(store, registry, WorkingCalendar(), SimulatedClock(at("2026-06-01")), authority="sunderland")
    sunderland.open_case("drp", "S1", at=at("2025-06-02"), data={"theme": "safety", "concern": "x"})
    assert compute(eng, FY, "sunderland").kpi("drp_raised").value.value == 1
    assert compute(eng, FY).kpi("drp_raised").value.value == 2


@pytest.mark.postgres
def test_the_same_figures_on_postgresql(pg_url, registry):
    store = Store.open(pg_url)
    try:
        card = compute(_write_history(Engine(store, registry, WorkingCalendar(), SimulatedClock(at("2026-06-01")))), FY)
    finally:
        store.close()
    figures = {k.key: (k.value.numerator, k.value.denominator, k.value.value) for k in card.kpis}
    assert figures["cla_reviews_in_timescale"] == (4, 5, 80.0)
    assert figures["cla_children_in_timescale"][:2] == (1, 2)
    assert figures["icpc_in_timescale"][:2] == (1, 2)
    assert figures["rcpc_in_timescale"][:2] == (2, 3)
    assert figures["lateness_reasons"][2] == 3
    assert figures["drp_raised"][2] == 5 and figures["drp_median_days"][2] == 21.0
    assert figures["cp_plans_15_months"][2] == 2 and figures["cp_second_plans"][:2] == (1, 2)
    assert {p.label for p in card.kpi("lateness_reasons").breakdown} == {
        "CLA review: calculation_error", "ICPC: key_person_unable_to_attend", "RCPC: not_quorate"}
