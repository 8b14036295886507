"""Child protection conferences through the engine, every date worked out by hand.

England and Wales calendar. The strategy discussion is day 0 for the statutory 15 working days;
the convening steps count it as Day 1 (Dudley appendix 1: "By Day 3" is the 2nd working day after
it). "N working days before" counts back from the conference date, which is not counted.
Bank holidays used below - 2026: Good Friday 3 Apr, Easter Monday 6 Apr, early May 4 May,
Christmas Fri 25 Dec, Boxing Day substitute Mon 28 Dec; 2027: New Year Fri 1 Jan, Good Friday
26 Mar, Easter Monday 29 Mar, early May Mon 3 May.
"""

from __future__ import annotations

import pytest

from engine.errors import ConditionNotMet, InvalidCaseData, InvalidTrigger
from engine.language.profiles import load_profile
from engine.language.registry import Registry
from engine.runtime.engine import Engine
from persistence.models import TransitionRow

from .conftest import at, d

PLAN = {"outcome": "plan", "category": "neglect", "quorate": True}
CONTINUE = {"outcome": "continue", "quorate": True}


@pytest.fixture
def gateshead(store, clock) -> Engine:
    """An engine under Gateshead's profile: the 15-month designated conference is its own."""
    return Engine(store, Registry.load(authority="gateshead"), load_profile("gateshead").calendar, clock,
                  authority="gateshead")


def open_cp(engine, ref="CP-1", discussed="2026-12-18"):
    return engine.open_case("child_protection", ref, at=at(discussed, 14), data={"strategy_discussion_on": discussed}, actor="sw.1")


def open_dues(view) -> dict:
    return {x.name: x.due_on for x in view.open_deadlines}


def statuses(view, name) -> list:
    return [x.status for x in sorted(view.deadlines, key=lambda x: x.opened_at) if x.name == name]


def test_icpc_across_christmas_with_the_convening_timeline(engine):
    view = open_cp(engine, discussed="2026-12-18")  # Fri 18 Dec 2026
    assert view.state == "enquiry"
    assert open_dues(view) == {
        # 21, 22, 23, 24 (4), [25 Christmas, 28 Boxing Day substitute], 29, 30, 31 (7), [1 Jan],
        # 4, 5, 6, 7, 8 (12), 11, 12, 13 Jan (15)
        "icpc": d("2027-01-13"),
        # Day 1 = Fri 18 Dec, Day 2 = Mon 21, Day 3 = Tue 22, Day 4 = Wed 23, Day 5 = Thu 24 Dec
        "convening_form": d("2026-12-22"),
        "date_and_chair": d("2026-12-23"),
        "icpc_invitations": d("2026-12-24"),
    }
    icpc = view.deadline("icpc")
    assert (icpc.anchor, icpc.anchor_on, icpc.anchor_is_day_one) == ("data.strategy_discussion_on", d("2026-12-18"), False)
    assert "Working Together" in icpc.source
    assert view.deadline("convening_form").anchor_is_day_one is True

    engine.fire("CP-1", "convening_form_sent", at=at("2026-12-21"), role="social_worker")
    engine.fire("CP-1", "conference_scheduled", at=at("2026-12-23"), role="business_support",
                data={"conference_date": "2027-01-12", "chair": "J. Chair"})
    view = engine.case("CP-1")
    assert view.deadline("date_and_chair", status=None).status == "met"
    dues = open_dues(view)
    # counted back from Tue 12 Jan 2027: 11 (1), 8 (2), 7 (3), 6 (4)
    assert dues["quoracy_check"] == d("2027-01-06")
    assert dues["quoracy_recheck"] == d("2027-01-07")
    assert dues["go_ahead_decision"] == d("2027-01-11")
    assert not any(name.startswith("rcpc_") for name in dues)  # the review timeline is not for an ICPC

    engine.fire("CP-1", "invitations_sent", at=at("2026-12-24"), role="business_support")
    engine.fire("CP-1", "quoracy_checked", at=at("2027-01-06"), data={"quorate": False})
    engine.fire("CP-1", "quoracy_rechecked", at=at("2027-01-07"), data={"quorate": True})
    engine.fire("CP-1", "go_ahead_decided", at=at("2027-01-11"), role="service_manager", data={"proceed": True})
    view = engine.case("CP-1")
    for name in ("convening_form", "icpc_invitations", "quoracy_check", "quoracy_recheck", "go_ahead_decision"):
        assert view.deadline(name, status=None).status == "met", name
    assert open_dues(view) == {"icpc": d("2027-01-13")}

    result = engine.fire("CP-1", "icpc_held", at=at("2027-01-12"), role="conference_chair", data=PLAN)
    assert (result.from_state, result.to_state) == ("enquiry", "child_protection_plan")
    view = engine.case("CP-1")
    assert view.deadline("icpc", status=None).status == "met"
    assert view.data["conferences_held"] == 1 and view.data["category"] == "neglect"
    # 14 working days from the discussion to the conference (the DfE timeliness measure)
    assert engine.calendar.working_days_between(d("2026-12-18"), d("2027-01-12")) == 14
    assert open_dues(view) == {
        # 13, 14, 15 (3), 18-22 (8), 25, 26 (10)
        "core_group": d("2027-01-26"),
        "chair_follow_up": d("2027-02-12"),
        "first_rcpc": d("2027-04-12"),
        # 13-15 (3), 18-22 (8), 25-29 (13), 1-5 Feb (18), 8, 9 (20)
        "minutes_shared": d("2027-02-09"),
        "plan_24_months": d("2029-01-12"),
    }


def test_rcpc_preparation_timeline_across_easter_and_an_inquorate_conference(engine):
    open_cp(engine, discussed="2027-01-04")
    engine.fire("CP-1", "icpc_held", at=at("2027-01-08"), role="conference_chair", data=PLAN)
    view = engine.case("CP-1")
    # Fri 8 Jan: 11-15 (5), 18-22 (10)
    assert view.deadline("core_group").due_on == d("2027-01-22")
    assert view.deadline("first_rcpc").due_on == d("2027-04-08")
    # 11-15 (5), 18-22 (10), 25-29 (15), 1-5 Feb (20)
    assert view.deadline("minutes_shared").due_on == d("2027-02-05")
    engine.fire("CP-1", "conference_scheduled", at=at("2027-01-11"), data={"conference_date": "2027-04-08"})
    engine.fire("CP-1", "core_group_held", at=at("2027-01-20"), role="social_worker")
    engine.fire("CP-1", "minutes_shared", at=at("2027-02-04"), role="business_support")
    engine.fire("CP-1", "chair_follow_up_done", at=at("2027-02-05"), role="conference_chair")

    view = engine.case("CP-1")
    dues = open_dues(view)
    # counted back from Thu 8 Apr 2027 across Easter:
    # 7 (1), 6, 5 (3), 2, 1 (5), 31, 30 Mar (7), [29 Easter Monday, 26 Good Friday], 25, 24, 23, 22 (11),
    # 19, 18, 17, 16, 15 (16), 12, 11, 10, 9 (20)
    assert dues["rcpc_invite_list"] == d("2027-03-09")
    assert dues["rcpc_invite_list_follow_up"] == d("2027-03-16")  # 15th
    assert dues["rcpc_invitations"] == d("2027-03-18")  # 13th
    assert dues["quoracy_check"] == d("2027-04-02")  # 4th
    assert dues["quoracy_recheck"] == d("2027-04-05")  # 3rd
    assert dues["go_ahead_decision"] == d("2027-04-07")  # 1st
    assert "rcpc_go_ahead_discussion" not in dues

    engine.fire("CP-1", "invite_list_requested", at=at("2027-03-09"))
    engine.fire("CP-1", "invite_list_received", at=at("2027-03-17"))  # a day late
    engine.fire("CP-1", "invitations_sent", at=at("2027-03-18"))
    engine.fire("CP-1", "quoracy_checked", at=at("2027-04-02"), data={"quorate": False})
    engine.fire("CP-1", "quoracy_rechecked", at=at("2027-04-05"), data={"quorate": False})
    # still inquorate at the 3-day check: a decision on going ahead, 2 working days before (7, 6 Apr)
    assert engine.case("CP-1").deadline("rcpc_go_ahead_discussion").due_on == d("2027-04-06")
    engine.fire("CP-1", "go_ahead_decided", at=at("2027-04-06"), role="service_manager", data={"proceed": True})
    view = engine.case("CP-1")
    assert [view.deadline(n, status=None).status for n in (
        "rcpc_invite_list", "rcpc_invite_list_follow_up", "rcpc_invitations", "quoracy_check",
        "quoracy_recheck", "rcpc_go_ahead_discussion", "go_ahead_decision")] == [
        "met", "missed", "met", "met", "met", "met", "met"]

    engine.fire("CP-1", "rcpc_held", at=at("2027-04-08"), role="conference_chair",
                data={"outcome": "continue", "quorate": False})
    view = engine.case("CP-1")
    assert view.state == "child_protection_plan"
    assert view.data["conferences_held"] == 2
    assert view.deadline("first_rcpc", status=None).status == "met"
    assert open_dues(view) == {
        "next_rcpc": d("2027-10-08"),
        # the inquorate conference went ahead: a report within 4 working days: 9, 12, 13, 14 Apr
        "inquorate_report": d("2027-04-14"),
        # 9 (1), 12-16 (6), 19-23 (11), 26-30 (16), [3 May], 4, 5, 6, 7 (20)
        "minutes_shared": d("2027-05-07"),
        "plan_24_months": d("2029-01-08"),
    }
    engine.fire("CP-1", "inquorate_report_submitted", at=at("2027-04-15"), role="conference_chair")
    assert engine.case("CP-1").deadline("inquorate_report", status=None).status == "missed"


def test_icpc_rescheduled_and_held_late_needs_a_reason_then_no_plan(engine, store):
    open_cp(engine, discussed="2026-03-23")  # Mon 23 Mar 2026
    view = engine.case("CP-1")
    # 24, 25, 26, 27 (4), 30, 31, 1, 2 Apr (8), [3 Good Friday, 6 Easter Monday], 7-10 (12), 13, 14, 15 (15)
    assert view.deadline("icpc").due_on == d("2026-04-15")
    # Day 1 Mon 23, Day 3 Wed 25, Day 4 Thu 26, Day 5 Fri 27 Mar
    assert (view.deadline("convening_form").due_on, view.deadline("date_and_chair").due_on,
            view.deadline("icpc_invitations").due_on) == (d("2026-03-25"), d("2026-03-26"), d("2026-03-27"))

    engine.fire("CP-1", "conference_scheduled", at=at("2026-03-26"), data={"conference_date": "2026-04-14"})
    # back from Tue 14 Apr: 13 (1), 10, 9, 8 (4) - Easter Monday is not a working day
    assert engine.case("CP-1").deadline("quoracy_check").due_on == d("2026-04-08")
    with pytest.raises(InvalidCaseData) as err:
        engine.fire("CP-1", "conference_rescheduled", at=at("2026-04-09"), data={"conference_date": "2026-04-21"})
    assert "reschedule_reason" in str(err.value)
    engine.fire("CP-1", "conference_rescheduled", at=at("2026-04-09"),
                data={"conference_date": "2026-04-21", "reschedule_reason": "key_person_unable_to_attend"})
    view = engine.case("CP-1")
    # the old check (due 8 Apr, still open) is superseded; back from Tue 21 Apr: 20, 17, 16, 15
    assert statuses(view, "quoracy_check") == ["cancelled", "open"]
    assert view.deadline("quoracy_check").due_on == d("2026-04-15")
    assert view.deadline("quoracy_recheck").due_on == d("2026-04-16")
    assert view.deadline("go_ahead_decision").due_on == d("2026-04-20")
    assert view.deadline("icpc").due_on == d("2026-04-15")  # the statutory date does not move

    before, rows = engine.case("CP-1"), store.count(TransitionRow)
    with pytest.raises(InvalidCaseData) as err:
        engine.fire("CP-1", "icpc_held", at=at("2026-04-21"), role="conference_chair",
                    data={"outcome": "no_plan", "quorate": True})
    assert "lateness_reason" in str(err.value) and "'icpc' was due 2026-04-15" in str(err.value)
    assert engine.case("CP-1") == before and store.count(TransitionRow) == rows

    engine.fire("CP-1", "icpc_held", at=at("2026-04-21"), role="conference_chair",
                data={"outcome": "no_plan", "quorate": True, "lateness_reason": "key_person_unable_to_attend"})
    view = engine.case("CP-1")
    assert view.state == "no_plan"
    assert view.deadline("icpc", status=None).status == "missed"
    # nothing of a plan; only the minutes: 22, 23, 24 (3), 27-30 (7), 1 May (8), [4 May],
    # 5-8 (12), 11-15 (17), 18, 19, 20 (20)
    assert open_dues(view) == {"minutes_shared": d("2026-05-20")}
    engine.fire("CP-1", "minutes_shared", at=at("2026-05-19"), role="business_support")
    view = engine.case("CP-1")
    assert view.state == "closed" and view.closed_at == at("2026-05-19")
    assert view.deadline("minutes_shared", status=None).status == "met"
    assert view.open_deadlines == []


def test_outcomes_and_categories_are_checked_and_a_transfer_closes_everything(engine):
    open_cp(engine, discussed="2026-06-01")
    with pytest.raises(InvalidCaseData) as err:
        engine.fire("CP-1", "icpc_held", at=at("2026-06-17"), data={"outcome": "plan", "quorate": True})
    assert "'category': is required by 'icpc_held'" in str(err.value)
    with pytest.raises(ConditionNotMet) as err:
        engine.fire("CP-1", "icpc_held", at=at("2026-06-17"), data={"outcome": "continue", "quorate": True})
    assert "outcome = 'plan'" in str(err.value) and "outcome = 'no_plan'" in str(err.value)
    with pytest.raises(InvalidCaseData) as err:
        engine.fire("CP-1", "icpc_held", at=at("2026-06-17"), data={**PLAN, "category": "financial"})
    assert "data field 'category': the value is not one of neglect, emotional, physical, sexual" in str(err.value)
    assert "financial" not in str(err.value)  # the rule, never the rejected value
    with pytest.raises(InvalidTrigger):
        engine.fire("CP-1", "rcpc_held", at=at("2026-06-17"), data=CONTINUE)

    engine.fire("CP-1", "icpc_held", at=at("2026-06-17"), data={**PLAN, "category": "physical"})
    engine.fire("CP-1", "case_transferred_out", at=at("2026-07-01"), role="team_manager",
                data={"transferred_to": "Another council"})
    view = engine.case("CP-1")
    assert view.state == "transferred_out" and view.closed_at == at("2026-07-01")
    assert view.open_deadlines == []
    for name in ("core_group", "chair_follow_up", "first_rcpc", "plan_24_months", "minutes_shared"):
        assert view.deadline(name, status=None).status == "cancelled", name


def test_the_base_procedure_has_no_15_month_conference(engine):
    """The designated conference at 15 months is Gateshead's practice (para 17 of its report),
    not a national rule: only the national 2-year flag comes with the base procedure."""
    open_cp(engine, discussed="2026-06-01")
    engine.fire("CP-1", "icpc_held", at=at("2026-06-17"), data=PLAN)
    dues = open_dues(engine.case("CP-1"))
    assert "designated_conference" not in dues
    assert dues["plan_24_months"] == d("2028-06-17")
    assert "designated_conference" not in engine.registry.get("child_protection").spec.deadlines


def test_a_gateshead_plan_running_to_15_and_24_months(gateshead, store):
    engine = gateshead
    open_cp(engine, discussed="2026-06-01")
    # Mon 1 Jun: 2-5 (4), 8-12 (9), 15-19 (14), 22 (15)
    assert engine.case("CP-1").deadline("icpc").due_on == d("2026-06-22")
    engine.fire("CP-1", "icpc_held", at=at("2026-06-17"), data={**PLAN, "category": "emotional"})
    view = engine.case("CP-1")
    assert open_dues(view) == {
        # Wed 17 Jun: 18, 19 (2), 22-26 (7), 29, 30, 1 Jul (10)
        "core_group": d("2026-07-01"),
        "chair_follow_up": d("2026-07-17"),
        "first_rcpc": d("2026-09-17"),
        # 18, 19 (2), 22-26 (7), 29, 30 Jun - 3 Jul (12), 6-10 (17), 13, 14, 15 (20)
        "minutes_shared": d("2026-07-15"),
        "designated_conference": d("2027-09-17"),
        "plan_24_months": d("2028-06-17"),
    }
    engine.fire("CP-1", "core_group_held", at=at("2026-06-30"))
    engine.fire("CP-1", "minutes_shared", at=at("2026-07-10"))
    engine.fire("CP-1", "chair_follow_up_done", at=at("2026-07-14"))

    engine.fire("CP-1", "rcpc_held", at=at("2026-09-15"), data=CONTINUE)
    assert engine.case("CP-1").deadline("next_rcpc").due_on == d("2027-03-15")
    engine.fire("CP-1", "minutes_shared", at=at("2026-10-01"))
    engine.fire("CP-1", "rcpc_held", at=at("2027-03-11"), data=CONTINUE)
    view = engine.case("CP-1")
    assert statuses(view, "next_rcpc") == ["met", "open"]
    assert view.deadline("next_rcpc").due_on == d("2027-09-11")
    engine.fire("CP-1", "minutes_shared", at=at("2027-03-25"))

    # the designated conference a month ahead: reminded on 17 Aug 2027 (15 months less 1)
    engine.tick(at("2027-08-17", 9))
    reminded = [o.payload["due_on"] for o in store.outbox()
                if o.kind == "deadline_reminder" and o.payload["deadline"] == "designated_conference"]
    assert reminded == ["2027-09-17"]
    with pytest.raises(InvalidCaseData) as err:
        engine.fire("CP-1", "designated_conference_held", at=at("2027-09-10"), data=CONTINUE)
    assert "chair" in str(err.value)
    engine.fire("CP-1", "designated_conference_held", at=at("2027-09-10"), role="conference_chair",
                data={**CONTINUE, "chair": "A. Different"})
    view = engine.case("CP-1")
    assert view.deadline("designated_conference", status=None).status == "met"
    assert statuses(view, "next_rcpc") == ["met", "met", "open"]
    assert view.deadline("next_rcpc").due_on == d("2028-03-10")
    engine.fire("CP-1", "minutes_shared", at=at("2027-09-24"))
    engine.fire("CP-1", "rcpc_held", at=at("2028-03-08"), data=CONTINUE)
    engine.fire("CP-1", "minutes_shared", at=at("2028-03-22"))
    assert engine.case("CP-1").deadline("next_rcpc").due_on == d("2028-09-08")

    # 24 months from Wed 17 Jun 2026 is Sat 17 Jun 2028: the flag expires at its end and notifies
    assert engine.tick(at("2028-06-17", 23)).expired == 0
    report = engine.tick(at("2028-06-18", 8))
    assert report.expired == 1
    flagged = {o.payload["role"] for o in store.outbox() if o.kind == "deadline_expired" and o.payload["deadline"] == "plan_24_months"}
    assert flagged == {"service_manager", "conference_chair"}
    # Sat 17 Jun -> Mon 19 Jun: 1 working day overdue
    assert [(o.deadline, o.working_days_overdue) for o in engine.overdue(at("2028-06-19", 9))] == [("plan_24_months", 1)]

    engine.fire("CP-1", "rcpc_held", at=at("2028-09-07"), data={"outcome": "end_plan", "quorate": True})
    view = engine.case("CP-1")
    assert view.state == "plan_ended"
    assert view.deadline("plan_24_months", status=None).status == "missed"
    assert statuses(view, "next_rcpc")[-1] == "met"
    # 8 (1), 11-15 (6), 18-22 (11), 25-29 (16), 2, 3, 4, 5 Oct (20)
    assert open_dues(view) == {"minutes_shared": d("2028-10-05")}
    engine.fire("CP-1", "minutes_shared", at=at("2028-10-05"))
    assert engine.case("CP-1").state == "closed"


def test_a_gateshead_plan_not_reviewed_in_time_needs_a_reason_and_the_15_month_conference_expires(gateshead, store):
    engine = gateshead
    open_cp(engine, discussed="2026-06-01")
    engine.fire("CP-1", "icpc_held", at=at("2026-06-17"), data=PLAN)
    # first review conference due Thu 17 Sep 2026; held Fri 18 Sep
    with pytest.raises(InvalidCaseData) as err:
        engine.fire("CP-1", "rcpc_held", at=at("2026-09-18"), data=CONTINUE)
    assert "'first_rcpc' was due 2026-09-17" in str(err.value)
    engine.fire("CP-1", "rcpc_held", at=at("2026-09-18"), data={**CONTINUE, "lateness_reason": "reports_not_shared"})
    assert engine.case("CP-1").deadline("first_rcpc", status=None).status == "missed"
    engine.tick(at("2027-09-18", 8))
    expired = {o.payload["role"] for o in store.outbox()
               if o.kind == "deadline_expired" and o.payload["deadline"] == "designated_conference"}
    assert expired == {"conference_chair", "service_manager"}


def test_an_enquiry_that_needs_no_conference_closes(engine):
    open_cp(engine, discussed="2026-06-01")
    engine.fire("CP-1", "enquiry_concluded", at=at("2026-06-05"), role="team_manager")
    view = engine.case("CP-1")
    assert view.state == "closed" and view.open_deadlines == []
    assert view.deadline("icpc", status=None).status == "cancelled"
