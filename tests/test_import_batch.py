"""The batched import (children sharing transactions, one savepoint each) stores exactly what
replaying the same commands one by one stores, and a child refused midway leaves nothing."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text

from engine.exchange import ssd
from engine.exchange.replay import ChildResult, Importer, plan_child
from engine.runtime.engine import Engine
from engine.time.calendar import WorkingCalendar
from engine.time.clock import SimulatedClock
from persistence.store import Store
from tests.conftest import TABLES, at
from tests.extracts import write_ssd
from tests.test_import_ssd import TODAY, care, merge, protection

D = dt.date
BAD = "M"  # its period of care replays, then the engine refuses a review of a plan never made


def extract(directory):
    tables = merge(
        care("A1", D(2024, 9, 2), [(D(2024, 9, 30), None), (D(2024, 12, 20), None)]),
        protection("A2", reviews=[(D(2025, 6, 20), None)]),
        care("A3", D(2025, 5, 12), [(D(2025, 6, 10), None)]),
        care(BAD, D(2024, 9, 2), [(D(2024, 9, 30), None)]),
        protection(BAD, outcome="N", reviews=[(D(2025, 6, 20), None)]),
        care("Z1", D(2025, 1, 6), [(D(2025, 2, 5), None), (D(2025, 5, 1), None)]),  # the first review late
        protection("Z2", reviews=[(D(2025, 6, 20), None)], plan_end=D(2025, 6, 20)),
        care("Z3", D(2024, 11, 4), [(D(2024, 12, 2), None)]),
    )
    return ssd.read(write_ssd(directory, tables), TODAY)


def engine_on(path, registry) -> Engine:
    return Engine(Store.open(f"sqlite:///{path}"), registry, WorkingCalendar(), SimulatedClock(at("2026-01-15", 9)))


def dump(engine: Engine) -> dict[str, list]:
    with engine.store.db.reader.connect() as conn:
        return {t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY 1"))] for t in TABLES}


def test_a_batched_import_stores_exactly_what_one_by_one_replay_stores(tmp_path, registry):
    children = extract(tmp_path / "x")
    ids = [c.child_id for c in children.children]
    assert ids.index(BAD) not in (0, len(ids) - 1)  # refused between children that go in

    batched = engine_on(tmp_path / "batched.db", registry)
    with Importer(batched, every=3) as importer:  # commits at several child boundaries
        report = importer.run(children)
    assert [p.child_id for p in report.skipped] == [BAD]
    assert report.skipped[0].origin.file == "ssd_cp_reviews.csv"
    assert report.imported == len(ids) - 1

    # the reference: each command of every child the engine accepts, in a transaction of its own
    single = engine_on(tmp_path / "single.db", registry)
    reference = Importer(single)
    for child in children.children:
        if child.child_id != BAD:
            reference.write(plan_child(child, reference.calendar), ChildResult(child.child_id))

    expected, got = dump(single), dump(batched)
    assert all(expected[t] for t in ("cases", "transitions", "deadlines", "definitions"))
    for table in TABLES:  # every column, the ids included
        assert got[table] == expected[table], table
    # nothing of the refused child: no case, no event, no deadline
    assert not any(BAD in ref for ref in batched.store.case_refs())
    assert not any(row for row in got["cases"] if BAD in str(row))

    again = Importer(batched).run(children)
    assert (again.written, again.imported) == (0, 0) and [p.child_id for p in again.skipped] == [BAD]
    assert dump(batched) == got
