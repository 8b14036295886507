"""`caseclock report`: the KPI scorecard in the terminal, as CSV or as JSON - computed by
engine.monitor.scorecard, the same code as the dashboard's Scorecard page."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated, Optional

import typer


class Format(str, enum.Enum):
    table = "table"
    csv = "csv"
    json = "json"


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter("expects a date, YYYY-MM-DD") from None


def report(
    first: Annotated[Optional[dt.date], typer.Option("--from", parser=_day, metavar="YYYY-MM-DD",
                                                     help="First day of the period (default: 1 April of the last financial year)")] = None,
    last: Annotated[Optional[dt.date], typer.Option("--to", parser=_day, metavar="YYYY-MM-DD",
                                                    help="Last day of the period, included (default: 31 March after --from)")] = None,
    authority: Annotated[Optional[str], typer.Option("--authority", help="Only this authority's cases (default: every authority, or the global --authority)")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table, csv or json")] = Format.table,
) -> None:
    """The KPI scorecard for a period: reviews and conferences in timescale, lateness reasons,
    disputes, long child protection plans and IRO caseloads, month by month."""
    from engine.interfaces import cli
    from engine.monitor.scorecard import Period, compute
    from engine.time.calendar import local_date

    engine = cli.build_engine()
    default = Period.last_financial_year(local_date(engine.clock.now()))
    if first is None and last is None:
        period = default
    else:
        first = first or dt.date(last.year - 1 if last.month >= 4 else last.year - 2, 4, 1)
        last = last or dt.date(first.year + 1 if first.month >= 4 else first.year, 3, 31)
        if last < first:
            raise typer.BadParameter("is before --from", param_hint="'--to'")
        period = Period(first, last)
    card = compute(engine, period, authority or cli.settings().authority)
    if fmt is Format.json:
        cli.emit_json(card.to_dict())
    elif fmt is Format.csv:
        _csv(card)
    else:
        _table(card, cli.out)


def _csv(card) -> None:
    import csv
    import sys

    rows = card.rows()
    writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["kpi"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def _figure(kpi, point) -> str:
    if point.value is None:
        return "-"
    if kpi.unit == "%":
        return f"{point.value:.1f}% ({point.numerator}/{point.denominator})"
    if kpi.unit == "working days":
        return f"{point.value:g} wd (n={point.denominator})"
    return f"{point.value}"


def _table(card, out) -> None:
    from rich.table import Table

    who = card.authority or "all authorities"
    summary = Table(title=f"Scorecard {card.period.first} to {card.period.last} ({who})")
    summary.add_column("KPI")
    summary.add_column("Period", justify="right")
    summary.add_column("Source")
    for k in card.kpis:
        summary.add_row(k.title, _figure(k, k.value), k.source)
    out.print(summary)
    monthly = Table(title="Month by month")
    monthly.add_column("KPI")
    months = card.kpis[0].monthly
    for p in months:
        monthly.add_column(p.label, justify="right")
    for k in card.kpis:
        if k.monthly:
            monthly.add_row(k.title, *[_figure(k, p) for p in k.monthly])
    out.print(monthly)
    for k in card.kpis:
        if k.breakdown:
            table = Table(title=k.title)
            table.add_column("")
            table.add_column("Count", justify="right")
            for p in k.breakdown:
                table.add_row(p.label, str(p.value))
            out.print(table)
    out.print("Definitions:")
    for k in card.kpis:
        out.print(f"- {k.title}: {k.definition}")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
