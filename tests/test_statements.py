"""Prepared statements: the one-step column conversions store and read exactly what
SQLAlchemy's own chain of processors does, so existing databases read back the same."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import JSON, Boolean, select
from sqlalchemy.dialects import sqlite

from persistence.models import DeadlineRow, ReminderRow
from persistence.statements import Prepared, insert_all
from persistence.types import UTCDateTime, sqlite_utc_bind, sqlite_utc_result

DIALECT = sqlite.dialect()
LONDON = ZoneInfo("Europe/London")
MOMENTS = [
    dt.datetime(2025, 3, 30, 0, 59, 59, 999999, tzinfo=dt.timezone.utc),
    dt.datetime(2025, 3, 30, 2, 30, tzinfo=LONDON),  # the hour that does not exist
    dt.datetime(2025, 10, 26, 1, 30, fold=1, tzinfo=LONDON),  # the hour that happens twice
    dt.datetime(2024, 2, 29, 23, 0, 0, 1, tzinfo=LONDON),
    dt.datetime(1999, 12, 31, 23, 59, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    dt.datetime(999, 1, 1, 12, tzinfo=dt.timezone.utc),
    None,
]


def _chained():
    impl = UTCDateTime().dialect_impl(DIALECT)
    return impl.bind_processor(DIALECT), impl.result_processor(DIALECT, None)


@pytest.mark.parametrize("moment", MOMENTS)
def test_a_moment_is_stored_and_read_back_as_sqlalchemys_chain_does(moment):
    bind, result = _chained()
    stored = bind(moment)
    assert sqlite_utc_bind(moment) == stored
    assert sqlite_utc_result(stored) == result(stored)
    if moment is not None:
        back = sqlite_utc_result(stored)
        assert back == moment.astimezone(dt.timezone.utc) and back.tzinfo == dt.timezone.utc


@pytest.mark.parametrize("stored", ["2025-01-02 03:04:05", "2025-01-02 03:04:05.000001", "2025-01-02"])
def test_moments_stored_in_other_shapes_read_back_as_before(stored):
    assert sqlite_utc_result(stored) == _chained()[1](stored)


def test_a_naive_moment_is_refused_as_before():
    with pytest.raises(ValueError, match="naive datetime"):
        sqlite_utc_bind(dt.datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="naive datetime"):
        _chained()[0](dt.datetime(2025, 1, 1))


def test_an_insert_binds_every_column_as_sqlalchemy_would_with_defaults_for_those_left_out():
    prepared = insert_all(ReminderRow.__table__, DIALECT, returning=False)
    values = {"deadline_id": 7, "case_id": 3, "offset": "2wd", "remind_on": dt.date(2025, 5, 1),
              "remind_at": dt.datetime(2025, 4, 30, 23, tzinfo=dt.timezone.utc)}
    bound = dict(zip([name for name, *_ in prepared.params], prepared.bind(values)))
    expected = {}
    for column in ReminderRow.__table__.columns:
        if column.name == "id":
            continue
        value = values.get(column.name, column.default.arg if column.default is not None else None)
        processor = column.type.dialect_impl(DIALECT).bind_processor(DIALECT)
        expected[column.name] = value if processor is None else processor(value)
    assert bound == expected
    assert bound["cancelled"] == 0 and bound["remind_at"] == "2025-04-30 23:00:00.000000"


def test_a_row_is_read_with_each_columns_own_conversion():
    table = DeadlineRow.__table__
    prepared = Prepared(select(table.c.id, table.c.due_at, table.c.closed_at, table.c.anchor_is_day_one),
                        DIALECT, [table.c.id, table.c.due_at, table.c.closed_at, table.c.anchor_is_day_one])
    row = prepared.row((4, "2025-05-01 23:00:00.000000", None, 1))
    assert row == (4, dt.datetime(2025, 5, 1, 23, tzinfo=dt.timezone.utc), None, True)


@pytest.mark.parametrize("value", [dt.date(2025, 3, 30), dt.date(999, 1, 2), dt.datetime(2025, 3, 30, 12, 30), None])
def test_a_date_is_stored_as_sqlalchemys_sqlite_date_stores_it(value):
    from sqlalchemy import Date

    from persistence.statements import bind_processor

    assert bind_processor(Date(), DIALECT)(value) == Date().dialect_impl(DIALECT).bind_processor(DIALECT)(value)


def test_json_and_booleans_keep_sqlalchemys_own_processors():
    for type_ in (JSON(), Boolean()):
        from persistence.statements import bind_processor
        processor = bind_processor(type_, DIALECT)
        expected = type_.dialect_impl(DIALECT).bind_processor(DIALECT)
        value = {"a": [1, "é"]} if isinstance(type_, JSON) else True
        assert processor(value) == expected(value)
    assert json.loads(bind_processor(JSON(), DIALECT)({"a": 1})) == {"a": 1}


def test_free_text_refuses_exactly_the_control_characters_and_surrogates():
    import unicodedata

    from engine.language.casedata import text_problem

    refused = {c for c in map(chr, range(0x110000))
               if c not in "\t\n\r" and unicodedata.category(c) in ("Cc", "Cs")}
    assert len(refused) == 65 - 3 + 2048
    assert all(text_problem(f"ok {c} ok") for c in refused)
    allowed = [chr(i) for i in range(0x110000) if chr(i) not in refused]
    assert text_problem("".join(allowed)) is None
