"""Lengths and characters are checked before the database, the same on SQLite and PostgreSQL:
a clear refusal naming the field and the rule, nothing stored, no value echoed, no SQL parameter
in any message or log."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text

from engine.errors import CaseError, InvalidCaseData, InvalidCommand, InvalidTrigger
from engine.interfaces.api import create_app
from engine.runtime.engine import Engine
from engine.runtime.inputs import ACTOR_MAX, CASE_REF_MAX, KEY_MAX, NAME_MAX
from engine.time.calendar import WorkingCalendar
from persistence.db import connect
from persistence.models import CaseRow, TransitionRow
from persistence.store import Store

from .conftest import api_client, at

SECRET = "Jane-Doe-disclosed-at-school-4K"
RAISED = {"theme": "safety", "concern": "Placement at risk"}


@pytest.fixture
def eng(backend_url, registry, clock):
    store = Store.open(backend_url)
    yield Engine(store, registry, WorkingCalendar(), clock)
    store.close()


def _stored(engine: Engine) -> tuple[int, int]:
    return engine.store.count(CaseRow), engine.store.count(TransitionRow)


def test_the_limits_are_the_column_sizes():
    assert (CASE_REF_MAX, ACTOR_MAX, KEY_MAX, NAME_MAX) == (128, 128, 200, 64)


@pytest.mark.parametrize(("kwargs", "rule"), [
    ({"actor": "a" * (ACTOR_MAX + 1)}, f"actor must be 1-{ACTOR_MAX} printable characters"),
    ({"actor": "iro\x00smith"}, "actor must be"),
    ({"actor": ""}, "actor must be"),
    ({"idempotency_key": "k" * (KEY_MAX + 1)}, f"idempotency key must be 1-{KEY_MAX} printable characters"),
    ({"idempotency_key": "k\x00"}, "idempotency key must be"),
    ({"reason": f"{SECRET}\x00"}, "reason must not contain control characters"),
    ({"reason": f"{SECRET}\x1b[31m"}, "reason must not contain control characters"),
    ({"state": "s" * (NAME_MAX + 1)}, f"state must be a name of 1-{NAME_MAX} printable characters"),
])
def test_an_open_breaking_a_limit_is_refused_before_the_database(eng, kwargs, rule):
    with pytest.raises(InvalidCommand) as err:
        eng.open_case("drp", "DRP-1", at=at("2026-03-02"), data=RAISED, **kwargs)
    assert rule in str(err.value) and SECRET not in str(err.value)
    assert _stored(eng) == (0, 0)


@pytest.mark.parametrize(("kwargs", "rule"), [
    ({"actor": "a" * (ACTOR_MAX + 1)}, "actor must be"),
    ({"idempotency_key": "k" * (KEY_MAX + 1)}, "idempotency key must be"),
    ({"reason": f"{SECRET}\x00"}, "reason must not contain control characters"),
    ({"role": "r" * 10_000}, f"role must be a name of 1-{NAME_MAX}"),
])
def test_an_event_breaking_a_limit_is_refused_before_the_database(eng, kwargs, rule):
    eng.open_case("drp", "DRP-1", at=at("2026-03-02"), data=RAISED)
    with pytest.raises(InvalidCommand) as err:
        eng.fire("DRP-1", "escalate", at=at("2026-03-03"), **kwargs)
    assert rule in str(err.value) and SECRET not in str(err.value) and len(str(err.value)) < 300
    assert _stored(eng) == (1, 1)


def test_names_too_long_for_their_columns_are_refused_and_not_echoed(eng):
    with pytest.raises(InvalidCommand, match=f"workflow must be a name of 1-{NAME_MAX}"):
        eng.open_case("w" * 10_000, "DRP-1", at=at("2026-03-02"), data=RAISED)
    eng.open_case("drp", "DRP-1", at=at("2026-03-02"), data=RAISED)
    with pytest.raises(InvalidCommand) as err:
        eng.fire("DRP-1", "t" * 10_000, at=at("2026-03-03"))
    assert len(str(err.value)) < 200
    with pytest.raises(InvalidTrigger):  # a short unknown name is still named, with the valid ones
        eng.fire("DRP-1", "bogus", at=at("2026-03-03"))


def test_text_case_data_with_control_characters_is_refused(eng):
    with pytest.raises(InvalidCaseData) as err:
        eng.open_case("drp", "DRP-1", at=at("2026-03-02"), data={"theme": "safety", "concern": f"{SECRET}\x00"})
    assert "data field 'concern': must not contain control characters" in str(err.value)
    assert SECRET not in str(err.value)
    # line breaks and tabs are ordinary text
    eng.open_case("drp", "DRP-1", at=at("2026-03-02"), data={"theme": "safety", "concern": "one\n\ttwo\r\n"})
    assert eng.case("DRP-1").data["concern"] == "one\n\ttwo\r\n"


def test_a_long_case_reference_is_refused_and_not_echoed_whole(eng):
    ref = "R" * 10_000
    for call in (lambda: eng.open_case("drp", ref, at=at("2026-03-02"), data=RAISED),
                 lambda: eng.fire(ref, "escalate", at=at("2026-03-03")),
                 lambda: eng.case(ref),
                 lambda: eng.history(ref)):
        with pytest.raises(CaseError) as err:
            call()
        message = str(err.value)
        assert f"a case reference must be 1-{CASE_REF_MAX} printable characters" in message
        assert "this one has 10000" in message and len(message) < 200
    with pytest.raises(CaseError, match="printable"):
        eng.case("DRP\x00-1")
    assert _stored(eng) == (0, 0)


def test_a_driver_error_never_carries_sql_parameters(backend_url, caplog):
    """hide_parameters: a failing statement's message shows no bound values (case data)."""
    database = connect(backend_url)
    try:
        with pytest.raises(Exception) as err, database.writer.begin() as conn:
            conn.execute(text("SELECT * FROM no_such_table WHERE x = :x"), {"x": SECRET})
        assert SECRET not in str(err.value) and "hidden due to hide_parameters" in str(err.value)
    finally:
        database.dispose()


@pytest.mark.parametrize("body", [
    {"actor": "a" * 200}, {"idempotency_key": "k" * 300}, {"reason": f"{SECRET}\x00"},
    {"data": {"theme": "safety", "concern": f"{SECRET}\x00"}},
])
def test_the_api_refuses_the_same_input_with_422_on_every_backend(eng, body, caplog):
    caplog.set_level(logging.DEBUG)
    with api_client(create_app(eng), eng.store, raise_server_exceptions=False) as client:
        response = client.post("/cases", json={"workflow": "drp", "case_ref": "DRP-1", "at": "2026-03-02",
                                               "data": RAISED, **body})
    assert response.status_code == 422, response.text
    assert SECRET not in response.text and SECRET not in caplog.text
    assert _stored(eng) == (0, 0)
