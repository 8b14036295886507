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


def diff(
    old: Annotated[str, typer.Argument(metavar="OLD", help="A workflow or profile file, a workflow name (as the registry runs it now), or a stored version: drp@VERSION")],
    new: Annotated[str, typer.Argument(metavar="NEW", help="The same kinds as OLD")],
    workflow: Annotated[Optional[str], typer.Option("--workflow", help="Only this workflow (when a side is a profile)")] = None,
) -> None:
    """What changes between two versions of a procedure: states, transitions and deadlines
    added, removed and changed. Overlays and profiles are compared as the workflows they resolve to."""
    from engine.interfaces.cli import load_registry, out, settings
    from engine.procedures.diff import diff as differences, resolve

    store = None

    def stored(version: str):
        nonlocal store
        from engine.interfaces.cli import open_store

        store = store or open_store()
        return store.definition(version)

    def side(text: str):
        return resolve(text, registry_for=load_registry, authority=settings().authority, stored=stored)

    olds, news = side(old), side(new)
    names = [n for n in news if n in olds and (workflow is None or n == workflow)]
    if not names:
        _fail(f"nothing to compare: OLD has {', '.join(olds) or 'no workflow'}, NEW has {', '.join(news) or 'no workflow'}"
              + (f" (asked for {workflow})" if workflow else ""))
    for name in names:
        a, b = olds[name], news[name]
        lines = differences(a, b)
        out.print(f"[bold]{name}[/bold]: version {a.version} -> {b.version}: "
                  + (f"{len(lines)} difference(s)" if lines else "no difference"))
        for line in lines:
            out.print(f"  {line}")


def migrate_cases() -> None:
    """(placeholder)"""
