"""The dashboard's pages through FastAPI's TestClient, as each role sees them.

Each principal is a real API key with that principal's roles, scope and user id, sent as a
bearer token: the same gate as production decides who is asking."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient

from engine.access import accounts
from engine.access.principal import Principal, Role
from engine.interfaces.api import create_app
from engine.runtime.engine import Engine
from engine.time.calendar import WorkingCalendar
from engine.time.clock import SimulatedClock
from persistence.store import Store

from .conftest import at

RAISED = {"theme": "safety", "concern": "Permanence plan not progressed"}
MANAGER = Principal("manager", frozenset({Role.MANAGER}), None)
VIEWER = Principal("viewer", frozenset({Role.VIEWER}), None)
IRO_A = Principal("iro a", frozenset({Role.IRO}), None, user_id="iro.a")
SUNDERLAND_MANAGER = Principal("sunderland manager", frozenset({Role.MANAGER}), "sunderland")
INTEGRATOR = Principal("link", frozenset({Role.INTEGRATOR}), None, kind="key")


@pytest.fixture(scope="module")
def eng(tmp_path_factory, registry):
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('dash') / 'dash.db'}")
    clock = SimulatedClock(at("2026-03-11", 10))
    e = Engine(store, registry, WorkingCalendar(), clock)
    e.open_case("drp", "D-A", at=at("2026-03-02"), data=RAISED, child_ref="K1", assigned_to="iro.a", team="t1")
    e.open_case("drp", "D-B", at=at("2026-03-02"), data=RAISED, child_ref="K2", assigned_to="iro.b", team="t2")
    e.open_case("cla_review", "CLA-A", at=at("2026-01-05"), data={"became_looked_after": "2026-01-05"},
                child_ref="K1", assigned_to="iro.a", team="t1")
    e.fire("CLA-A", "review_held", at=at("2026-02-02"), role="iro", data={"next_review_on": "2026-05-01"})
    sunderland = Engine(store, registry, WorkingCalendar(), clock, authority="sunderland")
    sunderland.open_case("drp", "S-1", at=at("2026-03-02"), data=RAISED, child_ref="K9", assigned_to="iro.s")
    yield e
    store.close()


def client_as(eng, principal: Principal | None) -> TestClient:
    client = TestClient(create_app(eng))
    if principal is not None:
        issued = accounts.create_key(eng.store, principal.name, roles=[r.value for r in principal.roles],
                                     expires_in=dt.timedelta(days=1), authority=principal.authority,
                                     user_id=principal.user_id, acts_as=list(principal.acts_as))
        client.headers["Authorization"] = f"Bearer {issued.key}"
    return client


def rows(html: str) -> list[str]:
    """The case references in the first column of the row table."""
    return re.findall(r'<th scope="row"><a href="/dashboard/cases/([^"?]+)', html)


def test_manager_sees_every_overdue_row_with_sortable_headers_and_a_csv_link(eng):
    r = client_as(eng, MANAGER).get("/dashboard/overdue")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert set(rows(r.text)) == {"D-A", "D-B", "S-1", "CLA-A"}
    assert 'href="#main"' in r.text and "<caption>" in r.text and 'scope="col"' in r.text
    assert '<label for="f-team">' in r.text
    assert "/dashboard/overdue.csv?" in r.text and "sort=case" in r.text
    assert r.headers["cache-control"] == "no-store"


def test_filters_narrow_the_rows(eng):
    client = client_as(eng, MANAGER)
    assert set(rows(client.get("/dashboard/overdue?team=t2").text)) == {"D-B"}
    assert set(rows(client.get("/dashboard/overdue?workflow=cla_review&team=").text)) == {"CLA-A"}
    assert client.get("/dashboard/overdue?sort=nonsense").status_code == 400


def test_csv_download(eng):
    r = client_as(eng, MANAGER).get("/dashboard/overdue.csv?team=t1")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    lines = r.text.strip().splitlines()
    assert lines[0].startswith("case_ref,") and {line.split(",")[0] for line in lines[1:]} == {"D-A", "CLA-A"}


def test_iro_sees_only_their_own_rows(eng):
    client = client_as(eng, IRO_A)
    assert set(rows(client.get("/dashboard/overdue").text)) == {"D-A", "CLA-A"}
    assert set(rows(client.get("/dashboard/overdue?iro=iro.b").text)) == {"D-A", "CLA-A"}  # cannot widen
    assert client.get("/dashboard/cases/D-A").status_code == 200
    assert client.get("/dashboard/cases/D-B").status_code == 403
    csv_refs = {line.split(",")[0] for line in client.get("/dashboard/overdue.csv").text.strip().splitlines()[1:]}
    assert csv_refs == {"D-A", "CLA-A"}
    assert client.get("/dashboard/scorecard").status_code == 200
    drp = client.get("/dashboard/drp").text
    assert "D-A" in drp and "D-B" not in drp


def test_viewer_sees_counts_only(eng):
    client = client_as(eng, VIEWER)
    page = client.get("/dashboard/overdue")
    assert page.status_code == 200
    assert rows(page.text) == [] and "counts only" in page.text and "D-A" not in page.text
    assert "K1" not in page.text
    for path in ("/dashboard/cases/D-A", "/dashboard/children/K1", "/dashboard/overdue.csv", "/dashboard/due-next.csv"):
        assert client.get(path).status_code == 403, path
    drp = client.get("/dashboard/drp")
    assert drp.status_code == 200 and "D-A" not in drp.text
    assert client.get("/dashboard/scorecard").status_code == 200


def test_an_authoritys_manager_sees_only_its_cases(eng):
    client = client_as(eng, SUNDERLAND_MANAGER)
    assert set(rows(client.get("/dashboard/overdue").text)) == {"S-1"}
    assert client.get("/dashboard/cases/D-A").status_code == 404
    assert client.get("/dashboard/cases/S-1").status_code == 200
    assert client.get("/dashboard/children/K1").status_code == 404


def test_no_principal_is_401(eng):
    assert client_as(eng, None).get("/dashboard/overdue").status_code == 401


def test_integrator_key_has_no_scorecard(eng):
    assert client_as(eng, INTEGRATOR).get("/dashboard/scorecard").status_code == 403


def test_case_page_shows_state_data_deadlines_explained_and_timeline(eng):
    r = client_as(eng, MANAGER).get("/dashboard/cases/CLA-A")
    assert r.status_code == 200
    html = r.text
    assert "decisions_pending" in html and "became_looked_after" in html
    assert "Second review within 3 months of the first" in html
    # what `explain` says: invitations 10 working days before the review set for Fri 1 May
    assert "data.next_review_on on Fri 01 May 2026 (day 0), -10 working days; 4 days skipped: Sat 18 Apr, Sun 19 Apr, Sat 25 Apr" in html
    assert "review_held" in html and "Timeline" in html
    assert "Care Planning, Placement and Case Review" in html


def test_child_page_puts_every_case_in_one_timeline(eng):
    html = client_as(eng, MANAGER).get("/dashboard/children/K1").text
    assert "CLA-A" in html and "D-A" in html and "D-B" not in html
    assert html.index("2026-01-05") < html.index("2026-03-02")  # oldest first, across cases


def test_due_next_and_drp_tracker_pages(eng):
    client = client_as(eng, MANAGER)
    due = client.get("/dashboard/due-next")
    assert due.status_code == 200 and "Working days left" in due.text
    drp = client.get("/dashboard/drp")
    assert drp.status_code == 200 and "D-A" in drp.text and "safety" in drp.text


def test_scorecard_page_charts_with_numbers_beside_them(eng):
    r = client_as(eng, MANAGER).get("/dashboard/scorecard?from=2025-04-01&to=2026-03-31")
    assert r.status_code == 200
    html = r.text
    assert html.count("<svg") >= 8 and 'role="img"' in html and "<pattern" in html
    assert "Definition:" in html and "Source:" in html and "month by month</caption>" in html
    assert "CLA reviews held in timescale" in html
    assert client_as(eng, MANAGER).get("/dashboard/scorecard?from=2026-13-01").status_code == 400
    csv = client_as(eng, MANAGER).get("/dashboard/scorecard.csv?from=2025-04-01&to=2026-03-31")
    assert csv.status_code == 200 and csv.text.startswith("kpi,title,unit,part,label,value")


def test_stylesheet_is_served_from_the_package(eng):
    r = client_as(eng, None).get("/dashboard/style.css")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/css") and ".skip-link" in r.text


def test_case_data_is_escaped_not_run(eng):
    eng.open_case("drp", "D-X", at=at("2026-03-10"), child_ref="K-X",
                  data={"theme": "safety", "concern": '<script>alert("x")</script>'})
    html = client_as(eng, MANAGER).get("/dashboard/cases/D-X").text
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_a_page_or_offset_past_any_list_is_refused_not_a_server_error(eng):
    manager = client_as(eng, Principal("m", frozenset({Role.MANAGER}), None))
    for path in ("/dashboard/overdue?page=10000000000000000000", "/dashboard/due-next?page=184467440737095517",
                 "/overdue?offset=9223372036854775808", "/upcoming?within=10wd&offset=1000000001"):
        answer = manager.get(path)
        assert 400 <= answer.status_code < 500, (path, answer.status_code)
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert manager.get("/overdue?offset=1000000000").status_code == 200  # the largest allowed: an empty page
