"""SQLite files: created only when asked, never with their directory, private to their owner,
and a file that is missing, corrupt or cannot be written is one clear error naming it."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import DatabaseError, DatabaseMissing
from persistence.store import Store

from .test_cli import REPO, caseclock, ok


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def migrated(tmp_path) -> Path:
    db = tmp_path / "c.db"
    ok(caseclock("--database", f"sqlite:///{db}", "migrate"))
    return db


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def test_a_new_database_and_its_wal_and_shm_are_private_even_under_umask_0(tmp_path):
    old = os.umask(0)
    try:
        store = Store.open(f"sqlite:///{tmp_path / 'p.db'}")
        with store.db.writer.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
            files = sorted(p.name for p in tmp_path.iterdir())
            assert files == ["p.db", "p.db-shm", "p.db-wal"]
            assert {name: mode(tmp_path / name) for name in files} == dict.fromkeys(files, 0o600)
        store.close()
    finally:
        os.umask(old)


@pytest.mark.parametrize("command, folder", [(["show", "X"], "typo"), (["overdue"], ""), (["worker", "--once"], "typo"),
                                             (["outbox"], "")])
def test_a_mistyped_path_is_an_error_and_creates_nothing(tmp_path, command, folder):
    db = tmp_path / folder / "c.db"
    error = one_line_error(caseclock("--database", f"sqlite:///{db}", *command, cwd=tmp_path))
    assert error == f"error: database file {db} does not exist (run `caseclock migrate` to create it)\n"
    assert list(tmp_path.iterdir()) == []


def test_migrate_creates_a_database_but_never_its_directory(tmp_path):
    db = tmp_path / "missing" / "c.db"
    error = one_line_error(caseclock("--database", f"sqlite:///{db}", "migrate"))
    assert error == f"error: cannot create database file {db}: directory {db.parent} does not exist\n"
    assert not db.parent.exists()
    ok(caseclock("--database", f"sqlite:///{tmp_path / 'c.db'}", "migrate"))
    assert mode(tmp_path / "c.db") == 0o600


def test_open_creates_a_configured_database_only_with_create(tmp_path):
    db = tmp_path / "new.db"
    args = ["open", "drp", "X", "--at", "2026-01-05", "--set", "theme=safety", "--set", "concern=c"]
    one_line_error(caseclock(*args, env={"CASECLOCK_DATABASE_URL": f"sqlite:///{db}"}))
    ok(caseclock(*args, "--create", env={"CASECLOCK_DATABASE_URL": f"sqlite:///{db}"}))
    assert mode(db) == 0o600
    ok(caseclock("show", "X", env={"CASECLOCK_DATABASE_URL": f"sqlite:///{db}"}))


def test_a_new_users_first_open_creates_the_default_database(tmp_path):
    ok(caseclock("open", "drp", "X", "--at", "2026-01-05", "--set", "theme=safety", "--set", "concern=c", cwd=tmp_path))
    assert mode(tmp_path / "caseclock.db") == 0o600
    ok(caseclock("show", "X", cwd=tmp_path))


def test_a_path_that_cannot_be_created_names_the_file():
    for url, message in [
        ("sqlite:////proc/x/y.db", "cannot create database file /proc/x/y.db: directory /proc/x does not exist"),
        ("sqlite:////proc/y.db", "cannot create database file /proc/y.db: "),
    ]:
        error = one_line_error(caseclock("--database", url, "migrate"))
        assert error.startswith(f"error: {message}")
        with pytest.raises(DatabaseError, match=message):
            Store.open(url)
    with pytest.raises(DatabaseMissing, match="database file /nowhere/y.db does not exist"):
        Store.open("sqlite:////nowhere/y.db", create=False)
    assert not Path("/nowhere").exists()


def test_a_corrupt_file_is_named_in_one_line(migrated, tmp_path):
    copy = tmp_path / "copy.db"
    shutil.copy(migrated, copy)
    with copy.open("r+b") as f:
        f.write(os.urandom(4096))
    for command in (["show", "X"], ["migrate"]):
        error = one_line_error(caseclock("--database", f"sqlite:///{copy}", *command))
        assert error == f"error: cannot open database sqlite:///{copy}: file is not a database\n"
    with pytest.raises(DatabaseError, match="file is not a database"):
        Store.open(f"sqlite:///{copy}")


def test_a_directory_is_not_a_database(tmp_path):
    with pytest.raises(DatabaseError, match=f"database file {tmp_path} is not a file"):
        Store.open(f"sqlite:///{tmp_path}")


def test_an_up_to_date_database_opens_without_alembic(migrated):
    code = ("import sys; from persistence.store import Store; "
            f"Store.open('sqlite:///{migrated}', create=False).close(); print('alembic' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert result.stdout == "False\n"
