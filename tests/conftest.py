"""Shared fixtures: a real database (a SQLite file, or PostgreSQL when configured), a simulated
clock, and an engine on the bundled workflows.

CASECLOCK_TEST_DATABASE_URL selects PostgreSQL (e.g. postgresql://postgres@/caseclock?host=/tmp/pg);
unset, every test gets its own SQLite file.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import shutil
import tempfile

import pytest
from sqlalchemy import text

from engine.time.calendar import LONDON, WorkingCalendar
from engine.time.clock import SimulatedClock
from engine.runtime.engine import Engine
from engine.language.registry import Registry
from persistence.db import connect, migrate
from persistence.store import Store

PG_URL = os.environ.get("CASECLOCK_TEST_DATABASE_URL", "")
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, ... when tests run in parallel
TABLES = ("outbox", "reminders", "deadline_counts", "deadlines", "transitions", "cases", "definitions", "deployment",
          "audit", "sessions", "api_keys", "users", "secrets")


def at(day: str, hour: int = 10, minute: int = 0) -> dt.datetime:
    """A moment on a day in Europe/London (tests speak in local dates, as practitioners do)."""
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour, minute), tzinfo=LONDON)


def d(day: str) -> dt.date:
    return dt.date.fromisoformat(day)


@functools.lru_cache(maxsize=None)
def _own_database(url: str) -> str:
    """A database of this test process's own on the configured server: tests empty the tables
    between them, so two processes sharing one database would empty each other's."""
    if not XDIST_WORKER:
        return url
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = f"{parsed.database}_{XDIST_WORKER}"
    server = connect(url)
    with server.writer.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    server.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def _pg_migrated():
    if not PG_URL:
        return None
    return _pg_migrated_url(_own_database(PG_URL))


@pytest.fixture
def database_url(tmp_path, _pg_migrated) -> str:
    if _pg_migrated:
        database = connect(_pg_migrated)
        with database.writer.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        database.dispose()
        return _pg_migrated
    return f"sqlite:///{tmp_path / 'caseclock.db'}"


@pytest.fixture(scope="session")
def pg_server_url():
    """A PostgreSQL URL for tests that need PostgreSQL itself (SKIP LOCKED, several processes):
    CASECLOCK_TEST_DATABASE_URL if set, else a throwaway server started on a temp dir."""
    if PG_URL:
        yield _pg_migrated_url(_own_database(PG_URL))
        return
    from . import pgserver

    if not pgserver.available():
        pytest.skip("no PostgreSQL binaries (apt-get install postgresql-15, or set CASECLOCK_TEST_DATABASE_URL)")
    # not under pytest's tmp dir: that is private to root, and the server runs as `postgres`
    directory = tempfile.mkdtemp(prefix="caseclock-pg-")
    try:
        url = pgserver.start(directory)
        yield _pg_migrated_url(url)
    finally:
        pgserver.stop(directory)
        shutil.rmtree(directory, ignore_errors=True)


def _pg_migrated_url(url: str) -> str:
    database = connect(url)
    migrate(database)
    database.dispose()
    return url


def truncate(url: str) -> None:
    database = connect(url)
    with database.writer.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    database.dispose()


@pytest.fixture
def pg_url(pg_server_url) -> str:
    """An empty, migrated PostgreSQL database (for @pytest.mark.postgres tests)."""
    truncate(pg_server_url)
    return pg_server_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend_url(request, tmp_path) -> str:
    """The test runs twice: on a new SQLite file, and on an empty migrated PostgreSQL database."""
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    return f"sqlite:///{tmp_path / 'backend.db'}"


@pytest.fixture
def store(database_url):
    s = Store.open(database_url)
    yield s
    s.close()


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(at("2030-01-01", 9))


@pytest.fixture(scope="session")
def registry() -> Registry:
    return Registry.load()


@pytest.fixture
def engine(store, registry, clock) -> Engine:
    return Engine(store, registry, WorkingCalendar(), clock)


# The base DRP's informal stage only tells the IRO and their manager when it expires; timer tests
# that need an expiry which moves a case use tests/workflows/drp_escalating.yaml, the base DRP
# whose informal stage escalates itself.
ESCALATING = "drp_escalating"
TEST_WORKFLOWS = os.path.join(os.path.dirname(__file__), "workflows")


@pytest.fixture(scope="session")
def escalating_registry() -> Registry:
    """The bundled workflows plus the test procedures in tests/workflows/."""
    from engine.language.bundled import bundled_dir
    from pathlib import Path

    return Registry.load([bundled_dir("workflows"), Path(TEST_WORKFLOWS)])


# every workflow role the bundled procedures name, for a key that may fire anything a test fires
ALL_WORKFLOW_ROLES = ("iro", "iro_manager", "social_worker", "team_manager", "service_manager", "director",
                      "chair", "conference_chair", "business_support", "head_of_service", "senior_manager")


def api_client(app, store, *, roles=("admin", "integrator", "manager"), acts_as=ALL_WORKFLOW_ROLES, **client_kw):
    """A TestClient on `app` sending a fresh API key with these roles."""
    from fastapi.testclient import TestClient

    from engine.access import accounts

    key = accounts.create_key(store, "test", roles=list(roles), acts_as=list(acts_as), expires_in=dt.timedelta(days=1))
    client = TestClient(app, **client_kw)
    client.headers["Authorization"] = f"Bearer {key.key}"
    return client
