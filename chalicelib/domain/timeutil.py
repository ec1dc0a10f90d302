"""Timestamps: parsing RFC 3339, UTC formatting and hour buckets."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

# RFC 3339 section 5.6, and nothing else ISO 8601 allows: a full date, `T` (or `t`), a full time
# with at most 6 fractional digits after a dot, and `Z` (or `z`) or a +-HH:MM offset.
RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
                     r"(?:([Zz])|([+-])(\d{2}):(\d{2}))")
MAX_FRACTION = 6  # microseconds: what Python, both stores and every answer carry
EXAMPLE = "an RFC 3339 timestamp such as 2026-01-10T14:00:00Z"


class TimestampError(ValueError):
    """Not an RFC 3339 timestamp with a timezone."""


def parse_timestamp(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (`Z` or an offset; at most microseconds) and return it in
    UTC. Anything else is refused rather than guessed: no space separator, week or ordinal
    dates, reduced precision, second-level offsets or comma fractions; and more than 6
    fractional digits is refused rather than truncated, so two instants that differ in their
    nanoseconds are never taken for the same one."""
    match = RFC3339.fullmatch(text) if len(text) <= 40 and text.isascii() else None
    if match is None:
        raise TimestampError(f"must be {EXAMPLE}")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    if fraction is not None and len(fraction) > MAX_FRACTION:
        raise TimestampError(f"must have at most {MAX_FRACTION} fractional digits (microseconds)")
    if second == "60":
        raise TimestampError("must not be a leap second (:60)")
    if not zulu and (int(off_h) > 23 or int(off_m) > 59):
        raise TimestampError("must have an offset from -23:59 to +23:59")
    offset = timedelta(0) if zulu else (
        (1 if sign == "+" else -1) * timedelta(hours=int(off_h), minutes=int(off_m)))
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                          int((fraction or "0").ljust(6, "0")), tzinfo=timezone(offset))
    except ValueError as exc:  # month 13, Feb 30, hour 24, minute 60
        raise TimestampError(f"is not a valid date and time: must be {EXAMPLE}") from exc
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:  # 0001-01-01T00:00:00+01:00, 9999-12-31T23:00:00-01:00
        raise TimestampError("is out of range") from exc


def format_timestamp(moment: datetime) -> str:
    """UTC with a `Z`; microseconds only when there are any."""
    moment = moment.astimezone(UTC)
    year = f"{moment.year:04d}"  # glibc's %Y does not pad years below 1000 ("845-07-19")
    if moment.microsecond:
        return year + moment.strftime("-%m-%dT%H:%M:%S.%fZ")
    return year + moment.strftime("-%m-%dT%H:%M:%SZ")


def hour_key(moment: datetime) -> str:
    """The hourly bucket a moment falls in, e.g. `2026-01-10T14`."""
    moment = moment.astimezone(UTC)
    return f"{moment.year:04d}" + moment.strftime("-%m-%dT%H")


def floor_hour(moment: datetime) -> datetime:
    """The start of the hour containing `moment`."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: datetime) -> datetime:
    """The first hour boundary at or after `moment`."""
    floor = floor_hour(moment)
    return floor if floor == moment else floor + timedelta(hours=1)


def now_utc() -> datetime:
    """The current time in UTC (one place to read the clock)."""
    return datetime.now(UTC)


def sort_key(text: str) -> str:
    """A key that orders our formatted timestamps by time, fractions included
    (plain string order would put `...:00.5Z` before `...:00Z`)."""
    fraction = text[20:-1] if text[19:20] == "." else ""
    return text[:19] + fraction.ljust(6, "0")
