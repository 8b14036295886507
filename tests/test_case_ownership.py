"""Who a case is about and who holds it: child_ref, assigned_to and team, set at open and
changed by a reassignment that history records like any other event."""

from __future__ import annotations

import pytest

from engine.errors import CaseNotFound, InvalidCommand
from engine.interfaces.api import create_app

from .conftest import api_client, at
from .test_cli import caseclock, no_traceback, ok

RAISED = {"theme": "drift_and_delay", "concern": "Permanence plan not progressed"}
LOOKED_AFTER = {"became_looked_after": "2026-01-02"}


def test_a_case_opens_with_its_child_iro_and_team(engine):
    view = engine.open_case("cla_review", "CLA-1", at=at("2026-01-05"), data=LOOKED_AFTER,
                            child_ref=" P-100 ", assigned_to="iro.khan", team="North")
    assert (view.child_ref, view.assigned_to, view.team) == ("P-100", "iro.khan", "North")
    assert engine.case("CLA-1").to_dict()["assigned_to"] == "iro.khan"


def test_reassigning_is_history_and_leaves_state_and_deadlines_alone(engine):
    engine.open_case("cla_review", "CLA-1", at=at("2026-01-05"), data=LOOKED_AFTER, assigned_to="iro.khan", team="North")
    before = engine.case("CLA-1")
    outcome = engine.reassign("CLA-1", assigned_to="iro.osei", team="South", at=at("2026-01-07"), actor="manager.lee",
                              reason="caseload balancing", idempotency_key="re-1")
    after = engine.case("CLA-1")
    assert (after.assigned_to, after.team) == ("iro.osei", "South")
    assert (after.state, after.deadlines) == (before.state, before.deadlines)
    assert after.row_version == before.row_version + 1
    last = engine.history("CLA-1")[-1]
    assert (last.kind, last.trigger, last.from_state, last.to_state, last.actor, last.data) == (
        "reassign", "reassign", before.state, before.state, "manager.lee", {"assigned_to": "iro.osei", "team": "South"})
    assert outcome.seq == last.seq
    again = engine.reassign("CLA-1", assigned_to="iro.osei", team="South", at=at("2026-01-07"), idempotency_key="re-1")
    assert again.replayed and len(engine.history("CLA-1")) == 2
    engine.reassign("CLA-1", assigned_to=None, at=at("2026-01-08"))
    assert (engine.case("CLA-1").assigned_to, engine.case("CLA-1").team) == (None, None)


def test_a_case_opened_by_another_belongs_to_the_same_child_and_iro(engine):
    engine.open_case("cla_review", "CLA-1", at=at("2026-01-05"), data=LOOKED_AFTER,
                     child_ref="P-100", assigned_to="iro.khan", team="North")
    engine.fire("CLA-1", "dispute_raised", at=at("2026-01-06"), role="iro",
                data={"dispute_theme": "drift_and_delay", "dispute_concern": "x"})
    dispute = engine.case("CLA-1-DRP-2")
    assert (dispute.child_ref, dispute.assigned_to, dispute.team) == ("P-100", "iro.khan", "North")


@pytest.mark.parametrize("field, value, rule", [
    ("child_ref", "x" * 129, "child_ref must be 1-128 printable characters"),
    ("assigned_to", "iro\x00", "assigned_to must be 1-128 printable characters"),
    ("team", "t" * 65, "team must be 1-64 printable characters"),
])
def test_owner_fields_over_their_limits_are_refused_before_anything_is_written(engine, store, field, value, rule):
    with pytest.raises(InvalidCommand, match=rule) as refused:
        engine.open_case("drp", "DRP-1", at=at("2026-03-02"), data=RAISED, **{field: value})
    assert value not in str(refused.value)
    with pytest.raises(CaseNotFound):
        engine.case("DRP-1")


def test_the_api_opens_and_reassigns(engine, store):
    with api_client(create_app(engine), store) as client:
        opened = client.post("/cases", json={"workflow": "drp", "case_ref": "DRP-1", "at": "2026-03-02", "data": RAISED,
                                             "child_ref": "P-9", "assigned_to": "iro.khan", "team": "North"})
        assert opened.status_code == 201 and opened.json()["child_ref"] == "P-9"
        moved = client.post("/cases/DRP-1/reassign", json={"assigned_to": "iro.osei", "at": "2026-03-03"})
        assert moved.status_code == 200
        assert (moved.json()["case"]["assigned_to"], moved.json()["case"]["team"]) == ("iro.osei", None)
        assert client.post("/cases/DRP-1/reassign", json={"team": "x"}).status_code == 422  # assigned_to is required


def test_the_cli_opens_shows_and_reassigns(tmp_path):
    db = tmp_path / "c.db"
    ok(caseclock("open", "drp", "DRP-1", "--at", "2026-03-02", "--set", "theme=safety", "--set", "concern=x",
                 "--child", "P-9", "--assigned-to", "iro.khan", "--team", "North", "--create", db=db))
    ok(caseclock("reassign", "DRP-1", "--to", "iro.osei", "--team", "South", "--at", "2026-03-03", db=db))
    shown = ok(caseclock("show", "DRP-1", db=db)).stdout
    assert "child: P-9" in shown and "assigned to: iro.osei" in shown and "team: South" in shown
    refused = caseclock("reassign", "DRP-404", "--to", "iro.osei", db=db)
    assert refused.returncode != 0 and "no such case" in refused.stderr + refused.stdout
    no_traceback(refused)
