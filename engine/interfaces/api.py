"""A thin REST layer over the Engine (FastAPI), with the timer worker embedded.

    POST /cases                      {workflow, case_ref, at, data, state, actor, reason, idempotency_key,
                                      child_ref, assigned_to, team}
    POST /cases/{ref}/events         {trigger, at, actor, role, reason, data, idempotency_key, expected_version}
    POST /cases/{ref}/reassign       {assigned_to, team, at, actor, reason, idempotency_key}
    GET  /cases/{ref}                state, data, deadlines
    GET  /cases/{ref}/history
    GET  /overdue?at=...
    GET  /upcoming?within=10wd&at=...
    GET  /health                     {ok, database, worker, worker_id}; 503 unless all is well

Errors: CaseNotFound 404; CaseExists, ConflictError, IdempotencyMismatch 409; any other refused
command (CaseError) 422; DefinitionError (unknown workflow, bad definition) 400; an unreadable
date or offset 422; a body or query the schema refuses 422 (with "problems": loc, msg, type - never
the rejected value). Every error body is {"error": <class>, "detail": <message>}.
`at` is read by engine.time.moments: an ISO datetime (with offset, or Europe/London without) or a
date (its start, London).

/docs (Swagger UI) and /redoc are served with their assets from the fastapi-offline package, so
they work without a network. Every request is logged: method, path, status and duration only
(never a query string or a body: either may carry case data).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict

from engine.interfaces.web import router as dashboard
from engine.time.calendar import parse_offset
from engine.time.moments import parse_moment
from engine.errors import (
    CalendarError,
    CaseError,
    CaseExists,
    CaseNotFound,
    ConflictError,
    DefinitionError,
    IdempotencyMismatch,
)


class OpenCase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workflow: str
    case_ref: str
    at: str | None = None
    data: dict[str, Any] | None = None
    state: str | None = None
    actor: str = "api"
    reason: str | None = None
    idempotency_key: str | None = None
    child_ref: str | None = None
    assigned_to: str | None = None
    team: str | None = None


class Reassignment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assigned_to: str | None
    team: str | None = None
    at: str | None = None
    actor: str = "api"
    reason: str | None = None
    idempotency_key: str | None = None


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trigger: str
    at: str | None = None
    actor: str = "api"
    role: str | None = None
    reason: str | None = None
    data: dict[str, Any] | None = None
    idempotency_key: str | None = None
    expected_version: int | None = None


def moment(text: str | None) -> dt.datetime | None:
    """`at`, read by the one shared parser (a bad one raises MomentError: 422)."""
    return None if text is None else parse_moment(text)


def validation_problems(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Where each problem is and which rule it breaks, never the rejected value (it may be case data)."""
    return [{"loc": [_part(part) for part in err.get("loc", ())], "msg": err.get("msg", ""), "type": err.get("type", "")}
            for err in exc.errors()]


def _part(part: Any) -> Any:
    """A location part; an unknown key is the caller's text, so a long one is not echoed."""
    return part if not isinstance(part, str) or len(part) <= 64 else f"<{len(part)} characters>"


access_log = structlog.get_logger("caseclock.http")


async def _access_log(request: Request, call_next):
    """One line per request. The path is logged without its query string; a path can hold a
    case reference, which is how logs name cases."""
    started = time.perf_counter()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
        return response
    finally:
        access_log.info("request", method=request.method, path=request.url.path, status=status,
                        duration_ms=round((time.perf_counter() - started) * 1000, 1))


def create_app(engine, worker=None) -> FastAPI:
    """The app for one Engine; `worker` (engine.worker.Worker), if given, runs in background
    threads for the app's lifetime and stops cleanly (leases given back) on shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()

    app = FastAPIOffline(title="caseclock", lifespan=lifespan)
    app.middleware("http")(_access_log)
    app.state.engine = engine
    app.state.worker = worker
    app.include_router(dashboard)

    def error(status: int, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=status, content={"error": type(exc).__name__, "detail": str(exc)})

    @app.exception_handler(CaseError)
    async def _case_error(_request: Request, exc: CaseError):
        if isinstance(exc, CaseNotFound):
            return error(404, exc)
        if isinstance(exc, (CaseExists, ConflictError, IdempotencyMismatch)):
            return error(409, exc)
        return error(422, exc)

    @app.exception_handler(DefinitionError)
    async def _definition_error(_request: Request, exc: DefinitionError):
        return error(400, exc)

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(_request: Request, exc: RequestValidationError):
        problems = validation_problems(exc)
        summary = "; ".join(f"{'.'.join(str(part) for part in p['loc'])}: {p['msg']}" for p in problems)
        return JSONResponse(status_code=422, content={"error": "RequestValidationError", "detail": summary,
                                                      "problems": problems})

    @app.exception_handler(CalendarError)
    async def _calendar_error(_request: Request, exc: CalendarError):
        return error(422, exc)

    @app.post("/cases", status_code=201)
    def open_case(body: OpenCase) -> dict[str, Any]:
        view = engine.open_case(body.workflow, body.case_ref, at=moment(body.at), data=body.data, state=body.state,
                                actor=body.actor, reason=body.reason, idempotency_key=body.idempotency_key,
                                child_ref=body.child_ref, assigned_to=body.assigned_to, team=body.team)
        if worker is not None:
            worker.wake()  # a backdated case may open a deadline that is already due
        return view.to_dict()

    @app.post("/cases/{case_ref}/reassign")
    def reassign(case_ref: str, body: Reassignment) -> dict[str, Any]:
        result = engine.reassign(case_ref, assigned_to=body.assigned_to, team=body.team, at=moment(body.at),
                                 actor=body.actor, reason=body.reason, idempotency_key=body.idempotency_key)
        return {"outcome": result.to_dict(), "case": engine.case(case_ref).to_dict()}

    @app.post("/cases/{case_ref}/events")
    def fire(case_ref: str, body: Event) -> dict[str, Any]:
        result = engine.fire(case_ref, body.trigger, at=moment(body.at), actor=body.actor, role=body.role,
                             reason=body.reason, data=body.data, idempotency_key=body.idempotency_key,
                             expected_version=body.expected_version)
        if worker is not None:
            worker.wake()
        return {"outcome": result.to_dict(), "case": engine.case(case_ref).to_dict()}

    @app.get("/cases/{case_ref}")
    def show(case_ref: str) -> dict[str, Any]:
        return engine.case(case_ref).to_dict()

    @app.get("/cases/{case_ref}/history")
    def history(case_ref: str) -> list[dict[str, Any]]:
        return [h.to_dict() for h in engine.history(case_ref)]

    @app.get("/overdue")
    def overdue(at: str | None = None) -> list[dict[str, Any]]:
        return [i.to_dict() for i in engine.overdue(moment(at))]

    @app.get("/upcoming")
    def upcoming(within: str = "10wd", at: str | None = None) -> list[dict[str, Any]]:
        amount, unit = parse_offset(within)
        return [i.to_dict() for i in engine.upcoming(amount, unit, moment(at))]

    @app.get("/health")
    def health() -> JSONResponse:
        """Unauthenticated and cheap (one `SELECT 1`): 503 when the database does not answer or
        the embedded worker's threads have died, so a load balancer or service manager can act."""
        database = "ok" if engine.store.reachable() else "unreachable"
        body: dict[str, Any] = {"ok": database == "ok", "database": database, "worker": None}
        if worker is not None:
            body["worker"] = worker.status
            body["worker_id"] = worker.worker_id
            body["ok"] = body["ok"] and worker.status == "running"
        return JSONResponse(status_code=200 if body["ok"] else 503, content=body)

    return app
