"""Signing in and out: a plain HTML form, a server-side session, a cookie.

The session cookie is HttpOnly, SameSite=Strict and Secure (unless `api.secure_cookies` is off,
for plain-http tests). The login form is protected from cross-site posting by its own random
token, sent both in a cookie and in the form (the session's CSRF token does not exist yet).
"""

from __future__ import annotations

import datetime as dt
import hmac
import html
import secrets
from urllib.parse import parse_qs

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from engine.access import accounts, audit
from engine.interfaces.http.guard import LOGIN_COOKIE, SESSION_COOKIE, BodyTooLarge, _cookies
from engine.interfaces.http.problems import problem

FIELD_LIMIT = 1024


def _next(target: str | None) -> str:
    """Only a path on this site: never another host (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _page(token: str, next_: str, message: str = "", status: int = 200) -> HTMLResponse:
    error = f'<p role="alert" class="error">{html.escape(message)}</p>' if message else ""
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in - caseclock</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main>
<h1>Sign in to caseclock</h1>
{error}
<form method="post" action="/login">
<input type="hidden" name="csrf_token" value="{html.escape(token)}">
<input type="hidden" name="next" value="{html.escape(next_)}">
<p><label for="username">User name</label><br>
<input id="username" name="username" autocomplete="username" required maxlength="128"></p>
<p><label for="password">Password</label><br>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024"></p>
<p><button type="submit">Sign in</button></p>
</form>
</main></body></html>"""
    return HTMLResponse(body, status_code=status)


def _locked_for(store, settings, name: str) -> int | None:
    """Seconds until `name` may try again, or None: it may now (see ApiSettings.login_attempts)."""
    now = dt.datetime.now(dt.timezone.utc)
    window = dt.timedelta(minutes=settings.login_window_minutes)
    failed = audit.failed_sign_ins(store, name, now - window)
    if len(failed) < settings.login_attempts:
        return None
    # free again when all but (attempts - 1) of them have left the window
    frees_at = failed[len(failed) - settings.login_attempts] + window
    return max(1, int((frees_at - now).total_seconds()) + 1)


def router(store, settings) -> APIRouter:
    """The /login and /logout routes for `store`, with `settings` (ApiSettings)."""
    routes = APIRouter(include_in_schema=False)

    def with_login_token(response: Response, token: str) -> Response:
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=settings.secure_cookies,
                            path="/login", max_age=3600)
        return response

    @routes.get("/login")
    def login_form(request: Request, next: str | None = None) -> Response:
        token = secrets.token_urlsafe(32)
        return with_login_token(_page(token, _next(next)), token)

    @routes.post("/login")
    async def login(request: Request) -> Response:
        try:
            raw = await request.body()
        except BodyTooLarge as exc:
            return problem("payload-too-large", request.url.path, exc.detail)
        form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        expected = _cookies(request.headers).get(LOGIN_COOKIE, "")
        sent = form.get("csrf_token", "")
        if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            return problem("csrf", request.url.path, "the sign-in form has expired: load /login again")
        name, password = form.get("username", ""), form.get("password", "")
        next_ = _next(form.get("next"))
        if name and len(name) <= 128:
            wait = await anyio.to_thread.run_sync(_locked_for, store, settings, name)
            if wait is not None:
                await anyio.to_thread.run_sync(lambda: audit.record(store, None, "login", outcome=429, name=name))
                token = secrets.token_urlsafe(32)
                minutes = max(1, -(-wait // 60))
                response = _page(token, next_, f"Too many wrong passwords for this user name: try again in "
                                               f"{minutes} minute{'s' if minutes != 1 else ''}.", status=429)
                response.headers["Retry-After"] = str(wait)
                return with_login_token(response, token)
        if not name or len(name) > 128 or not password or len(password) > FIELD_LIMIT:
            principal = None
        else:
            principal = await anyio.to_thread.run_sync(accounts.check_password, store, name, password)
        if principal is None:
            await anyio.to_thread.run_sync(lambda: audit.record(store, None, "login", outcome=401, name=name[:128]))
            token = secrets.token_urlsafe(32)
            return with_login_token(_page(token, next_, "Wrong user name or password.", status=401), token)
        lifetime = dt.timedelta(hours=settings.session_hours)
        session_id, _csrf = await anyio.to_thread.run_sync(accounts.start_session, store, principal.name, lifetime)
        await anyio.to_thread.run_sync(lambda: audit.record(store, principal, "login", outcome=303))
        response = RedirectResponse(next_, status_code=303)
        response.set_cookie(SESSION_COOKIE, session_id, httponly=True, samesite="strict",
                            secure=settings.secure_cookies, path="/", max_age=int(lifetime.total_seconds()))
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    @routes.post("/logout")
    async def logout(request: Request) -> Response:
        """Ends the session (the gate has checked the form's CSRF token)."""
        session_id = _cookies(request.headers).get(SESSION_COOKIE)
        if session_id:
            await anyio.to_thread.run_sync(accounts.end_session, store, session_id)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                               secure=settings.secure_cookies)
        return response

    return routes
