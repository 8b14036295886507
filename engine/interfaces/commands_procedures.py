"""`caseclock test`, `diff` and `migrate-cases`: changing a procedure safely.

Registered on the main app by `register(app)`; everything heavier than typer loads inside the
commands, so the CLI's start-up stays short.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("test")(test)
    app.command("diff")(diff)
    app.command("migrate-cases")(migrate_cases)


def test(paths: Annotated[Optional[list[Path]], typer.Argument(
        metavar="[PATH]...", show_default=False,
        help="Scenario files or folders of them (default: every bundled scenario)")] = None) -> None:
    """Run scenario files: open a case, fire events on dates, check states and due dates.

    Each runs on a simulated clock against a throwaway SQLite database. Prints a pass/fail table
    with the first differing date and how that deadline was counted; exits 1 on any failure."""
    from rich.table import Table

    from engine import logs
    from engine.errors import DefinitionError
    from engine.interfaces.cli import out
    from engine.procedures.runner import Runner
    from engine.procedures.scenarios import bundled_scenario_files, load_scenario, scenario_files

    files = scenario_files(paths) if paths else bundled_scenario_files()
    if not files:
        _fail("no scenario files found")
    logs.configure(level="warning")  # each scenario's transitions are its own business, not the log's
    runner = Runner()
    problems, results = [], []
    for path in files:
        try:
            results.append(runner.run(load_scenario(path)))
        except DefinitionError as exc:
            problems.extend(exc.problems)
    table = Table(title="Scenarios", title_justify="left")
    for col in ("result", "scenario", "file", "first difference"):
        table.add_column(col, overflow="fold")
    for r in results:
        if r.passed:
            table.add_row("pass", r.scenario, _short(r.file), "")
        else:
            detail = f"{r.on.isoformat()}: {r.difference}"
            if r.explanation:
                detail += f"\n  counted: {r.explanation}"
            table.add_row("[bold]FAIL[/bold]", r.scenario, _short(r.file), detail)
    if results:
        out.print(table)
    failed = sum(not r.passed for r in results)
    out.print(f"{len(results) - failed} passed, {failed} failed" + (f", {len(problems)} problem(s) in files" if problems else ""))
    if problems:
        sys.stderr.write("\n".join(str(p) for p in problems) + "\n")
    if failed or problems:
        raise typer.Exit(1)


def _short(file: str) -> str:
    path = Path(file)
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _fail(message: str) -> None:
    sys.stderr.write(message + "\n")
    raise typer.Exit(1)


def diff() -> None:
    """(placeholder)"""


def migrate_cases() -> None:
    """(placeholder)"""
