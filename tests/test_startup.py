"""The command line starts without loading what only some commands need, and its help shows
no type placeholders."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from .test_cli import REPO, caseclock, ok

HEAVY = ("alembic", "fastapi", "uvicorn", "numpy", "sqlalchemy", "sqlmodel", "structlog", "rich", "holidays", "pydantic_settings",
         "jinja2", "argon2", "prometheus_client", "yaml", "persistence", "engine.settings", "engine.runtime", "pydantic",
         "engine.time.calendar")


def loaded_after(code: str) -> list[str]:
    """The HEAVY modules a fresh interpreter holds after running `code`."""
    probe = f"import sys\n{code}\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True)
    return ast.literal_eval(result.stdout.splitlines()[-1])


def test_the_cli_module_imports_nothing_heavy():
    code = f"import sys, engine.interfaces.cli; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert result.stdout == "[]\n"


def test_help_loads_nothing_heavy():
    code = "from engine.interfaces.cli import app\ntry:\n    app(['--help'], standalone_mode=False)\nexcept SystemExit:\n    pass"
    assert loaded_after(code) == []


def test_every_command_module_registers_the_same_way():
    from engine.interfaces import cli

    modules = sorted(p.stem.removeprefix("commands_") for p in (REPO / "engine" / "interfaces").glob("commands_*.py"))
    assert sorted(cli.COMMAND_MODULES) == modules


@pytest.mark.parametrize("module", sorted(p.stem for p in (REPO / "engine" / "interfaces").glob("commands_*.py")))
def test_a_command_module_loads_its_dependencies_only_when_run(module):
    assert loaded_after(f"import engine.interfaces.{module}") == []


def test_counting_days_does_not_load_every_country_of_the_holidays_package():
    code = ("from engine.interfaces.cli import app; app(['calendar', 'add', '2026-12-14', '20wd'], standalone_mode=False)\n"
            "print('holidays.countries' in sys.modules, 'holidays.countries.france' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", f"import sys\n{code}"], capture_output=True, text=True, cwd=REPO, check=True)
    assert result.stdout == "2027-01-14\nFalse False\n"


def test_a_calendar_command_loads_no_database_or_web_code():
    code = ("import sys; from engine.interfaces.cli import app; app(['calendar', 'add', '2026-12-14', '20wd'], "
            "standalone_mode=False); print(sorted(m for m in ('alembic', 'fastapi', 'numpy', 'sqlalchemy', 'uvicorn') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert result.stdout == "2027-01-14\n[]\n"


@pytest.mark.parametrize("command", [[], ["open"], ["fire"], ["worker"], ["serve"], ["validate"], ["outbox"]])
def test_help_shows_no_type_placeholders(command):
    text = ok(caseclock(*command, "--help")).stdout
    assert "<bool>" not in text and "list[" not in text


def loaded_by_command(*argv: str) -> list[str]:
    """The HEAVY modules a fresh interpreter holds after running one `caseclock` command to its end."""
    code = ("from engine.interfaces.cli import main\n"
            f"sys.argv = ['caseclock', *{list(argv)!r}]\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code")
    return loaded_after(code)


@pytest.mark.parametrize("command", [["--help"], ["calendar", "add", "2026-12-14", "20wd"],
                                     ["validate", str(REPO / "workflows" / "drp.yaml")], ["schema"]])
def test_a_command_without_a_database_loads_no_database_or_logging_code(command):
    loaded = loaded_by_command(*command)
    assert not {"alembic", "sqlalchemy", "sqlmodel", "persistence", "structlog", "engine.settings", "engine.runtime",
                "fastapi", "uvicorn", "rich"} & set(loaded), loaded


@pytest.fixture(scope="module")
def one_case(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('startup') / 's.db'}"
    ok(caseclock("--database", url, "open", "drp", "X-1", "--at", "2026-11-02", "--set", "theme=safety",
                 "--set", "concern=x", "--create"))
    return url


@pytest.mark.parametrize("command", [["show", "X-1"], ["overdue"], ["upcoming"]])
def test_a_command_that_only_reads_loads_neither_alembic_nor_logging(one_case, command):
    loaded = loaded_by_command("--database", one_case, *command)
    assert "sqlalchemy" in loaded  # it did read the database
    assert not {"alembic", "structlog", "fastapi", "uvicorn"} & set(loaded), loaded
