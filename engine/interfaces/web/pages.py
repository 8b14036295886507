"""The dashboard's pages: Overdue now, Due next, the DRP tracker, the Scorecard, a case and a child.

Filters are GET forms, sorting is a link per column header, and CSV downloads stream from the
same queries the pages page through (engine.monitor.lists)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from engine.access.principal import Principal
from engine.errors import AmbiguousCase, CalendarError, CaseNotFound
from engine.monitor import lists, scorecard
from engine.time.calendar import LONDON, local_date
from persistence.lists import MAX_OFFSET
from persistence.models import CaseRow

from . import charts
from .access import Scope, current_principal, scope_of

PREFIX = "/dashboard"
HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
# a page number whose first row lies past the longest list a database can page (lists.MAX_OFFSET)
PageNumber = Annotated[int, Query(le=MAX_OFFSET // PAGE_SIZE, description="The page of the list, from 1")]
CASES = CaseRow.__table__

LIST_COLUMNS = (("case", "Case"), ("child", "Child"), ("workflow", "Workflow"), ("state", "State"),
                ("deadline", "Deadline"), ("role", "Responsible role"), ("iro", "IRO"), ("team", "Team"),
                ("due", "Due"))


def _local(moment: dt.datetime) -> str:
    return moment.astimezone(LONDON).strftime("%a %d %b %Y %H:%M")


def _figure(kpi, point, short: bool = False) -> str:
    if point.value is None:
        return "n/a (none in the period)" if not short else "n/a"
    if kpi.unit == "%":
        return f"{point.value:.1f}%" if short else f"{point.value:.1f}% ({point.numerator} of {point.denominator})"
    if kpi.unit == "working days":
        return f"{point.value:g}" if short else f"{point.value:g} working days (of {point.denominator})"
    return f"{point.value}"


def _render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("principal", getattr(request.state, "principal", None))
    context.setdefault("prefix", PREFIX)
    context.setdefault("page", "")
    context.update(local=_local, figure=_figure)
    response = templates.TemplateResponse(request, template, context, status_code=status)
    response.headers["Cache-Control"] = "no-store"  # pages carry case data
    return response


def _refuse(request: Request, status: int, message: str, title: str = "Not available") -> HTMLResponse:
    return _render(request, "error.html", status, title=title, message=message)


def _engine(request: Request):
    return request.app.state.engine


def _blank(value: str | None) -> str | None:
    return value if value not in (None, "") else None


# ---- style -----------------------------------------------------------------------------------

@router.get(PREFIX + "/style.css")
def style() -> Response:
    return Response((HERE / "static" / "style.css").read_text(encoding="utf-8"), media_type="text/css",
                    headers={"Cache-Control": "max-age=3600"})


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse(PREFIX + "/overdue", status_code=303)


@router.get(PREFIX)
def dashboard() -> RedirectResponse:
    return RedirectResponse(PREFIX + "/overdue", status_code=303)


# ---- the lists -------------------------------------------------------------------------------

def _filters(scope: Scope, workflow, team, iro, role, band, authority) -> lists.Filters:
    """The filters asked for, narrowed to what the principal may see (their authority; an IRO's
    own cases)."""
    return lists.Filters(workflow=_blank(workflow), team=_blank(team),
                         iro=scope.assigned_to or _blank(iro), role=_blank(role), band=_blank(band),
                         authority=scope.authority or _blank(authority))


def _options(engine, scope: Scope, kind: str) -> SimpleNamespace:
    with engine.store.db.reader.connect() as conn:
        where = [CASES.c.authority == scope.authority] if scope.authority else []
        teams = sorted(t for t in conn.execute(select(CASES.c.team).where(*where).distinct()).scalars() if t)
        iros = ([scope.assigned_to] if scope.assigned_to else
                sorted(i for i in conn.execute(select(CASES.c.assigned_to).where(*where).distinct()).scalars() if i))
    roles = sorted({r for name in engine.registry.names() for r in engine.registry.get(name).spec.roles})
    authorities = [] if scope.authority else sorted(a for a in lists.authorities(engine) if a)
    bands = [b[0] for b in (lists.OVERDUE_BANDS if kind == "overdue" else lists.DUE_NEXT_BANDS)]
    return SimpleNamespace(workflows=engine.registry.names(), teams=teams, iros=iros, roles=roles,
                           authorities=authorities, bands=bands)


def _list_page(request: Request, principal: Principal, kind: str, path: str, title: str,
               workflow, team, iro, role, band, authority, sort: str, dir: str, page: int):
    scope = scope_of(principal)
    if not scope.anything:
        return _refuse(request, 403, "Your role does not include the dashboard's lists.")
    engine = _engine(request)
    filters = _filters(scope, workflow, team, iro, role, band, authority)
    descending = dir == "desc"
    page = max(1, page)
    try:
        result = (lists.overdue_page if kind == "overdue" else lists.due_next_page)(
            engine, filters, sort=sort, descending=descending,
            offset=(page - 1) * PAGE_SIZE if scope.rows else 0, limit=PAGE_SIZE if scope.rows else 1)
    except lists.ListError as exc:
        return _refuse(request, 400, f"This list cannot be shown: {exc}.", title)
    if not scope.rows:
        result = lists.Page([], result.total, 0, 0, result.bands)
    query = {k: v for k, v in (("workflow", filters.workflow), ("team", filters.team), ("iro", None if scope.assigned_to else filters.iro),
                               ("role", filters.role), ("band", filters.band),
                               ("authority", None if scope.authority else filters.authority)) if v}

    def href(**extra) -> str:
        return f"{PREFIX}{path}?{urlencode({**query, 'sort': sort, 'dir': dir, **extra})}"

    def sort_href(key: str) -> str:
        flip = "asc" if key == sort and descending else ("desc" if key == sort else "asc")
        return f"{PREFIX}{path}?{urlencode({**query, 'sort': key, 'dir': flip})}"

    days = "Working days overdue" if kind == "overdue" else "Working days left"
    columns = [*LIST_COLUMNS, ("", days)]  # sorting by due time is sorting by working days
    return _render(
        request, "list.html", title=title, page=path, kind=kind, result=result, scope=scope, filters=filters,
        options=_options(engine, scope, kind), band_label=days,
        columns=columns, sort=sort, descending=descending, sort_href=sort_href,
        csv_href=f"{PREFIX}{path}.csv?{urlencode({**query, 'sort': sort, 'dir': dir})}",
        prev_href=href(page=page - 1) if page > 1 else None,
        next_href=href(page=page + 1) if page * PAGE_SIZE < result.total and scope.rows else None,
    )


def _csv(request: Request, principal: Principal, kind: str, workflow, team, iro, role, band, authority, sort, dir):
    scope = scope_of(principal)
    if not scope.rows:
        return _refuse(request, 403, "Your role shows counts only: rows cannot be downloaded.")
    filters = _filters(scope, workflow, team, iro, role, band, authority)
    engine = _engine(request)
    try:  # check the filters before the response starts
        (lists.overdue_page if kind == "overdue" else lists.due_next_page)(engine, filters, sort=sort, limit=1)
    except lists.ListError as exc:
        return _refuse(request, 400, f"This list cannot be downloaded: {exc}.")
    rows = lists.stream_rows(engine, kind, filters, sort=sort, descending=dir == "desc")
    header = "working_days_overdue" if kind == "overdue" else "working_days_left"
    name = f"{kind}-{local_date(engine.clock.now()).isoformat()}.csv"
    return StreamingResponse(lists.csv_lines(rows, header), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@router.get(PREFIX + "/overdue", response_class=HTMLResponse)
def overdue(request: Request, principal: Principal = Depends(current_principal), workflow: str | None = None,
            team: str | None = None, iro: str | None = None, role: str | None = None, band: str | None = None,
            authority: str | None = None, sort: str = "due", dir: str = "asc", page: PageNumber = 1):
    return _list_page(request, principal, "overdue", "/overdue", "Overdue now", workflow, team, iro, role, band,
                      authority, sort, dir, page)


@router.get(PREFIX + "/overdue.csv")
def overdue_csv(request: Request, principal: Principal = Depends(current_principal), workflow: str | None = None,
                team: str | None = None, iro: str | None = None, role: str | None = None, band: str | None = None,
                authority: str | None = None, sort: str = "due", dir: str = "asc"):
    return _csv(request, principal, "overdue", workflow, team, iro, role, band, authority, sort, dir)


@router.get(PREFIX + "/due-next", response_class=HTMLResponse)
def due_next(request: Request, principal: Principal = Depends(current_principal), workflow: str | None = None,
             team: str | None = None, iro: str | None = None, role: str | None = None, band: str | None = None,
             authority: str | None = None, sort: str = "due", dir: str = "asc", page: PageNumber = 1):
    return _list_page(request, principal, "due_next", "/due-next", "Due in the next 10 working days", workflow, team,
                      iro, role, band, authority, sort, dir, page)


@router.get(PREFIX + "/due-next.csv")
def due_next_csv(request: Request, principal: Principal = Depends(current_principal), workflow: str | None = None,
                 team: str | None = None, iro: str | None = None, role: str | None = None, band: str | None = None,
                 authority: str | None = None, sort: str = "due", dir: str = "asc"):
    return _csv(request, principal, "due_next", workflow, team, iro, role, band, authority, sort, dir)


# ---- the DRP tracker -------------------------------------------------------------------------

@router.get(PREFIX + "/drp", response_class=HTMLResponse)
def drp(request: Request, principal: Principal = Depends(current_principal), authority: str | None = None):
    scope = scope_of(principal)
    if not scope.anything:
        return _refuse(request, 403, "Your role does not include the DRP tracker.")
    engine = _engine(request)
    filters = lists.Filters(iro=scope.assigned_to, authority=scope.authority or _blank(authority))
    since = local_date(engine.clock.now()) - dt.timedelta(weeks=13)
    tracker = lists.drp_tracker(engine, filters, closed_since=since, limit=500 if scope.rows else 0)
    if not scope.rows:
        tracker = lists.Tracker([], [], tracker.open_total, tracker.closed_total)
    return _render(request, "drp.html", title="DRP tracker", page="/drp", tracker=tracker, scope=scope, since=since)


# ---- the scorecard ---------------------------------------------------------------------------

def _period(engine, first: str | None, last: str | None) -> scorecard.Period:
    """From and to (both included); either left out takes the last financial year's."""
    default = scorecard.Period.last_financial_year(local_date(engine.clock.now()))
    return scorecard.Period(dt.date.fromisoformat(first) if _blank(first) else default.first,
                            dt.date.fromisoformat(last) if _blank(last) else default.last)


def _scorecard(request: Request, principal: Principal, first, last, authority):
    scope = scope_of(principal)
    if not scope.aggregates:
        return None, _refuse(request, 403, "Your role does not include the scorecard.")
    engine = _engine(request)
    try:
        period = _period(engine, first, last)
    except ValueError:
        return None, _refuse(request, 400, "The period needs two dates, YYYY-MM-DD, the second on or after the first.",
                             "Scorecard")
    return scorecard.compute(engine, period, scope.authority or _blank(authority)), None


@router.get(PREFIX + "/scorecard", response_class=HTMLResponse)
def scorecard_page(request: Request, principal: Principal = Depends(current_principal), authority: str | None = None):
    # the form's fields are named from and to, which cannot be Python parameter names
    card, refused = _scorecard(request, principal, request.query_params.get("from"), request.query_params.get("to"),
                               authority)
    if refused:
        return refused
    query = {"from": card.period.first.isoformat(), "to": card.period.last.isoformat()}
    if card.authority and not principal.authority:
        query["authority"] = card.authority
    return _render(request, "scorecard.html", title="Scorecard", page="/scorecard", card=card,
                   chart=lambda k: charts.bar_chart(f"chart-{k.key}", k.title, k.monthly, k.unit),
                   authorities=[] if principal.authority else sorted(a for a in lists.authorities(_engine(request)) if a),
                   csv_href=f"{PREFIX}/scorecard.csv?{urlencode(query)}")


@router.get(PREFIX + "/scorecard.csv")
def scorecard_csv(request: Request, principal: Principal = Depends(current_principal), authority: str | None = None):
    card, refused = _scorecard(request, principal, request.query_params.get("from"), request.query_params.get("to"), authority)
    if refused:
        return refused
    rows = card.rows()

    def lines():
        header = list(rows[0]) if rows else ["kpi"]
        yield from lists.csv_lines_of([header] + [[r[h] for h in header] for r in rows])

    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="scorecard.csv"'})


# ---- a case and a child ----------------------------------------------------------------------

@router.get(PREFIX + "/cases/{case_ref}", response_class=HTMLResponse)
def case_page(case_ref: str, request: Request, principal: Principal = Depends(current_principal),
              authority: str | None = None):
    scope = scope_of(principal)
    if not scope.rows:
        return _refuse(request, 403, "Your role shows counts only: case pages are not shown.")
    engine = lists.scoped_engine(_engine(request), scope.authority or _blank(authority))
    try:
        view = engine.case(case_ref)
    except CaseNotFound:
        return _refuse(request, 404, "There is no case with this reference that you may see.", "Case not found")
    except AmbiguousCase:
        return _refuse(request, 409, "Several authorities have a case with this reference: open it from a list, "
                                     "or add ?authority=NAME.", "Which authority?")
    except CalendarError:
        return _refuse(request, 400, "This case reference cannot be read.", "Case not found")
    if not principal.may_read_case(view.authority, view.assigned_to):
        if principal.authority is not None and view.authority != principal.authority:
            return _refuse(request, 404, "There is no case with this reference that you may see.", "Case not found")
        return _refuse(request, 403, "This case is not assigned to you.")
    overdue = {d.name: d.working_days_overdue for d in view.open_deadlines}
    timeline = [SimpleNamespace(**vars_of(h), case_ref=view.case_ref, workflow=view.workflow, authority=view.authority)
                for h in engine.history(view.case_ref)]
    return _render(request, "case.html", title=f"Case {view.case_ref}", case=view, explained=engine.explain(view.case_ref),
                   overdue=overdue, closed=[d for d in view.deadlines if d.status != "open"], timeline=timeline,
                   show_case=False)


@router.get(PREFIX + "/children/{child_ref}", response_class=HTMLResponse)
def child_page(child_ref: str, request: Request, principal: Principal = Depends(current_principal)):
    scope = scope_of(principal)
    if not scope.rows:
        return _refuse(request, 403, "Your role shows counts only: child pages are not shown.")
    base = _engine(request)
    where = [CASES.c.child_ref == child_ref]
    if scope.authority:
        where.append(CASES.c.authority == scope.authority)
    if scope.assigned_to:
        where.append(CASES.c.assigned_to == scope.assigned_to)
    with base.store.db.reader.connect() as conn:
        found = conn.execute(select(CASES.c.case_ref, CASES.c.authority).where(*where)
                             .order_by(CASES.c.opened_at, CASES.c.id).limit(200)).all()
    if not found:
        return _refuse(request, 404, "There are no cases of this child that you may see.", "Child not found")
    cases, timeline = [], []
    for ref, authority in found:
        engine = lists.scoped_engine(base, authority)
        view = engine.case(ref)
        cases.append(view)
        timeline.extend(SimpleNamespace(**vars_of(h), case_ref=ref, workflow=view.workflow, authority=authority)
                        for h in engine.history(ref))
    timeline.sort(key=lambda e: (e.effective_at, e.case_ref, e.seq))
    return _render(request, "child.html", title=f"Child {child_ref}: every case", cases=cases, timeline=timeline,
                   show_case=True)


def vars_of(entry) -> dict[str, Any]:
    return {f: getattr(entry, f) for f in ("seq", "kind", "trigger", "from_state", "to_state", "effective_at",
                                           "actor", "reason", "data")}
