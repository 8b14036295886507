"""Database connections: SQLite by default, any SQLAlchemy URL (PostgreSQL in production).

SQLite gets WAL, a busy timeout and `BEGIN IMMEDIATE` for writes: with the default deferred
begin, two processes doing read-then-write fail with "database is locked" instead of waiting.
Every engine hides SQL parameters (`hide_parameters=True`): they hold case data, and a driver
error must never carry them into a log or a message.

A SQLite file holds children's data: it is created only when asked (`create=True`), never with
its directory, and readable by its owner only (0600; SQLite gives the -wal and -shm files the
database file's mode).
"""

from __future__ import annotations

import contextlib

import os
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from engine.errors import DatabaseError, DatabaseMissing

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


@dataclass
class Database:
    """A writer engine and a reader engine (the same one except on SQLite)."""

    url: str
    writer: Engine
    reader: Engine

    @property
    def dialect(self) -> str:
        return self.writer.dialect.name

    def dispose(self) -> None:
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()


def connect(url: str, *, create: bool = True, busy_timeout_ms: int = 30_000) -> Database:
    """Engines for `url`; a SQLite file that does not exist is created (0600) only if `create`."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            prepare_sqlite_file(Path(database).expanduser(), create=create)
        writer = _sqlite_engine(url, busy_timeout_ms, begin="BEGIN IMMEDIATE")
        reader = _sqlite_engine(url, busy_timeout_ms, begin="BEGIN")
        return Database(url, writer, reader)
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    engine = create_engine(url, pool_pre_ping=True, future=True, hide_parameters=True)
    return Database(url, engine, engine)


def prepare_sqlite_file(path: Path, *, create: bool) -> None:
    """Check the file is there, or create it empty and private before SQLite opens it (SQLite
    would create it 0644, and the -wal/-shm files take the database file's mode)."""
    if path.exists():
        if not path.is_file():
            raise DatabaseError(f"database file {path} is not a file")
        return
    if not create:
        raise DatabaseMissing(f"database file {path} does not exist")
    if not path.parent.is_dir():
        raise DatabaseError(f"cannot create database file {path}: directory {path.parent} does not exist")
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass  # another process created it first
    except OSError as exc:
        raise DatabaseError(f"cannot create database file {path}: {exc.strerror or type(exc).__name__}") from None


def _sqlite_engine(url: str, busy_timeout_ms: int, begin: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
                           hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql(begin)

    return engine


_REVISION = re.compile(r"^(down_revision|revision)\s*(?::[^=]*)?=\s*['\"]?([\w]+|None)['\"]?", re.MULTILINE)


def head_revision() -> str:
    """The newest migration, read from the scripts' `revision`/`down_revision` lines: knowing it
    without importing Alembic lets an up-to-date database open without loading it."""
    revisions, parents = set(), set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        found = dict((m.group(1), m.group(2)) for m in _REVISION.finditer(script.read_text(encoding="utf-8")))
        if "revision" in found:
            revisions.add(found["revision"])
            parents.add(found.get("down_revision"))
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"migrations have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def current_revision(database: Database) -> str | None:
    """The schema revision the database is at (None: no schema yet)."""
    try:
        with database.reader.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError) as exc:  # no such table (new database)
        if "alembic_version" in str(exc.orig):
            return None
        raise


def alembic_config(database: Database | None = None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if database is not None:
        cfg.set_main_option("sqlalchemy.url", database.url.replace("%", "%%"))
    return cfg


def migrate(database: Database, revision: str = "head") -> None:
    """Bring the schema to `revision`. Safe to call from several processes at once."""
    if revision == "head" and current_revision(database) == head_revision():
        return
    from alembic import command

    with _migration(database) as cfg:
        command.upgrade(cfg, revision)


def downgrade(database: Database, revision: str) -> None:
    """Take the schema back to `revision` (for rehearsing an upgrade on an old schema)."""
    from alembic import command

    with _migration(database) as cfg:
        command.downgrade(cfg, revision)


@contextlib.contextmanager
def _migration(database: Database):
    """An Alembic config bound to one writer transaction, serialised across processes."""
    cfg = alembic_config(database)
    with database.writer.connect() as conn:
        sqlite = database.dialect == "sqlite"
        if sqlite:
            # SQLite changes a constraint by rebuilding the table; with foreign keys enforced,
            # dropping the old table would fail for the rows that reference it. The pragma only
            # takes effect outside a transaction, so it is set on the driver connection before
            # the migration's transaction begins, and the references are checked before commit.
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                if database.dialect == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(72731)"))
                cfg.attributes["connection"] = conn
                yield cfg
                if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                    raise RuntimeError("a migration left rows whose references do not resolve; nothing was changed")
        finally:
            if sqlite:
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")
