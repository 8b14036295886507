"""The gate every request passes (one pure ASGI middleware, outermost):

- security headers on every response, whatever produced it (a CSP on HTML pages);
- OPTIONS answered 204 with `Allow` (no CORS: nothing here is meant for other origins);
- the body capped while it streams (`api.max_body_bytes`): a declared length over the cap is
  refused before a byte is read, and an undeclared one as soon as it passes the cap;
- authentication: `Authorization: Bearer <key>` (machines), the session cookie (people), or the
  single sign-on proxy's user header when it comes from a trusted proxy address. The Principal
  is put on `request.state.principal` (and the form token on `request.state.csrf_token`);
- CSRF: a request authenticated by a cookie or the proxy (credentials a browser sends by
  itself) that may change something must carry its token (`X-CSRF-Token`, or `csrf_token` in a
  form);
- one log line per request (method, path, status, duration; never a query string or body) and,
  where the handler named a case action (`request.state.audit`), one audit row.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import parse_qs, quote

import anyio
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.routing import Match

from engine import logs
from engine.access import accounts, audit
from engine.interfaces.http.problems import problem

SESSION_COOKIE = "caseclock_session"
LOGIN_COOKIE = "caseclock_login"  # the login form's own CSRF token (double submit), before a session exists
PUBLIC = {"/health", "/login", "/dashboard/style.css"}  # the stylesheet carries no data; the sign-in page uses it
PUBLIC_PREFIXES = ("/static-offline-docs/",)  # Swagger UI and ReDoc's own files: no data in them
SAFE = {"GET", "HEAD", "OPTIONS"}
PAGE_CSP = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
# Swagger UI and ReDoc start themselves with an inline script and style
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "X-Frame-Options": "DENY"}

access_log = logs.get_logger("caseclock.http")


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"the request body is larger than {limit} bytes")


class Guard:
    def __init__(self, app, *, api, store, settings):
        self.app = app
        self.api = api  # the FastAPI app, for the routes OPTIONS describes
        self.store = store
        self.settings = settings  # engine.settings.ApiSettings
        self._secret: bytes | None = None  # signs the proxy users' CSRF tokens (Store.secret: every process's)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        outcome = {"status": 500}
        path = scope["path"]

        async def send_secured(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                outcome["status"] = message["status"]
                outcome["started"] = True
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers[name] = value
                if headers.get("content-type", "").startswith("text/html"):
                    headers["Content-Security-Policy"] = DOCS_CSP if path in ("/docs", "/redoc") else PAGE_CSP
            await send(message)

        try:
            await self._handle(scope, receive, send_secured)
        except Exception:
            # answered here, so a 500 carries the security headers too; the server still logs it
            if not outcome.get("started"):
                await problem("server-error", path, error="InternalError")(scope, receive, send_secured)
            raise
        finally:
            access_log.info("request", method=scope["method"], path=path, status=outcome["status"],
                            duration_ms=round((time.perf_counter() - started) * 1000, 1))
            entry = scope.get("state", {}).get("audit")
            principal = scope.get("state", {}).get("principal")
            if entry and principal is not None:
                try:
                    await anyio.to_thread.run_sync(lambda: audit.record(
                        self.store, principal, entry["action"], outcome=outcome["status"],
                        authority=entry.get("authority"), case_ref=entry.get("case_ref")))
                except Exception as exc:  # the database went away: say so (its type only, as elsewhere)
                    access_log.critical("audit row not written", path=path, error=type(exc).__name__)

    async def _handle(self, scope, receive, send) -> None:
        path, method = scope["path"], scope["method"]
        headers = Headers(scope=scope)
        if method == "OPTIONS":
            await self._options(scope, send)
            return
        limit = self.settings.max_body_bytes
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await problem("payload-too-large", path, BodyTooLarge(limit).detail)(scope, receive, send)
            return
        receive = _capped(receive, limit)
        state = scope.setdefault("state", {})
        if path in PUBLIC or path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        found = await self._authenticate(scope, headers)
        if isinstance(found, str):  # refused: the kind of problem
            await self._refuse(found, scope, receive, send, headers)
            return
        principal, csrf, ambient = found
        state["principal"], state["csrf_token"] = principal, csrf
        if ambient and method not in SAFE:
            token = headers.get("x-csrf-token")
            if token is None and headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                try:
                    body = await _read(receive)
                except BodyTooLarge as exc:
                    await problem("payload-too-large", path, exc.detail)(scope, receive, send)
                    return
                token = (parse_qs(body.decode("utf-8", "replace")).get("csrf_token") or [None])[0]
                receive = _replay(body, receive)
            if token is None or not hmac.compare_digest(token.encode(), csrf.encode()):
                await problem("csrf", path, "this form or request needs the CSRF token of your session")(
                    scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _authenticate(self, scope, headers: Headers):
        """(principal, csrf token, ambient credentials?) or the kind of refusal."""
        authorization = headers.get("authorization")
        if authorization is not None:
            scheme, _, key = authorization.partition(" ")
            if scheme.lower() != "bearer" or not key.strip():
                return "unauthenticated"
            principal = await anyio.to_thread.run_sync(accounts.key_principal, self.store, key.strip())
            return (principal, "", False) if principal else "unauthenticated"
        header = self.settings.proxy_user_header
        client = (scope.get("client") or ("", 0))[0]
        if header and client in self.settings.trusted_proxies and headers.get(header):
            name = headers[header]
            row = await anyio.to_thread.run_sync(accounts.user, self.store, name)
            if row is None:
                return "no-account"
            if self._secret is None:
                self._secret = await anyio.to_thread.run_sync(self.store.secret, "proxy-csrf")
            csrf = hmac.new(self._secret, f"csrf:{name}".encode(), hashlib.sha256).hexdigest()
            return accounts.principal_of(row, "user"), csrf, True
        cookie = _cookies(headers).get(SESSION_COOKIE)
        if cookie:
            signed_in = await anyio.to_thread.run_sync(accounts.session_principal, self.store, cookie)
            if signed_in is not None:
                return signed_in.principal, signed_in.csrf_token, True
        return "unauthenticated"

    async def _refuse(self, kind: str, scope, receive, send, headers: Headers) -> None:
        path = scope["path"]
        if kind == "no-account":
            await problem("forbidden", path, "your sign-on is not linked to a caseclock user: ask an administrator")(
                scope, receive, send)
            return
        wants_page = scope["method"] == "GET" and "text/html" in headers.get("accept", "") \
            and "authorization" not in headers
        if wants_page:
            target = path + (("?" + scope["query_string"].decode("latin-1")) if scope.get("query_string") else "")
            await send({"type": "http.response.start", "status": 303,
                        "headers": [(b"location", f"/login?next={quote(target, safe='')}".encode()),
                                    (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        await problem("unauthenticated", path, "send Authorization: Bearer <API key>, or sign in at /login",
                      headers={"WWW-Authenticate": 'Bearer realm="caseclock"'})(scope, receive, send)

    async def _options(self, scope, send) -> None:
        allowed: set[str] = set()
        for route in self.api.router.routes:
            match, _ = route.matches({**scope, "method": "GET"})
            if match != Match.NONE:
                allowed |= set(getattr(route, "methods", None) or {"GET", "HEAD"})
        status = 204 if allowed else 404
        allow = ", ".join(sorted(allowed | {"OPTIONS"})) if allowed else ""
        start_headers = [(b"allow", allow.encode())] if allowed else []
        await send({"type": "http.response.start", "status": status, "headers": start_headers})
        await send({"type": "http.response.body", "body": b""})


def _cookies(headers: Headers) -> dict[str, str]:
    from http.cookies import SimpleCookie

    jar = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # a malformed Cookie header is no cookie
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def _capped(receive, limit: int):
    """`receive`, refusing (413) once the body read so far passes `limit` bytes."""
    seen = 0

    async def wrapped():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return wrapped


async def _read(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes, original):
    """A `receive` that gives the body already read, then whatever the client sends next."""
    sent = False

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await original()

    return receive
