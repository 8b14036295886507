"""The dashboard in a real headless Chromium (Debian's `chromium`, driven by Playwright): each
page against a seeded database, the overdue rows, a filter, the CSV download, the charts, an
axe-core accessibility check, and a screenshot of each page.

Skipped when Chromium or Playwright is not installed (.ci/run installs both). Screenshots go to
$CASECLOCK_SCREENSHOTS if set, else the test's temporary directory."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from engine.access import accounts
from engine.settings import ApiSettings
from engine.runtime.engine import Engine
from engine.time.calendar import WorkingCalendar
from engine.time.clock import SimulatedClock
from persistence.store import Store

from .conftest import at

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = Path(__file__).resolve().parent / "browser" / "axe.min.js"
playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="no chromium (apt-get install chromium)"),
              pytest.mark.xdist_group("browser")]
RAISED = {"theme": "safety", "concern": "x"}
PASSWORD = "a long passphrase for tests"


@pytest.fixture(scope="module")
def server(tmp_path_factory, registry):
    import uvicorn

    from engine.interfaces.api import create_app

    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('browser') / 'browser.db'}")
    e = Engine(store, registry, WorkingCalendar(), SimulatedClock(at("2026-03-11", 10)))
    for i, (raised, team) in enumerate((("2026-03-03", "t1"), ("2026-02-24", "t2"), ("2026-02-03", "t2"))):
        e.open_case("drp", f"D-{i}", at=at(raised), data=RAISED, team=team, assigned_to="iro.a", child_ref=f"K{i}")
    e.open_case("cla_review", "CLA-1", at=at("2025-06-02"), data={"became_looked_after": "2025-06-02"},
                child_ref="K0", assigned_to="iro.a", team="t1")
    e.fire("CLA-1", "review_held", at=at("2025-06-30"), role="iro", data={"next_review_on": "2025-09-01"})
    e.fire("CLA-1", "review_held", at=at("2025-10-01"), role="iro",
           data={"next_review_on": "2026-03-01", "permanence_plan_ratified": True, "lateness_reason": "missing_report"})
    accounts.add_user(store, "manager.lee", roles=["manager"], password=PASSWORD)
    # plain http on the loopback: the session cookie cannot be Secure here
    app = create_app(e, api_settings=ApiSettings(secure_cookies=False))

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)
    store.close()


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page(server, browser):
    # the pages' CSP forbids inline script, which is how axe-core is injected: the checking
    # context bypasses it, and test_pages_break_no_content_security_rule visits every page
    # with the CSP enforced
    signed_in = browser.new_context(accept_downloads=True, bypass_csp=True).new_page()
    sign_in(signed_in, server)
    return signed_in


@pytest.fixture(scope="module")
def strict_page(server, browser):
    page = browser.new_context().new_page()
    sign_in(page, server)
    return page


def sign_in(page, server: str) -> None:
    """Through the real sign-in form: a page asked for without a session goes to /login first."""
    page.goto(server + "/dashboard/overdue")
    assert "/login" in page.url
    page.fill("#username", "manager.lee")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard/overdue")


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    where = os.environ.get("CASECLOCK_SCREENSHOTS")
    path = Path(where) if where else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def axe_violations(page) -> list[dict]:
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "nodes": len(v["nodes"])} for v in result["violations"]
            if v["impact"] in ("serious", "critical")]


PAGES = {"overdue": "/dashboard/overdue", "due-next": "/dashboard/due-next", "drp": "/dashboard/drp",
         "scorecard": "/dashboard/scorecard?from=2025-04-01&to=2026-03-31", "case": "/dashboard/cases/CLA-1",
         "child": "/dashboard/children/K0"}


@pytest.mark.parametrize("name", list(PAGES))
def test_each_page_renders_and_passes_axe(server, page, shots, name):
    response = page.goto(server + PAGES[name])
    assert response.status == 200
    assert page.locator("h1").count() == 1
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    assert axe_violations(page) == []


def test_overdue_rows_filter_and_csv(server, page):
    page.goto(server + "/dashboard/overdue")
    rows = page.locator("table.rows tbody tr")
    assert rows.count() >= 4
    assert "CLA-1" in rows.first.inner_text()  # the most overdue first (due 8 Oct 2025)
    page.select_option("#f-team", "t2")
    page.click("button:has-text('Apply filters')")
    page.wait_for_url("**team=t2**")
    assert sorted(page.locator("table.rows tbody th[scope=row]").all_inner_texts()) == ["D-1", "D-2"]
    with page.expect_download() as download:
        page.click("a:has-text('as CSV')")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.startswith("case_ref,") and len(text.strip().splitlines()) == 3


def test_skip_link_is_the_first_stop_for_the_keyboard(server, page):
    page.goto(server + "/dashboard/overdue")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"


def test_charts_render_with_their_figures(server, page):
    page.goto(server + PAGES["scorecard"])
    chart = page.locator("#chart-cla_reviews_in_timescale")
    assert chart.is_visible()
    assert chart.locator("rect.bar").count() >= 2
    box = chart.bounding_box()
    assert box["width"] > 200 and box["height"] > 50
    labels = chart.locator("text.value").all_text_contents()
    assert labels[2] == "100%" and labels[6] == "0%"  # June on time, October late; n/a where none held


def test_pages_break_no_content_security_rule(server, strict_page):
    """With the CSP enforced, no page needs anything it forbids (inline style or script)."""
    refused: list[str] = []
    strict_page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    for path in PAGES.values():
        assert strict_page.goto(server + path).status == 200
    assert refused == []
