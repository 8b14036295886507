"""Language features on small inline workflows: counters, lateness reasons, cases that open
other cases, authority profiles, and recomputing dates when the calendar changes."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from engine.time.calendar import WorkingCalendar
from engine.runtime.engine import Engine
from engine.errors import DefinitionError, InvalidCaseData
from engine.language.bundled import bundled_dir
from engine.language.registry import Registry

from .conftest import at, d

REVIEWS = """
name: reviews
title: A review cycle
initial: active
roles: {chair: Chair}
data:
  started: {type: date}
  reviews_held: {type: integer}
  lateness_reason: {type: choice, choices: [late_notification, calculation_error]}
  rating: {type: choice, choices: [red, green]}
  notes: {type: text}
states:
  active: {role: chair}
  closed: {final: true}
transitions:
  - trigger: review_held
    source: active
    increments: [reviews_held]
    starts:
      workflow: drp
      case_ref: "{case_ref}-DRP-{seq}"
      when: [{field: rating, equals: red}]
      data: {theme: care_planning, concern: "{notes}"}
  - {trigger: close, source: active, dest: closed}
deadlines:
  first_review:
    title: First review
    opened_by: [open]
    closed_by: [review_held]
    late_requires: [lateness_reason]
    due: {amount: 20, unit: working_days, anchor: data.started}
    source: test
  second_review:
    title: Second review
    opened_by: [review_held]
    closed_by: [review_held]
    late_requires: [lateness_reason]
    when: [{field: reviews_held, equals: 1}]
    due: {amount: 3, unit: months}
    source: test
  later_review:
    title: Later reviews
    opened_by: [review_held]
    closed_by: [review_held]
    when: [{field: reviews_held, at_least: 2}]
    due: {amount: 6, unit: months}
    source: test
"""


@pytest.fixture
def reviews(tmp_path, store, clock):
    (tmp_path / "reviews.yaml").write_text(REVIEWS)
    registry = Registry.load([bundled_dir("workflows"), tmp_path])
    return Engine(store, registry, WorkingCalendar(), clock)


def test_counters_choose_which_review_comes_next(reviews):
    reviews.open_case("reviews", "C-1", at=at("2026-08-03"), data={"started": "2026-07-31"})
    # 31 Jul (Fri) + 20 wd: Aug 3-7 (5), 10-14 (10), 17-21 (15), 24-28 (20); 31 Aug is a bank holiday anyway
    assert reviews.case("C-1").deadline("first_review").due_on == d("2026-08-28")
    reviews.fire("C-1", "review_held", at=at("2026-08-27"))
    view = reviews.case("C-1")
    assert view.data["reviews_held"] == 1
    assert view.deadline("first_review", status=None).status == "met"
    assert [x.name for x in view.open_deadlines] == ["second_review"]
    assert view.deadline("second_review").due_on == d("2026-11-27")  # 27 Aug + 3 calendar months
    reviews.fire("C-1", "review_held", at=at("2026-11-20"))
    view = reviews.case("C-1")
    assert view.data["reviews_held"] == 2
    assert [x.name for x in view.open_deadlines] == ["later_review"]
    assert view.deadline("later_review").due_on == d("2027-05-20")


def test_a_late_review_needs_a_reason_and_is_refused_without_one(reviews):
    reviews.open_case("reviews", "C-1", at=at("2026-08-03"), data={"started": "2026-07-31"})
    with pytest.raises(InvalidCaseData) as err:
        reviews.fire("C-1", "review_held", at=at("2026-09-01"))
    assert "'lateness_reason': is required: 'first_review' was due 2026-08-28" in str(err.value)
    assert len(reviews.history("C-1")) == 1
    reviews.fire("C-1", "review_held", at=at("2026-09-01"), data={"lateness_reason": "calculation_error"})
    assert reviews.case("C-1").deadline("first_review", status=None).status == "missed"


def test_a_transition_can_open_a_case_of_another_workflow_atomically(reviews):
    reviews.open_case("reviews", "C-1", at=at("2026-08-03"), data={"started": "2026-07-31"})
    reviews.fire("C-1", "review_held", at=at("2026-08-27"), data={"rating": "green"})
    reviews.fire("C-1", "review_held", at=at("2026-09-03"), data={"rating": "red", "notes": "Plan drifting"})
    child = reviews.case("C-1-DRP-3")
    assert (child.workflow, child.state) == ("drp", "informal")
    assert child.data == {"theme": "care_planning", "concern": "Plan drifting"}
    assert child.opened_at == at("2026-09-03")
    # 3 Sep (Thu) + 5 wd: 4, 7, 8, 9, 10 Sep
    assert child.deadline("informal_response").due_on == d("2026-09-10")
    first = reviews.history("C-1-DRP-3")[0]
    assert first.actor == "system" and "C-1" in first.reason


def test_a_failed_spawn_writes_nothing(reviews, tmp_path):
    reviews.open_case("reviews", "C-1", at=at("2026-08-03"), data={"started": "2026-07-31"})
    reviews.open_case("drp", "C-1-DRP-2", at=at("2026-08-03"), data={"theme": "safety", "concern": "x"})
    with pytest.raises(Exception) as err:
        reviews.fire("C-1", "review_held", at=at("2026-08-27"), data={"rating": "red", "notes": "again"})
    assert "already exists" in str(err.value)
    assert len(reviews.history("C-1")) == 1
    assert reviews.case("C-1").deadline("first_review").status == "open"


PROFILE = """
name: testshire
title: Testshire County Council
calendar:
  nation: scotland
  closure_days: {2026-12-24: Council closure}
roles:
  team_manager: Practice Manager
workflows:
  drp:
    deadlines:
      stage_1_response:
        due: {amount: 10}
        source: Testshire escalation protocol, stage 1
new_workflows:
  rag:
    name: rag
    title: RAG rating
    initial: rated
    states:
      rated: {}
      done: {final: true}
    transitions:
      - {trigger: finish, source: rated, dest: done}
"""


def test_a_profile_overlays_the_base_and_sets_the_calendar(tmp_path):
    (tmp_path / "testshire.yaml").write_text(PROFILE)
    registry = Registry.load(authority="testshire", profiles=tmp_path)
    drp = registry.get("drp")
    assert drp.spec.deadlines["stage_1_response"].due.amount == 10
    assert drp.spec.deadlines["stage_1_response"].due.unit.value == "working_days"
    assert drp.spec.roles["team_manager"] == "Practice Manager"
    assert drp.version != Registry.load().get("drp").version
    assert "rag" in registry.names()
    cal = registry.profile.calendar
    assert cal.nation.value == "scotland"
    # 23 Dec (Wed) + 1 wd: 24th is closed, 25-28 holidays/weekend, 29th
    assert cal.add(d("2026-12-23"), 1, "working_days") == d("2026-12-29")


@pytest.mark.parametrize(("patch", "line", "field", "message"), [
    # PROFILE starts with an empty line: `name` is line 2
    ("title: Testshire County Council\n", 4, "colour", "unknown key 'colour'"),
    ("      stage_1_response:\n", 13, "deadlines.stage_1_response.due.unit", "Input should be"),
    ("  drp:\n", 10, "workflows.dpr", "no base workflow 'dpr'"),
    ("  team_manager: Practice Manager\n", 8, "roles.head_teacher", "no workflow declares role 'head_teacher'"),
])
def test_profile_errors_name_the_profile_file_and_line(tmp_path, patch, line, field, message):
    text = PROFILE
    if field == "colour":
        text = text.replace(patch, patch + "colour: blue\n")
    elif field.endswith("due.unit"):
        text = text.replace("        due: {amount: 10}\n", "        due: {amount: 10, unit: fortnights}\n")
    elif field == "workflows.dpr":
        text = text.replace(patch, "  dpr:\n")
    else:
        text = text.replace(patch, "  head_teacher: Head\n")
    (tmp_path / "testshire.yaml").write_text(text)
    with pytest.raises(DefinitionError) as err:
        Registry.load(authority="testshire", profiles=tmp_path)
    found = [(p.file, p.line, p.field) for p in err.value.problems]
    assert (str(tmp_path / "testshire.yaml"), line, field) in found, found
    assert any(message in p.message for p in err.value.problems)


def test_an_unknown_authority_lists_the_profiles(tmp_path):
    (tmp_path / "testshire.yaml").write_text(PROFILE)
    with pytest.raises(DefinitionError) as err:
        Registry.load(authority="nowhere", profiles=tmp_path)
    assert "unknown authority 'nowhere' (profiles: testshire)" in str(err.value)


def test_a_proclaimed_bank_holiday_moves_open_deadlines_and_history_says_so(store, registry, clock):
    before = Engine(store, registry, WorkingCalendar(), clock)
    before.open_case("drp", "DRP-1", at=at("2026-06-01"), data={"theme": "safety", "concern": "x"})
    before.open_case("drp", "DRP-2", at=at("2026-06-15"), data={"theme": "safety", "concern": "x"})
    # 1 June (Mon) + 5 wd = 8 June; reminder 2 wd before: 4 June
    assert before.case("DRP-1").deadline("informal_response").due_on == d("2026-06-08")
    proclaimed = WorkingCalendar(closure_days={dt.date(2026, 6, 3): "One-off bank holiday"})
    after = Engine(store, registry, proclaimed, clock)
    stale = after.explain("DRP-1")
    assert stale[0].stale and stale[0].computation.due_on == d("2026-06-09")
    moved = after.recompute()
    # DRP-1: 2, [3 closed], 4, 5, 8, 9 June; DRP-2 (15 June) is untouched by 3 June
    assert [(m.case_ref, m.deadline, m.old_due_on, m.new_due_on) for m in moved] == [
        ("DRP-1", "informal_response", d("2026-06-08"), d("2026-06-09"))
    ]
    view = after.case("DRP-1")
    assert view.deadline("informal_response").due_on == d("2026-06-09")
    assert view.deadline("informal_response").calendar_version == proclaimed.version
    assert after.case("DRP-2").deadline("informal_response").calendar_version == proclaimed.version
    last = after.history("DRP-1")[-1]
    assert last.kind == "recompute" and last.effective_at == at("2026-06-01")
    assert last.data == {"moved": [{"deadline": "informal_response", "old_due_on": "2026-06-08", "new_due_on": "2026-06-09"}]}
    assert after.recompute() == []
    explained = after.explain("DRP-1")[0]
    assert not explained.stale
    assert [(s.day, s.reason) for s in explained.computation.skipped] == [
        (d("2026-06-03"), "Authority closure: One-off bank holiday"), (d("2026-06-06"), "Saturday"), (d("2026-06-07"), "Sunday"),
    ]
    # the reminder moved with it: 2 working days before 9 June is 5 June
    assert after.tick(at("2026-06-04", 12)).reminders == 0
    assert after.tick(at("2026-06-05", 9)).reminders == 1
    # later events still backdate freely: the recompute did not move the case's clock
    after.fire("DRP-1", "escalate", at=at("2026-06-02"), role="iro")


def test_a_workflow_file_may_extend_a_base(tmp_path, store, clock):
    (tmp_path / "drp_local.yaml").write_text(textwrap.dedent("""
        extends: drp
        name: drp_local
        title: Local DRP
        deadlines:
          informal_response:
            due: {amount: 3}
            source: Local protocol
    """))
    registry = Registry.load([bundled_dir("workflows"), tmp_path])
    engine = Engine(store, registry, WorkingCalendar(), clock)
    engine.open_case("drp_local", "L-1", at=at("2026-06-01"), data={"theme": "safety", "concern": "x"})
    view = engine.case("L-1")
    assert view.deadline("informal_response").due_on == d("2026-06-04")
    assert view.deadline("informal_response").source == "Local protocol"
