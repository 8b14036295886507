"""Schemathesis against the API's own OpenAPI document, authenticated: whatever it sends within
the schema (and around it), the API never answers with a server error."""

from __future__ import annotations

import datetime as dt

import schemathesis
from hypothesis import HealthCheck, given, settings

from engine.access import accounts
from engine.interfaces.api import create_app

from .conftest import at

EXAMPLES = 25  # per operation: about 20 s in all on one core


def test_no_operation_gives_a_server_error(engine, store):
    engine.open_case("drp", "DRP-1", at=at("2026-03-02"), data={"theme": "safety", "concern": "x"})
    key = accounts.create_key(store, "schemathesis", roles=["admin", "integrator", "manager"], acts_as=["iro"],
                              expires_in=dt.timedelta(days=1)).key
    auth = {"Authorization": f"Bearer {key}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(engine), headers=auth)
    failures, tested = [], []
    for result in schema.get_all_operations():
        operation = result.ok()
        tested.append(f"{operation.method.upper()} {operation.path}")

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def call(case):
            response = case.call(headers=auth)
            if response.status_code >= 500:
                failures.append((case.method, case.formatted_path, response.status_code, response.text[:200]))

        call()
    assert {"POST /cases", "POST /cases/{case_ref}/events", "GET /cases/{case_ref}", "GET /metrics"} <= set(tested)
    assert failures == []
