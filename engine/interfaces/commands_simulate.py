"""`caseclock simulate`: an authority's year, synthetic but shaped like its annual report, run
through the real engine into a new SQLite file, with the year's figures read back from it."""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

PERCENT = "{:.1%}"


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)


def _rate(value: Optional[float]) -> Optional[float]:
    if value is not None and not 0 <= value <= 1:
        raise typer.BadParameter("must be a share between 0 and 1 (0.16 is 16%)")
    return value


def simulate(
    authority: Annotated[Optional[str], typer.Option("--authority", help="Whose year: gateshead, sunderland, shropshire, dudley, croydon (default: CASECLOCK_AUTHORITY, else gateshead)")] = None,
    year: Annotated[int, typer.Option(help="The reporting year from 1 April of YEAR to 31 March", min=1900, max=2099)] = 2023,
    seed: Annotated[int, typer.Option(help="The same seed gives the same database")] = 1,
    children: Annotated[Optional[int], typer.Option(help="Children in care at the start of the year (default: the authority's report)", min=1)] = None,
    cp_plans: Annotated[Optional[int], typer.Option("--cp-plans", help="Child protection enquiries reaching an initial conference in the year, most starting a plan (default: the report)", min=0)] = None,
    drps: Annotated[Optional[int], typer.Option(help="Disputes raised by IROs in the year (default: the report)", min=0)] = None,
    scale: Annotated[str, typer.Option(help="authority (one authority's report), or national: about 100,000 children across the five authorities' shapes")] = "authority",
    late_rate: Annotated[Optional[float], typer.Option("--late-rate", help="Share of reviews held late (default: the report)", callback=_rate)] = None,
    escalation_rate: Annotated[Optional[float], typer.Option("--escalation-rate", help="Chance an unresolved dispute is escalated at each stage (default: the report)", callback=_rate)] = None,
    out_path: Annotated[Optional[Path], typer.Option("--out", help="The SQLite file to write (default: caseclock-sim-AUTHORITY-YEAR.db here)")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the file if it exists")] = False,
    processes: Annotated[Optional[int], typer.Option("--processes", help="With --scale national, authorities run this many at a time, each in a process of its own (default: the machine's cores); the database is the same either way", min=1)] = None,
) -> None:
    """Simulate an authority's year through the engine, its timers and a SQLite file; print the year's figures."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from engine import logs
    from engine.interfaces.cli import out, settings
    from engine.simulation import profiles
    from engine.simulation.runner import simulate as run_year
    from engine.simulation.summary import summarise
    from engine.time.calendar import LONDON

    if scale not in ("authority", "national"):
        raise typer.BadParameter("must be authority or national", param_hint="'--scale'")
    if scale == "national":
        if authority or children or cp_plans is not None or drps is not None:
            raise typer.BadParameter("--scale national runs all five authorities at their national share; "
                                     "leave out --authority, --children, --cp-plans and --drps", param_hint="'--scale'")
        shapes, label = profiles.national(), "national"
    else:
        name = authority or settings().authority or "gateshead"
        try:
            shapes, label = [profiles.shape(name)], name
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="'--authority'") from None
    path = (out_path or Path(f"caseclock-sim-{label}-{year}.db")).resolve()
    if not path.parent.is_dir():
        raise typer.BadParameter(f"folder {path.parent} does not exist", param_hint="'--out'")
    existing = [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]
    if existing and not force:
        sys.stderr.write(f"error: {path} exists; choose another --out, or add --force to replace it\n")
        raise typer.Exit(1)
    for p in existing:
        p.unlink()

    logs.configure(level="warning")
    began = time.perf_counter()
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("events"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns) as bar:
        task = bar.add_task(f"{label} {year}/{(year + 1) % 100:02d}: planning", total=None)

        def total(n: int) -> None:   # each authority's events, as it is planned
            bar.update(task, total=(bar.tasks[0].total or 0) + n, description=f"{label} {year}/{(year + 1) % 100:02d}")

        def step(n: int, moment: dt.datetime) -> None:
            bar.update(task, advance=n, description=f"{label} {moment.astimezone(LONDON):%d %b %Y}")

        sim = run_year(path, shapes, year, seed, children=children, cp_cases=cp_plans, drps=drps,
                       late_rate=late_rate, escalation_rate=escalation_rate, progress_total=total, progress=step,
                       processes=processes or os.cpu_count() or 1)
    elapsed = time.perf_counter() - began
    summary = summarise(sim.database_url, sim.start, sim.end)
    _print_summary(out, summary, sim, label, year)
    out.print(f"\n{sim.report.events:,} events and {sim.report.expired:,} timer expiries "
              f"({sim.report.timers_fired:,} fired a transition), {sim.report.reminders:,} reminders, in {elapsed:.1f} s")
    if sim.report.failures:
        out.print(f"[bold]{len(sim.report.failures)} planned event(s) were refused by the engine[/bold]; the first:")
        for f in sim.report.failures[:5]:
            out.print(f"  {f}")
    as_at = sim.end.astimezone(LONDON).date().isoformat()
    out.print(f"\ndatabase: {path}")
    out.print(f"  CASECLOCK_DATABASE_URL={sim.database_url} caseclock overdue --at {as_at}")
    out.print(f"  CASECLOCK_DATABASE_URL={sim.database_url} caseclock serve")
    if sim.report.failures:
        raise typer.Exit(1)


def _print_summary(out, s, sim, label: str, year: int) -> None:
    from rich.table import Table

    def share(t) -> str:
        return "-" if t.on_time_share is None else PERCENT.format(t.on_time_share)

    table = Table(title=f"{label}: 1 April {year} to 31 March {year + 1} (from the stored transitions and deadlines)",
                  title_justify="left")
    table.add_column("measure")
    table.add_column("figure", justify="right")
    rows = [
        ("children in care at the end of the year", f"{s.children_in_care_at_end:,}"),
        ("children who became looked after / ceased", f"{s.children_entered:,} / {s.children_ceased:,}"),
        ("CLA reviews held", f"{s.reviews_held:,}"),
        ("reviews due in the year held in timescale", f"{share(s.reviews)} ({s.reviews.on_time:,} of {s.reviews.total:,})"),
        ("initial conferences held", f"{s.icpcs_held:,}"),
        ("ICPCs within 15 working days", f"{share(s.icpcs)} ({s.icpcs.on_time:,} of {s.icpcs.total:,})"),
        ("review conferences in timescale", f"{share(s.rcpcs)} ({s.rcpcs.on_time:,} of {s.rcpcs.total:,})"),
        ("DRPs raised (by the stage raised at)", ", ".join(f"{k} {v:,}" for k, v in s.drps_raised.items()) or "0"),
        ("DRPs reaching each formal stage", ", ".join(f"{k} {v:,}" for k, v in s.drps_reached.items()) or "0"),
        ("DRP escalations by the IRO / by a missed response",
         f"{s.drp_escalations:,} / {s.drp_escalations_by_timer:,}"
         + ("" if s.escalation_share is None else f" ({PERCENT.format(s.escalation_share)} of {s.drp_decisions:,} decisions)")),
        ("DRPs resolved / still open", f"{s.drps_resolved:,} / {s.drps_open_at_end:,}"),
        ("deadlines overdue at the year's end", ", ".join(f"{k} {v:,}" for k, v in s.overdue_at_end.items()) or "0"),
    ]
    for row in rows:
        table.add_row(*row)
    out.print(table)
    if s.lateness_reasons:
        reasons = Table(title="Why late reviews were late", title_justify="left")
        reasons.add_column("reason")
        reasons.add_column("reviews", justify="right")
        for reason, count in s.lateness_reasons.items():
            reasons.add_row(reason.replace("_", " "), f"{count:,}")
        out.print(reasons)
    inputs = sim.plans[0].rates if len(sim.plans) == 1 else None
    if inputs:
        out.print(f"inputs: review late rate {PERCENT.format(inputs.review_late)}, escalation rates "
                  + ", ".join(PERCENT.format(r) for r in inputs.escalation))
