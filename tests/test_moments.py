"""The one parser for moments that the CLI (--at) and the REST API ("at") share."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.errors import CalendarError
from engine.time.calendar import local_date
from engine.time.clock import ensure_aware
from engine.time.moments import MomentError, as_utc, parse_moment

UTC = dt.timezone.utc


@pytest.mark.parametrize(("text", "expected"), [
    # a date alone: the start of that day in London (BST in summer, GMT in winter)
    ("2026-03-02", dt.datetime(2026, 3, 2, 0, 0, tzinfo=UTC)),
    ("2026-07-01", dt.datetime(2026, 6, 30, 23, 0, tzinfo=UTC)),
    # a datetime without zone: London local time
    ("2026-03-02T10:00", dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC)),
    ("2026-07-01T10:00:00", dt.datetime(2026, 7, 1, 9, 0, tzinfo=UTC)),
    # with an offset: as given
    ("2026-07-01T10:00:00+00:00", dt.datetime(2026, 7, 1, 10, 0, tzinfo=UTC)),
    ("2026-07-01T10:00:00Z", dt.datetime(2026, 7, 1, 10, 0, tzinfo=UTC)),
    ("2026-07-01T10:00:00-05:00", dt.datetime(2026, 7, 1, 15, 0, tzinfo=UTC)),
    (" 2026-03-02 ", dt.datetime(2026, 3, 2, 0, 0, tzinfo=UTC)),
    # clocks go forward at 01:00 GMT: midnight exists, 02:00 local is already BST
    ("2026-03-29", dt.datetime(2026, 3, 29, 0, 0, tzinfo=UTC)),
    ("2026-03-29T02:00", dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
])
def test_dates_local_times_and_offsets(text, expected):
    moment = parse_moment(text)
    assert moment == expected and moment.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("text", ["2026-03-29T01:30", "2026-03-29T01:00", "2026-03-29T01:59:59"])
def test_a_time_the_clocks_skip_is_refused(text):
    with pytest.raises(MomentError) as err:
        parse_moment(text)
    assert "does not exist in London" in str(err.value) and "clocks go forward" in str(err.value)


def test_a_time_that_happens_twice_is_its_first_occurrence_still_summer_time():
    assert parse_moment("2026-10-25T01:30") == dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 01:30 BST
    assert parse_moment("2026-10-25T01:30+00:00") == dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # the second


@pytest.mark.parametrize("text", [
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:00:00-14:00",
    "0001-01-01T00:00:00+00:00",  # representable in UTC, but not as a London date (LMT is -00:01:15)
])
def test_moments_at_the_edge_of_the_range_are_a_clear_error_not_an_overflow(text):
    with pytest.raises(MomentError, match="outside the range of representable dates"):
        parse_moment(text)


def test_the_engine_helpers_refuse_unrepresentable_moments_cleanly():
    edge = dt.datetime.fromisoformat("9999-12-31T23:00:00-14:00")
    with pytest.raises(ValueError, match="outside the range"):
        ensure_aware(edge)
    with pytest.raises(CalendarError, match="outside the range"):
        local_date(dt.datetime(1, 1, 1, tzinfo=UTC))
    with pytest.raises(MomentError):
        as_utc(edge)
    with pytest.raises(MomentError, match="no timezone"):
        as_utc(dt.datetime(2026, 1, 1))


@pytest.mark.parametrize("text", ["", "tomorrow", "2026-02-30", "2026-13-01", "02/03/2026", "2026-03-02T25:00"])
def test_unreadable_text_is_refused_with_the_accepted_forms(text):
    with pytest.raises(MomentError) as err:
        parse_moment(text)
    assert "YYYY-MM-DD" in str(err.value)


def test_long_or_unprintable_text_is_not_echoed():
    secret = "Jane Doe disclosed abuse to her teacher on Monday"
    with pytest.raises(MomentError) as err:
        parse_moment(secret)
    assert secret not in str(err.value) and f"({len(secret)} characters)" in str(err.value)
    with pytest.raises(MomentError) as err:
        parse_moment("2026\x00-01")
    assert "\x00" not in str(err.value)
    with pytest.raises(MomentError) as err:
        parse_moment("yesterday")
    assert "'yesterday'" in str(err.value)  # a short mistake is shown, to help fix it
