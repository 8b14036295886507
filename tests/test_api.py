"""The REST layer (FastAPI, through httpx's TestClient): a thin shell over the Engine."""

from __future__ import annotations

import ctypes
import datetime as dt
import shutil
import tempfile
import time

import pytest
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from engine.interfaces.api import create_app
from engine.time.calendar import WorkingCalendar
from engine.time.clock import SystemClock
from engine.runtime.engine import Engine
from engine.settings import WorkerSettings
from engine.timers.worker import Worker
from persistence.store import Store

from .conftest import ESCALATING, api_client

RAISED = {"theme": "drift_and_delay", "concern": "Permanence plan not progressed"}


@pytest.fixture
def client(engine, store):
    with api_client(create_app(engine), store) as c:
        yield c


def test_open_fire_show_and_history(client):
    opened = client.post("/cases", json={"workflow": "drp", "case_ref": "DRP-1", "at": "2026-03-02", "data": RAISED})
    assert opened.status_code == 201
    body = opened.json()
    assert (body["state"], body["deadlines"][0]["name"], body["deadlines"][0]["due_on"]) == ("informal", "informal_response", "2026-03-09")
    fired = client.post("/cases/DRP-1/events", json={"trigger": "escalate", "at": "2026-03-03T10:00:00", "role": "iro",
                                                      "actor": "iro.smith", "idempotency_key": "evt-1"})
    assert fired.status_code == 200
    assert fired.json()["outcome"] == {"case_ref": "DRP-1", "trigger": "escalate", "from_state": "informal",
                                       "to_state": "stage_1", "effective_at": "2026-03-03T10:00:00+00:00", "seq": 2,
                                       "replayed": False}
    again = client.post("/cases/DRP-1/events", json={"trigger": "escalate", "at": "2026-03-03T10:00:00", "role": "iro",
                                                     "idempotency_key": "evt-1"})
    assert again.json()["outcome"]["replayed"] is True
    case = client.get("/cases/DRP-1").json()
    assert case["state"] == "stage_1" and case["data"]["theme"] == "drift_and_delay"
    history = client.get("/cases/DRP-1/history").json()
    assert [(h["seq"], h["trigger"], h["from"], h["to"], h["actor"]) for h in history] == [
        (1, "open", None, "informal", "api"), (2, "escalate", "informal", "stage_1", "iro.smith")]


def test_overdue_and_upcoming(client):
    client.post("/cases", json={"workflow": "drp", "case_ref": "DRP-1", "at": "2026-03-02", "data": RAISED})
    upcoming = client.get("/upcoming", params={"within": "3wd", "at": "2026-03-04T09:00:00+00:00"}).json()
    assert [(u["case_ref"], u["deadline"], u["working_days_left"]) for u in upcoming] == [("DRP-1", "informal_response", 3)]
    assert client.get("/upcoming", params={"within": "2wd", "at": "2026-03-04T09:00:00+00:00"}).json() == []
    overdue = client.get("/overdue", params={"at": "2026-03-12"}).json()
    assert [(o["case_ref"], o["due_on"], o["working_days_overdue"]) for o in overdue] == [("DRP-1", "2026-03-09", 3)]


def test_errors_map_to_status_codes_with_the_engines_message(client):
    def post_case(**kw):
        return client.post("/cases", json={"workflow": "drp", "case_ref": "DRP-1", "at": "2026-03-02", "data": RAISED, **kw})

    assert post_case().status_code == 201
    exists = post_case()
    assert exists.status_code == 409 and exists.json()["error"] == "CaseExists"
    missing = client.get("/cases/NOPE")
    assert missing.status_code == 404 and missing.json()["detail"] == "case NOPE: no such case"
    invalid = client.post("/cases/DRP-1/events", json={"trigger": "approve", "at": "2026-03-03"})
    assert invalid.status_code == 422
    assert invalid.json()["detail"].startswith("case DRP-1: trigger 'approve' is not valid in state 'informal'")
    role = client.post("/cases/DRP-1/events", json={"trigger": "escalate", "at": "2026-03-03", "role": "social_worker"})
    assert role.status_code == 422 and role.json()["error"] == "RoleNotAllowed"
    stale = client.post("/cases/DRP-1/events", json={"trigger": "escalate", "at": "2026-03-03", "role": "iro",
                                                     "expected_version": 7})
    assert stale.status_code == 409 and stale.json()["error"] == "ConflictError"
    unknown = client.post("/cases", json={"workflow": "nope", "case_ref": "X-1", "at": "2026-03-02"})
    assert unknown.status_code == 400 and "nope" in unknown.json()["detail"]
    bad_date = client.post("/cases/DRP-1/events", json={"trigger": "escalate", "at": "3rd of March"})
    assert bad_date.status_code == 422 and "is not a date" in bad_date.json()["detail"]
    bad_offset = client.get("/upcoming", params={"within": "ten days"})
    assert bad_offset.status_code == 422 and "cannot read offset" in bad_offset.json()["detail"]
    extra = client.post("/cases", json={"workflow": "drp", "case_ref": "X-2", "colour": "red"})
    assert extra.status_code == 422  # unknown fields in a request are refused by the schema
    assert client.get("/cases/DRP-1/history").json()[-1]["trigger"] == "open"  # nothing refused was stored


@pytest.mark.parametrize("edge", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:00:00-14:00", "2026-03-29T01:30"])
def test_moments_at_the_edge_or_in_the_spring_gap_are_422_on_every_endpoint(client, edge):
    assert client.post("/cases", json={"workflow": "drp", "case_ref": "DRP-1", "at": "2026-03-02", "data": RAISED}).status_code == 201
    responses = [
        client.post("/cases", json={"workflow": "drp", "case_ref": "DRP-2", "at": edge, "data": RAISED}),
        client.post("/cases/DRP-1/events", json={"trigger": "escalate", "at": edge, "role": "iro"}),
        client.get("/overdue", params={"at": edge}),
        client.get("/upcoming", params={"at": edge}),
    ]
    for r in responses:
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "MomentError"
        assert "outside the range" in r.json()["detail"] or "does not exist in London" in r.json()["detail"]
    assert [h["trigger"] for h in client.get("/cases/DRP-1/history").json()] == ["open"]


def test_a_year_the_calendar_cannot_count_is_422_not_500(client):
    client.post("/cases", json={"workflow": "drp", "case_ref": "DRP-1", "at": "2026-03-02", "data": RAISED})
    for r in (client.get("/overdue", params={"at": "9999-12-31T00:00:00Z"}),
              client.get("/upcoming", params={"at": "9999-12-31T00:00:00Z", "within": "5wd"}),
              client.post("/cases", json={"workflow": "drp", "case_ref": "OLD", "at": "0001-01-02", "data": RAISED})):
        assert r.status_code == 422 and "outside the supported range" in r.json()["detail"], r.text


def test_validation_errors_name_the_field_and_rule_never_the_value(client):
    secret = "Jane Doe disclosed abuse to her teacher"
    r = client.post("/cases", json={"workflow": "drp", "case_ref": "DRP-1", "at": 5, "data": {"concern": secret},
                                    "actor": ["x"], "state": {"note": secret}, secret.replace(" ", "_") * 3: 1})
    assert r.status_code == 422
    body = r.json()
    assert secret not in r.text and "input" not in body and all("input" not in p for p in body["problems"])
    assert body["error"] == "RequestValidationError"
    assert {tuple(p["loc"]) for p in body["problems"]} >= {("body", "at"), ("body", "actor"), ("body", "state")}
    assert "body.at: Input should be a valid string" in body["detail"]
    unknown = client.post("/cases", json={"workflow": "drp", "case_ref": "DRP-1", "data": {"theme": secret, "concern": "x"}})
    assert unknown.status_code == 422 and secret not in unknown.text
    assert "data field 'theme': the value is not one of" in unknown.json()["detail"]


def test_a_long_case_reference_is_not_echoed_back(client):
    ref = "R" * 10_000
    for r in (client.get(f"/cases/{ref}"), client.post("/cases", json={"workflow": "drp", "case_ref": ref, "data": RAISED}),
              client.post(f"/cases/{ref}/events", json={"trigger": "escalate"})):
        assert r.status_code == 422 and ref not in r.text and len(r.text) < 300, r.text
        assert "a case reference must be 1-128 printable characters" in r.json()["detail"]


def test_the_embedded_worker_fires_timers_and_stops_with_the_app(store, escalating_registry):
    registry = escalating_registry  # the informal stage escalates itself
    clock = SystemClock()
    engine = Engine(store, registry, WorkingCalendar(), clock)
    engine.open_case(ESCALATING, "LATE", at=clock.now() - dt.timedelta(days=30), data=RAISED)  # long overdue
    worker = Worker(Engine(store, registry, WorkingCalendar(), clock), settings=WorkerSettings(sweep_seconds=30),
                    worker_id="embedded")
    with api_client(create_app(engine, worker=worker), store) as client:
        assert client.get("/health").json() == {"ok": True, "database": "ok", "worker": "running", "worker_id": "embedded"}
        give_up = time.monotonic() + 15
        while time.monotonic() < give_up and client.get("/cases/LATE").json()["state"] == "informal":
            time.sleep(0.05)
        assert client.get("/cases/LATE").json()["state"] != "informal"  # the catch-up sweep on start
        assert worker.status == "running"
        # a case opened (backdated) while the worker runs: its overdue deadline fires at once,
        # not at the next periodic sweep 30 s away
        assert client.post("/cases", json={"workflow": ESCALATING, "case_ref": "BACKDATED", "data": RAISED,
                                           "at": (clock.now() - dt.timedelta(days=20)).isoformat()}).status_code == 201
        give_up = time.monotonic() + 15
        while time.monotonic() < give_up and client.get("/cases/BACKDATED").json()["state"] == "informal":
            time.sleep(0.05)
        assert client.get("/cases/BACKDATED").json()["state"] != "informal"
    assert worker.status == "stopped"
    history = engine.history("LATE")
    assert history[1].actor == "system" and history[1].kind == "expiry"


def wait_until(condition, timeout: float = 15.0) -> bool:
    give_up = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > give_up:
            return False
        time.sleep(0.05)
    return True


def test_health_without_a_worker_checks_the_database(client):
    health = client.get("/health")
    assert health.status_code == 200 and health.json() == {"ok": True, "database": "ok", "worker": None}


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the thread's end is the point
def test_health_reports_a_dead_worker_thread(store, registry):
    engine = Engine(store, registry, WorkingCalendar(), SystemClock())
    worker = Worker(engine, settings=WorkerSettings(sweep_seconds=30), worker_id="doomed")
    with api_client(create_app(engine, worker=worker), store) as client:
        assert client.get("/health").status_code == 200
        timers = worker._threads["timers"]
        with capture_logs() as logs:
            # end the timer thread for real, as an error escaping its loop would
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(timers.ident), ctypes.py_object(SystemExit))
            worker.wake()
            timers.join(10)
        assert not timers.is_alive()
        assert {"event": "worker thread died", "worker": "doomed", "loop": "timers", "error": "SystemExit",
                "log_level": "critical"} in logs
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json() == {"ok": False, "database": "ok", "worker": "dead", "worker_id": "doomed"}


@pytest.mark.postgres
def test_health_reports_an_unreachable_database_and_the_worker_outlives_the_outage(escalating_registry):
    registry = escalating_registry  # the informal stage escalates itself
    from . import pgserver

    if not pgserver.available():
        pytest.skip("no PostgreSQL binaries")
    directory = tempfile.mkdtemp(prefix="caseclock-pg-")  # a server of its own: this test stops it
    try:
        store = Store.open(pgserver.start(directory))
        clock = SystemClock()
        engine = Engine(store, registry, WorkingCalendar(), clock)
        worker = Worker(engine, settings=WorkerSettings(sweep_seconds=30), worker_id="outage")
        with api_client(create_app(engine, worker=worker), store) as client:
            assert client.get("/health").json() == {"ok": True, "database": "ok", "worker": "running", "worker_id": "outage"}
            pgserver.stop(directory, mode="fast")
            down = client.get("/health")
            assert down.status_code == 503
            assert down.json() == {"ok": False, "database": "unreachable", "worker": "running", "worker_id": "outage"}
            with capture_logs() as logs:
                worker.wake()
                assert wait_until(lambda: any(e["event"] == "worker round failed; retrying" for e in logs))
            failed = next(e for e in logs if e["event"] == "worker round failed; retrying")
            assert failed["error"] == "OperationalError" and set(failed) == {
                "event", "worker", "loop", "error", "failures", "retry_in_s", "log_level"}  # no driver message
            assert worker.status == "running"
            pgserver.restart(directory)
            assert wait_until(lambda: client.get("/health").status_code == 200)
            opened = client.post("/cases", json={"workflow": ESCALATING, "case_ref": "AFTER", "data": RAISED,
                                                 "at": (clock.now() - dt.timedelta(days=20)).isoformat()})
            assert opened.status_code == 201
            assert wait_until(lambda: client.get("/cases/AFTER").json()["state"] != "informal")
            pgserver.stop(directory, mode="fast")  # and the app stops during an outage: cleanly
        assert worker.status == "stopped"
        store.close()
    finally:
        pgserver.stop(directory)
        shutil.rmtree(directory, ignore_errors=True)
