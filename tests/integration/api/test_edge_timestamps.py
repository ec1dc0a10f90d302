"""Timestamps are RFC 3339 and nothing else; more than microseconds is refused, never
truncated (so two instants differing in nanoseconds are never one duplicate)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from chalicelib.domain.timeutil import TimestampError, parse_timestamp
from tests.conftest import Api
from tests.support.edges import check_error_shape, snapshot, store_api
from tests.support.factories import raw_tx

__all__ = ["store_api"]

REFUSED = [
    "2026-01-10 14:00:00Z",           # space separator
    "2026-W02-6T14:00:00Z",           # ISO week date
    "2026-010T14:00:00Z",             # ordinal date
    "2026-01-10T14Z",                 # hour only
    "2026-01-10T14:00Z",              # no seconds
    "2026-01-10T14:00:00+02:00:30",   # second-level offset
    "2026-01-10T14:00:00,5Z",         # comma fraction
    "2026-01-10T14:00:00.1234567Z",   # more than microseconds
    "2026-01-10T14:00:00.000000001Z",
    "2026-01-10T14:00:00",            # no zone
    "2026-01-10T14:00:00+0200",       # basic-format offset
    "2026-01-10T14:00:00+02",         # hour-only offset
    "20260110T140000Z",               # basic format
    "2026-01-10T14:00:00.Z",          # dot without digits
    "2026-01-10T14:00:00+24:00", "2026-01-10T14:00:00+02:60",
    "2026-01-10T24:00:00Z", "2026-01-10T14:60:00Z", "2026-01-10T14:00:60Z",
    "2026-02-30T14:00:00Z", "2026-13-01T14:00:00Z", "0000-01-01T00:00:00Z",
    "2026-01-10T14:00:00Z ", " 2026-01-10T14:00:00Z", "2026-01-10T14:00:00\u00a0Z",
    "２０２６-01-10T14:00:00Z", "+2026-01-10T14:00:00Z", "2026-1-10T14:00:00Z",
]
ACCEPTED = {
    "2026-01-10T14:00:00Z": datetime(2026, 1, 10, 14, tzinfo=UTC),
    "2026-01-10t14:00:00z": datetime(2026, 1, 10, 14, tzinfo=UTC),
    "2026-01-10T16:00:00+02:00": datetime(2026, 1, 10, 14, tzinfo=UTC),
    "2026-01-10T14:00:00-00:00": datetime(2026, 1, 10, 14, tzinfo=UTC),
    "2026-01-10T14:00:00.123456Z": datetime(2026, 1, 10, 14, 0, 0, 123456, tzinfo=UTC),
    "2026-01-10T14:00:00.5Z": datetime(2026, 1, 10, 14, 0, 0, 500000, tzinfo=UTC),
    "2024-02-29T23:59:59-23:59": datetime(2024, 3, 1, 23, 58, 59, tzinfo=UTC),
}


@pytest.mark.parametrize("text", REFUSED)
def test_non_rfc3339_forms_are_refused(text: str) -> None:
    with pytest.raises(TimestampError):
        parse_timestamp(text)


@pytest.mark.parametrize(("text", "moment"), sorted(ACCEPTED.items()))
def test_rfc3339_forms_are_accepted(text: str, moment: datetime) -> None:
    assert parse_timestamp(text) == moment


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01"])
def test_out_of_range_after_the_offset_is_refused(text: str) -> None:
    with pytest.raises(TimestampError):
        parse_timestamp(text)


def test_same_id_with_other_nanoseconds_is_not_a_duplicate(store_api: tuple[Api, object]) -> None:
    api, store = store_api
    first = api.post(json.dumps(raw_tx("ns", timestamp="2026-01-10T14:00:00.123456Z")))
    assert first.status_code == 201
    before = snapshot(store)  # type: ignore[arg-type]
    for stamp in ("2026-01-10T14:00:00.1234561Z", "2026-01-10T14:00:00.123456999Z"):
        response = api.post(json.dumps(raw_tx("ns", timestamp=stamp)))
        assert response.status_code == 400, response.body
        body = json.loads(response.body)
        check_error_shape(body)
        assert [d["field"] for d in body["Details"]] == ["timestamp"]
    assert snapshot(store) == before  # type: ignore[arg-type]


@pytest.mark.parametrize("text", REFUSED[:8])
def test_refused_forms_are_400_through_the_api(api: Api, text: str) -> None:
    response = api.post(json.dumps(raw_tx("f1", timestamp=text)))
    assert response.status_code == 400
    check_error_shape(json.loads(response.body))
