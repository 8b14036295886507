"""Who may use the API: keys, sessions, the sign-on proxy, roles on every endpoint, CSRF,
authorities kept apart, problems for every error, security headers and the audit trail."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient

from engine.access import accounts, audit
from engine.interfaces.api import create_app
from engine.settings import ApiSettings
from sqlalchemy import update

from engine.interfaces.http.guard import SESSION_COOKIE
from persistence.models import AuditRow, SessionRow

from .conftest import at

RAISED = {"theme": "safety", "concern": "Jane Doe-7Q disclosed something"}
PLAIN_HTTP = ApiSettings(secure_cookies=False)
PROBLEM = "application/problem+json"
SECURITY_HEADERS = {"cache-control": "no-store", "x-content-type-options": "nosniff",
                    "referrer-policy": "no-referrer", "x-frame-options": "DENY"}


def key(store, *roles, authority=None, user_id=None, acts_as=(), **kw) -> str:
    roles = roles or kw.pop("roles")
    return accounts.create_key(store, f"{'+'.join(roles)} key", roles=list(roles), authority=authority,
                               user_id=user_id, acts_as=list(acts_as), expires_in=kw.pop("expires_in", dt.timedelta(days=1)),
                               **kw).key


def bearer(k: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {k}"}


@pytest.fixture
def seeded(engine):
    """Two cases, held by two IROs, long overdue at the simulated clock's time."""
    engine.open_case("drp", "C-OWN", at=at("2026-03-02"), data=RAISED, assigned_to="iro.khan", child_ref="P-1")
    engine.open_case("drp", "C-OTHER", at=at("2026-03-02"), data=RAISED, assigned_to="iro.osei", child_ref="P-2")
    return engine


@pytest.fixture
def app(seeded):
    return create_app(seeded, api_settings=PLAIN_HTTP)


@pytest.fixture
def anon(app):
    with TestClient(app) as c:
        yield c


def assert_problem(response, status: int, kind: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body = response.json()
    assert body["type"] == f"urn:caseclock:problem:{kind}", body
    assert body["status"] == status and body["title"] and body["detail"]
    assert body["instance"] == response.request.url.path
    return body


# ---- every endpoint x role ---------------------------------------------------------------------

ROLES = {
    "admin": dict(roles=("admin",)),
    "integrator": dict(roles=("integrator",), acts_as=("iro",)),
    "manager": dict(roles=("manager",)),
    "iro": dict(roles=("iro",), user_id="iro.khan", acts_as=("iro",)),
    "viewer": dict(roles=("viewer",)),
}
# endpoint -> the roles allowed (every other role is refused with the status given)
READS = [
    ("GET", "/cases/C-OWN", {"integrator", "manager", "iro"}, 403),
    ("GET", "/cases/C-OWN/history", {"integrator", "manager", "iro"}, 403),
    ("GET", "/overdue", {"integrator", "manager", "iro"}, 403),
    ("GET", "/upcoming?within=2000wd", {"integrator", "manager", "iro"}, 403),
    ("GET", "/metrics", {"manager", "admin"}, 403),
    ("GET", "/me", set(ROLES), 401),
    ("GET", "/docs", set(ROLES), 401),
    ("GET", "/openapi.json", set(ROLES), 401),
]


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_endpoint_allows_and_refuses_by_role(app, store, role):
    client = TestClient(app, headers=bearer(key(store, **ROLES[role])))
    for method, path, allowed, refused in READS:
        response = client.request(method, path)
        if role in allowed:
            assert response.status_code == 200, (role, path, response.text)
        else:
            assert_problem(response, refused, "forbidden")
    # an IRO sees the cases they hold and no other (404: existence does not leak)
    other = client.get("/cases/C-OTHER")
    if role == "iro":
        assert_problem(other, 404, "case-not-found")
        assert [r["case_ref"] for r in client.get("/overdue").json()] == ["C-OWN"]
    elif role in ("integrator", "manager"):
        assert other.status_code == 200
        assert sorted(r["case_ref"] for r in client.get("/overdue").json()) == ["C-OTHER", "C-OWN"]
    writes = [
        ("POST", "/cases", {"workflow": "drp", "case_ref": f"NEW-{role}", "at": "2026-03-02", "data": RAISED}, 201),
        ("POST", "/cases/C-OWN/reassign", {"assigned_to": "iro.khan", "team": "North", "at": "2026-03-03"}, 200),
        ("POST", "/cases/C-OWN/events", {"trigger": "escalate", "at": "2026-03-04", "role": "iro"}, 200),
    ]
    for method, path, body, ok in writes:
        response = client.request(method, path, json=body)
        if role == "integrator":
            assert response.status_code == ok, (path, response.text)
        else:
            assert_problem(response, 403, "forbidden")
    assert client.get("/health").status_code == 200


def test_anonymous_callers_get_401_on_everything_but_health(anon, seeded):
    # the reproductions: an anonymous POST /cases opened a case; GET /cases/Y1 and /history read it
    opened = anon.post("/cases", json={"workflow": "drp", "case_ref": "Y1", "data": RAISED})
    body = assert_problem(opened, 401, "unauthenticated")
    assert opened.headers["www-authenticate"].startswith("Bearer")
    assert "Jane" not in opened.text
    with pytest.raises(Exception):
        seeded.case("Y1")
    for path in ("/cases/C-OWN", "/cases/C-OWN/history", "/overdue", "/upcoming", "/metrics", "/me", "/openapi.json",
                 "/docs"):
        assert_problem(anon.get(path), 401, "unauthenticated")
    for path in ("/cases/C-OWN/events", "/cases/C-OWN/reassign"):
        assert_problem(anon.post(path, json={"trigger": "escalate"}), 401, "unauthenticated")
    assert anon.get("/health").status_code == 200
    assert body["detail"] == "send Authorization: Bearer <API key>, or sign in at /login"


def test_a_browser_without_a_session_is_sent_to_the_login_page(anon):
    page = anon.get("/cases/C-OWN?x=1", headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Fcases%2FC-OWN%3Fx%3D1"
    login = anon.get(page.headers["location"])
    assert login.status_code == 200 and '<label for="password">' in login.text
    assert login.headers["content-security-policy"].startswith("default-src 'self'")


# ---- keys --------------------------------------------------------------------------------------


def test_expired_revoked_wrong_and_malformed_keys_are_refused(app, store):
    good = key(store, "manager")
    expired = key(store, "manager", now=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2))
    revoked = key(store, "manager")
    accounts.revoke_key(store, revoked.split("_")[1])
    client = TestClient(app)
    assert client.get("/cases/C-OWN", headers=bearer(good)).status_code == 200
    tampered = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    for sent in (expired, revoked, tampered, "cc_nothing", "", good + "x"):
        assert_problem(client.get("/cases/C-OWN", headers=bearer(sent)), 401, "unauthenticated")
    assert_problem(client.get("/cases/C-OWN", headers={"Authorization": f"Basic {good}"}), 401, "unauthenticated")
    stored = accounts.keys(store)
    assert all(good not in (row.key_hash, row.prefix, row.name) for row in stored)  # only a hash is kept


# ---- roles on transitions ----------------------------------------------------------------------


def test_the_event_role_must_be_one_the_principal_acts_as(app, store, seeded):
    client = TestClient(app, headers=bearer(key(store, "integrator", acts_as=("iro",))))
    resolve = {"trigger": "resolve", "at": "2026-03-04", "data": {"outcome": "concern_not_upheld"}}
    body = assert_problem(client.post("/cases/C-OWN/events", json=resolve), 422, "role-required")
    assert "iro, iro_manager" in body["detail"]
    assert_problem(client.post("/cases/C-OWN/events", json={**resolve, "role": "system"}), 403, "forbidden")
    refused = assert_problem(client.post("/cases/C-OWN/events", json={**resolve, "role": "iro_manager"}), 403,
                             "forbidden")
    assert "acts as: iro" in refused["detail"]
    assert seeded.case("C-OWN").state == "informal"  # nothing refused was stored
    done = client.post("/cases/C-OWN/events", json={**resolve, "role": "iro"})
    assert done.status_code == 200 and done.json()["case"]["state"] == "resolved"


def test_a_transition_that_names_no_roles_needs_none(store, clock, escalating_registry):
    from engine.runtime.engine import Engine
    from engine.time.calendar import WorkingCalendar

    engine = Engine(store, escalating_registry, WorkingCalendar(), clock)
    engine.open_case("chase", "CH-1", at=at("2026-01-05"))
    client = TestClient(create_app(engine), headers=bearer(key(store, "integrator")))
    response = client.post("/cases/CH-1/events", json={"trigger": "answer", "at": "2026-01-06"})
    assert response.status_code == 200 and response.json()["case"]["state"] == "done"


def test_embedders_keep_firing_without_a_role(engine):
    """Only the API insists on a role; Engine.fire without role_required is as before."""
    from engine.errors import RoleRequired

    engine.open_case("drp", "E-1", at=at("2026-03-02"), data=RAISED)
    with pytest.raises(RoleRequired):
        engine.fire("E-1", "escalate", at=at("2026-03-03"), role_required=True)
    assert engine.fire("E-1", "escalate", at=at("2026-03-03")).to_state == "stage_1"


# ---- authorities ---------------------------------------------------------------------------------


def test_a_key_scoped_to_one_authority_never_sees_anothers_cases(app, store):
    sunderland = TestClient(app, headers=bearer(key(store, "integrator", "manager", authority="sunderland",
                                                    acts_as=("iro",))))
    gateshead = TestClient(app, headers=bearer(key(store, "integrator", "manager", authority="gateshead")))
    opened = sunderland.post("/cases", json={"workflow": "drp", "case_ref": "S-1", "at": "2026-03-02", "data": RAISED})
    assert opened.status_code == 201 and opened.json()["authority"] == "sunderland"
    assert_problem(gateshead.get("/cases/S-1"), 404, "case-not-found")
    assert_problem(gateshead.get("/cases/S-1/history"), 404, "case-not-found")
    assert_problem(gateshead.post("/cases/S-1/events", json={"trigger": "withdraw"}), 404, "case-not-found")
    assert_problem(sunderland.get("/cases/C-OWN"), 404, "case-not-found")  # a case of no authority
    # references are unique within an authority, not across the database
    assert gateshead.post("/cases", json={"workflow": "drp", "case_ref": "S-1", "at": "2026-03-02",
                                          "data": RAISED}).status_code == 201
    assert [r["case_ref"] for r in sunderland.get("/overdue").json()] == ["S-1"]
    metrics = sunderland.get("/metrics").text
    assert 'caseclock_open_deadlines{workflow="drp"} 1.0' in metrics


# ---- sessions, CSRF ------------------------------------------------------------------------------


def sign_in(client: TestClient, name: str, password: str, next_: str = "/me"):
    form = client.get(f"/login?next={next_}")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    return client.post("/login", data={"username": name, "password": password, "csrf_token": token, "next": next_},
                       follow_redirects=False)


def test_a_person_signs_in_and_the_cookie_is_secure_httponly_and_strict(seeded, store):
    accounts.add_user(store, "ann", roles=["manager", "integrator"], password="a long pass phrase", acts_as=["iro"])
    client = TestClient(create_app(seeded), base_url="https://testserver")  # default settings: Secure cookies
    signed = sign_in(client, "ann", "a long pass phrase")
    assert signed.status_code == 303 and signed.headers["location"] == "/me"
    cookie = next(v for k, v in signed.headers.multi_items() if k == "set-cookie" and v.startswith("caseclock_session="))
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "secure", "samesite=strict", "path=/"} <= flags
    session_id = cookie.split(";")[0].split("=", 1)[1]
    with store.read() as s:
        assert s.get(SessionRow, accounts.digest(session_id)) is not None  # only its hash is stored
        assert s.get(SessionRow, session_id) is None


def test_sessions_need_the_csrf_token_for_every_change(seeded, store):
    accounts.add_user(store, "ann", roles=["manager", "integrator"], password="a long pass phrase", acts_as=["iro"])
    client = TestClient(create_app(seeded, api_settings=PLAIN_HTTP))
    assert sign_in(client, "ann", "a long pass phrase").status_code == 303
    me = client.get("/me").json()
    assert me["name"] == "ann" and me["kind"] == "user" and me["csrf_token"]
    assert client.get("/cases/C-OWN").status_code == 200  # reads need no token
    new = {"workflow": "drp", "case_ref": "WEB-1", "at": "2026-03-02", "data": RAISED}
    assert_problem(client.post("/cases", json=new), 403, "csrf")
    assert_problem(client.post("/cases", json=new, headers={"X-CSRF-Token": "wrong"}), 403, "csrf")
    assert client.post("/cases", json=new, headers={"X-CSRF-Token": me["csrf_token"]}).status_code == 201
    # a form: the token in the body
    assert_problem(client.post("/logout", data={"csrf_token": "wrong"}), 403, "csrf")
    out = client.post("/logout", data={"csrf_token": me["csrf_token"]}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert_problem(client.get("/me"), 401, "unauthenticated")


def test_a_wrong_password_or_a_forged_login_form_signs_no_one_in(seeded, store):
    accounts.add_user(store, "ann", roles=["manager"], password="a long pass phrase")
    client = TestClient(create_app(seeded, api_settings=PLAIN_HTTP))
    wrong = sign_in(client, "ann", "not the pass phrase")
    assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
    forged = TestClient(create_app(seeded, api_settings=PLAIN_HTTP)).post(
        "/login", data={"username": "ann", "password": "a long pass phrase", "csrf_token": "x"})
    assert_problem(forged, 403, "csrf")
    elsewhere = sign_in(client, "ann", "a long pass phrase", next_="//evil.example/")
    assert elsewhere.headers["location"] == "/"  # never a redirect off the site
    rows = audit.query(store, principal="ann")
    assert [(r.action, r.outcome) for r in rows][-1] == ("login", 401)


def test_wrong_passwords_lock_that_user_name_out_in_every_process_until_the_window_passes(seeded, store):
    accounts.add_user(store, "ann", roles=["manager"], password="a long pass phrase")
    accounts.add_user(store, "bob", roles=["manager"], password="another pass phrase")
    settings = ApiSettings(secure_cookies=False, login_attempts=3, login_window_minutes=10)
    one = TestClient(create_app(seeded, api_settings=settings))
    other = TestClient(create_app(seeded, api_settings=settings))  # a second process of `serve`
    # an hour-old failure is outside the window and does not count
    audit.record(store, None, "login", outcome=401, name="ann", at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1))
    assert [sign_in(one, "ann", f"guess {i}").status_code for i in range(3)] == [401, 401, 401]
    locked = sign_in(other, "ann", "a long pass phrase")  # the right password is not even checked now
    assert locked.status_code == 429 and "Too many wrong passwords" in locked.text
    assert 1 <= int(locked.headers["retry-after"]) <= 600
    assert SESSION_COOKIE not in locked.headers.get("set-cookie", "")
    assert sign_in(one, "bob", "another pass phrase").status_code == 303  # another name is not held up
    assert [(r.action, r.outcome) for r in audit.query(store, principal="ann")][0] == ("login", 429)


def test_failures_leave_the_window_and_a_right_password_ends_the_count(seeded, store):
    accounts.add_user(store, "ann", roles=["manager"], password="a long pass phrase")
    settings = ApiSettings(secure_cookies=False, login_attempts=3, login_window_minutes=10)
    client = TestClient(create_app(seeded, api_settings=settings))
    now = dt.datetime.now(dt.timezone.utc)
    for minutes in (9.9, 2, 1):  # three failures, the oldest about to leave the window
        audit.record(store, None, "login", outcome=401, name="ann", at=now - dt.timedelta(minutes=minutes))
    locked = sign_in(client, "ann", "a long pass phrase")
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) <= 7
    # once the oldest has left the window two remain, under the limit: the right password signs in ...
    with store.db.writer.begin() as conn:
        conn.execute(update(AuditRow).where(AuditRow.principal == "ann", AuditRow.outcome == 401,
                                            AuditRow.at < now - dt.timedelta(minutes=5))
                     .values(at=now - dt.timedelta(minutes=11)))
    assert sign_in(client, "ann", "a long pass phrase").status_code == 303
    # ... and ends the count: two more failures do not lock the name
    assert [sign_in(client, "ann", f"guess {i}").status_code for i in range(2)] == [401, 401]
    assert sign_in(client, "ann", "a long pass phrase").status_code == 303


# ---- single sign-on proxy -----------------------------------------------------------------------


def test_the_proxy_header_is_honoured_only_from_a_trusted_proxy(seeded, store):
    accounts.add_user(store, "iro.khan@sunderland.gov.uk", roles=["iro"], password=None, user_id="iro.khan")
    header = {"X-Forwarded-User": "iro.khan@sunderland.gov.uk"}
    trusted = TestClient(create_app(seeded, api_settings=ApiSettings(
        proxy_user_header="X-Forwarded-User", trusted_proxies=["testclient"])))
    assert trusted.get("/cases/C-OWN", headers=header).status_code == 200
    assert_problem(trusted.get("/cases/C-OTHER", headers=header), 404, "case-not-found")
    assert_problem(trusted.get("/me", headers={"X-Forwarded-User": "stranger"}), 403, "forbidden")
    me = trusted.get("/me", headers=header).json()
    assert me["name"] == "iro.khan@sunderland.gov.uk" and me["csrf_token"]
    assert_problem(trusted.post("/cases", headers=header, json={}), 403, "csrf")  # ambient credentials need the token
    untrusted = TestClient(create_app(seeded, api_settings=ApiSettings(
        proxy_user_header="X-Forwarded-User", trusted_proxies=["10.0.0.1"])))
    assert_problem(untrusted.get("/cases/C-OWN", headers=header), 401, "unauthenticated")
    unset = TestClient(create_app(seeded))
    assert_problem(unset.get("/cases/C-OWN", headers=header), 401, "unauthenticated")


def test_a_proxy_users_csrf_token_from_one_process_is_good_in_another(seeded, store):
    accounts.add_user(store, "ann@sunderland.gov.uk", roles=["integrator"], password=None, acts_as=["iro"])
    header = {"X-Forwarded-User": "ann@sunderland.gov.uk"}
    settings = ApiSettings(proxy_user_header="X-Forwarded-User", trusted_proxies=["testclient"])
    one = TestClient(create_app(seeded, api_settings=settings))
    other = TestClient(create_app(seeded, api_settings=settings))  # a second `serve`, or the same after a restart
    token = one.get("/me", headers=header).json()["csrf_token"]
    new = {"workflow": "drp", "case_ref": "C-PROXY", "at": "2026-03-02T10:00:00+00:00", "data": RAISED}
    assert other.post("/cases", json=new, headers={**header, "X-CSRF-Token": token}).status_code == 201
    assert_problem(other.post("/cases", json={**new, "case_ref": "C-PROXY-2"},
                              headers={**header, "X-CSRF-Token": token[:-1] + ("1" if token.endswith("0") else "0")}),
                  403, "csrf")


# ---- the other reproductions, problems and headers ----------------------------------------------


def test_a_case_reference_with_slashes_is_reachable(app, store):
    client = TestClient(app, headers=bearer(key(store, "integrator", acts_as=("iro",))))
    assert client.post("/cases", json={"workflow": "drp", "case_ref": "CASE/2026/7", "at": "2026-03-02",
                                       "data": RAISED}).status_code == 201
    for path in ("/cases/CASE%2F2026%2F7", "/cases/CASE/2026/7"):
        assert client.get(path).json()["case_ref"] == "CASE/2026/7"
    assert [h["trigger"] for h in client.get("/cases/CASE%2F2026%2F7/history").json()] == ["open"]
    fired = client.post("/cases/CASE/2026/7/events", json={"trigger": "escalate", "at": "2026-03-03", "role": "iro"})
    assert fired.status_code == 200 and fired.json()["case"]["state"] == "stage_1"


def test_options_is_204_with_allow_and_no_cors(anon):
    response = anon.options("/cases/C-OWN/events", headers={"Origin": "https://elsewhere.example",
                                                            "Access-Control-Request-Method": "POST"})
    assert response.status_code == 204
    assert {"POST", "OPTIONS"} <= set(response.headers["allow"].split(", "))
    assert "access-control-allow-origin" not in response.headers
    assert set(anon.options("/cases").headers["allow"].split(", ")) == {"POST", "OPTIONS"}


def test_a_body_over_the_cap_is_413(app, store):
    client = TestClient(app, headers=bearer(key(store, "integrator")))
    big = b'{"workflow": "drp", "case_ref": "BIG", "data": {"concern": "' + b"x" * (20 * 1024 * 1024) + b'"}}'
    assert_problem(client.post("/cases", content=big, headers={"Content-Type": "application/json"}), 413,
                   "payload-too-large")
    # no declared length: refused once the stream passes the cap
    def chunks():
        for _ in range(100):
            yield b"x" * 65536
    assert_problem(client.post("/cases", content=chunks(), headers={"Content-Type": "application/json"}), 413,
                   "payload-too-large")


def test_fields_are_capped(app, store):
    client = TestClient(app, headers=bearer(key(store, "integrator")))
    body = assert_problem(client.post("/cases", json={"workflow": "drp", "case_ref": "F-1", "at": "2026-03-02",
                                                      "data": RAISED, "reason": "r" * 10_001}), 422, "validation")
    assert body["problems"][0]["loc"] == ["body", "reason"] and "r" * 100 not in str(body)
    many = {f"f{i}": 1 for i in range(201)}
    assert_problem(client.post("/cases", json={"workflow": "drp", "case_ref": "F-1", "data": many}), 422, "validation")


def test_every_error_is_a_problem_with_a_stable_type(seeded, store):
    app = create_app(seeded, api_settings=PLAIN_HTTP)

    @app.get("/boom", include_in_schema=False)
    def boom():
        raise RuntimeError("Jane Doe-7Q")

    client = TestClient(app, headers=bearer(key(store, "integrator", acts_as=("iro",))), raise_server_exceptions=False)
    new = {"workflow": "drp", "case_ref": "P-1", "at": "2026-03-02", "data": RAISED}
    assert client.post("/cases", json=new).status_code == 201
    assert assert_problem(client.post("/cases", json=new), 409, "case-exists")["error"] == "CaseExists"
    assert_problem(client.post("/cases", json={**new, "workflow": "nope"}), 400, "bad-definition")
    assert_problem(client.get("/cases/NOPE"), 404, "case-not-found")
    assert_problem(client.get("/nowhere"), 404, "not-found")
    assert_problem(client.delete("/cases"), 405, "method-not-allowed")
    assert_problem(client.post("/cases/P-1/events", json={"trigger": "approve", "role": "iro"}), 422, "command-refused")
    assert_problem(client.post("/cases/P-1/events", json={"trigger": "escalate", "role": "iro", "expected_version": 9}),
                   409, "conflict")
    assert_problem(client.get("/overdue", params={"at": "3rd of March"}), 422, "invalid-moment")
    validation = assert_problem(client.post("/cases", json={"workflow": 5}), 422, "validation")
    assert all(set(p) == {"loc", "msg", "type"} for p in validation["problems"])
    assert_problem(client.post("/cases", content=b"{not json", headers={"Content-Type": "application/json"}), 422,
                   "validation")
    crash = assert_problem(client.get("/boom"), 500, "server-error")
    assert "Jane" not in crash["detail"]
    for name, value in SECURITY_HEADERS.items():
        assert client.get("/boom").headers[name] == value


def test_security_headers_on_every_response_and_a_csp_on_pages(anon, app, store):
    authed = TestClient(app, headers=bearer(key(store, "manager")))
    for response in (anon.get("/health"), anon.get("/cases/X"), anon.get("/login"), authed.get("/cases/C-OWN"),
                     authed.get("/cases/NOPE"), authed.get("/docs"), anon.options("/cases")):
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (response.request.url, name)
    assert "default-src 'self'" in anon.get("/login").headers["content-security-policy"]
    assert "frame-ancestors 'none'" in authed.get("/docs").headers["content-security-policy"]


def test_the_openapi_document_describes_every_response_and_the_security_schemes(app, store):
    client = TestClient(app, headers=bearer(key(store, "manager")))
    schema = client.get("/openapi.json").json()
    assert set(schema["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyCookie"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            if path != "/health":
                assert {"401", "500"} <= statuses, (method, path)
                assert operation["responses"]["401"]["content"].keys() == {"application/problem+json"} \
                    or "application/problem+json" in operation["responses"]["401"]["content"]
    assert "Problem" in schema["components"]["schemas"]


# ---- audit and metrics ---------------------------------------------------------------------------


def test_reads_and_changes_are_audited_without_case_data(app, store):
    client = TestClient(app, headers=bearer(key(store, "integrator", "manager", acts_as=("iro",))))
    client.get("/cases/C-OWN")
    client.get("/cases/C-OWN/history")
    client.post("/cases/C-OWN/events", json={"trigger": "escalate", "at": "2026-03-04", "role": "iro",
                                             "reason": "Jane Doe-7Q"})
    client.get("/cases/NOPE")
    rows = audit.query(store, case_ref="C-OWN")
    assert [(r.action, r.outcome, r.principal, r.kind) for r in reversed(rows)] == [
        ("read case", 200, "integrator+manager key", "key"), ("read history", 200, "integrator+manager key", "key"),
        ("fire escalate", 200, "integrator+manager key", "key")]
    assert [(r.action, r.outcome) for r in audit.query(store, case_ref="NOPE")] == [("read case", 404)]
    assert not any("Jane" in str(r.model_dump()) for r in audit.query(store))


def test_metrics_count_open_and_overdue_deadlines_by_workflow(app, store):
    client = TestClient(app, headers=bearer(key(store, "manager")))
    text = client.get("/metrics").text
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")
    assert 'caseclock_open_deadlines{workflow="drp"} 2.0' in text
    assert 'caseclock_overdue_deadlines{workflow="drp"} 2.0' in text  # the clock stands in 2030
    assert 'caseclock_transitions_total{kind="open"} 2.0' in text
    assert "caseclock_timer_lag_seconds" in text and "caseclock_outbox_dead_letters 0.0" in text
    assert "caseclock_worker_up 0.0" in text
