"""The command line starts without loading what only some commands need, and its help shows
no type placeholders."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .test_cli import REPO, caseclock, ok

HEAVY = ("alembic", "fastapi", "uvicorn", "numpy", "sqlalchemy", "structlog", "rich", "holidays", "pydantic_settings")


def test_the_cli_module_imports_nothing_heavy():
    code = f"import sys, engine.interfaces.cli; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert result.stdout == "[]\n"


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
