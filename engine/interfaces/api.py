"""A thin REST layer over the Engine (FastAPI), with the timer worker embedded.

    POST /cases                      {workflow, case_ref, at, data, state, actor, reason, idempotency_key,
                                      child_ref, assigned_to, team}                          integrator
    POST /cases/{ref}/events         {trigger, at, actor, role, reason, data, idempotency_key, expected_version}
                                                                                              integrator
    POST /cases/{ref}/reassign       {assigned_to, team, at, actor, reason, idempotency_key} integrator
    GET  /cases/{ref}                state, data, deadlines          integrator, manager; iro: own cases
    GET  /cases/{ref}/history                                        (the same)
    GET  /overdue?at=...             rows with case references        integrator, manager; iro: own rows
    GET  /upcoming?within=10wd&at=...                                 (the same)
    GET  /metrics                    Prometheus                        manager, admin
    GET  /me                         who you are (and a session's CSRF token)  anyone signed in
    GET  /health                     {ok, database, worker, worker_id}; 503 unless all is well (public)
    GET|POST /login, POST /logout    signing in with a session cookie (see http/login.py)

Who is asking is established by the gate (http/guard.py), never taken from the body: a `role`
in an event may only name a workflow role the principal acts as, `system` never, and a
transition that names its roles needs one. A case the principal may not read is 404, as if it
did not exist. A principal scoped to an authority works through an Engine of that authority.

Errors are RFC 9457 problems (http/problems.py). `at` is read by engine.time.moments.
/docs (Swagger UI), /redoc and /openapi.json need a signed-in principal like everything else;
their script and style files are served from the fastapi-offline package (public: no data).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from typing import Annotated, Any, Callable

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyCookie, HTTPBearer
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field

from engine.access.principal import Permission, Principal
from engine.errors import CaseNotFound
from engine.interfaces.http import metrics as metrics_
from engine.interfaces.http.guard import SESSION_COOKIE, Guard
from engine.interfaces.http.login import router as login_router
from engine.interfaces.http.problems import install as install_problems
from engine.interfaces.http.problems import responses
from engine.interfaces.web import router as dashboard
from engine.time.calendar import parse_offset
from engine.time.moments import parse_moment
from persistence.lists import MAX_OFFSET

SYSTEM = "system"
# hard caps on each field, before the engine's own rules (which give the precise message)
TEXT = 10_000
NAME = 200
MAX_DATA_FIELDS = 200

Text = Annotated[str, Field(max_length=TEXT)]
Name = Annotated[str, Field(max_length=NAME)]



Limit = Annotated[int, Query(ge=1, le=1000, description="Rows on the page (at most 1,000)")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip (at most 1,000,000,000)")]

class OpenCase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workflow: Name
    case_ref: Text
    at: Name | None = None
    data: Annotated[dict[Name, Any], Field(max_length=MAX_DATA_FIELDS)] | None = None
    state: Name | None = None
    actor: Name = "api"
    reason: Text | None = None
    idempotency_key: Name | None = None
    child_ref: Name | None = None
    assigned_to: Name | None = None
    team: Name | None = None


class Reassignment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assigned_to: Name | None
    team: Name | None = None
    at: Name | None = None
    actor: Name = "api"
    reason: Text | None = None
    idempotency_key: Name | None = None


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trigger: Name
    at: Name | None = None
    actor: Name = "api"
    role: Name | None = None
    reason: Text | None = None
    data: Annotated[dict[Name, Any], Field(max_length=MAX_DATA_FIELDS)] | None = None
    idempotency_key: Name | None = None
    expected_version: int | None = None


def moment(text: str | None) -> dt.datetime | None:
    """`at`, read by the one shared parser (a bad one raises MomentError: 422)."""
    return None if text is None else parse_moment(text)


class Engines:
    """One Engine per authority, built on first use with that authority's registry (its
    overlays and calendar). A principal scoped to every authority uses the deployment's engine."""

    def __init__(self, base, registry_for: Callable[[str], Any] | None = None):
        self.base = base
        self._registry_for = registry_for or _bundled_registry
        self._built: dict[str | None, Any] = {base.authority: base}
        self._lock = threading.Lock()

    def of(self, principal: Principal):
        authority = principal.authority if principal.authority is not None else self.base.authority
        with self._lock:
            if authority not in self._built:
                from engine.runtime.engine import Engine

                self._built[authority] = Engine(self.base.store, self._registry_for(authority),
                                                self.base.calendars.deployment, self.base.clock, authority=authority)
            return self._built[authority]


def _bundled_registry(authority: str):
    from engine.language.registry import Registry

    return Registry.load(authority=authority)


# documented security schemes (the gate does the checking)
_bearer = HTTPBearer(auto_error=False, description="An API key from `caseclock keys create`")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="The session cookie set by /login")


def principal(request: Request, _key=Depends(_bearer), _session=Depends(_cookie)) -> Principal:
    """The principal the gate established (every route but /health and /login has one)."""
    found = getattr(request.state, "principal", None)
    if found is None:
        raise HTTPException(401, "sign in or send an API key")
    return found


Caller = Annotated[Principal, Depends(principal)]


def require(caller: Principal, permission: Permission) -> None:
    if not caller.can(permission):
        raise HTTPException(403, f"your role may not {permission.value}")


def audited(request: Request, action: str, case_ref: str | None = None, authority: str | None = None) -> None:
    """Ask the gate to record this request in the audit trail, with its final status."""
    request.state.audit = {"action": action, "case_ref": case_ref, "authority": authority}


READ = responses(401, 403, 404, 413, 422, 500)
WRITE = responses(400, 401, 403, 404, 409, 413, 422, 500)


def create_app(engine, worker=None, *, api_settings=None, registry_for: Callable[[str], Any] | None = None) -> FastAPI:
    """The app for one deployment: `engine` is the deployment's Engine (a principal scoped to an
    authority gets an Engine of that authority, built with `registry_for(authority)`); `worker`
    (engine.timers.worker.Worker), if given, runs in background threads for the app's lifetime and
    stops cleanly (leases given back) on shutdown. `api_settings`: engine.settings.ApiSettings."""
    from engine.settings import ApiSettings

    settings = api_settings or ApiSettings()
    engines = Engines(engine, registry_for)
    store = engine.store

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()

    app = FastAPIOffline(title="caseclock", lifespan=lifespan, responses=responses(401, 405, 413, 500))
    app.add_middleware(Guard, api=app, store=store, settings=settings)
    app.state.engine = engine
    app.state.engines = engines
    app.state.worker = worker
    app.state.api_settings = settings
    install_problems(app)
    app.include_router(login_router(store, settings))
    app.include_router(dashboard)

    def readable(caller: Principal, case_ref: str):
        """The caller's engine and the case, if they may read it; else 404 (existence does not leak)."""
        if not (caller.can(Permission.READ_ANY_CASE) or caller.can(Permission.READ_OWN_CASES)):
            raise HTTPException(403, "your role may not read cases")
        eng = engines.of(caller)
        view = eng.case(case_ref)
        if not caller.may_read_case(view.authority, view.assigned_to):
            raise CaseNotFound(case_ref)
        return eng, view

    def list_filters(caller: Principal) -> dict[str, Any]:
        """What a list may show the caller, as case-column filters applied in SQL: their
        authority's cases, and an IRO's own cases only."""
        if not (caller.can(Permission.READ_ANY_CASE) or caller.can(Permission.READ_OWN_CASES)):
            raise HTTPException(403, "your role sees counts only, not cases")
        filters: dict[str, Any] = {}
        if caller.authority is not None:
            filters["authority"] = caller.authority
        if not caller.can(Permission.READ_ANY_CASE):
            filters["assigned_to"] = caller.user_id or ""  # no case is held by nobody's id
        return filters

    def writer(caller: Principal):
        require(caller, Permission.WRITE_CASES)
        return engines.of(caller)

    def writable(caller: Principal, case_ref: str):
        """The engine for a change to an existing case the caller may see."""
        eng = writer(caller)
        view = eng.case(case_ref)
        if not caller.may_read_case(view.authority, view.assigned_to):
            raise CaseNotFound(case_ref)
        return eng

    @app.post("/cases", status_code=201, responses=WRITE)
    def open_case(request: Request, caller: Caller, body: OpenCase) -> dict[str, Any]:
        audited(request, "open case", body.case_ref[:128], caller.authority)
        eng = writer(caller)
        view = eng.open_case(body.workflow, body.case_ref, at=moment(body.at), data=body.data, state=body.state,
                             actor=body.actor, reason=body.reason, idempotency_key=body.idempotency_key,
                             child_ref=body.child_ref, assigned_to=body.assigned_to, team=body.team)
        audited(request, "open case", view.case_ref, view.authority)
        if worker is not None:
            worker.wake()  # a backdated case may open a deadline that is already due
        return view.to_dict()

    @app.post("/cases/{case_ref:path}/reassign", responses=WRITE)
    def reassign(request: Request, caller: Caller, case_ref: str, body: Reassignment) -> dict[str, Any]:
        audited(request, "reassign", case_ref[:128], caller.authority)
        eng = writable(caller, case_ref)
        result = eng.reassign(case_ref, assigned_to=body.assigned_to, team=body.team, at=moment(body.at),
                              actor=body.actor, reason=body.reason, idempotency_key=body.idempotency_key)
        return {"outcome": result.to_dict(), "case": eng.case(case_ref).to_dict()}

    @app.post("/cases/{case_ref:path}/events", responses=WRITE)
    def fire(request: Request, caller: Caller, case_ref: str, body: Event) -> dict[str, Any]:
        audited(request, f"fire {body.trigger[:64]}", case_ref[:128], caller.authority)
        eng = writable(caller, case_ref)
        if body.role == SYSTEM:
            raise HTTPException(403, "'system' is the timers' role; no caller may act as it")
        if body.role is not None and body.role not in caller.acts_as:
            raise HTTPException(403, f"you may not act as '{body.role[:64]}' (your key or account acts as: "
                                     f"{', '.join(sorted(caller.acts_as)) or 'no workflow role'})")
        result = eng.fire(case_ref, body.trigger, at=moment(body.at), actor=body.actor, role=body.role,
                          reason=body.reason, data=body.data, idempotency_key=body.idempotency_key,
                          expected_version=body.expected_version, role_required=True)
        if worker is not None:
            worker.wake()
        return {"outcome": result.to_dict(), "case": eng.case(case_ref).to_dict()}

    @app.get("/cases/{case_ref:path}/history", responses=READ)
    def history(request: Request, caller: Caller, case_ref: str) -> list[dict[str, Any]]:
        audited(request, "read history", case_ref[:128], caller.authority)
        eng, view = readable(caller, case_ref)
        audited(request, "read history", view.case_ref, view.authority)
        return [h.to_dict() for h in eng.history(case_ref)]

    @app.get("/cases/{case_ref:path}", responses=READ)
    def show(request: Request, caller: Caller, case_ref: str) -> dict[str, Any]:
        audited(request, "read case", case_ref[:128], caller.authority)
        _eng, view = readable(caller, case_ref)
        audited(request, "read case", view.case_ref, view.authority)
        return view.to_dict()

    @app.get("/overdue", responses=READ)
    def overdue(request: Request, response: Response, caller: Caller, at: str | None = None,
                workflow: str | None = None, limit: Limit = 100, offset: Offset = 0) -> list[dict[str, Any]]:
        """A page of the overdue list, most overdue first; X-Total-Count is the whole list's length."""
        audited(request, "list overdue")
        page = engines.of(caller).overdue_page(moment(at), workflow=workflow, case_filters=list_filters(caller),
                                               limit=limit, offset=offset)
        response.headers["X-Total-Count"] = str(page.total)
        return [i.to_dict() for i in page.items]

    @app.get("/upcoming", responses=READ)
    def upcoming(request: Request, response: Response, caller: Caller, within: str = "10wd", at: str | None = None,
                 workflow: str | None = None, limit: Limit = 100, offset: Offset = 0) -> list[dict[str, Any]]:
        """A page of what falls due within `within`, soonest first; X-Total-Count as for /overdue."""
        audited(request, "list upcoming")
        amount, unit = parse_offset(within)
        page = engines.of(caller).upcoming_page(amount, unit, moment(at), workflow=workflow,
                                                case_filters=list_filters(caller), limit=limit, offset=offset)
        response.headers["X-Total-Count"] = str(page.total)
        return [i.to_dict() for i in page.items]

    @app.get("/me", responses=responses(401, 500))
    def me(request: Request, caller: Caller) -> dict[str, Any]:
        """Who the server takes you to be; a signed-in browser also gets the CSRF token its
        changes must send (X-CSRF-Token)."""
        return {"name": caller.name, "kind": caller.kind, "roles": sorted(r.value for r in caller.roles),
                "authority": caller.authority, "user_id": caller.user_id, "acts_as": sorted(caller.acts_as),
                "csrf_token": getattr(request.state, "csrf_token", "") or None}

    @app.get("/metrics", response_class=Response, responses={200: {"content": {metrics_.CONTENT_TYPE: {}}}, **READ})
    def metrics(caller: Caller) -> Response:
        """Prometheus text format, for a manager or admin (a scraper gets a key of its own)."""
        require(caller, Permission.READ_METRICS)
        body = metrics_.render(store, worker, caller.authority, engine.clock.now())
        return Response(body, media_type=metrics_.CONTENT_TYPE)

    @app.get("/health", responses={503: {"description": "The database or the worker is down"}})
    def health() -> JSONResponse:
        """Unauthenticated and cheap (one `SELECT 1`): 503 when the database does not answer or
        the embedded worker's threads have died, so a load balancer or service manager can act."""
        database = "ok" if store.reachable() else "unreachable"
        body: dict[str, Any] = {"ok": database == "ok", "database": database, "worker": None}
        if worker is not None:
            body["worker"] = worker.status
            body["worker_id"] = worker.worker_id
            body["ok"] = body["ok"] and worker.status == "running"
        return JSONResponse(status_code=200 if body["ok"] else 503, content=body)

    return app
