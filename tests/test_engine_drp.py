"""The DRP through the engine: every path, with due dates worked out by hand.

England and Wales calendar. Counting: the day of the event is day 0; "5 working days" is the
5th working day after it. 2026: Good Friday 3 April, Easter Monday 6 April.
"""

from __future__ import annotations

import io
import json
import threading

import pytest

from engine import logs
from engine.time.calendar import WorkingCalendar
from engine.runtime.engine import Engine
from engine.errors import (
    CaseExists,
    CaseNotFound,
    ConditionNotMet,
    ConflictError,
    IdempotencyMismatch,
    InvalidCaseData,
    InvalidEffectiveTime,
    InvalidTrigger,
    RoleNotAllowed,
)
from engine.language.bundled import bundled_dir
from engine.language.registry import Registry
from persistence.models import OutboxRow, TransitionRow
from persistence.store import Store

from .conftest import ESCALATING, at, d

RAISED = {"theme": "drift_and_delay", "concern": "Permanence plan not progressed"}


def open_drp(engine, ref="DRP-1", when="2026-03-02", workflow="drp", **kw):
    return engine.open_case(workflow, ref, at=at(when), data=RAISED, actor="iro.1", **kw)


@pytest.fixture
def escalating(store, escalating_registry, clock) -> Engine:
    """An engine that also knows tests/workflows/drp_escalating.yaml (the informal stage escalates itself)."""
    return Engine(store, escalating_registry, WorkingCalendar(), clock)


def test_opening_starts_the_informal_response_clock(engine):
    view = open_drp(engine)  # Mon 2 March 2026
    assert view.state == "informal"
    informal = view.deadline("informal_response")
    # 3, 4, 5, 6, 9 March
    assert informal.due_on == d("2026-03-09")
    assert informal.status == "open"
    assert "IRO Handbook" in informal.source
    assert [h.to_state for h in engine.history("DRP-1")] == ["informal"]


def test_every_formal_stage_across_easter_then_resolved(engine):
    open_drp(engine, when="2026-03-20")  # Fri
    engine.fire("DRP-1", "escalate", at=at("2026-03-23"), role="iro")  # Mon
    view = engine.case("DRP-1")
    assert view.state == "stage_1"
    # 24, 25, 26, 27, 30 March
    assert view.deadline("stage_1_response").due_on == d("2026-03-30")
    # 24-27 (4), 30, 31, 1, 2 Apr (8), [3 Good Friday, 6 Easter Monday], 7-10 (12), 13-17 (17), 20, 21, 22 (20)
    assert view.deadline("formal_resolution").due_on == d("2026-04-22")
    assert view.deadline("informal_response", status=None).status == "met"

    engine.fire("DRP-1", "escalate", at=at("2026-03-25"), role="iro")
    view = engine.case("DRP-1")
    # 26, 27, 30, 31 March, 1 April
    assert view.deadline("stage_2_response").due_on == d("2026-04-01")
    assert view.deadline("stage_1_response", status=None).status == "met"
    # the formal clock runs on across stages: still the one opened on 23 March
    assert [x.name for x in view.open_deadlines].count("formal_resolution") == 1
    assert view.deadline("formal_resolution").due_on == d("2026-04-22")

    engine.fire("DRP-1", "escalate", at=at("2026-03-31"), role="iro")
    # 1, 2, [3 GF, 6 EM], 7, 8, 9 April
    assert engine.case("DRP-1").deadline("stage_3_response").due_on == d("2026-04-09")

    result = engine.fire("DRP-1", "resolve", at=at("2026-04-08"), role="iro", data={"outcome": "resolved_at_meeting"})
    assert (result.from_state, result.to_state) == ("stage_3", "resolved")
    view = engine.case("DRP-1")
    assert view.closed_at == at("2026-04-08")
    assert view.open_deadlines == []
    assert view.deadline("formal_resolution", status=None).status == "met"
    assert view.data["outcome"] == "resolved_at_meeting"
    history = engine.history("DRP-1")
    assert [(h.from_state, h.to_state) for h in history] == [
        (None, "informal"), ("informal", "stage_1"), ("stage_1", "stage_2"), ("stage_2", "stage_3"), ("stage_3", "resolved"),
    ]
    assert [h.seq for h in history] == [1, 2, 3, 4, 5]
    with pytest.raises(InvalidTrigger) as err:
        engine.fire("DRP-1", "escalate", at=at("2026-04-09"))
    assert "resolved" in str(err.value) and "closed" in str(err.value)


def test_resolving_late_records_the_deadline_as_missed(engine):
    open_drp(engine, when="2026-03-02", state="stage_1")
    # stage 1 due 9 March; resolved on the 10th
    engine.fire("DRP-1", "resolve", at=at("2026-03-10"), role="iro", data={"outcome": "agreed_action"})
    assert engine.case("DRP-1").deadline("stage_1_response", status=None).status == "missed"
    assert engine.case("DRP-1").deadline("formal_resolution", status=None).status == "met"


def test_the_iro_may_open_at_any_formal_stage(engine):
    view = open_drp(engine, when="2026-06-01", state="stage_2")
    assert view.state == "stage_2"
    # 2, 3, 4, 5, 8 June
    assert view.deadline("stage_2_response").due_on == d("2026-06-08")
    # June has no bank holiday: 20 working days after Mon 1 June is Mon 29 June
    assert view.deadline("formal_resolution").due_on == d("2026-06-29")
    assert engine.history("DRP-1")[0].from_state is None


def test_opening_at_a_final_state_is_refused(engine):
    with pytest.raises(Exception) as err:
        open_drp(engine, state="resolved")
    assert "cannot be opened at 'resolved'" in str(err.value)
    with pytest.raises(CaseNotFound):
        engine.case("DRP-1")


def test_escalate_to_skips_stages(engine):
    open_drp(engine)
    engine.fire("DRP-1", "escalate_to", at=at("2026-03-03"), role="iro", data={"target_stage": "stage_3"})
    view = engine.case("DRP-1")
    assert view.state == "stage_3"
    # 4, 5, 6, 9, 10 March
    assert view.deadline("stage_3_response").due_on == d("2026-03-10")


def test_escalate_to_needs_a_later_stage(engine):
    open_drp(engine, state="stage_1")
    with pytest.raises(ConditionNotMet) as err:
        engine.fire("DRP-1", "escalate_to", at=at("2026-03-03"), role="iro", data={"target_stage": "stage_1"})
    assert "target_stage = 'stage_3'" in str(err.value) and "target_stage = 'stage_2'" in str(err.value)
    with pytest.raises(ConditionNotMet):
        engine.fire("DRP-1", "escalate_to", at=at("2026-03-03"), role="iro")
    assert len(engine.history("DRP-1")) == 1


def test_withdrawal_cancels_the_formal_clock(engine):
    open_drp(engine, state="stage_2")
    engine.fire("DRP-1", "withdraw", at=at("2026-03-04"), role="iro", reason="care plan amended")
    view = engine.case("DRP-1")
    assert view.state == "withdrawn"
    assert view.deadline("formal_resolution", status=None).status == "cancelled"
    assert view.open_deadlines == []


def test_cafcass_referral_runs_alongside_and_moves_no_clock(engine):
    open_drp(engine, state="stage_1")
    before = engine.case("DRP-1").open_deadlines
    engine.fire("DRP-1", "refer_to_cafcass", at=at("2026-03-04"), role="iro", data={"cafcass_referred_on": "2026-03-04"})
    view = engine.case("DRP-1")
    assert view.state == "stage_1"
    assert view.open_deadlines == before
    assert view.data["cafcass_referred_on"] == d("2026-03-04")
    with pytest.raises(InvalidCaseData) as err:
        engine.fire("DRP-1", "refer_to_cafcass", at=at("2026-03-05"), role="iro")
    assert "cafcass_referred_on" in str(err.value)


def test_an_invalid_trigger_names_the_state_and_the_valid_triggers_and_stores_nothing(engine):
    open_drp(engine, state="stage_3")
    before = engine.case("DRP-1")
    with pytest.raises(InvalidTrigger) as err:
        engine.fire("DRP-1", "escalate", at=at("2026-03-03"), role="iro")
    message = str(err.value)
    assert "'escalate' is not valid in state 'stage_3'" in message
    assert "resolve" in message and "withdraw" in message and "refer_to_cafcass" in message
    after = engine.case("DRP-1")
    assert after == before
    assert len(engine.history("DRP-1")) == 1


def test_required_and_unknown_data_are_refused_without_storing(engine, store):
    with pytest.raises(InvalidCaseData) as err:
        engine.open_case("drp", "DRP-1", at=at("2026-03-02"), data={"theme": "safety"})
    assert "concern" in str(err.value)
    with pytest.raises(InvalidCaseData) as err:
        engine.open_case("drp", "DRP-1", at=at("2026-03-02"), data={**RAISED, "theme": "housing"})
    assert "data field 'theme': the value is not one of care_planning, practice, drift_and_delay, safety" in str(err.value)
    assert "housing" not in str(err.value)  # the rule, never the rejected value
    with pytest.raises(InvalidCaseData) as err:
        engine.open_case("drp", "DRP-1", at=at("2026-03-02"), data={**RAISED, "colour": "red"})
    assert "colour" in str(err.value)
    assert store.count(TransitionRow) == 0
    open_drp(engine)
    with pytest.raises(InvalidCaseData) as err:
        engine.fire("DRP-1", "resolve", at=at("2026-03-03"), role="iro")
    assert "'outcome': is required by 'resolve'" in str(err.value)
    assert engine.case("DRP-1").state == "informal"
    with pytest.raises(CaseExists):
        open_drp(engine)


def test_roles_are_checked_when_given(engine):
    open_drp(engine)
    with pytest.raises(RoleNotAllowed) as err:
        engine.fire("DRP-1", "escalate", at=at("2026-03-03"), role="team_manager")
    assert "allowed roles: iro, iro_manager" in str(err.value)
    assert engine.case("DRP-1").state == "informal"


def test_backdated_events_count_from_their_effective_date(engine, clock):
    open_drp(engine, when="2026-03-02")
    # recorded in 2030 (the clock), effective in March 2026: dates come from the effective time
    engine.fire("DRP-1", "escalate", at=at("2026-03-05"), role="iro")
    # 6, 9, 10, 11, 12 March
    assert engine.case("DRP-1").deadline("stage_1_response").due_on == d("2026-03-12")
    entry = engine.history("DRP-1")[-1]
    assert entry.effective_at == at("2026-03-05")
    assert entry.recorded_at == clock.now()


def test_no_event_before_the_previous_transition_or_in_the_future(engine, clock):
    open_drp(engine, when="2026-03-02")
    with pytest.raises(InvalidEffectiveTime) as err:
        engine.fire("DRP-1", "escalate", at=at("2026-02-27"), role="iro")
    assert "before the case's previous transition" in str(err.value)
    with pytest.raises(InvalidEffectiveTime) as err:
        engine.fire("DRP-1", "escalate", at=at("2031-01-01"), role="iro")
    assert "in the future" in str(err.value)
    assert len(engine.history("DRP-1")) == 1


def test_a_retry_with_the_same_key_returns_the_first_result(engine, store):
    open_drp(engine, idempotency_key="open-1")
    assert open_drp(engine, idempotency_key="open-1").state == "informal"
    first = engine.fire("DRP-1", "escalate", at=at("2026-03-03"), role="iro", idempotency_key="k-1")
    again = engine.fire("DRP-1", "escalate", at=at("2026-03-04"), role="iro", idempotency_key="k-1")
    assert not first.replayed and again.replayed
    assert (again.from_state, again.to_state, again.seq, again.effective_at) == ("informal", "stage_1", 2, at("2026-03-03"))
    assert store.count(TransitionRow) == 2
    with pytest.raises(IdempotencyMismatch):
        engine.fire("DRP-1", "withdraw", at=at("2026-03-04"), role="iro", idempotency_key="k-1")


def test_a_stale_writer_gets_a_conflict(engine):
    open_drp(engine)
    version = engine.case("DRP-1").row_version
    engine.fire("DRP-1", "escalate", at=at("2026-03-03"), role="iro", expected_version=version)
    with pytest.raises(ConflictError) as err:
        engine.fire("DRP-1", "withdraw", at=at("2026-03-03"), role="iro", expected_version=version)
    assert "another writer" in str(err.value)
    assert [h.to_state for h in engine.history("DRP-1")] == ["informal", "stage_1"]


def test_two_writers_planned_on_the_same_snapshot_one_wins(engine, store):
    open_drp(engine)
    snap = store.case("DRP-1")
    wf = engine._workflow(snap.version)
    a = engine._plan(snap, wf, "escalate", at=at("2026-03-03"), actor="a", role="iro", reason=None, data=None,
                     idempotency_key=None, kind="trigger")
    b = engine._plan(snap, wf, "withdraw", at=at("2026-03-03"), actor="b", role="iro", reason=None, data=None,
                     idempotency_key=None, kind="trigger")
    store.apply(a)
    with pytest.raises(ConflictError):
        store.apply(b)
    view = engine.case("DRP-1")
    assert view.state == "stage_1"
    assert [h.seq for h in engine.history("DRP-1")] == [1, 2]
    assert len(view.open_deadlines) == 2  # stage_1_response, formal_resolution: b wrote nothing


def test_concurrent_writers_in_threads_never_fork_history(database_url, registry, clock):
    engines = [Engine(Store.open(database_url), registry, WorkingCalendar(), clock) for _ in range(2)]
    open_drp(engines[0])
    version = engines[0].case("DRP-1").row_version
    barrier = threading.Barrier(2)
    results: list[object] = []

    def writer(engine, trigger):
        barrier.wait()
        try:
            results.append(engine.fire("DRP-1", trigger, at=at("2026-03-03"), role="iro", expected_version=version))
        except ConflictError as exc:
            results.append(exc)

    threads = [threading.Thread(target=writer, args=(e, t)) for e, t in zip(engines, ["escalate", "withdraw"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(isinstance(r, ConflictError) for r in results) == 1
    history = engines[0].history("DRP-1")
    assert [h.seq for h in history] == [1, 2]
    for e in engines:
        e.store.close()


def test_an_unanswered_informal_stage_prompts_the_iro_and_their_manager_and_stays_informal(engine, store):
    """IRO Handbook: the IRO "should consider taking formal action" - a judgement, not a timer."""
    open_drp(engine, when="2026-03-02")  # Mon 2 Mar: 3, 4, 5, 6, 9 -> informal due Mon 9 March
    report = engine.tick(at("2026-03-10", 8))
    assert (report.expired, report.fired) == (1, 0)
    view = engine.case("DRP-1")
    assert view.state == "informal"
    expired = view.deadline("informal_response", status=None)
    assert expired.expired_at is not None and expired.status == "open"  # overdue until the IRO acts
    assert {o.payload["role"] for o in store.outbox() if o.kind == "deadline_expired"} == {"iro", "iro_manager"}
    assert [h.trigger for h in engine.history("DRP-1")] == ["open"]
    assert engine.registry.get("drp").spec.deadlines["informal_response"].on_expiry.trigger is None
    # the IRO decides to go formal on Wed 11 Mar: the informal response is closed as missed
    engine.fire("DRP-1", "escalate", at=at("2026-03-11"), role="iro", actor="iro.1")
    view = engine.case("DRP-1")
    assert view.deadline("informal_response", status=None).status == "missed"
    # Wed 11 Mar: 12, 13, 16, 17, 18
    assert view.deadline("stage_1_response").due_on == d("2026-03-18")


def test_tick_escalates_a_missed_response_exactly_once(escalating, store):
    engine = escalating
    open_drp(engine, when="2026-03-02", workflow=ESCALATING)  # informal due Mon 9 March, i.e. at 00:00 on the 10th
    assert engine.tick(at("2026-03-09", 23, 59)).expired == 0
    report = engine.tick(at("2026-03-10", 8))
    assert (report.expired, report.fired) == (1, 1)
    view = engine.case("DRP-1")
    assert view.state == "stage_1"
    missed = view.deadline("informal_response", status=None)
    assert missed.status == "missed" and missed.expiry_outcome == "fired escalate"
    last = engine.history("DRP-1")[-1]
    assert (last.kind, last.actor, last.trigger) == ("expiry", "system", "escalate")
    assert last.effective_at == at("2026-03-10", 0)  # the original due time, not the tick's
    # the new stage counts from the original due time: 11, 12, 13, 16, 17 March
    assert view.deadline("stage_1_response").due_on == d("2026-03-17")
    assert engine.tick(at("2026-03-10", 9)).expired == 0
    assert store.count(TransitionRow) == 2
    assert {o.payload["role"] for o in store.outbox() if o.kind == "deadline_expired"} == {"team_manager", "iro"}
    # the reminder went out before the due date, to the role responsible in that state
    [reminder] = [o for o in store.outbox() if o.kind == "deadline_reminder"]
    assert reminder.payload["role"] == "social_worker"


def test_an_unattended_dispute_climbs_every_stage_in_one_late_tick(escalating, store):
    engine = escalating
    open_drp(engine, when="2026-03-02", workflow=ESCALATING)
    report = engine.tick(at("2026-04-30", 9))
    # informal due 9 Mar -> stage 1 from 10 Mar, due 17 Mar -> stage 2 from 18 Mar, due 25 Mar
    # -> stage 3 from 26 Mar: 27, 30, 31 Mar, 1, 2 Apr -> due 2 Apr (notify only)
    # formal: 20 wd from 10 Mar: 11-13 (3), 16-20 (8), 23-27 (13), 30 Mar-2 Apr (17), [Easter], 7, 8, 9 Apr (20)
    view = engine.case("DRP-1")
    assert view.state == "stage_3"
    assert view.deadline("stage_3_response").due_on == d("2026-04-02")
    assert view.deadline("formal_resolution").due_on == d("2026-04-09")
    assert (report.expired, report.fired) == (5, 3)
    overdue = engine.overdue(at("2026-04-30", 9))
    assert [(o.deadline, o.due_on, o.working_days_overdue) for o in overdue] == [
        # 2 Apr -> 30 Apr: 7-10 (4), 13-17 (9), 20-24 (14), 27-30 (18)
        ("stage_3_response", d("2026-04-02"), 18),
        # 9 Apr -> 30 Apr: 10 (1), 13-17 (6), 20-24 (11), 27-30 (15)
        ("formal_resolution", d("2026-04-09"), 15),
    ]
    # notifications: informal 2 roles, stages 1-3 three each, formal three
    assert store.count(OutboxRow) == 14
    assert engine.tick(at("2026-05-30", 9)).expired == 0


def test_reminders_are_queued_once_before_the_due_date(engine, store):
    open_drp(engine, when="2026-03-02")  # due 9 March; reminder 2 working days before: 5 March
    assert engine.tick(at("2026-03-04", 23)).reminders == 0
    assert engine.tick(at("2026-03-05", 9)).reminders == 1
    assert engine.tick(at("2026-03-05", 10)).reminders == 0
    [note] = store.outbox()
    assert note.kind == "deadline_reminder" and note.payload["due_on"] == "2026-03-09"


def test_upcoming_counts_working_days(engine):
    open_drp(engine, when="2026-03-02")  # due Mon 9 March
    # from Wed 4 March: 5, 6, 9 -> within 3 working days, not within 2
    assert [(u.deadline, u.working_days_left) for u in engine.upcoming(3, at=at("2026-03-04", 9))] == [("informal_response", 3)]
    assert engine.upcoming(2, at=at("2026-03-04", 9)) == []


def test_a_case_keeps_the_definition_version_it_was_opened_on(engine, store, registry, clock, tmp_path):
    open_drp(engine, ref="OLD")
    old_version = engine.case("OLD").version
    text = (bundled_dir("workflows") / "drp.yaml").read_text()
    changed = text.replace("    state: stage_1\n    role: team_manager\n    due: {amount: 5,", "    state: stage_1\n    role: team_manager\n    due: {amount: 10,")
    assert changed != text
    (tmp_path / "drp.yaml").write_text(changed)
    newer = Engine(store, Registry.load([tmp_path]), WorkingCalendar(), clock)
    assert newer.registry.get("drp").version != old_version
    newer.fire("OLD", "escalate", at=at("2026-03-03"), role="iro")
    old = newer.case("OLD")
    assert old.version == old_version
    assert old.deadline("stage_1_response").amount == 5
    assert newer.history("OLD")[-1].definition_version == old_version
    newer.open_case("drp", "NEW", at=at("2026-03-03"), data=RAISED, state="stage_1")
    assert newer.case("NEW").deadline("stage_1_response").amount == 10


def test_logs_name_the_case_reference_and_never_its_data(engine):
    stream = io.StringIO()
    logs.configure(json_output=True, stream=stream)
    try:
        engine.open_case("drp", "DRP-9", at=at("2026-03-02"), data={"theme": "safety", "concern": "Jane Doe at 1 High St"})
        engine.fire("DRP-9", "withdraw", at=at("2026-03-03"), role="iro", reason="Jane's mother objected")
    finally:
        logs.configure(json_output=True)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["case opened", "transition"]
    assert all(line["case_ref"] == "DRP-9" for line in lines)
    assert lines[1]["trigger"] == "withdraw" and lines[1]["from_state"] == "informal" and lines[1]["to_state"] == "withdrawn"
    assert "Jane" not in stream.getvalue() and "High St" not in stream.getvalue()


def test_the_redaction_processor_drops_personal_fields_whoever_logs_them():
    stream = io.StringIO()
    logs.configure(json_output=True, stream=stream)
    try:
        import structlog

        structlog.get_logger("x").info("oops", case_ref="C-1", data={"name": "Jane"}, reason="Jane")
    finally:
        logs.configure(json_output=True)
    line = json.loads(stream.getvalue())
    assert line["data"] == "[redacted]" and line["reason"] == "[redacted]" and line["case_ref"] == "C-1"
