"""Authority profiles: each authority's variant walked through the engine, dates worked out by hand.

England and Wales calendar (every profile sets it). Counting as in test_cla_review.py and
test_child_protection.py. Bank holidays used below - 2026: Good Friday 3 Apr, Easter Monday
6 Apr, summer Mon 31 Aug; 2028: early May Mon 1 May, spring Mon 29 May, summer Mon 28 Aug.
"""

from __future__ import annotations

import datetime as dt

import pytest

from engine.time.calendar import Nation
from engine.runtime.engine import Engine
from engine.errors import CaseError, CaseNotFound, ConditionNotMet, DefinitionError, InvalidCaseData, InvalidTrigger
from engine.language.profiles import available, load_profile, profiles_dir
from engine.language.registry import Registry
from persistence.models import TransitionRow

from .conftest import at, d

AUTHORITIES = ["croydon", "dudley", "gateshead", "shropshire", "sunderland"]


def authority_engine(store, clock, name) -> Engine:
    registry = Registry.load(authority=name)
    return Engine(store, registry, load_profile(name).calendar, clock, authority=name)


def open_dues(view) -> dict:
    return {x.name: x.due_on for x in view.open_deadlines}


def statuses(view, name) -> list:
    return [x.status for x in sorted(view.deadlines, key=lambda x: x.opened_at) if x.name == name]


def outbox(store, kind, deadline=None):
    return [o.payload for o in store.outbox() if o.kind == kind and (deadline is None or o.payload["deadline"] == deadline)]


# ---- the profiles themselves -------------------------------------------------------------------


def test_five_profiles_ship_and_validate():
    assert available() == AUTHORITIES
    for name in AUTHORITIES:
        profile = load_profile(name)
        assert profile.name == name
        assert profile.calendar.nation == Nation.ENGLAND_AND_WALES
        assert dict(profile.calendar.closure_days) == {}  # no seed names a closure day
        registry = Registry.load(authority=name)
        assert {"cla_review", "child_protection", "drp"} <= set(registry.names())


def test_every_local_timescale_cites_the_local_document():
    base = Registry.load()
    changed, added = set(), set()
    for name in AUTHORITIES:
        registry = Registry.load(authority=name)
        local = name.capitalize()
        for wf_name in registry.names():
            workflow = registry.get(wf_name)
            base_deadlines = base.get(wf_name).spec.deadlines if wf_name in base.names() else {}
            for key, deadline in workflow.spec.deadlines.items():
                assert len(deadline.source) > 20, (name, wf_name, key)
                original = base_deadlines.get(key)
                if original is None:
                    added.add((name, wf_name, key))
                    assert local in deadline.source, (name, wf_name, key)
                elif original.due != deadline.due:
                    changed.add((name, wf_name, key))
                    assert deadline.source != original.source and local in deadline.source, (name, wf_name, key)
    assert changed == {
        ("sunderland", "cla_review", "second_review"),
        ("sunderland", "cla_review", "subsequent_review"),
        ("sunderland", "cla_review", "midway_review"),
    }
    assert {(n, k) for n, _, k in added} == {
        ("sunderland", "stage_4_response"), ("sunderland", "stage_5_response"),
        ("sunderland", "plan_first_review"), ("sunderland", "plan_second_review"),
        ("sunderland", "plan_subsequent_review"),
        ("gateshead", "designated_conference"),
        ("dudley", "personal_education_plan"),
        ("shropshire", "rag_rating"), ("shropshire", "rag_response"), ("shropshire", "plo_consideration"),
        ("dudley", "notify_cla"), ("dudley", "allocate_iro"), ("dudley", "consultation"),
        ("dudley", "iro_contact_first_review"), ("dudley", "review_monitoring_form"),
        ("dudley", "report_to_chair"), ("dudley", "icpc_go_ahead_discussion"),
    }


def test_role_titles_and_names_come_from_the_profile():
    gateshead = Registry.load(authority="gateshead")
    assert gateshead.get("drp").spec.roles["director"] == "Deputy Strategic Director"
    assert gateshead.get("child_protection").spec.roles["conference_chair"] == "Child Protection Chair"
    assert gateshead.get("cla_review").spec.title == "Children in Our Care (CIOC) reviews"
    dudley = Registry.load(authority="dudley")
    assert dudley.get("child_protection").spec.roles["conference_chair"] == "ICP Chair"
    assert dudley.get("cla_review").spec.roles["business_support"] == "Safeguarding and Review Service (S&RS) admin"
    assert Registry.load(authority="croydon").get("drp").spec.title == "Croydon escalation and resolution protocol (CERP)"


def test_profile_errors_name_the_profile_file_and_line(tmp_path):
    text = (profiles_dir() / "sunderland.yaml").read_text()
    broken = text.replace("due: {amount: 183, unit: days}", "due: {amount: 183, unit: dayz}")
    assert broken != text
    line = broken.splitlines().index("        due: {amount: 183, unit: dayz}") + 1
    (tmp_path / "sunderland.yaml").write_text(broken)
    with pytest.raises(DefinitionError) as err:
        Registry.load(authority="sunderland", profiles=tmp_path)
    [problem] = err.value.problems
    assert (problem.file, problem.line) == (str(tmp_path / "sunderland.yaml"), line)
    assert "subsequent_review.due.unit" in problem.field

    (tmp_path / "sunderland.yaml").write_text(text.replace("  head_of_service: Head of Service\n", "  deputy_head: Deputy\n"))
    with pytest.raises(DefinitionError) as err:
        Registry.load(authority="sunderland", profiles=tmp_path)
    assert any("no workflow declares role 'deputy_head'" in p.message and p.file.endswith("sunderland.yaml")
               for p in err.value.problems)

    (tmp_path / "durham.yaml").write_text(text)
    with pytest.raises(DefinitionError) as err:
        Registry.load(authority="durham", profiles=tmp_path)
    assert "must match the file name 'durham'" in str(err.value)


# ---- Sunderland: 91 / 183 days, 5 working days' visit, a five-stage DRP ----------------------------


def test_sunderland_counts_91_and_183_days(store, clock):
    engine = authority_engine(store, clock, "sunderland")
    view = engine.open_case("cla_review", "SUN-1", at=at("2028-05-04"), data={"became_looked_after": "2028-05-04"})
    assert view.authority == "sunderland"
    # Thu 4 May 2028: 5 (1), 8-12 (6), 15-19 (11), 22-26 (16), [29 May spring], 30, 31, 1 Jun, 2 Jun (20)
    assert view.deadline("first_review").due_on == d("2028-06-02")
    # planned 20 working days before Fri 2 Jun: back 1 Jun, 31, 30 May (3), [29 May spring],
    # 26-22 (8), 19-15 (13), 12-8 (18), 5, 4 May (20) - the day the child became looked after
    assert view.deadline("plan_first_review").due_on == d("2028-05-04")
    engine.fire("SUN-1", "review_planned", at=at("2028-05-04", 15), role="iro")
    assert engine.case("SUN-1").deadline("plan_first_review", status=None).status == "met"

    engine.fire("SUN-1", "review_held", at=at("2028-06-01"), role="iro", data={"next_review_on": "2028-08-31"})
    view = engine.case("SUN-1")
    second = view.deadline("second_review")
    # Thu 1 Jun + 91 days: 29 to 30 Jun, 60 to 31 Jul, 91 = Thu 31 Aug (3 months would be 1 Sep)
    assert (second.due_on, second.amount, second.unit) == (d("2028-08-31"), 91, "days")
    assert "Sunderland IRO annual report 2016/17, para 5.2.1" in second.source
    dues = open_dues(view)
    # 1 Jun + 45 days: 29 to 30 Jun, 16 Jul (45)
    assert dues["midway_review_before_second"] == d("2028-07-16")
    # the pre-review visit, back from Thu 31 Aug: 30 (1), 29 (2), [28 summer bank holiday], 25, 24, 23 (5)
    assert dues["iro_contact"] == d("2028-08-23")
    assert "Sunderland" in view.deadline("iro_contact").source

    # reviews are planned 20 working days before they go out of timescale (a task, met or missed):
    # back from Thu 31 Aug, 30, 29 (2), [28 summer bank holiday], 25-21 (7), 18-14 (12),
    # 11-7 (17), 4, 3, 2 Aug (20)
    plan = view.deadline("plan_second_review")
    assert (plan.due_on, plan.anchor, plan.anchor_on) == (d("2028-08-02"), "deadline.second_review", d("2028-08-31"))
    assert "20 working days prior" in plan.source
    # nobody planned it by the end of Wed 2 Aug: the IRO and their manager are told
    engine.tick(at("2028-08-02", 23))
    assert outbox(store, "deadline_expired", "plan_second_review") == []
    engine.tick(at("2028-08-03", 8))
    assert {p["role"] for p in outbox(store, "deadline_expired", "plan_second_review")} == {"iro", "iro_manager"}
    engine.fire("SUN-1", "review_planned", at=at("2028-08-03", 9), role="iro")
    assert engine.case("SUN-1").deadline("plan_second_review", status=None).status == "missed"

    engine.fire("SUN-1", "review_held", at=at("2028-08-31"), role="iro",
                data={"next_review_on": "2029-02-22", "permanence_plan_ratified": True})
    view = engine.case("SUN-1")
    assert view.deadline("second_review", status=None).status == "met"
    # Thu 31 Aug 2028 + 183 days: 30 Sep (30), 31 Oct (61), 30 Nov (91), 31 Dec (122), 31 Jan (153),
    # 28 Feb (181), 1 Mar (182), 2 Mar 2029 (183) - 6 months would be 28 Feb
    assert view.deadline("subsequent_review").due_on == d("2029-03-02")
    # planned 20 working days before Fri 2 Mar 2029: 1 Mar (1), 28-26 Feb (4), 23-19 (9),
    # 16-12 (14), 9-5 (19), Fri 2 Feb (20)
    assert view.deadline("plan_subsequent_review").due_on == d("2029-02-02")
    engine.fire("SUN-1", "review_planned", at=at("2029-02-01"), role="business_support")
    assert engine.case("SUN-1").deadline("plan_subsequent_review", status=None).status == "met"
    # the mid-point, 91 days: 30 Nov 2028
    assert view.deadline("midway_review").due_on == d("2028-11-30")


def test_sunderland_91_and_183_days_fall_before_the_calendar_months_as_often_as_after():
    """The profile's comment, counted: every start day of 2026 (no 29 February in any interval)."""
    from engine.time.calendar import WorkingCalendar

    calendar = WorkingCalendar()

    def compare(days: int, months: int) -> dict[int, list]:
        by_difference: dict[int, list] = {}
        day = d("2026-01-01")
        while day.year == 2026:
            fixed, calendar_months = calendar.add(day, days, "days"), calendar.add(day, months, "months")
            by_difference.setdefault((fixed - calendar_months).days, []).append(day)
            day += dt.timedelta(days=1)
        return by_difference

    def spans(days: list) -> list[tuple]:
        out = []
        for day in days:
            if out and (day - out[-1][1]).days == 1:
                out[-1][1] = day
            else:
                out.append([day, day])
        return [(a.strftime("%d %b"), b.strftime("%d %b")) for a, b in out]

    quarter = compare(91, 3)
    assert {k: len(v) for k, v in quarter.items()} == {-1: 211, 0: 63, 1: 62, 2: 29}
    assert spans(quarter[-1]) == [("01 Mar", "30 Mar"), ("01 May", "30 Aug"), ("01 Oct", "28 Nov")]
    assert spans(quarter[0]) == [("31 Mar", "30 Apr"), ("31 Aug", "30 Sep"), ("29 Nov", "29 Nov")]
    assert spans(quarter[1]) == [("01 Jan", "30 Jan"), ("30 Nov", "31 Dec")]
    assert spans(quarter[2]) == [("31 Jan", "28 Feb")]
    half = compare(183, 6)
    assert {k: len(v) for k, v in half.items()} == {-1: 119, 0: 63, 1: 61, 2: 122}
    assert spans(half[-1]) == [("01 Mar", "30 Mar"), ("01 May", "30 May"), ("01 Jul", "28 Aug")]
    assert spans(half[0]) == [("31 Mar", "30 Apr"), ("31 May", "30 Jun"), ("29 Aug", "29 Aug")]
    assert spans(half[1]) == [("30 Aug", "30 Aug"), ("01 Oct", "30 Oct"), ("01 Dec", "30 Dec")]
    assert spans(half[2]) == [("01 Jan", "28 Feb"), ("31 Aug", "30 Sep"), ("31 Oct", "30 Nov"), ("31 Dec", "31 Dec")]
    # over a 29 February the fixed days end a day earlier against the months: 91 days from
    # Tue 30 Nov 2027 is Tue 29 Feb 2028 (1 Dec (1), 31 Dec (31), 31 Jan (62), 29 Feb (91)),
    # as is 3 months
    assert calendar.add(d("2027-11-30"), 91, "days") == calendar.add(d("2027-11-30"), 3, "months") == d("2028-02-29")
    # and the profile says so
    text = (profiles_dir() / "sunderland.yaml").read_text()
    for claim in ("1 day earlier for 211 start days", "2 days later for 29 (31 Jan-28 Feb)",
                  "1 day earlier for 119 start days", "2 days later for 122"):
        assert claim in " ".join(text.replace("#", " ").split()), claim


def test_sunderland_dispute_has_five_stages_and_20_working_days(store, clock):
    engine = authority_engine(store, clock, "sunderland")
    with pytest.raises(InvalidTrigger):  # there is no stage_1: stage 1 is the informal stage
        engine.open_case("drp", "DRP-X", at=at("2026-03-02"), data={"theme": "practice", "concern": "c"}, state="stage_1")
    engine.open_case("drp", "DRP-1", at=at("2026-03-02"), data={"theme": "drift_and_delay", "concern": "c"})
    engine.fire("DRP-1", "escalate", at=at("2026-03-03"), role="iro")
    view = engine.case("DRP-1")
    assert view.state == "stage_2"
    # Tue 3 Mar: 4, 5, 6, 9, 10
    assert view.deadline("stage_2_response").due_on == d("2026-03-10")
    assert view.deadline("stage_2_response").role == "team_manager"
    # 4, 5, 6 (3), 9-13 (8), 16-20 (13), 23-27 (18), 30, 31 (20)
    formal = view.deadline("formal_resolution")
    assert formal.due_on == d("2026-03-31")
    assert "Sunderland IRO annual report 2016/17, para 7.1" in formal.source

    report = engine.tick(at("2026-04-30", 9))
    # stage 2 due 10 Mar -> stage 3 from 11 Mar: 12, 13, 16, 17, 18 -> stage 4 from 19 Mar:
    # 20, 23, 24, 25, 26 -> stage 5 from 27 Mar: 30, 31, 1, 2 Apr, [3, 6 Easter], 7 Apr
    view = engine.case("DRP-1")
    assert view.state == "stage_5"
    assert [h.to_state for h in engine.history("DRP-1")] == ["informal", "stage_2", "stage_3", "stage_4", "stage_5"]
    assert view.deadline("stage_5_response").due_on == d("2026-04-07")
    assert view.deadline("formal_resolution").due_on == d("2026-03-31")  # one clock across the formal stages
    assert (report.expired, report.fired) == (5, 3)

    engine.open_case("drp", "DRP-2", at=at("2026-03-02"), data={"theme": "safety", "concern": "c"})
    engine.fire("DRP-2", "escalate_to", at=at("2026-03-02"), role="iro", data={"target_stage": "stage_5"})
    assert engine.case("DRP-2").state == "stage_5"
    engine.fire("DRP-2", "resolve", at=at("2026-03-04"), role="iro", data={"outcome": "agreed_action"})
    assert engine.case("DRP-2").state == "resolved"


# ---- Shropshire: RAG rating after every meeting; red opens a DRP ------------------------------------


def test_shropshire_red_rating_opens_a_dispute_on_the_case(store, clock):
    engine = authority_engine(store, clock, "shropshire")
    engine.open_case("cla_review", "SHR-1", at=at("2026-06-01"), data={"became_looked_after": "2026-06-01"})
    engine.fire("SHR-1", "review_held", at=at("2026-06-26"), role="iro", data={"next_review_on": "2026-09-24"})
    # Fri 26 Jun: 29, 30, 1, 2, 3 Jul
    assert engine.case("SHR-1").deadline("rag_rating").due_on == d("2026-07-03")

    rows = store.count(TransitionRow)
    with pytest.raises(InvalidCaseData) as err:
        engine.fire("SHR-1", "rag_rated", at=at("2026-06-30"), role="iro",
                    data={"rag_rating": "red", "rag_reasons": "Delay in progressing assessments"})
    assert "rag_theme" in str(err.value)
    assert store.count(TransitionRow) == rows  # no rating and no dispute stored

    result = engine.fire("SHR-1", "rag_rated", at=at("2026-06-30"), role="iro",
                         data={"rag_rating": "red", "rag_reasons": "Delay in progressing assessments",
                               "rag_theme": "drift_and_delay"})
    view = engine.case("SHR-1")
    assert view.deadline("rag_rating", status=None).status == "met"
    # the team manager responds: Tue 30 Jun: 1, 2, 3, 6, 7 Jul
    assert view.deadline("rag_response").due_on == d("2026-07-07")
    drp = engine.case(f"SHR-1-DRP-{result.seq}")
    assert (drp.workflow, drp.state, drp.authority) == ("drp", "stage_1", "shropshire")
    assert drp.data == {"theme": "drift_and_delay", "concern": "RAG rated red: Delay in progressing assessments"}
    # stage 1: 1, 2, 3, 6, 7 Jul; formal: 1-3 (3), 6-10 (8), 13-17 (13), 20-24 (18), 27, 28 (20)
    assert drp.deadline("stage_1_response").due_on == d("2026-07-07")
    assert drp.deadline("formal_resolution").due_on == d("2026-07-28")
    assert engine.history(drp.case_ref)[0].reason == "opened by 'rag_rated' on SHR-1"

    engine.fire("SHR-1", "rag_responded", at=at("2026-07-06"), role="team_manager", data={"rag_response": "Assessment booked"})
    assert engine.case("SHR-1").deadline("rag_response", status=None).status == "met"


def test_shropshire_rates_conferences_too_and_green_opens_no_dispute(store, clock):
    engine = authority_engine(store, clock, "shropshire")
    engine.open_case("child_protection", "SHR-CP", at=at("2026-06-01"), data={"strategy_discussion_on": "2026-06-01"})
    engine.fire("SHR-CP", "icpc_held", at=at("2026-06-17"), data={"outcome": "plan", "category": "neglect", "quorate": True})
    view = engine.case("SHR-CP")
    # Wed 17 Jun: 18, 19, 22, 23, 24
    assert view.deadline("rag_rating").due_on == d("2026-06-24")
    # 9 months on a plan: consider the Public Law Outline (17 Jun 2026 + 9 months)
    assert view.deadline("plo_consideration").due_on == d("2027-03-17")
    result = engine.fire("SHR-CP", "rag_rated", at=at("2026-06-18"), role="conference_chair",
                         data={"rag_rating": "green", "rag_reasons": "Good planning/preparation for Conference"})
    with pytest.raises(CaseNotFound):
        engine.case(f"SHR-CP-DRP-{result.seq}")
    # 19, 22, 23, 24, 25 Jun
    assert engine.case("SHR-CP").deadline("rag_response").due_on == d("2026-06-25")

    engine.fire("SHR-CP", "rcpc_held", at=at("2026-09-15"), data={"outcome": "continue", "quorate": True})
    result = engine.fire("SHR-CP", "rag_rated", at=at("2026-09-16"), role="conference_chair",
                         data={"rag_rating": "red", "rag_reasons": "Visits have not taken place", "rag_theme": "safety"})
    assert engine.case(f"SHR-CP-DRP-{result.seq}").data["theme"] == "safety"


def test_shropshire_accepts_holidays_as_a_lateness_reason(store, clock):
    engine = authority_engine(store, clock, "shropshire")
    # Mon 3 Aug 2026: 4-7 (4), 10-14 (9), 17-21 (14), 24-28 (19), [31 Aug], 1 Sep (20)
    view = engine.open_case("cla_review", "SHR-2", at=at("2026-08-03"), data={"became_looked_after": "2026-08-03"})
    assert view.deadline("first_review").due_on == d("2026-09-01")
    engine.fire("SHR-2", "review_held", at=at("2026-09-04"), role="iro",
                data={"next_review_on": "2026-12-03", "lateness_reason": "holidays"})
    assert engine.case("SHR-2").deadline("first_review", status=None).status == "missed"


# ---- Dudley: appendices 1-4 ---------------------------------------------------------------------------


def test_dudley_first_review_chart_with_a_backdated_notification(store, clock):
    engine = authority_engine(store, clock, "dudley")
    # looked after Thu 19 Mar 2026, recorded on Wed 25 Mar
    view = engine.open_case("cla_review", "DUD-1", at=at("2026-03-25"), data={"became_looked_after": "2026-03-19"})
    assert open_dues(view) == {
        # 20 (1), 23, 24, 25, 26, 27 (6), 30, 31, 1, 2 Apr (10), [3, 6 Easter], 7-10 (14), 13-17 (19), 20 (20)
        "first_review": d("2026-04-20"),
        # the Personal Education Plan: 20 working days, as the first review
        "personal_education_plan": d("2026-04-20"),
        # notification within 2 working days of becoming looked after: 20, 23 Mar
        "notify_cla": d("2026-03-23"),
    }
    engine.fire("DUD-1", "notification_recorded", at=at("2026-03-25"), role="social_worker")
    view = engine.case("DUD-1")
    assert view.deadline("notify_cla", status=None).status == "missed"
    # allocation 3 working days from the notification: 26, 27, 30 Mar
    assert view.deadline("allocate_iro").due_on == d("2026-03-30")
    engine.fire("DUD-1", "iro_allocated", at=at("2026-03-27"), role="iro_manager")

    engine.fire("DUD-1", "review_scheduled", at=at("2026-03-27"), role="iro", data={"next_review_on": "2026-04-17"})
    view = engine.case("DUD-1")
    assert open_dues(view) == {
        "first_review": d("2026-04-20"),
        "personal_education_plan": d("2026-04-20"),
        # back from Fri 17 Apr: 16, 15, 14, 13 (4), 10, 9, 8, 7 (8), [6, 3 Easter], 2, 1 Apr (10),
        # 31, 30, 27, 26, 25 Mar (15)
        "consultation": d("2026-03-25"),
        "iro_contact_first_review": d("2026-04-01"),  # "10 days before", read as working days
        "send_invitations": d("2026-04-01"),
        "file_report_first_review": d("2026-04-14"),  # 16, 15, 14
    }
    engine.fire("DUD-1", "consultation_held", at=at("2026-03-27"), role="iro")
    engine.fire("DUD-1", "iro_visit", at=at("2026-04-01"), role="iro")
    engine.fire("DUD-1", "invitations_sent", at=at("2026-04-01"))
    view = engine.case("DUD-1")
    assert [view.deadline(n, status=None).status for n in ("consultation", "iro_contact_first_review", "send_invitations")] == [
        "missed", "met", "met"]

    # no social worker report by Tue 14 Apr: challenged through the dispute resolution process
    report = engine.tick(at("2026-04-15", 8))
    assert (report.expired, report.fired) == (1, 1)
    last = engine.history("DUD-1")[-1]
    assert (last.kind, last.trigger, last.effective_at) == ("expiry", "report_missing", at("2026-04-15", 0))
    drp = engine.case(f"DUD-1-DRP-{last.seq}")
    assert drp.state == "informal"
    assert drp.data == {"theme": "practice", "concern": "No social worker report on file for the review on 2026-04-17"}
    # informal response from Wed 15 Apr: 16, 17, 20, 21, 22
    assert drp.deadline("informal_response").due_on == d("2026-04-22")
    engine.fire("DUD-1", "report_filed", at=at("2026-04-16"), role="social_worker")
    assert engine.case("DUD-1").deadline("file_report_first_review", status=None).status == "missed"

    engine.fire("DUD-1", "review_held", at=at("2026-04-17"), role="iro", data={"next_review_on": "2026-07-16"})
    view = engine.case("DUD-1")
    assert view.deadline("first_review", status=None).status == "met"
    dues = open_dues(view)
    # monitoring form and next review on CCM within 5 working days: 20, 21, 22, 23, 24 Apr
    assert dues["review_monitoring_form"] == d("2026-04-24")
    # for the subsequent review (Thu 16 Jul) Dudley gives no contact timescale: the base 5 working days
    # 15, 14, 13, 10, 9 Jul; consultation 15 back: ... 10, 9, 8, 7, 6 (8), 3, 2, 1, 30, 29 Jun (13), 26, 25 (15)
    assert dues["iro_contact"] == d("2026-07-09")
    assert "iro_contact_first_review" not in dues
    assert dues["consultation"] == d("2026-06-25")
    assert dues["file_report"] == d("2026-07-09")


def test_dudley_personal_education_plan_within_20_working_days_across_christmas(store, clock, engine):
    """Dudley practice standards, Planning: a PEP "completed within 20 working days of a child
    becoming looked after". Not a national timescale here: the base procedure has no PEP."""
    dudley = authority_engine(store, clock, "dudley")
    # looked after Fri 11 Dec 2026: 14-18 (5), 21-24 (9), [25 Christmas, 28 Boxing Day substitute],
    # 29, 30, 31 (12), [1 Jan], 4-8 (17), 11, 12, 13 Jan 2027 (20)
    view = dudley.open_case("cla_review", "DUD-PEP", at=at("2026-12-11"), data={"became_looked_after": "2026-12-11"})
    pep = view.deadline("personal_education_plan")
    assert pep.due_on == d("2027-01-13") and pep.role == "social_worker"
    assert "Dudley IRO practice standards 2020" in pep.source and "Personal Education Plan" in pep.source
    # not completed by the end of Wed 13 Jan: the social worker, team manager and IRO are told
    dudley.tick(at("2027-01-13", 23))
    assert outbox(store, "deadline_expired", "personal_education_plan") == []
    dudley.tick(at("2027-01-14", 8))
    assert {p["role"] for p in outbox(store, "deadline_expired", "personal_education_plan")} == {
        "social_worker", "team_manager", "iro"}
    dudley.fire("DUD-PEP", "pep_completed", at=at("2027-01-14", 9), role="social_worker")
    assert dudley.case("DUD-PEP").deadline("personal_education_plan", status=None).status == "missed"

    # the base procedure has no PEP deadline
    base = engine.open_case("cla_review", "BASE-PEP", at=at("2026-12-11"), data={"became_looked_after": "2026-12-11"})
    assert "personal_education_plan" not in open_dues(base)


def test_dudley_icpc_timeline_adds_the_report_to_the_chair(store, clock):
    engine = authority_engine(store, clock, "dudley")
    engine.open_case("child_protection", "DUD-CP", at=at("2026-12-18"), data={"strategy_discussion_on": "2026-12-18"})
    engine.fire("DUD-CP", "conference_scheduled", at=at("2026-12-23"), data={"conference_date": "2027-01-12"})
    view = engine.case("DUD-CP")
    # back from Tue 12 Jan 2027: 11, 8, 7
    assert view.deadline("report_to_chair").due_on == d("2027-01-07")
    engine.fire("DUD-CP", "quoracy_rechecked", at=at("2027-01-07"), data={"quorate": False})
    assert engine.case("DUD-CP").deadline("icpc_go_ahead_discussion").due_on == d("2027-01-07")
    engine.fire("DUD-CP", "report_to_chair", at=at("2027-01-07"), role="social_worker")
    engine.fire("DUD-CP", "go_ahead_decided", at=at("2027-01-08"), role="service_manager", data={"proceed": True})
    view = engine.case("DUD-CP")
    assert view.deadline("report_to_chair", status=None).status == "met"
    assert view.deadline("icpc_go_ahead_discussion", status=None).status == "missed"
    assert view.deadline("go_ahead_decision", status=None).status == "met"  # due Mon 11 Jan


# ---- Gateshead: non-linear DRP, stage 3 meeting, 20-day notes, 15 months ---------------------------------


def test_gateshead_challenge_starts_at_stage_3_with_the_deputy_strategic_director(store, clock):
    engine = authority_engine(store, clock, "gateshead")
    view = engine.open_case("drp", "GAT-1", at=at("2026-06-01"), data={"theme": "care_planning", "concern": "c"}, state="stage_3")
    stage_3 = view.deadline("stage_3_response")
    assert stage_3.title == "Stage 3 meeting chaired by the Deputy Strategic Director"
    assert stage_3.role == "director" and "Gateshead IRO annual report 2023/24, para 38" in stage_3.source
    # Mon 1 Jun: 2, 3, 4, 5, 8
    assert stage_3.due_on == d("2026-06-08")

    engine.open_case("child_protection", "GAT-CP", at=at("2026-06-01"), data={"strategy_discussion_on": "2026-06-01"})
    engine.fire("GAT-CP", "icpc_held", at=at("2026-06-17"), data={"outcome": "plan", "category": "sexual", "quorate": True})
    view = engine.case("GAT-CP")
    # Wed 17 Jun: 18, 19 (2), 22-26 (7), 29, 30, 1-3 Jul (12), 6-10 (17), 13, 14, 15 (20)
    assert view.deadline("minutes_shared").due_on == d("2026-07-15")
    assert "Gateshead IRO annual report 2023/24, para 4" in view.deadline("minutes_shared").source
    assert view.deadline("designated_conference").due_on == d("2027-09-17")
    assert "para 17" in view.deadline("designated_conference").source


# ---- Croydon: informal resolution recorded first -----------------------------------------------------


def test_croydon_records_informal_resolution_before_any_escalation(store, clock):
    engine = authority_engine(store, clock, "croydon")
    with pytest.raises(CaseError) as err:
        engine.open_case("drp", "CRO-X", at=at("2026-03-02"), data={"theme": "practice", "concern": "c"}, state="stage_1")
    assert "cannot be opened at 'stage_1'" in str(err.value)
    engine.open_case("drp", "CRO-1", at=at("2026-03-02"), data={"theme": "practice", "concern": "Visits out of timescale"})
    with pytest.raises(ConditionNotMet) as err:
        engine.fire("CRO-1", "escalate", at=at("2026-03-03"), role="iro")
    assert "informal_resolution is set" in str(err.value)
    engine.fire("CRO-1", "informal_resolution_recorded", at=at("2026-03-04"), role="iro",
                data={"informal_resolution": "Discussed with the team manager; visit not arranged"})
    view = engine.case("CRO-1")
    assert view.state == "informal"
    assert view.deadline("informal_response", status=None).status == "met"  # due Mon 9 Mar
    engine.fire("CRO-1", "escalate", at=at("2026-03-05"), role="iro")
    # Thu 5 Mar: 6, 9, 10, 11, 12
    assert engine.case("CRO-1").deadline("stage_1_response").due_on == d("2026-03-12")

    # unattended, the informal stage is not escalated automatically: people are told
    engine.open_case("drp", "CRO-2", at=at("2026-03-02"), data={"theme": "practice", "concern": "c"})
    report = engine.tick(at("2026-03-10", 8))
    assert (report.expired, report.fired) == (1, 0)
    assert engine.case("CRO-2").state == "informal"
    assert {p["role"] for p in outbox(store, "deadline_expired", "informal_response")} == {"iro", "team_manager", "iro_manager"}
