"""`caseclock import`, `caseclock audit-dates` and `caseclock export`: a caseload in from the
standard extracts, their due dates audited, and caseclock's dates out in the returns' layouts.

Heavy imports (the engine, rich, the readers) are made inside the commands: start-up is measured.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

import_app = typer.Typer(no_args_is_help=True, help="Import a caseload from a standard extract (all or nothing per child).")
export_app = typer.Typer(no_args_is_help=True, help="Write caseclock's dates in a DfE return's layout.")

FORMATS = ("ssd", "903", "cin")


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")
    app.add_typer(export_app, name="export")
    app.command("audit-dates")(audit_dates)


def _read(fmt: str, path: Path, today: dt.date):
    from engine.exchange import cin, ssd, ssda903

    if fmt not in FORMATS:
        from engine.interfaces.cli import fail

        fail(f"error: unknown extract format '{fmt}' (one of {', '.join(FORMATS)})", 2)
    reader = {"ssd": ssd.read, "903": ssda903.read, "cin": cin.read}[fmt]
    return reader(path, today)


def _quiet() -> None:
    """One log line per replayed event would bury the progress bar: warnings and errors only."""
    from engine import logs
    from engine.interfaces.cli import state

    logs.configure(json_output=state.log_json, level="warning")


def _today(engine) -> dt.date:
    from engine.time.calendar import local_date

    return local_date(engine.clock.now())


def _run_import(fmt: str, path: Path) -> None:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.table import Table

    from engine.exchange.replay import Importer
    from engine.interfaces.cli import build_engine, out

    engine = build_engine()
    _quiet()
    extract = _read(fmt, path, _today(engine))
    counts = {"imported": 0, "unchanged": 0, "skipped": 0}
    progress = Progress(TextColumn("[bold]import {task.fields[source]}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[counts]}"), TimeElapsedColumn(),
                        console=Console(stderr=True), transient=not sys.stderr.isatty())

    def tally(result) -> None:
        key = "skipped" if result.problem else ("imported" if result.written else "unchanged")
        counts[key] += 1
        progress.update(task, advance=1, counts=", ".join(f"{v} {k}" for k, v in counts.items()))

    with Importer(engine) as importer, progress:
        task = progress.add_task("import", total=len(extract.children), source=fmt, counts="")
        report = importer.run(extract, tally)
    out.print(f"{report.children} children read: {report.imported} imported or updated, {report.unchanged} unchanged, "
              f"{len(report.skipped)} skipped; {report.written} events written, {report.already} already there")
    if report.notes:
        out.print(f"{len(report.notes)} duplicate rows ignored")
    if report.skipped:
        table = Table(title="Children skipped (nothing of them was stored)")
        for column in ("child", "file", "row", "column", "reason"):
            table.add_column(column)
        for p in report.skipped:
            table.add_row(p.child_id, p.origin.file, "" if p.origin.row is None else str(p.origin.row),
                          p.origin.column or "", p.reason)
        out.print(table)
        raise typer.Exit(3)


@import_app.command("ssd")
def import_ssd(directory: Annotated[Path, typer.Argument(metavar="DIR", help="Folder of SSD CSV extracts")]) -> None:
    """Standard Safeguarding Dataset CSVs (ssd_person, ssd_cla_episodes, ssd_cla_reviews, ssd_s47_enquiry,
    ssd_initial_cp_conference, ssd_cp_plans, ssd_cp_reviews), found by their columns."""
    _run_import("ssd", directory)


@import_app.command("903")
def import_903(directory: Annotated[Path, typer.Argument(metavar="DIR", help="Folder of SSDA903 CSVs")]) -> None:
    """SSDA903 Header, Episodes and Reviews CSVs (found by their columns; several years' files may be given)."""
    _run_import("903", directory)


@import_app.command("cin")
def import_cin(file: Annotated[Path, typer.Argument(metavar="FILE", help="CIN census XML file")]) -> None:
    """A CIN census XML file: section 47 enquiries, initial conferences and child protection plans."""
    _run_import("cin", file)


def audit_dates(
    fmt: Annotated[str, typer.Argument(metavar="FORMAT", help="ssd, 903 or cin")],
    path: Annotated[Path, typer.Argument(metavar="PATH", help="The extract (a folder; for cin the XML file)")],
    from_extract: Annotated[bool, typer.Option("--from-extract", help="Compute caseclock's dates from the extract alone, on a scratch database (the configured database is not used)")] = False,
    csv_path: Annotated[Optional[Path], typer.Option("--csv", help="Also write every row to this CSV file")] = None,
) -> None:
    """For every due date the extract carries: caseclock's date, the difference in working days, the
    rule and its source; and every date in time by statute that a return or case system would query."""
    from engine.exchange.audit import audit
    from engine.interfaces.cli import build_engine, load_registry, out

    if from_extract:
        import tempfile

        from engine.exchange.replay import Importer
        from engine.runtime.engine import Engine
        from engine.time.clock import SystemClock
        from persistence.store import Store

        with tempfile.TemporaryDirectory(prefix="caseclock-audit-") as tmp:
            from engine.interfaces.cli import settings, start_logging
            from engine.time.calendar import WorkingCalendar

            start_logging()
            _quiet()
            s = settings()
            store = Store.open(f"sqlite:///{Path(tmp) / 'audit.db'}", create=True)
            engine = Engine(store, load_registry(), WorkingCalendar(s.nation) if s.nation else None, SystemClock(),
                            authority=s.authority)
            extract = _read(fmt, path, _today(engine))
            with Importer(engine) as importer:
                importer.run(extract)
            report = audit(extract, engine)
            store.close()
    else:
        engine = build_engine()
        _quiet()
        extract = _read(fmt, path, _today(engine))
        report = audit(extract, engine)
    _print_audit(report, out)
    if csv_path is not None:
        _write_audit_csv(report, csv_path)
        out.print(f"written {csv_path}")


def _print_audit(report, out) -> None:
    from rich.table import Table

    table = Table(title="Due dates: the extract's against caseclock's")
    for column in ("child", "case", "deadline", "held", "extract due", "caseclock due", "difference (wd)", "rule", "source"):
        table.add_column(column)
    for c in report.checks:
        table.add_row(c.child_id, c.case_ref, c.deadline, c.held_on.isoformat() if c.held_on else "",
                      c.extract_due.isoformat(), c.caseclock_due.isoformat(), f"{c.difference:+d}", c.rule,
                      c.source if len(c.source) <= 80 else c.source[:77] + "...")
    out.print(table)
    summary = Table(title="Summary by kind of due date")
    for column in ("deadline", "due dates", "agree", "extract later", "extract earlier", "largest difference (wd)"):
        summary.add_column(column)
    for row in report.summary():
        summary.add_row(*(str(v) for v in row.values()))
    out.print(summary)
    flags = Table(title="In time by statute, queried by a return or a case system's count")
    for column in ("child", "case", "deadline", "what"):
        flags.add_column(column)
    for f in report.flags:
        flags.add_row(f.child_id, f.case_ref, f.deadline, f.message)
    out.print(flags)
    for line in report.unmatched:
        out.print(line)


def _write_audit_csv(report, path: Path) -> None:
    import csv

    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["record", "child", "case_ref", "deadline", "held_on", "extract_due", "caseclock_due",
                         "difference_working_days", "convention_due", "convention", "rule", "source", "origin"])
        for c in report.checks:
            writer.writerow(["due_date", c.child_id, c.case_ref, c.deadline, c.held_on or "", c.extract_due,
                             c.caseclock_due, c.difference, "", "", c.rule, c.source, str(c.extract_origin)])
        for f in report.flags:
            writer.writerow(["convention", f.child_id, f.case_ref, f.deadline, f.held_on or "", "", f.statutory_due,
                             "", f.convention_due, f.convention, "", "", str(f.origin)])


@export_app.command("903-reviews")
def export_903_reviews(
    out_path: Annotated[Optional[Path], typer.Option("--out", help="CSV file to write (default: standard output)")] = None,
    extract: Annotated[Optional[Path], typer.Option("--extract", help="A 903 extract folder to take DOB and REVIEW_CODE from")] = None,
) -> None:
    """The reviews caseclock holds, as the SSDA903 Reviews table (CHILD, DOB, REVIEW, REVIEW_CODE)."""
    from engine.exchange.export import review_rows, write_903_reviews
    from engine.interfaces.cli import build_engine

    engine = build_engine()
    details, dobs = {}, {}
    if extract is not None:
        for child in _read("903", extract, _today(engine)).children:
            if child.dob:
                dobs[child.child_id] = child.dob
            for spell in child.spells:
                for fact in spell.facts:
                    if fact.kind == "review" and fact.on and fact.code:
                        details[(child.child_id, fact.on)] = fact.code
    rows = review_rows(engine, details, dobs)
    if out_path is None:
        write_903_reviews(rows, sys.stdout)
    else:
        with out_path.open("w", newline="", encoding="utf-8") as fh:
            write_903_reviews(rows, fh)
        sys.stderr.write(f"{len(rows)} reviews written to {out_path}\n")


@export_app.command("cin-cp")
def export_cin_cp(
    out_path: Annotated[Path, typer.Option("--out", help="XML file to write")] = Path("cin-cp.xml"),
) -> None:
    """Child protection dates caseclock holds, as a CIN census XML fragment (<Children>)."""
    from engine.exchange.export import cin_cp_fragment, write_cin_cp
    from engine.interfaces.cli import build_engine

    root = cin_cp_fragment(build_engine())
    write_cin_cp(root, out_path)
    sys.stderr.write(f"{len(root)} children written to {out_path}\n")
