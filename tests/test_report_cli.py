"""`caseclock report`: the scorecard in the terminal, as CSV and as JSON, from the same code as
the dashboard. The history is written through the Engine; the command runs as a process."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest

from engine.monitor.scorecard import Period
from engine.runtime.engine import Engine
from engine.time.calendar import WorkingCalendar
from engine.time.clock import SystemClock
from persistence.store import Store

from .conftest import at
from .test_cli import caseclock, no_traceback

FY = ("--from", "2025-04-01", "--to", "2026-03-31")


@pytest.fixture(scope="module")
def db(tmp_path_factory, registry):
    path = tmp_path_factory.mktemp("report") / "report.db"
    store = Store.open(f"sqlite:///{path}")
    e = Engine(store, registry, WorkingCalendar(), SystemClock())
    # became looked after Mon 2 Jun 2025 (day 0): the first review is due on the 20th working
    # day after, Mon 30 Jun. One held that day (in timescale), one the next day (late).
    for ref in ("CLA-1", "CLA-2"):
        e.open_case("cla_review", ref, at=at("2025-06-02"), data={"became_looked_after": "2025-06-02"}, assigned_to="iro.a")
    e.fire("CLA-1", "review_held", at=at("2025-06-30", 17), role="iro", data={"next_review_on": "2025-09-01"})
    e.fire("CLA-2", "review_held", at=at("2025-07-01", 9), role="iro",
           data={"next_review_on": "2025-09-01", "lateness_reason": "missing_report"})
    sunderland = Engine(store, registry, WorkingCalendar(), SystemClock(), authority="sunderland")
    sunderland.open_case("drp", "S-1", at=at("2025-06-02"), data={"theme": "safety", "concern": "x"})
    store.close()
    return path


def test_json(db):
    r = caseclock("report", *FY, "--format", "json", db=db)
    no_traceback(r)
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["period"] == {"from": "2025-04-01", "to": "2026-03-31"}
    kpis = {k["key"]: k for k in body["kpis"]}
    reviews = kpis["cla_reviews_in_timescale"]
    assert (reviews["value"]["numerator"], reviews["value"]["denominator"], reviews["value"]["value"]) == (1, 2, 50.0)
    assert reviews["definition"] and reviews["source"]
    assert [p["label"] for p in reviews["monthly"]][:3] == ["Apr 2025", "May 2025", "Jun 2025"]
    assert {p["label"]: p["value"] for p in kpis["lateness_reasons"]["breakdown"]} == {"CLA review: missing_report": 1}
    assert kpis["drp_raised"]["value"]["value"] == 1


def test_authority_filter(db):
    r = caseclock("report", *FY, "--format", "json", "--authority", "sunderland", db=db)
    kpis = {k["key"]: k for k in json.loads(r.stdout)["kpis"]}
    assert kpis["drp_raised"]["value"]["value"] == 1
    assert kpis["cla_reviews_in_timescale"]["value"]["denominator"] == 0


def test_csv(db):
    r = caseclock("report", *FY, "--format", "csv", db=db)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    headline = next(x for x in rows if x["kpi"] == "cla_reviews_in_timescale" and x["part"] == "period")
    assert (headline["value"], headline["numerator"], headline["denominator"]) == ("50.0", "1", "2")
    june = next(x for x in rows if x["kpi"] == "cla_reviews_in_timescale" and x["label"] == "Jun 2025")
    assert (june["numerator"], june["denominator"]) == ("1", "1")


def test_table(db):
    r = caseclock("report", *FY, db=db)
    assert r.returncode == 0, r.stderr
    assert "CLA reviews held in timescale" in r.stdout and "50.0% (1/2)" in r.stdout
    assert "Month by month" in r.stdout and "Definitions:" in r.stdout


def test_default_period_is_the_last_financial_year(db):
    r = caseclock("report", "--format", "json", db=db)
    expected = Period.last_financial_year(dt.date.today())
    assert json.loads(r.stdout)["period"] == {"from": expected.first.isoformat(), "to": expected.last.isoformat()}


def test_bad_dates_are_usage_errors(db):
    for args, message in ((("--from", "2025-02-30"), "expects a date"), (("--from", "2025-05-01", "--to", "2025-04-01"), "before --from")):
        r = caseclock("report", *args, db=db)
        no_traceback(r)
        assert r.returncode == 2 and message in r.stderr
