"""The schema: migrations match the models, SQLite runs in WAL mode, and history is append-only."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel


from persistence.db import connect, downgrade, migrate
from persistence.models import TransitionRow

from .conftest import at, d


def test_migrations_build_exactly_the_models(database_url):
    database = connect(database_url)
    migrate(database)
    with database.writer.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    database.dispose()
    assert diff == []


def test_migrating_twice_is_harmless(database_url):
    database = connect(database_url)
    migrate(database)
    migrate(database)
    with database.reader.connect() as conn:
        heads = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    database.dispose()
    assert len(heads) == 1


def test_sqlite_is_a_wal_file_with_a_busy_timeout(tmp_path):
    database = connect(f"sqlite:///{tmp_path / 'c.db'}")
    with database.writer.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    database.dispose()


def test_history_cannot_fork_even_below_the_engine(engine, store):
    engine.open_case("drp", "DRP-1", at=at("2026-03-02"), data={"theme": "safety", "concern": "x"})
    case_id = store.case("DRP-1").id
    with pytest.raises(IntegrityError):
        with store.db.writer.begin() as conn:
            conn.execute(TransitionRow.__table__.insert().values(
                case_id=case_id, seq=1, kind="trigger", trigger="escalate", from_state="informal", to_state="stage_1",
                effective_at=at("2026-03-03"), recorded_at=at("2026-03-03"), actor="rogue", data={},
                definition_version="x",
            ))
    assert [h.seq for h in engine.history("DRP-1")] == [1]


@pytest.mark.parametrize("url", ["nonsense", "postgresql://someone:secret@127.0.0.1:1/nothing"])
def test_a_bad_database_url_is_a_clear_error_without_the_password(url):
    from engine.errors import DatabaseError
    from persistence.store import Store

    with pytest.raises(DatabaseError) as err:
        Store.open(url)
    assert "cannot open database" in str(err.value)
    assert "secret" not in str(err.value)


def test_the_public_api_lists_every_public_name():
    import engine

    exported = {name for name in dir(engine) if not name.startswith("_")}
    modules = {"errors", "logs", "settings", "language", "time", "runtime", "timers", "interfaces", "access"}
    assert exported - modules == set(engine.__all__)


def test_the_persistence_layer_imports_on_its_own():
    import subprocess
    import sys

    for module in ("persistence.store", "engine.errors", "engine"):
        result = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def test_the_bundled_yaml_is_found_where_an_install_puts_it():
    from engine.language.bundled import installed_dir

    assert (installed_dir("workflows") / "drp.yaml").is_file()
    assert (installed_dir("config") / "caseclock.yaml").is_file()
    assert sorted(p.stem for p in (installed_dir("config") / "authorities").glob("*.yaml")) == [
        "croydon", "dudley", "gateshead", "shropshire", "sunderland"]


def test_an_existing_database_upgrades_to_a_stored_nation_with_nothing_lost(tmp_path, registry, clock):
    """A database from before the deployment table keeps every row as it was, and the first
    process after the upgrade records its nation; nothing is moved."""
    from engine.runtime.engine import Engine
    from persistence.store import Store

    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = Store.open(url)
    engine = Engine(store, registry, clock=clock)
    engine.open_case("drp", "DRP-1", at=at("2025-12-29"), data={"theme": "safety", "concern": "x"})
    engine.fire("DRP-1", "escalate", at=at("2025-12-30"), role="iro")
    engine.open_case("cla_review", "CLA-1", at=at("2026-01-05"), data={"became_looked_after": "2026-01-02"})
    tables = ("cases", "transitions", "deadlines", "reminders", "outbox", "definitions")

    old_case_columns = ("id, case_ref, workflow, version, authority, state, data, opened_at, last_effective_at, "
                        "closed_at, row_version")

    def contents():
        with store.db.reader.connect() as conn:
            return {t: conn.execute(text(f"SELECT {old_case_columns if t == 'cases' else '*'} FROM {t} ORDER BY 1")).all()
                    for t in tables}

    downgrade(store.db, "0002")  # back to the schema as it was before
    with store.db.reader.connect() as conn:
        assert "deployment" not in {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master"))}
    before = contents()
    migrate(store.db)
    assert contents() == before
    assert store.deployment_nation() is None
    after = Engine(store, registry, clock=clock)
    assert store.deployment_nation() == "england-and-wales"
    assert after.recompute() == []
    assert contents() == before
    # 30 Dec 2025 + 5 working days in England and Wales: 31, 2, 5, 6, 7 January
    assert after.case("DRP-1").deadline("stage_1_response").due_on == d("2026-01-07")
    store.close()


def test_an_existing_database_gains_case_ownership_and_per_authority_references(tmp_path, registry, clock):
    """Upgrading a database from before case ownership keeps every row and leaves the new
    columns empty; afterwards two authorities may each hold a case numbered alike, while one
    authority (or the cases with none) still may not."""
    from engine.errors import AmbiguousCase, CaseExists
    from engine.runtime.engine import Engine
    from persistence.store import Store

    store = Store.open(f"sqlite:///{tmp_path / 'old.db'}")
    Engine(store, registry, clock=clock).open_case("drp", "DRP-1", at=at("2025-12-29"),
                                                    data={"theme": "safety", "concern": "x"})
    Engine(store, registry, clock=clock, authority="sunderland").open_case(
        "cla_review", "CLA-1", at=at("2026-01-05"), data={"became_looked_after": "2026-01-02"})
    downgrade(store.db, "0003")
    with store.db.reader.connect() as conn:
        before = conn.execute(text("SELECT * FROM cases ORDER BY id")).all()
        others = {t: conn.execute(text(f"SELECT * FROM {t} ORDER BY 1")).all() for t in ("transitions", "deadlines")}
    migrate(store.db)
    with store.db.reader.connect() as conn:
        after = conn.execute(text("SELECT * FROM cases ORDER BY id")).all()
        assert {t: conn.execute(text(f"SELECT * FROM {t} ORDER BY 1")).all() for t in others} == others
    assert [tuple(row) for row in after] == [tuple(row) + (None, None, None) for row in before]

    sunderland = Engine(store, registry, clock=clock, authority="sunderland")
    gateshead = Engine(store, registry, clock=clock, authority="gateshead")
    gateshead.open_case("cla_review", "CLA-1", at=at("2026-01-06"), data={"became_looked_after": "2026-01-02"},
                        child_ref="P-77")
    assert gateshead.case("CLA-1").child_ref == "P-77"
    assert sunderland.case("CLA-1").child_ref is None
    with pytest.raises(CaseExists):
        sunderland.open_case("cla_review", "CLA-1", at=at("2026-01-06"), data={"became_looked_after": "2026-01-02"})
    with pytest.raises(CaseExists):
        Engine(store, registry, clock=clock).open_case("drp", "DRP-1", at=at("2026-01-06"),
                                                        data={"theme": "safety", "concern": "x"})
    with pytest.raises(AmbiguousCase, match="gateshead, sunderland"):
        Engine(store, registry, clock=clock).case("CLA-1")
    store.close()
