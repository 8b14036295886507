"""The `caseclock` command line.

Start-up is kept short: only typer loads for every command; the calendar's module, the
settings, structlog, rich, SQLAlchemy, the engine (and Alembic only when the schema needs an
upgrade, FastAPI and uvicorn only for `serve`) load in the commands that use them.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from engine.errors import CaseclockError, DatabaseMissing

if TYPE_CHECKING:
    from engine.settings import Settings

# plain help (rich_markup_mode=None): rich's panels cost start-up and printed type placeholders
# such as <bool> for flags
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None, help="Statutory clocks for children's social care.")
calendar_app = typer.Typer(no_args_is_help=True, help="Working-day arithmetic.")
app.add_typer(calendar_app, name="calendar")


class _Out:
    """rich's Console, made on first use: commands that print a plain line start without rich."""

    _console = None

    def __getattr__(self, name: str):
        if _Out._console is None:
            from rich.console import Console

            _Out._console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 120)
        return getattr(_Out._console, name)


out = _Out()


class _State:
    database: str | None = None
    authority: str | None = None
    log_json: bool | None = None
    overrides: dict[str, Any] = {}  # flags of the command itself (worker)
    settings: "Settings | None" = None


state = _State()


@app.callback()
def _main(
    database: Annotated[Optional[str], typer.Option("--database", help="SQLAlchemy URL (default: CASECLOCK_DATABASE_URL or sqlite:///caseclock.db)")] = None,
    log_json: Annotated[bool, typer.Option("--log-json", help="Log JSON lines (the default when stderr is not a terminal)")] = False,
    authority: Annotated[Optional[str], typer.Option("--authority", help="Authority profile (default: CASECLOCK_AUTHORITY)")] = None,
) -> None:
    state.database = database
    state.authority = authority
    state.log_json = True if log_json else None
    state.overrides = {}
    state.settings = None


# ---- helpers ---------------------------------------------------------------------------------


def _moment(text: str) -> dt.datetime:
    """--at, read by the one shared parser; a bad value is a usage error naming the option."""
    from engine.time.moments import MomentError, parse_moment

    try:
        return parse_moment(text)
    except MomentError as exc:
        raise typer.BadParameter(str(exc)) from None


def at_option(help_: str):
    return typer.Option("--at", parser=_moment, metavar="WHEN",
                        help=f"{help_}. YYYY-MM-DD is the start of that day in London, YYYY-MM-DDTHH:MM is London "
                             "time (a time the clocks skip is refused; one that happens twice is its first "
                             "occurrence), or give an offset: 2026-03-02T10:00+00:00")


def parse_sets(values: list[str] | None) -> dict[str, str]:
    data: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter("expects key=value (a field name, '=', then the value)", param_hint="'--set'")
        data[key.strip()] = value
    return data


def settings() -> "Settings":
    """This command's settings: config/caseclock.yaml, CASECLOCK_* variables, then flags - read
    and validated once (an invalid one is a SettingsError, printed as one line by `main`)."""
    if state.settings is None:
        from engine.settings import load

        state.settings = load({"database_url": state.database, "authority": state.authority, **state.overrides})
    return state.settings


def start_logging() -> None:
    """The engine's and the store's log set-up; structlog (with rich behind it) loads only when a
    command logs a line - a command that only reads logs none."""
    from engine import logs

    logs.configure_on_first_use(json_output=state.log_json)


def open_store(*, create: bool = False):
    """The store at the configured URL. A SQLite file that does not exist is created only when
    `create`: a mistyped path is an error here, not a new empty database."""
    from persistence.store import Store

    start_logging()
    try:
        return Store.open(settings().database_url, create=create)
    except DatabaseMissing as exc:
        raise DatabaseMissing(f"{exc} (run `caseclock migrate` to create it)") from None


def load_registry(authority: str | None = None):
    from engine.language.bundled import bundled_dir
    from engine.language.registry import Registry

    s = settings()
    return Registry.load([bundled_dir("workflows"), *s.workflows], authority=authority or s.authority)


def build_engine(clock=None, *, create: bool = False):
    from engine.runtime.engine import Engine
    from engine.time.calendar import WorkingCalendar
    from engine.time.clock import SystemClock

    s = settings()
    registry = load_registry()
    # each case is counted on its authority's calendar; CASECLOCK_NATION, if set, only has to
    # agree with the nation the database stores (or is recorded in a new one)
    calendar = WorkingCalendar(s.nation) if s.nation else None
    return Engine(open_store(create=create), registry, calendar, clock or SystemClock(), authority=s.authority)


_CREATE_OPTION = "Create the database if it does not exist (the default sqlite:///caseclock.db always is)"


def may_create(create: bool) -> bool:
    """`open` and `serve` create the database when asked, or when it is the default file (a new
    user's first command); a configured path that does not exist is more likely a typo."""
    from engine.settings import DEFAULT_DATABASE_URL

    return create or settings().database_url == DEFAULT_DATABASE_URL


def emit_json(value) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=False) + "\n")


def fail(message: str, code: int = 1) -> None:
    sys.stderr.write(message.rstrip() + "\n")
    raise typer.Exit(code)


# ---- definitions -----------------------------------------------------------------------------


@app.command()
def validate(paths: Annotated[list[Path], typer.Argument(metavar="PATH", hidden=True)]) -> None:
    """Check workflow definitions and authority profiles; print file:line: field: message for every problem.

    Each PATH is a workflow or authority profile YAML file, or a folder of them. A workflow file replaces the bundled workflow of the same name; a profile is checked as the
    bundled workflows run under it."""
    from engine.language.registry import check_files

    problems = []
    for path, found in check_files(paths):
        if found:
            problems.extend(found)
        else:
            sys.stdout.write(f"ok  {path}\n")  # plain: rich's console costs start-up and would read [..] in a path as markup
    if problems:
        in_order = sorted(dict.fromkeys(problems), key=lambda p: (p.file, p.line or 0, p.column or 0))
        fail("\n".join(str(p) for p in in_order))


@app.command()
def schema() -> None:
    """Print the JSON Schema of workflow files (for editors)."""
    from engine.language.definition import json_schema

    emit_json(json_schema())


@app.command()
def diagram(
    workflow: str,
    authority: Annotated[Optional[str], typer.Option("--authority", help="As this authority's profile runs it")] = None,
) -> None:
    """Print a workflow as a Mermaid state diagram."""
    from engine.language.diagram import mermaid

    sys.stdout.write(mermaid(load_registry(authority).get(workflow)))


@app.command()
def docs(out_dir: Annotated[Path, typer.Option("--out", help="Where to write the pages")] = Path("docs")) -> None:
    """Generate one Markdown page per workflow and authority profile from the YAML."""
    from engine.language.docs import write_all

    for path in write_all(out_dir):
        out.print(f"wrote {path}")


# ---- cases -----------------------------------------------------------------------------------


@app.command("open")
def open_case(
    workflow: str,
    case_ref: str,
    at: Annotated[Optional[dt.datetime], at_option("When it happened (default: now)")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", metavar="KEY=VALUE", help="key=value case data (repeatable)")] = None,
    at_state: Annotated[Optional[str], typer.Option("--state", help="Open at this state instead of the initial one")] = None,
    actor: Annotated[str, typer.Option(help="Who recorded it")] = "cli",
    reason: Annotated[Optional[str], typer.Option(help="Why")] = None,
    key: Annotated[Optional[str], typer.Option("--key", help="Idempotency key")] = None,
    child: Annotated[Optional[str], typer.Option("--child", help="The child's person id in the host system")] = None,
    assigned_to: Annotated[Optional[str], typer.Option("--assigned-to", help="The IRO or chair holding the case (host user id)")] = None,
    team: Annotated[Optional[str], typer.Option("--team", help="Their team")] = None,
    create: Annotated[bool, typer.Option("--create", help=_CREATE_OPTION)] = False,
) -> None:
    """Open a case of WORKFLOW under the host system's CASE_REF."""
    engine = build_engine(create=may_create(create))
    view = engine.open_case(workflow, case_ref, at=at, data=parse_sets(set_), state=at_state,
                            actor=actor, reason=reason, idempotency_key=key,
                            child_ref=child, assigned_to=assigned_to, team=team)
    out.print(f"{view.case_ref}: opened {view.workflow} at {view.state}")
    _print_deadlines(view)


@app.command()
def fire(
    case_ref: str,
    trigger: str,
    at: Annotated[Optional[dt.datetime], at_option("When it happened (default: now)")] = None,
    actor: Annotated[str, typer.Option(help="Who recorded it")] = "cli",
    role: Annotated[Optional[str], typer.Option(help="The actor's role, checked against the transition's roles")] = None,
    reason: Annotated[Optional[str], typer.Option(help="Why")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", metavar="KEY=VALUE", help="key=value event data (repeatable)")] = None,
    key: Annotated[Optional[str], typer.Option("--key", help="Idempotency key")] = None,
) -> None:
    """Fire TRIGGER on a case."""
    engine = build_engine()
    result = engine.fire(case_ref, trigger, at=at, actor=actor, role=role, reason=reason,
                         data=parse_sets(set_), idempotency_key=key)
    note = " (already recorded under this key)" if result.replayed else ""
    out.print(f"{case_ref}: {trigger}: {result.from_state} -> {result.to_state}{note}")
    _print_deadlines(engine.case(case_ref))


@app.command()
def reassign(
    case_ref: str,
    assigned_to: Annotated[Optional[str], typer.Option("--to", help="The IRO or chair now holding the case (host user id)")] = None,
    team: Annotated[Optional[str], typer.Option("--team", help="Their team")] = None,
    at: Annotated[Optional[dt.datetime], at_option("When it happened (default: now)")] = None,
    actor: Annotated[str, typer.Option(help="Who recorded it")] = "cli",
    reason: Annotated[Optional[str], typer.Option(help="Why")] = None,
    key: Annotated[Optional[str], typer.Option("--key", help="Idempotency key")] = None,
) -> None:
    """Hand a case to another IRO or chair; recorded in its history (an option left out is cleared)."""
    engine = build_engine()
    result = engine.reassign(case_ref, assigned_to=assigned_to, team=team, at=at, actor=actor, reason=reason,
                             idempotency_key=key)
    note = " (already recorded under this key)" if result.replayed else ""
    out.print(f"{case_ref}: assigned to {assigned_to or 'nobody'}" + (f" ({team})" if team else "") + note)


@app.command()
def show(case_ref: str, as_json: Annotated[bool, typer.Option("--json", help="Stable JSON")] = False) -> None:
    """A case: state, data, deadlines and history."""
    from rich.table import Table

    engine = build_engine()
    view = engine.case(case_ref)
    history = engine.history(case_ref)
    if as_json:
        body = {
            "case_ref": view.case_ref, "workflow": view.workflow, "version": view.version,
            "current_version": view.current_version, "newer_version_exists": view.newer_version_exists,
            "authority": view.authority, "state": view.state,
            "child_ref": view.child_ref, "assigned_to": view.assigned_to, "team": view.team,
            "data": view.to_dict()["data"],
            "deadlines": [d.to_dict() for d in view.deadlines],
            "history": [h.to_dict() for h in history],
        }
        emit_json(body)
        return
    out.print(f"[bold]{view.case_ref}[/bold]  {view.workflow} (version {view.version})  state: [bold]{view.state}[/bold]")
    owner = [f"{label}: {value}" for label, value in (("child", view.child_ref), ("assigned to", view.assigned_to),
                                                       ("team", view.team)) if value]
    if owner:
        out.print("  " + "  ".join(owner))
    if view.newer_version_exists:
        out.print(f"  a newer version of {view.workflow} exists ({view.current_version}): "
                  f"`caseclock migrate-cases {view.workflow} --to {view.current_version}` moves running cases to it")
    for k, v in view.data.items():
        out.print(f"  {k}: {v}")
    _print_deadlines(view, all_=True)
    table = Table(title="History", title_justify="left")
    for col in ("#", "effective", "trigger", "from", "to", "actor"):
        table.add_column(col)
    for h in history:
        table.add_row(str(h.seq), _local(h.effective_at), h.trigger, h.from_state or "", h.to_state, h.actor)
    out.print(table)


@app.command()
def explain(case_ref: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """How each open deadline's date was computed: anchor, amount, unit, days skipped, source."""
    engine = build_engine()
    items = engine.explain(case_ref)
    if as_json:
        emit_json([i.to_dict() for i in items])
        return
    for i in items:
        c = i.computation
        count = "day 1" if c.anchor_is_day_one else "day 0"
        unit = c.unit.value.replace("_", " ")
        out.print(f"[bold]{i.deadline}[/bold]: due {c.due_on:%a %d %b %Y} - {i.title}")
        out.print(f"  anchor   {i.anchor} on {c.anchor:%a %d %b %Y} ({count}), {c.amount:+d} {unit}")
        if c.skipped:
            out.print("  skipped  " + "; ".join(f"{s.day:%a %d %b} {s.reason}" for s in c.skipped))
        out.print(f"  source   {i.source}")
        if i.stale:
            out.print(f"  [bold]stored as {i.due_on}: the calendar has changed; run `caseclock recompute`[/bold]")


@app.command()
def recompute() -> None:
    """Move open deadlines that a calendar change affects; old and new dates go into history."""
    engine = build_engine()
    moved = engine.recompute()
    for m in moved:
        out.print(f"{m.case_ref}: {m.deadline}: {m.old_due_on} -> {m.new_due_on}")
    out.print(f"{len(moved)} deadline(s) moved")


@app.command()
def overdue(
    at: Annotated[Optional[dt.datetime], at_option("As at this moment (default: now)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    workflow: Annotated[Optional[str], typer.Option("--workflow", help="Only this workflow's cases")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Rows on the page")] = 100,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Rows to skip")] = 0,
    all_: Annotated[bool, typer.Option("--all", help="Every row, streamed (JSON Lines with --json)")] = False,
) -> None:
    """Open deadlines past their due date, most overdue first: a page and the counts."""
    engine = build_engine()
    if all_:
        _stream(engine.iter_overdue(at, workflow=workflow), as_json, "working_days_overdue")
        return
    page = engine.overdue_page(at, workflow=workflow, limit=limit, offset=offset)
    _deadline_page(page, as_json, "Overdue", "working days over", "working_days_overdue")


@app.command()
def upcoming(
    within: Annotated[str, typer.Option("--within", help="e.g. 10wd, 2w, 1m")] = "10wd",
    at: Annotated[Optional[dt.datetime], at_option("As at this moment (default: now)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    workflow: Annotated[Optional[str], typer.Option("--workflow", help="Only this workflow's cases")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Rows on the page")] = 100,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Rows to skip")] = 0,
    all_: Annotated[bool, typer.Option("--all", help="Every row, streamed (JSON Lines with --json)")] = False,
) -> None:
    """Open deadlines falling due within a period, soonest first: a page and the counts."""
    from engine.time.calendar import parse_offset

    try:
        amount, unit = parse_offset(within)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    engine = build_engine()
    if all_:
        _stream(engine.iter_upcoming(amount, unit, at, workflow=workflow), as_json, "working_days_left")
        return
    page = engine.upcoming_page(amount, unit, at, workflow=workflow, limit=limit, offset=offset)
    _deadline_page(page, as_json, f"Due within {within}", "working days left", "working_days_left")


@app.command()
def tick(at: Annotated[Optional[dt.datetime], at_option("Process timers due by this moment, now or earlier (default: now)")] = None) -> None:
    """Run every expiry action and reminder that is due, each exactly once."""
    from engine.time.clock import SimulatedClock, SystemClock

    moment = at
    if moment is not None and moment > SystemClock().now():
        # expiring deadlines ahead of time would write a future into the live database;
        # a simulation of the future runs on its own clock and its own database
        raise typer.BadParameter("is in the future; tick runs only the timers already due (now or earlier)",
                                 param_hint="'--at'")
    policy = settings().worker  # the same catch-up policy as the worker
    engine = build_engine(SimulatedClock(moment) if moment else None)
    report = engine.tick(moment, max_lateness=policy.max_lateness if policy.expiry_policy == "mark_missed" else None)
    out.print(f"expired {report.expired}, fired {report.fired}, reminders {report.reminders}, "
              f"notifications {report.notified}, failed {len(report.failed)}")
    for f in report.failed:
        out.print(f"  failed: {f['case_ref']} {f['deadline']}: {f['reason']}")


@app.command()
def migrate(
    nation: Annotated[Optional[str], typer.Option(help="For a new database: whose bank holidays count cases with no authority (england-and-wales, scotland, northern-ireland; default CASECLOCK_NATION, else england-and-wales)")] = None,
) -> None:
    """Create or upgrade the database schema, and record the deployment's nation in a new one."""
    from engine.time.calendar import Nation, WorkingCalendar

    s = settings()
    requested = WorkingCalendar(nation or s.nation or Nation.ENGLAND_AND_WALES).nation.value
    store = open_store(create=True)
    try:
        stored = store.deployment_nation(claim=requested)
    finally:
        store.close()
    if (nation or s.nation) and stored != requested:
        fail(f"this database already counts cases with no authority on the {stored} calendar; "
             f"change it with `caseclock calendar set-nation {requested}`")
    out.print(f"schema is up to date; cases with no authority are counted on the {stored} calendar")


@app.command()
def demo(
    database: Annotated[Path, typer.Option(help="SQLite file to (re)create")] = Path("caseclock-demo.db"),
) -> None:
    """Run a handful of DRP cases with backdated events and show states, due dates and what is overdue."""
    from engine.interfaces.demo import run

    run(database, out)


# ---- timers, notifications and the REST service ---------------------------------------------


@app.command()
def worker(
    once: Annotated[bool, typer.Option("--once", help="Process everything due now (waiting for rows other workers hold), deliver, and exit")] = False,
    sweep_seconds: Annotated[Optional[float], typer.Option("--sweep-seconds", help="Full sweep at least this often (CASECLOCK_SWEEP_SECONDS, 30)")] = None,
    batch: Annotated[Optional[int], typer.Option("--batch", help="Rows claimed per round trip (CASECLOCK_WORKER_BATCH, 100)")] = None,
    lease_seconds: Annotated[Optional[float], typer.Option("--lease-seconds", help="Claim lease (CASECLOCK_LEASE_SECONDS, 60)")] = None,
    expiry_policy: Annotated[Optional[str], typer.Option("--expiry-policy", help="fire or mark_missed (CASECLOCK_EXPIRY_POLICY)")] = None,
    max_lateness: Annotated[Optional[str], typer.Option("--max-lateness", help="e.g. 30d: older timers are marked missed under mark_missed (CASECLOCK_MAX_LATENESS)")] = None,
) -> None:
    """Run the timers: every due on_expiry, reminder and notification, exactly once.

    Several workers may share a PostgreSQL database; SIGTERM stops one between two rows."""
    import signal
    import threading

    from engine.timers.worker import Worker

    state.overrides = {"worker": dict(sweep_seconds=sweep_seconds, batch=batch, lease_seconds=lease_seconds,
                                      expiry_policy=expiry_policy, max_lateness=max_lateness)}
    timers = Worker.from_settings(build_engine(), settings())
    stop = threading.Event()

    def on_signal(_signum, _frame):
        stop.set()
        timers._stopping.set()  # a sweep in hand stops after its current row

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if once:
        sweeps, deliveries = timers.run_once()
        out.print(f"expired {sweeps.expired}, fired {sweeps.fired}, skipped {sweeps.skipped}, failed {len(sweeps.failed)}, "
                  f"reminders {sweeps.reminders}, delivered {deliveries.delivered}, retrying {deliveries.retried}, "
                  f"dead {deliveries.dead}")
        timers.store.close()
        if stop.is_set():
            _exit_now()
        return
    timers.start()
    while not stop.wait(1.0):
        pass
    timers.stop()
    timers.store.close()
    _exit_now()


def _exit_now() -> None:
    """End a worker stopped by a signal at once: its leases are given back and its database
    closed, and tearing the interpreter down (freeing every module) took 2 s on a loaded 2-core
    machine and 8 s with four workers and PostgreSQL on it - a service manager kills at 30 s."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Do not run the timer worker in this process")] = False,
    create: Annotated[bool, typer.Option("--create", help=_CREATE_OPTION)] = False,
) -> None:
    """Serve the REST API, with the timer worker running inside it unless --no-worker.

    Every endpoint but /health needs an API key (caseclock keys create) or a signed-in user
    (caseclock users add)."""
    import uvicorn

    from engine.interfaces.api import create_app
    from engine.timers.worker import Worker

    engine = build_engine(create=may_create(create))
    timers = None if no_worker else Worker.from_settings(build_engine(), settings())
    # a principal scoped to an authority works through an Engine with that authority's registry
    app = create_app(engine, worker=timers, api_settings=settings().api, registry_for=load_registry)
    # uvicorn's own access log prints query strings (case data may be in them): the app logs
    # each request itself, through structlog
    _server_class()(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)).run()


def _server_class():
    import uvicorn

    class Server(uvicorn.Server):
        """Says where it listens once the socket is bound (port 0 shows the port chosen)."""

        async def startup(self, sockets=None):
            await super().startup(sockets=sockets)
            if self.started:
                for bound in (sock for server in self.servers for sock in server.sockets):
                    address, port = bound.getsockname()[:2]
                    shown = f"[{address}]" if ":" in address else address
                    sys.stderr.write(f"caseclock: serving on http://{shown}:{port} (API docs: /docs)\n")
                sys.stderr.flush()

    return Server


outbox_app = typer.Typer(help="Notifications: list them, put a dead one back in the queue.")
app.add_typer(outbox_app, name="outbox")


@outbox_app.callback(invoke_without_command=True)
def outbox_list(
    ctx: typer.Context,
    status: Annotated[Optional[str], typer.Option("--status", help="pending, delivered or dead")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List notifications (all, or those with a status)."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    if status not in (None, "pending", "delivered", "dead"):
        raise typer.BadParameter("--status must be pending, delivered or dead")
    store = open_store()
    rows = store.outbox(status)
    store.close()
    if as_json:
        emit_json([{"id": r.id, "status": r.status, "kind": r.kind, "case_ref": r.case_ref,
                    "idempotency_key": r.idempotency_key, "attempts": r.attempts,
                    "created_at": r.created_at.isoformat(), "next_attempt_at": r.next_attempt_at.isoformat(),
                    "delivered_at": r.delivered_at.isoformat() if r.delivered_at else None,
                    "last_error": r.last_error, "payload": r.payload} for r in rows])
        return
    table = Table(title=f"Outbox{' (' + status + ')' if status else ''}: {len(rows)}", title_justify="left")
    for col in ("id", "status", "kind", "case", "deadline", "role", "late by", "attempts", "next attempt", "last error"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(str(r.id), r.status, r.kind, r.case_ref, str(r.payload.get("deadline", "")),
                      str(r.payload.get("role") or ""), str(r.payload.get("late_by") or ""), str(r.attempts),
                      _local(r.next_attempt_at), r.last_error or "")
    out.print(table)


@outbox_app.command("retry")
def outbox_retry(outbox_id: Annotated[int, typer.Argument(help="The notification's id (caseclock outbox)")]) -> None:
    """Queue a dead (or pending) notification for delivery now, with fresh attempts and the same idempotency key."""
    from engine.time.clock import SystemClock

    store = open_store()
    try:
        if not store.outbox_retry(outbox_id, SystemClock().now()):
            row = store.outbox_row(outbox_id)
            fail(f"notification {outbox_id} " + ("does not exist" if row is None else f"is {row.status}; only dead or pending ones can be retried"))
    finally:
        store.close()
    out.print(f"notification {outbox_id} queued for delivery")


# ---- calendar --------------------------------------------------------------------------------


@calendar_app.command("add")
def calendar_add(
    start: str,
    offset: str,
    nation: Annotated[str, typer.Option(help="england-and-wales, scotland or northern-ireland")] = "england-and-wales",
) -> None:
    """Add an offset to a date: 20wd (working days), 10d, 2w, 3m."""
    from engine.time.calendar import Nation, WorkingCalendar, parse_offset

    try:
        day = dt.date.fromisoformat(start)
    except ValueError:
        raise typer.BadParameter(f"'{start}' is not a date (YYYY-MM-DD)") from None
    try:
        amount, unit = parse_offset(offset)
        cal = WorkingCalendar(Nation(nation))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    sys.stdout.write(cal.add(day, amount, unit).isoformat() + "\n")


@calendar_app.command("set-nation")
def calendar_set_nation(
    nation: Annotated[str, typer.Argument(help="england-and-wales, scotland or northern-ireland")],
) -> None:
    """Change whose bank holidays count this deployment's cases with no authority, then move
    their open deadlines (as `caseclock recompute` does, with old and new dates in history)."""
    from engine.time.calendar import WorkingCalendar

    s = settings()
    new = WorkingCalendar(nation).nation.value
    if s.nation and WorkingCalendar(s.nation).nation.value != new:
        fail(f"CASECLOCK_NATION is {s.nation}: unset it (or set it to {new}) before changing the deployment's nation")
    store = open_store()
    try:
        old = store.set_deployment_nation(new)
    finally:
        store.close()
    out.print(f"cases with no authority: {old or 'unset'} -> {new}")
    engine = build_engine()
    moved = engine.recompute()
    for m in moved:
        out.print(f"{m.case_ref}: {m.deadline}: {m.old_due_on} -> {m.new_due_on}")
    out.print(f"{len(moved)} deadline(s) moved")


# ---- output ----------------------------------------------------------------------------------


def _local(moment: dt.datetime) -> str:
    from engine.time.calendar import LONDON

    return moment.astimezone(LONDON).strftime("%Y-%m-%d %H:%M")


def _deadline_page(page, as_json: bool, title: str, count_label: str, count_attr: str) -> None:
    """A page of a list with its counts: stable JSON, or a table for people."""
    from rich.table import Table

    if as_json:
        emit_json(page.to_dict())
        return
    shown = f"{page.offset + 1}-{page.offset + len(page.items)} of {page.total}" if page.items else f"0 of {page.total}"
    table = Table(title=f"{title} ({shown})", title_justify="left")
    for col in ("case", "workflow", "state", "deadline", "due", count_label, "role"):
        table.add_column(col)
    for i in page.items:
        table.add_row(i.case_ref, i.workflow, i.state, i.deadline, i.due_on.isoformat(), str(getattr(i, count_attr)), i.role or "")
    out.print(table)
    if page.by_workflow:
        out.print("by workflow: " + ", ".join(f"{k} {v}" for k, v in page.by_workflow.items()))
    if page.by_age:
        out.print("by working days overdue: " + ", ".join(f"{k}: {v}" for k, v in page.by_age.items()))


def _stream(items, as_json: bool, count_attr: str) -> None:
    """Every row as it comes from the database (constant memory): JSON Lines, or tab-separated."""
    if not as_json:
        sys.stdout.write("\t".join(("case", "workflow", "state", "deadline", "due", count_attr, "role")) + "\n")
    for i in items:
        if as_json:
            sys.stdout.write(json.dumps(i.to_dict()) + "\n")
        else:
            sys.stdout.write("\t".join((i.case_ref, i.workflow, i.state, i.deadline, i.due_on.isoformat(),
                                        str(getattr(i, count_attr)), i.role or "")) + "\n")


def _print_deadlines(view, all_: bool = False) -> None:
    from rich.table import Table

    rows = view.deadlines if all_ else view.open_deadlines
    if not rows:
        return
    table = Table(title="Deadlines", title_justify="left")
    for col in ("deadline", "status", "due", "from", "source"):
        table.add_column(col, overflow="fold", no_wrap=col == "status")
    for d in rows:
        status = d.status
        if d.overdue:
            days = d.working_days_overdue
            status = f"{d.status}: OVERDUE by {days} working day{'' if days == 1 else 's'}"
        table.add_row(d.name, status, d.due_on.isoformat(), f"{d.anchor_on.isoformat()} +{d.amount} {d.unit}", d.source)
    out.print(table)


# ---- commands in modules of their own --------------------------------------------------------

COMMAND_MODULES = (
    "access",  # users, keys, audit
    "exchange",  # import, audit-dates, export
    "procedures",  # test, diff, migrate-cases
    "report",
    "simulate",
)
"""engine/interfaces/commands_<name>.py, each with `register(app)`; at import each loads typer
and little else (tests/test_startup.py checks), so `--help` starts without their dependencies."""

for _name in COMMAND_MODULES:
    importlib.import_module(f"engine.interfaces.commands_{_name}").register(app)


def main() -> None:
    try:
        app(standalone_mode=True)
    except CaseclockError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
