"""Database connections: SQLite by default, any SQLAlchemy URL (PostgreSQL in production).

SQLite gets WAL, a busy timeout and `BEGIN IMMEDIATE` for writes: with the default deferred
begin, two processes doing read-then-write fail with "database is locked" instead of waiting.
Every engine hides SQL parameters (`hide_parameters=True`): they hold case data, and a driver
error must never carry them into a log or a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

DEFAULT_URL = "sqlite:///caseclock.db"
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


def connect(url: str = DEFAULT_URL, *, busy_timeout_ms: int = 30_000) -> Database:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        writer = _sqlite_engine(url, busy_timeout_ms, begin="BEGIN IMMEDIATE")
        reader = _sqlite_engine(url, busy_timeout_ms, begin="BEGIN")
        return Database(url, writer, reader)
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    engine = create_engine(url, pool_pre_ping=True, future=True, hide_parameters=True)
    return Database(url, engine, engine)


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


def alembic_config(database: Database | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if database is not None:
        cfg.set_main_option("sqlalchemy.url", database.url.replace("%", "%%"))
    return cfg


def migrate(database: Database, revision: str = "head") -> None:
    """Bring the schema to `revision`. Safe to call from several processes at once."""
    cfg = alembic_config(database)
    with database.writer.begin() as conn:
        if database.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(72731)"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
