"""A batch of commands stores exactly what the same commands store one by one."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from engine.errors import CaseError
from engine.runtime.engine import Engine
from engine.time.calendar import WorkingCalendar
from engine.time.clock import SimulatedClock
from persistence.store import Store

from tests.conftest import TABLES, at

RAISED = {"theme": "safety", "concern": "placement drift"}


def _workload(engine: Engine) -> list[str]:
    """Cases opened, escalated and resolved, with refusals among them; returns what happened."""
    seen = []

    def run(call, *args, **kw):
        try:
            result = call(*args, **kw)
            seen.append(repr(getattr(result, "to_state", getattr(result, "state", None))))
        except CaseError as exc:
            seen.append(type(exc).__name__)

    for i in range(12):
        ref = f"DRP-{i}"
        day = dt.date(2026, 1, 5) + dt.timedelta(days=3 * i)
        run(engine.open_case, "drp", ref, at=at(day.isoformat()), data=RAISED, idempotency_key=f"{ref}:open")
        run(engine.open_case, "drp", ref, at=at(day.isoformat()), data=RAISED)  # exists: refused
        run(engine.open_case, "drp", ref, at=at(day.isoformat()), data=RAISED, idempotency_key=f"{ref}:open")  # replay
        run(engine.fire, ref, "escalate", at=at((day + dt.timedelta(days=2)).isoformat()), role="iro",
            idempotency_key=f"{ref}:1")
        run(engine.fire, ref, "escalate", at=at((day + dt.timedelta(days=2)).isoformat()), role="iro",
            idempotency_key=f"{ref}:1")  # replay
        run(engine.fire, ref, "bogus", at=at((day + dt.timedelta(days=3)).isoformat()), role="iro")  # refused
        run(engine.fire, ref, "escalate", at=at(day.isoformat()), role="iro")  # before the last event: refused
        if i % 2:
            run(engine.fire, ref, "escalate", at=at((day + dt.timedelta(days=9)).isoformat()), role="iro")
        if i % 3 == 0:
            run(engine.fire, ref, "resolve", at=at((day + dt.timedelta(days=20)).isoformat()), role="iro",
                data={"outcome": "agreed_action"})
    return seen


def _dump(store: Store) -> dict[str, list]:
    with store.db.reader.connect() as conn:
        return {t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY 1"))] for t in TABLES}


def test_a_batch_stores_exactly_what_one_by_one_commands_store(tmp_path, registry):
    clock = SimulatedClock(at("2027-06-01", 9))
    single = Engine(Store.open(f"sqlite:///{tmp_path / 'single.db'}"), registry, WorkingCalendar(), clock)
    batched = Engine(Store.open(f"sqlite:///{tmp_path / 'batch.db'}"), registry, WorkingCalendar(), clock)
    one_by_one = _workload(single)
    with batched.batch(every=4) as batch:
        in_batch = _workload(batched)
    assert in_batch == one_by_one
    assert "CaseExists" in in_batch and "InvalidTrigger" in in_batch and "InvalidEffectiveTime" in in_batch
    assert batch.commands > 4 * 3  # it committed several times along the way
    expected, got = _dump(single.store), _dump(batched.store)
    assert all(expected[t] for t in ("cases", "transitions", "deadlines", "reminders", "definitions"))
    for table in TABLES:
        assert got[table] == expected[table], table


def test_a_batch_that_raises_keeps_only_what_it_committed(tmp_path, registry):
    clock = SimulatedClock(at("2027-06-01", 9))
    engine = Engine(Store.open(f"sqlite:///{tmp_path / 'b.db'}"), registry, WorkingCalendar(), clock)
    with pytest.raises(RuntimeError):
        with engine.batch(every=2):
            for i in range(3):
                engine.open_case("drp", f"B-{i}", at=at("2026-01-05"), data=RAISED)
            raise RuntimeError("the import failed")
    refs = [r[1] for r in _dump(engine.store)["cases"]]
    assert refs == ["B-0", "B-1"]  # the third was not committed


def test_an_atomic_group_is_kept_whole_or_undone_whole(tmp_path, registry):
    clock = SimulatedClock(at("2027-06-01", 9))
    engine = Engine(Store.open(f"sqlite:///{tmp_path / 'b.db'}"), registry, WorkingCalendar(), clock)
    with engine.batch(every=1) as batch:
        with batch.atomic():  # every=1, yet nothing is committed inside the group
            engine.open_case("drp", "KEPT-1", at=at("2026-01-05"), data=RAISED)
            engine.open_case("drp", "KEPT-2", at=at("2026-01-05"), data=RAISED)
        with pytest.raises(CaseError), batch.atomic():
            engine.open_case("drp", "UNDONE", at=at("2026-01-05"), data=RAISED)
            engine.fire("UNDONE", "bogus", at=at("2026-01-06"), role="iro")
    assert [r[1] for r in _dump(engine.store)["cases"]] == ["KEPT-1", "KEPT-2"]


def test_a_definition_stored_in_an_undone_group_is_stored_again_later(tmp_path, registry):
    # the group's open stored the drp definition, then was undone; the batch commits (another
    # workflow's case) and must not then take the drp definition for stored
    clock = SimulatedClock(at("2027-06-01", 9))
    engine = Engine(Store.open(f"sqlite:///{tmp_path / 'b.db'}"), registry, WorkingCalendar(), clock)
    with engine.batch(every=1) as batch:
        with pytest.raises(CaseError), batch.atomic():
            engine.open_case("drp", "UNDONE", at=at("2026-01-05"), data=RAISED)
            engine.fire("UNDONE", "bogus", at=at("2026-01-06"), role="iro")
        engine.open_case("child_protection", "CP-1", at=at("2026-01-05"),
                         data={"strategy_discussion_on": dt.date(2026, 1, 5)})
        engine.open_case("drp", "DRP-1", at=at("2026-01-05"), data=RAISED)
    stored = {r[0] for r in _dump(engine.store)["definitions"]}
    case_versions = {r[3] for r in _dump(engine.store)["cases"]}
    assert case_versions <= stored
