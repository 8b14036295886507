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


def migrate_cases(
    workflow: Annotated[str, typer.Argument(help="The workflow whose running cases move")],
    to: Annotated[str, typer.Option("--to", metavar="FILE|VERSION", help="The new version: a workflow or profile file, or a version (stored, or the registry's current one)")],
    map_: Annotated[Optional[list[str]], typer.Option("--map", metavar="OLD=NEW", help="Where cases in a state the new version lacks go (repeatable)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would move; write nothing")] = False,
    actor: Annotated[str, typer.Option(help="Who moved them (recorded in each case's history)")] = "cli",
) -> None:
    """Move running cases of WORKFLOW to a new version of it, one transaction per case.

    Lists each case's state and every open deadline's old and new due date; refuses (and says
    why) a case that cannot move; records the move in the case's history. Cases already on the
    new version are left alone, so running it twice moves nothing the second time."""
    from engine.interfaces.cli import build_engine, out, parse_sets
    from engine.procedures.migration import migrate_cases as migrate

    engine = build_engine()
    target = _target(engine, workflow, to)
    mapping = parse_sets(map_) if map_ else {}
    for old, new in mapping.items():
        if new not in target.spec.states:
            _fail(f"--map {old}={new}: '{new}' is not a state of version {target.version} "
                  f"(states: {', '.join(target.spec.states)})")
    report = migrate(engine, workflow, target, mapping, dry_run=dry_run, actor=actor)
    verb = "would move" if dry_run else "moved"
    for case in report.cases:
        if case.refused:
            out.print(f"{case.case_ref}: [bold]refused[/bold]: {case.refused}")
            continue
        out.print(f"{case.case_ref}: {verb} {case.from_state} -> {case.to_state} (version {case.from_version} -> {case.to_version})")
        for move in case.deadlines:
            out.print(f"  {move.describe()}")
    out.print(f"{len(report.moved)} case(s) {verb} to version {report.to_version}, {len(report.refused)} refused")
    if report.refused:
        raise typer.Exit(1)


def _target(engine, workflow: str, to: str):
    """--to: a file (workflow or profile) or a version, stored or the registry's current one."""
    from engine.procedures.diff import VERSION, resolve

    def stored(version: str):
        return engine.store.definition(version)

    if Path(to).exists():
        found = resolve(to, registry_for=lambda a: engine.registry, authority=None, stored=stored)
    elif not VERSION.match(to):
        _fail(f"--to {to}: neither a file nor a definition version")
    else:
        current = engine.registry.get(workflow)
        found = {workflow: current} if to == current.version else resolve(
            f"{workflow}@{to}", registry_for=lambda a: engine.registry, authority=None, stored=stored)
    if workflow not in found:
        _fail(f"--to {to} holds no '{workflow}' workflow (it has: {', '.join(found) or 'none'})")
    return found[workflow]
