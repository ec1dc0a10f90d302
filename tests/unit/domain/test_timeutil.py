"""Timestamps: each refusal's message (the `timestamp` field error a client reads) and UTC
answers whatever the machine's local time zone."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from chalicelib.domain.timeutil import (
    TimestampError,
    floor_hour,
    format_timestamp,
    hour_key,
    parse_timestamp,
    sort_key,
)

EXAMPLE = "an RFC 3339 timestamp such as 2026-01-10T14:00:00Z"


@pytest.fixture
def local_time_is_not_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local zone at +05:30 (a POSIX TZ string: no zone database needed), so an
    answer that slipped into local time shows."""
    monkeypatch.setenv("TZ", "IST-5:30")
    time.tzset()
    assert time.timezone == -19800
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(("text", "message"), [
    ("2026-01-10 14:00:00Z", f"must be {EXAMPLE}"),
    ("2026-01-10T14:00:00", f"must be {EXAMPLE}"),
    ("2026-01-10T14:00:00.1234567Z", "must have at most 6 fractional digits (microseconds)"),
    ("2026-12-31T23:59:60Z", "must not be a leap second (:60)"),
    ("2026-01-10T14:00:00+24:00", "must have an offset from -23:59 to +23:59"),
    ("2026-01-10T14:00:00-00:60", "must have an offset from -23:59 to +23:59"),
    ("2026-02-30T14:00:00Z", f"is not a valid date and time: must be {EXAMPLE}"),
    ("0001-01-01T00:00:00+01:00", "is out of range"),
    ("9999-12-31T23:00:00-01:00", "is out of range"),
])
def test_each_refused_timestamp_says_why(text: str, message: str) -> None:
    with pytest.raises(TimestampError) as caught:
        parse_timestamp(text)
    assert str(caught.value) == message


def test_the_widest_offsets_are_accepted() -> None:
    assert parse_timestamp("2026-01-10T23:59:00+23:59") == datetime(2026, 1, 10, 0, 0, tzinfo=UTC)
    assert parse_timestamp("2026-01-10T00:00:00-23:59") == datetime(2026, 1, 10, 23, 59,
                                                                    tzinfo=UTC)


@pytest.mark.usefixtures("local_time_is_not_utc")
def test_every_answer_is_in_utc_whatever_the_local_zone() -> None:
    moment = parse_timestamp("2026-01-10T15:40:05.000123+01:00")
    assert moment.utcoffset() == timedelta(0)
    assert (moment.hour, moment.minute) == (14, 40)
    plus_one = datetime(2026, 1, 10, 15, 40, 5, 123, tzinfo=timezone(timedelta(hours=1)))
    assert format_timestamp(plus_one) == "2026-01-10T14:40:05.000123Z"
    assert format_timestamp(plus_one.replace(microsecond=0)) == "2026-01-10T14:40:05Z"
    assert hour_key(plus_one) == "2026-01-10T14"
    floor = floor_hour(plus_one)
    assert floor == datetime(2026, 1, 10, 14, tzinfo=UTC)
    assert (floor.hour, floor.minute, floor.second, floor.microsecond) == (14, 0, 0, 0)


@pytest.mark.parametrize(("text", "key"), [
    ("2026-01-10T14:00:00Z", "2026-01-10T14:00:00000000"),
    ("2026-01-10T14:00:00.5Z", "2026-01-10T14:00:00500000"),
    ("2026-01-10T14:00:00.000123Z", "2026-01-10T14:00:00000123"),
])
def test_the_sort_key_pads_the_fraction_to_microseconds_on_the_right(text: str, key: str) -> None:
    assert sort_key(text) == key
