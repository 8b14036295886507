"""Every error the API gives, as RFC 9457 `application/problem+json`, in one shape.

    {"type": "urn:caseclock:problem:case-not-found", "title": "No such case", "status": 404,
     "detail": "case X: no such case", "instance": "/cases/X", "error": "CaseNotFound"}

`type` is stable per error class (clients branch on it); `error` names the exception, as the API
always has; a request the schema refuses adds `problems` (loc, msg, type - never the rejected
value). An unexpected error is 500 with no detail: its message could hold anything.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from engine.errors import (
    AmbiguousCase,
    CalendarError,
    CaseError,
    CaseExists,
    CaseNotFound,
    ConflictError,
    DefinitionError,
    IdempotencyMismatch,
    RoleNotAllowed,
    RoleRequired,
)

MEDIA_TYPE = "application/problem+json"
PREFIX = "urn:caseclock:problem:"
MAX_INSTANCE = 256

# slug -> (status, title)
KINDS: dict[str, tuple[int, str]] = {
    "bad-request": (400, "Bad request"),
    "bad-definition": (400, "The workflow or its definition cannot be used"),
    "unauthenticated": (401, "Sign in or send an API key"),
    "forbidden": (403, "Not allowed for your role"),
    "csrf": (403, "Missing or wrong CSRF token"),
    "not-found": (404, "Not found"),
    "case-not-found": (404, "No such case"),
    "method-not-allowed": (405, "Method not allowed"),
    "case-exists": (409, "The case already exists"),
    "conflict": (409, "Another change came first"),
    "idempotency-mismatch": (409, "The idempotency key was used for another command"),
    "payload-too-large": (413, "Request body too large"),
    "unsupported-media-type": (415, "Unsupported media type"),
    "validation": (422, "The request does not match the schema"),
    "invalid-moment": (422, "A date, time or offset cannot be used"),
    "role-not-allowed": (422, "That role may not fire this trigger"),
    "role-required": (422, "Name the role you act as"),
    "ambiguous-case": (422, "The reference names cases of several authorities"),
    "command-refused": (422, "Command refused; nothing stored"),
    "server-error": (500, "Internal error"),
}


class Problem(BaseModel):
    """RFC 9457 problem details (the OpenAPI schema of every error response)."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None  # the request's path (left out when longer than 256 characters)
    error: str | None = None


def problem(kind: str, request_path: str, detail: str | None = None, *, error: str | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    status, title = KINDS[kind]
    body = {"type": PREFIX + kind, "title": title, "status": status, "detail": detail or title}
    if len(request_path) <= MAX_INSTANCE:  # a very long path is not echoed back (it may be junk or data)
        body["instance"] = request_path
    body.update({"error": error} if error else {})
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for these error statuses, each documented as a Problem."""
    described = {s: t for _k, (s, t) in reversed(KINDS.items())}
    return {s: {"model": Problem, "description": described[s], "content": {MEDIA_TYPE: {}}} for s in statuses}


def _case_kind(exc: CaseError) -> str:
    if isinstance(exc, CaseNotFound):
        return "case-not-found"
    if isinstance(exc, CaseExists):
        return "case-exists"
    if isinstance(exc, ConflictError):
        return "conflict"
    if isinstance(exc, IdempotencyMismatch):
        return "idempotency-mismatch"
    if isinstance(exc, RoleRequired):
        return "role-required"
    if isinstance(exc, RoleNotAllowed):
        return "role-not-allowed"
    if isinstance(exc, AmbiguousCase):
        return "ambiguous-case"
    return "command-refused"


_HTTP_KINDS = {400: "bad-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found",
               405: "method-not-allowed", 413: "payload-too-large", 415: "unsupported-media-type"}


def validation_problems(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Where each problem is and which rule it breaks, never the rejected value (it may be case data)."""
    return [{"loc": [_part(part) for part in err.get("loc", ())], "msg": err.get("msg", ""), "type": err.get("type", "")}
            for err in exc.errors()]


def _part(part: Any) -> Any:
    """A location part; an unknown key is the caller's text, so a long one is not echoed."""
    return part if not isinstance(part, str) or len(part) <= 64 else f"<{len(part)} characters>"


def install(app: FastAPI) -> None:
    """Exception handlers turning every error into a problem."""

    @app.exception_handler(CaseError)
    async def _case_error(request: Request, exc: CaseError):
        return problem(_case_kind(exc), request.url.path, str(exc), error=type(exc).__name__)

    @app.exception_handler(DefinitionError)
    async def _definition_error(request: Request, exc: DefinitionError):
        return problem("bad-definition", request.url.path, str(exc), error=type(exc).__name__)

    @app.exception_handler(CalendarError)
    async def _calendar_error(request: Request, exc: CalendarError):
        return problem("invalid-moment", request.url.path, str(exc), error=type(exc).__name__)

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(request: Request, exc: RequestValidationError):
        problems = validation_problems(exc)
        summary = "; ".join(f"{'.'.join(str(part) for part in p['loc'])}: {p['msg']}" for p in problems)
        return problem("validation", request.url.path, summary, error="RequestValidationError", problems=problems)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException):
        kind = _HTTP_KINDS.get(exc.status_code, "bad-request")
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem(kind, request.url.path, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, _exc: Exception):
        return problem("server-error", request.url.path, error="InternalError")
