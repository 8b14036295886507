"""Children looked after: the review cycle through the engine, every date worked out by hand.

England and Wales calendar. "Within N working days of X": X is day 0 and the deadline is the Nth
working day after it; "N working days before the review" counts back from the review date, which
is not counted. Months are calendar months clipped to the month's end.
Bank holidays used below - 2026: Good Friday 3 Apr, Easter Monday 6 Apr, 4 May, 25 May, 31 Aug,
Christmas Fri 25 Dec, Boxing Day substitute Mon 28 Dec; 2027: New Year Fri 1 Jan, Good Friday
26 Mar, Easter Monday 29 Mar; 2028: summer Mon 28 Aug.
"""

from __future__ import annotations

import pytest

from engine.errors import InvalidCaseData, InvalidTrigger, RoleNotAllowed
from persistence.models import TransitionRow

from .conftest import at, d


def open_cla(engine, ref="CLA-1", became="2026-12-14", opened=None, **data):
    return engine.open_case(
        "cla_review", ref, at=at(opened or became), data={"became_looked_after": became, **data}, actor="sw.1"
    )


def open_dues(view) -> dict:
    """Every open deadline of a case, by name, with its due date."""
    return {x.name: x.due_on for x in view.open_deadlines}


def status(engine, ref, name) -> str:
    return engine.case(ref).deadline(name, status=None).status


def statuses(view, name) -> list:
    """The statuses of every deadline of that name, oldest first (a review closes one and opens the next)."""
    return [x.status for x in sorted(view.deadlines, key=lambda x: x.opened_at) if x.name == name]


# ---- the first review, across Christmas ---------------------------------------------------------


def test_entry_before_christmas_first_review_and_its_preparation(engine):
    # looked after from Mon 14 Dec 2026; the first meeting is set for Tue 12 Jan 2027
    view = open_cla(engine, became="2026-12-14", next_review_on="2027-01-12")
    assert view.state == "looked_after"
    assert open_dues(view) == {
        # 15, 16, 17, 18 (4), 21, 22, 23, 24 (8), [25 Christmas, 28 Boxing Day substitute],
        # 29, 30, 31 (11), [1 Jan], 4, 5, 6, 7, 8 (16), 11, 12, 13, 14 Jan (20)
        "first_review": d("2027-01-14"),
        # back from Tue 12 Jan: 11 (1), 8, 7, 6, 5, 4 (6), [1 Jan, 28, 25 Dec], 31, 30, 29 (9), 24 Dec (10)
        "send_invitations": d("2026-12-24"),
        # back from 12 Jan: 11, 8, 7, 6, 5
        "iro_contact": d("2027-01-05"),
        # back from 12 Jan: 11, 8, 7 (3 working days before a first review)
        "file_report_first_review": d("2027-01-07"),
    }
    first = view.deadline("first_review")
    assert (first.anchor, first.anchor_on, first.amount, first.unit) == ("data.became_looked_after", d("2026-12-14"), 20, "working_days")
    assert "Regulations 2010, reg 33" in first.source

    engine.fire("CLA-1", "invitations_sent", at=at("2026-12-23"), role="business_support")
    engine.fire("CLA-1", "iro_visit", at=at("2027-01-06"), role="iro")  # a day late
    engine.fire("CLA-1", "report_filed", at=at("2027-01-07"), role="social_worker")
    assert status(engine, "CLA-1", "send_invitations") == "met"
    assert status(engine, "CLA-1", "iro_contact") == "missed"
    assert status(engine, "CLA-1", "file_report_first_review") == "met"

    result = engine.fire("CLA-1", "review_held", at=at("2027-01-12"), role="iro", data={"next_review_on": "2027-04-08"})
    assert (result.from_state, result.to_state) == ("looked_after", "decisions_pending")
    view = engine.case("CLA-1")
    assert view.data["reviews_held"] == 1
    assert view.deadline("first_review", status=None).status == "met"
    assert open_dues(view) == {
        # 3 calendar months after the first review (Tue 12 Jan -> Mon 12 Apr 2027)
        "second_review": d("2027-04-12"),
        # 45 days: 19 days to 31 Jan, 26 more -> 26 Feb
        "midway_review_before_second": d("2027-02-26"),
        # 13, 14, 15, 18, 19 Jan
        "record_decisions": d("2027-01-19"),
        # 13, 14, 15 (3), 18-22 (8), 25-29 (13), 1-5 Feb (18), 8, 9 (20)
        "distribute_record": d("2027-02-09"),
        # the next meeting, Thu 8 Apr 2027, counted back across Easter 2027:
        # 7 (1), 6, 5, 2, 1 Apr (5), 31, 30 Mar (7), [29 Easter Monday, 26 Good Friday], 25, 24, 23 (10)
        "send_invitations": d("2027-03-23"),
        "iro_contact": d("2027-04-01"),
        # 5 working days before a subsequent review: 7, 6, 5, 2, 1 Apr
        "file_report": d("2027-04-01"),
    }


def test_decisions_stand_automatically_when_the_team_manager_does_not_respond(engine, store):
    open_cla(engine, became="2026-12-14", next_review_on="2027-01-12")
    engine.fire("CLA-1", "review_held", at=at("2027-01-12"), role="iro", data={"next_review_on": "2027-04-08"})
    engine.fire("CLA-1", "decisions_recorded", at=at("2027-01-18"), role="iro")
    view = engine.case("CLA-1")
    assert view.state == "with_team_manager"
    assert view.deadline("record_decisions", status=None).status == "met"  # due 19 Jan
    # 5 working days from receipt, Mon 18 Jan: 19, 20, 21, 22, 25
    assert view.deadline("team_manager_comments").due_on == d("2027-01-25")

    assert engine.tick(at("2027-01-25", 23, 59)).fired == 0
    report = engine.tick(at("2027-01-26", 8))
    assert (report.expired, report.fired) == (1, 1)
    view = engine.case("CLA-1")
    assert view.state == "looked_after"
    missed = view.deadline("team_manager_comments", status=None)
    assert missed.status == "missed" and missed.expiry_outcome == "fired decisions_stand"
    last = engine.history("CLA-1")[-1]
    assert (last.kind, last.trigger, last.actor, last.to_state) == ("expiry", "decisions_stand", "system", "looked_after")
    assert last.effective_at == at("2027-01-26", 0)  # the end of the team manager's last day
    # the care plan's 10 working days count from the moment the decisions stood (Tue 26 Jan):
    # 27, 28, 29 (3), 1-5 Feb (8), 8, 9 (10)
    assert view.deadline("update_care_plan").due_on == d("2027-02-09")
    assert {o.payload["role"] for o in store.outbox() if o.kind == "deadline_expired"} == {"team_manager", "iro"}
    assert engine.tick(at("2027-01-26", 9)).expired == 0

    engine.fire("CLA-1", "care_plan_updated", at=at("2027-02-08"), role="social_worker")
    engine.fire("CLA-1", "record_distributed", at=at("2027-02-10"), role="business_support")
    assert status(engine, "CLA-1", "update_care_plan") == "met"
    assert status(engine, "CLA-1", "distribute_record") == "missed"  # due 9 Feb


def test_team_manager_agreement_or_disagreement(engine):
    open_cla(engine, ref="A", became="2026-06-01")
    engine.fire("A", "review_held", at=at("2026-06-26"), role="iro", data={"next_review_on": "2026-09-24"})
    engine.fire("A", "decisions_recorded", at=at("2026-06-30"), role="iro")
    # Tue 30 Jun: 1, 2, 3, 6, 7 Jul
    assert engine.case("A").deadline("team_manager_comments").due_on == d("2026-07-07")
    with pytest.raises(RoleNotAllowed):
        engine.fire("A", "tm_agreed", at=at("2026-07-02"), role="iro")
    engine.fire("A", "tm_agreed", at=at("2026-07-02"), role="team_manager")
    view = engine.case("A")
    assert view.state == "looked_after"
    assert view.deadline("team_manager_comments", status=None).status == "met"
    # from Thu 2 Jul: 3 (1), 6-10 (6), 13, 14, 15, 16 (10)
    assert view.deadline("update_care_plan").due_on == d("2026-07-16")

    open_cla(engine, ref="B", became="2026-06-01")
    engine.fire("B", "review_held", at=at("2026-06-26"), role="iro", data={"next_review_on": "2026-09-24"})
    engine.fire("B", "decisions_recorded", at=at("2026-06-30"), role="iro")
    engine.fire("B", "tm_disagreed", at=at("2026-07-01"), role="team_manager")
    view = engine.case("B")
    assert view.state == "disagreement"
    # from Wed 1 Jul: 2, 3, 6, 7, 8
    assert view.deadline("resolve_disagreement").due_on == d("2026-07-08")
    engine.fire("B", "disagreement_resolved", at=at("2026-07-09"), role="iro")
    view = engine.case("B")
    assert view.state == "looked_after"
    assert view.deadline("resolve_disagreement", status=None).status == "missed"
    # from Thu 9 Jul: 10 (1), 13-17 (6), 20, 21, 22, 23 (10)
    assert view.deadline("update_care_plan").due_on == d("2026-07-23")


# ---- Easter, a backdated notification, a late first review --------------------------------------


def test_backdated_notification_over_easter_and_a_late_first_review_needs_a_reason(engine, store):
    # the child became looked after on Thu 19 Mar 2026; the case is recorded on Wed 25 Mar
    view = open_cla(engine, became="2026-03-19", opened="2026-03-25")
    first = view.deadline("first_review")
    # counted from 19 March, not from the day the case was opened:
    # 20, 23, 24, 25, 26, 27 (6), 30, 31, 1, 2 Apr (10), [3 Good Friday, 6 Easter Monday],
    # 7, 8, 9, 10 (14), 13, 14, 15, 16, 17 (19), 20 Apr (20)
    assert first.due_on == d("2026-04-20")
    assert first.anchor_on == d("2026-03-19")
    # no meeting date yet: nothing is counted back from it
    assert open_dues(view) == {"first_review": d("2026-04-20")}

    engine.fire("CLA-1", "review_scheduled", at=at("2026-03-26"), role="iro", data={"next_review_on": "2026-04-21"})
    # back from Tue 21 Apr: 20, 17, 16, 15, 14 (5), 13, 10, 9, 8, 7 (10)
    assert open_dues(engine.case("CLA-1"))["send_invitations"] == d("2026-04-07")

    before = engine.case("CLA-1")
    rows = store.count(TransitionRow)
    with pytest.raises(InvalidCaseData) as err:
        engine.fire("CLA-1", "review_held", at=at("2026-04-21"), role="iro", data={"next_review_on": "2026-07-21"})
    message = str(err.value)
    assert "lateness_reason" in message and "2026-04-20" in message and "first_review" in message
    assert engine.case("CLA-1") == before
    assert store.count(TransitionRow) == rows

    with pytest.raises(InvalidCaseData) as err:
        engine.fire("CLA-1", "review_held", at=at("2026-04-21"), role="iro",
                    data={"next_review_on": "2026-07-21", "lateness_reason": "holidays"})
    assert "data field 'lateness_reason': the value is not one of late_notification, calculation_error, missing_report" in str(err.value)
    assert "holidays" not in str(err.value)  # the rule, never the rejected value

    engine.fire("CLA-1", "review_held", at=at("2026-04-21"), role="iro",
                data={"next_review_on": "2026-07-21", "lateness_reason": "late_notification"})
    view = engine.case("CLA-1")
    assert view.deadline("first_review", status=None).status == "missed"
    assert engine.history("CLA-1")[-1].data["lateness_reason"] == "late_notification"
    # from the day it was held: Tue 21 Apr + 3 months
    assert view.deadline("second_review").due_on == d("2026-07-21")


def test_a_review_held_on_time_needs_no_reason(engine):
    # Mon 23 Mar 2026: 24, 25, 26, 27 (4), 30, 31, 1, 2 Apr (8), [3, 6 Easter],
    # 7, 8, 9, 10 (12), 13-17 (17), 20, 21, 22 Apr (20)
    view = open_cla(engine, became="2026-03-23")
    assert view.deadline("first_review").due_on == d("2026-04-22")
    engine.fire("CLA-1", "review_held", at=at("2026-04-22", 16), role="iro", data={"next_review_on": "2026-07-20"})
    assert status(engine, "CLA-1", "first_review") == "met"
    assert engine.case("CLA-1").deadline("second_review").due_on == d("2026-07-22")


# ---- the cycle through months' ends: 31 August, leap and non-leap February ------------------------


def test_six_months_from_31_august_is_the_end_of_february_leap_and_not(engine):
    # looked after Mon 5 Jul 2027: 6-9 (4), 12-16 (9), 19-23 (14), 26-30 (19), 2 Aug (20)
    view = open_cla(engine, became="2027-07-05")
    assert view.deadline("first_review").due_on == d("2027-08-02")
    engine.fire("CLA-1", "review_held", at=at("2027-07-30"), role="iro", data={"next_review_on": "2027-08-31"})
    # Fri 30 Jul + 3 months = Sat 30 Oct: a weekend due date is not moved
    assert engine.case("CLA-1").deadline("second_review").due_on == d("2027-10-30")

    # the second review, held early on Tue 31 Aug 2027, must say whether permanence was ratified
    with pytest.raises(InvalidCaseData) as err:
        engine.fire("CLA-1", "review_held", at=at("2027-08-31"), role="iro", data={"next_review_on": "2028-02-24"})
    assert "permanence_plan_ratified" in str(err.value)
    engine.fire("CLA-1", "review_held", at=at("2027-08-31"), role="iro",
                data={"next_review_on": "2028-02-24", "permanence_plan_ratified": True})
    view = engine.case("CLA-1")
    assert view.data["reviews_held"] == 2
    assert view.deadline("second_review", status=None).status == "met"
    # 31 Aug 2027 + 6 months: 31 Feb does not exist; 2028 is a leap year -> 29 Feb
    assert view.deadline("subsequent_review").due_on == d("2028-02-29")
    # the mid-point: + 3 months, 31 Nov does not exist -> 30 Nov
    assert view.deadline("midway_review").due_on == d("2027-11-30")
    assert "permanence_plan_alert" not in open_dues(view)
    # post-review steps across a September with no bank holiday:
    # 1, 2, 3, 6, 7 Sep; and 20 working days: 1-3 (3), 6-10 (8), 13-17 (13), 20-24 (18), 27, 28 (20)
    assert view.deadline("record_decisions").due_on == d("2027-09-07")
    assert view.deadline("distribute_record").due_on == d("2027-09-28")

    engine.fire("CLA-1", "midway_review_held", at=at("2027-11-26"), role="iro")
    assert status(engine, "CLA-1", "midway_review") == "met"

    # third review Mon 28 Feb 2028 (a day early) -> 28 Aug 2028, the summer bank holiday: not moved
    engine.fire("CLA-1", "review_held", at=at("2028-02-28"), role="iro", data={"next_review_on": "2028-08-25"})
    view = engine.case("CLA-1")
    assert statuses(view, "subsequent_review") == ["met", "open"]
    assert view.deadline("subsequent_review").due_on == d("2028-08-28")
    # 28 Feb + 3 months = Sun 28 May 2028
    assert view.deadline("midway_review").due_on == d("2028-05-28")
    # the midway review never happened: the next review closes it, late
    # fourth review Thu 31 Aug 2028: late (due 28 Aug), so it needs a reason
    with pytest.raises(InvalidCaseData) as err:
        engine.fire("CLA-1", "review_held", at=at("2028-08-31"), role="iro", data={"next_review_on": "2029-02-22"})
    assert "2028-08-28" in str(err.value)
    engine.fire("CLA-1", "review_held", at=at("2028-08-31"), role="iro",
                data={"next_review_on": "2029-02-22", "lateness_reason": "calculation_error"})
    view = engine.case("CLA-1")
    assert view.data["reviews_held"] == 4
    assert statuses(view, "subsequent_review") == ["met", "missed", "open"]
    assert statuses(view, "midway_review") == ["met", "missed", "open"]
    # 31 Aug 2028 + 6 months: February 2029 has 28 days -> 28 Feb
    assert view.deadline("subsequent_review").due_on == d("2029-02-28")
    # 31 Aug 2028 + 3 months -> 30 Nov 2028
    assert view.deadline("midway_review").due_on == d("2028-11-30")
    history = [(h.trigger, h.data.get("lateness_reason")) for h in engine.history("CLA-1") if h.trigger == "review_held"]
    assert history == [("review_held", None), ("review_held", None), ("review_held", None), ("review_held", "calculation_error")]


# ---- change of circumstances, permanence at the second review -------------------------------------


def test_change_of_circumstances_brings_the_second_review_forward_and_permanence_is_checked(engine, store):
    # looked after Mon 1 Jun 2026: 2-5 (4), 8-12 (9), 15-19 (14), 22-26 (19), 29 Jun (20)
    view = open_cla(engine, became="2026-06-01")
    assert view.deadline("first_review").due_on == d("2026-06-29")
    engine.fire("CLA-1", "review_held", at=at("2026-06-26"), role="iro", data={"next_review_on": "2026-09-24"})
    view = engine.case("CLA-1")
    # Fri 26 Jun + 3 months = Sat 26 Sep
    assert view.deadline("second_review").due_on == d("2026-09-26")
    # 26 Jun + 45 days: 4 to 30 Jun, 31 in July (35), 10 Aug (45)
    assert view.deadline("midway_review_before_second").due_on == d("2026-08-10")
    # back from Thu 24 Sep: 23, 22, 21, 18, 17 (5), 16, 15, 14, 11, 10 (10)
    assert view.deadline("send_invitations").due_on == d("2026-09-10")

    # Mon 3 Aug: the placement breaks down; the IRO brings the review forward to Thu 13 Aug
    engine.fire("CLA-1", "change_of_circumstances", at=at("2026-08-03"), role="social_worker",
                data={"next_review_on": "2026-08-13", "change_type": "care_arrangements"})
    view = engine.case("CLA-1")
    assert view.state == "decisions_pending"  # an internal event: no state moved
    dues = open_dues(view)
    assert dues["brought_forward_review"] == d("2026-08-13")
    assert dues["second_review"] == d("2026-09-26")  # the statutory date still runs
    # preparation counted back from the new date, Thu 13 Aug:
    # 12, 11, 10, 7, 6 (5), 5, 4, 3, 31 Jul, 30 Jul (10)
    assert dues["send_invitations"] == d("2026-07-30")  # already overdue: short notice
    assert dues["iro_contact"] == d("2026-08-06")
    assert dues["file_report"] == d("2026-08-06")
    superseded = [x for x in view.deadlines if x.name == "send_invitations" and x.status == "cancelled"]
    assert [x.due_on for x in superseded] == [d("2026-09-10")]

    engine.fire("CLA-1", "midway_review_held", at=at("2026-08-07"), role="iro")
    assert status(engine, "CLA-1", "midway_review_before_second") == "met"

    # the second review must record whether permanence was ratified; refused otherwise
    with pytest.raises(InvalidCaseData) as err:
        engine.fire("CLA-1", "review_held", at=at("2026-08-13"), role="iro", data={"next_review_on": "2027-02-11"})
    assert "'permanence_plan_ratified': is required by 'review_held'" in str(err.value)
    engine.fire("CLA-1", "review_held", at=at("2026-08-13"), role="iro",
                data={"next_review_on": "2027-02-11", "permanence_plan_ratified": False})
    view = engine.case("CLA-1")
    assert view.data["reviews_held"] == 2 and view.data["permanence_plan_ratified"] is False
    assert view.deadline("second_review", status=None).status == "met"
    assert view.deadline("brought_forward_review", status=None).status == "met"
    # Thu 13 Aug + 6 months = Sat 13 Feb 2027; midway + 3 months = Fri 13 Nov 2026
    assert view.deadline("subsequent_review").due_on == d("2027-02-13")
    assert view.deadline("midway_review").due_on == d("2026-11-13")
    # the alert: due the day of the second review, overdue until a permanence plan is ratified
    alert = view.deadline("permanence_plan_alert")
    assert alert.due_on == d("2026-08-13")
    report = engine.tick(at("2026-08-14", 8))
    assert report.expired >= 1
    expired = {o.payload["role"] for o in store.outbox() if o.kind == "deadline_expired" and o.payload["deadline"] == "permanence_plan_alert"}
    assert expired == {"iro", "iro_manager", "team_manager"}
    overdue = {(o.deadline, o.working_days_overdue) for o in engine.overdue(at("2026-08-17", 9)) if o.case_ref == "CLA-1"}
    # 13 Aug -> 17 Aug: 14 (1), 17 (2)
    assert ("permanence_plan_alert", 2) in overdue
    engine.fire("CLA-1", "permanence_ratified", at=at("2026-09-02"), role="iro")
    assert status(engine, "CLA-1", "permanence_plan_alert") == "missed"
    assert "permanence_plan_alert" not in open_dues(engine.case("CLA-1"))


def test_a_ratified_permanence_plan_opens_no_alert_and_later_reviews_ask_nothing(engine):
    open_cla(engine, became="2026-06-01")
    engine.fire("CLA-1", "review_held", at=at("2026-06-26"), role="iro", data={"next_review_on": "2026-09-24"})
    engine.fire("CLA-1", "review_held", at=at("2026-09-24"), role="iro",
                data={"next_review_on": "2027-03-18", "permanence_plan_ratified": True})
    assert "permanence_plan_alert" not in open_dues(engine.case("CLA-1"))
    engine.fire("CLA-1", "review_held", at=at("2027-03-18"), role="iro", data={"next_review_on": "2027-09-16"})
    view = engine.case("CLA-1")
    assert view.data["reviews_held"] == 3
    # Thu 18 Mar 2027 + 6 months
    assert view.deadline("subsequent_review").due_on == d("2027-09-18")


# ---- adjournment ---------------------------------------------------------------------------------


def test_an_adjourned_review_is_reconvened_and_is_late_if_past_the_statutory_date(engine):
    # looked after Mon 2 Nov 2026: 3-6 (4), 9-13 (9), 16-20 (14), 23-27 (19), 30 Nov (20)
    open_cla(engine, became="2026-11-02", next_review_on="2026-11-26")
    engine.fire("CLA-1", "review_adjourned", at=at("2026-11-26"), role="iro", data={"adjournment_reason": "documentation"})
    view = engine.case("CLA-1")
    assert view.state == "adjourned"
    # at most 20 working days from the adjourned meeting, Thu 26 Nov:
    # 27 (1), 30, 1-4 Dec (6), 7-11 (11), 14-18 (16), 21, 22, 23, 24 (20)
    assert view.deadline("reconvene_review").due_on == d("2026-12-24")
    assert view.deadline("first_review").due_on == d("2026-11-30")  # not extended
    with pytest.raises(InvalidTrigger):
        engine.fire("CLA-1", "review_adjourned", at=at("2026-11-27"), role="iro")

    engine.fire("CLA-1", "review_scheduled", at=at("2026-11-27"), role="iro", data={"next_review_on": "2026-12-03"})
    # back from Thu 3 Dec: 2, 1, 30 Nov
    assert engine.case("CLA-1").deadline("file_report_first_review").due_on == d("2026-11-30")

    with pytest.raises(InvalidCaseData) as err:
        engine.fire("CLA-1", "review_held", at=at("2026-12-03"), role="iro", data={"next_review_on": "2027-03-03"})
    assert "2026-11-30" in str(err.value)
    engine.fire("CLA-1", "review_held", at=at("2026-12-03"), role="iro",
                data={"next_review_on": "2027-03-03", "lateness_reason": "series_of_meetings"})
    view = engine.case("CLA-1")
    assert view.state == "decisions_pending"
    assert view.deadline("first_review", status=None).status == "missed"
    assert view.deadline("reconvene_review", status=None).status == "met"
    # the next interval runs from the completed review: Thu 3 Dec + 3 months
    assert view.deadline("second_review").due_on == d("2027-03-03")


def test_an_adjournment_not_reconvened_notifies_on_expiry(engine, store):
    open_cla(engine, became="2026-11-02")
    engine.fire("CLA-1", "review_adjourned", at=at("2026-11-26"), role="iro")
    engine.tick(at("2026-12-29", 9))  # reconvene due 24 Dec; first review due 30 Nov
    view = engine.case("CLA-1")
    assert view.state == "adjourned"
    expired = {(o.payload["deadline"], o.payload["role"]) for o in store.outbox() if o.kind == "deadline_expired"}
    assert expired == {("first_review", "iro"), ("first_review", "iro_manager"),
                       ("reconvene_review", "iro"), ("reconvene_review", "iro_manager")}


# ---- ceasing to be looked after, disputes, refusals ------------------------------------------------


def test_ceasing_to_be_looked_after_mid_cycle_closes_everything(engine):
    open_cla(engine, became="2026-06-01")
    engine.fire("CLA-1", "review_held", at=at("2026-06-26"), role="iro", data={"next_review_on": "2026-09-24"})
    engine.fire("CLA-1", "decisions_recorded", at=at("2026-06-30"), role="iro")
    assert set(open_dues(engine.case("CLA-1"))) == {
        "second_review", "midway_review_before_second", "team_manager_comments", "distribute_record",
        "send_invitations", "file_report", "iro_contact",
    }
    result = engine.fire("CLA-1", "ceased_looked_after", at=at("2026-07-20"), role="social_worker",
                         data={"ceased_reason": "returned_home"})
    assert (result.from_state, result.to_state) == ("with_team_manager", "ceased")
    view = engine.case("CLA-1")
    assert view.closed_at == at("2026-07-20")
    assert view.open_deadlines == []
    assert view.deadline("second_review", status=None).status == "cancelled"
    assert view.deadline("midway_review_before_second", status=None).status == "cancelled"
    assert view.deadline("team_manager_comments", status=None).status == "cancelled"
    assert engine.overdue(at("2027-06-01")) == []
    with pytest.raises(InvalidTrigger) as err:
        engine.fire("CLA-1", "review_held", at=at("2026-09-24"), role="iro", data={"next_review_on": "2027-03-24"})
    assert "ceased" in str(err.value)


def test_the_iro_raises_a_dispute_which_opens_a_drp_case(engine):
    open_cla(engine, became="2026-06-01")
    result = engine.fire("CLA-1", "dispute_raised", at=at("2026-06-10"), role="iro",
                         data={"dispute_theme": "drift_and_delay", "dispute_concern": "Assessment outstanding"})
    drp = engine.case(f"CLA-1-DRP-{result.seq}")
    assert (drp.workflow, drp.state) == ("drp", "informal")
    assert drp.data == {"theme": "drift_and_delay", "concern": "Assessment outstanding"}
    # Wed 10 Jun: 11, 12, 15, 16, 17
    assert drp.deadline("informal_response").due_on == d("2026-06-17")
    assert engine.case("CLA-1").state == "looked_after"


def test_invalid_triggers_and_missing_data_are_refused_and_store_nothing(engine):
    open_cla(engine)
    with pytest.raises(InvalidTrigger) as err:
        engine.fire("CLA-1", "tm_agreed", at=at("2026-12-15"), role="team_manager")
    assert "'tm_agreed' is not valid in state 'looked_after'" in str(err.value)
    with pytest.raises(InvalidCaseData):
        engine.fire("CLA-1", "review_scheduled", at=at("2026-12-15"), role="iro")
    with pytest.raises(InvalidTrigger):
        engine.fire("CLA-1", "decisions_recorded", at=at("2026-12-15"), role="iro")
    assert len(engine.history("CLA-1")) == 1


# ---- a deadline counted from another deadline's due date ----------------------------------------

PLANNING_OVERLAY = """\
extends: cla_review
name: planned_reviews
transitions:
  - {{trigger: review_planned, source: "*", roles: [iro]}}
deadlines:
  plan_review:
    title: Review planned 20 working days before it is due
    opened_by: {opened_by}
    when: {when}
    closed_by: [review_planned, review_held]
    due: {{amount: -20, unit: working_days, anchor: {anchor}}}
    source: Sunderland IRO annual report 2016/17, para 5.2.1
"""


def planning_problems(tmp_path, anchor="deadline.second_review", opened_by="[review_held]",
                      when="[{field: reviews_held, equals: 1}]") -> list[str]:
    from engine.errors import DefinitionError
    from engine.language.bundled import bundled_dir
    from engine.language.registry import Registry

    (tmp_path / "planned_reviews.yaml").write_text(
        PLANNING_OVERLAY.format(anchor=anchor, opened_by=opened_by, when=when))
    try:
        Registry.load([bundled_dir("workflows"), tmp_path])
    except DefinitionError as err:
        return [f"{p.field}: {p.message}" for p in err.problems]
    return []


def test_a_deadline_anchor_must_open_with_the_deadline_it_counts_from(tmp_path):
    assert planning_problems(tmp_path) == []
    [unknown] = planning_problems(tmp_path, anchor="deadline.second_reveiw")
    assert unknown == "deadlines.plan_review.due.anchor: anchor deadline 'second_reveiw' is not a deadline of this workflow"
    [other_triggers] = planning_problems(tmp_path, opened_by="[review_scheduled]")
    assert "must be opened by the same triggers as this one" in other_triggers
    [fewer_conditions] = planning_problems(tmp_path, when="[]")
    assert "every 'when' condition of 'second_review' must also be a condition of this deadline" in fewer_conditions
    # the first review's date is counted in working days: a new bank holiday would move it
    [moving] = planning_problems(tmp_path, anchor="deadline.first_review", opened_by="[open]", when="[]")
    assert "must be counted in days, weeks or months from the event" in moving
    [itself] = planning_problems(tmp_path, anchor="deadline.plan_review")
    assert "cannot be anchored on itself" in itself


def test_a_deadline_counted_back_from_the_second_review(engine, tmp_path):
    from engine.language.bundled import bundled_dir
    from engine.language.registry import Registry
    from engine.runtime.engine import Engine

    planning_problems(tmp_path)
    planned = Engine(engine.store, Registry.load([bundled_dir("workflows"), tmp_path]), engine.calendar, engine.clock)
    planned.open_case("planned_reviews", "PR-1", at=at("2026-03-02"), data={"became_looked_after": "2026-03-02"})
    planned.fire("PR-1", "review_held", at=at("2026-03-27"), role="iro", data={"next_review_on": "2026-06-26"})
    view = planned.case("PR-1")
    # second review: Fri 27 Mar + 3 months = Sat 27 Jun 2026; 20 working days before it:
    # 26-22 Jun (5), 19-15 (10), 12-8 (15), 5-1 Jun (20) -> Mon 1 Jun
    assert view.deadline("second_review").due_on == d("2026-06-27")
    plan = view.deadline("plan_review")
    assert (plan.due_on, plan.anchor, plan.anchor_on) == (d("2026-06-01"), "deadline.second_review", d("2026-06-27"))
    [explained] = [e for e in planned.explain("PR-1") if e.deadline == "plan_review"]
    assert not explained.stale
