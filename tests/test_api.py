"""The REST layer (FastAPI, through httpx's TestClient): a thin shell over the Engine."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from fastapi.testclient import TestClient

from engine.interfaces.api import create_app
from engine.time.calendar import WorkingCalendar
from engine.time.clock import SystemClock
from engine.runtime.engine import Engine
from engine.settings import WorkerSettings
from engine.timers.worker import Worker

RAISED = {"theme": "drift_and_delay", "concern": "Permanence plan not progressed"}


@pytest.fixture
def client(engine):
    with TestClient(create_app(engine)) as c:
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
    stale = client.post("/cases/DRP-1/events", json={"trigger": "escalate", "at": "2026-03-03", "expected_version": 7})
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


def test_the_embedded_worker_fires_timers_and_stops_with_the_app(store, registry):
    clock = SystemClock()
    engine = Engine(store, registry, WorkingCalendar(), clock)
    engine.open_case("drp", "LATE", at=clock.now() - dt.timedelta(days=30), data=RAISED)  # long overdue
    worker = Worker(Engine(store, registry, WorkingCalendar(), clock), settings=WorkerSettings(sweep_seconds=30),
                    worker_id="embedded")
    with TestClient(create_app(engine, worker=worker)) as client:
        assert client.get("/health").json() == {"ok": True, "worker": "embedded"}
        give_up = time.monotonic() + 15
        while time.monotonic() < give_up and client.get("/cases/LATE").json()["state"] == "informal":
            time.sleep(0.05)
        assert client.get("/cases/LATE").json()["state"] != "informal"  # the catch-up sweep on start
        assert worker.scheduler.running
        # a case opened (backdated) while the worker runs: its overdue deadline fires at once,
        # not at the next periodic sweep 30 s away
        assert client.post("/cases", json={"workflow": "drp", "case_ref": "BACKDATED", "data": RAISED,
                                           "at": (clock.now() - dt.timedelta(days=20)).isoformat()}).status_code == 201
        give_up = time.monotonic() + 15
        while time.monotonic() < give_up and client.get("/cases/BACKDATED").json()["state"] == "informal":
            time.sleep(0.05)
        assert client.get("/cases/BACKDATED").json()["state"] != "informal"
    assert not worker.scheduler.running and worker.stopping
    history = engine.history("LATE")
    assert history[1].actor == "system" and history[1].kind == "expiry"
