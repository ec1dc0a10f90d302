"""Timestamps: parsing ISO 8601 with a zone, UTC formatting and hour buckets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class TimestampError(ValueError):
    """Not an ISO 8601 timestamp with a timezone."""


def parse_timestamp(text: str) -> datetime:
    """Parse ISO 8601 with `Z` or an offset and return it in UTC."""
    if not 10 <= len(text) <= 40 or not text.isascii() or text[4:5] != "-":
        raise TimestampError("must be an ISO 8601 timestamp such as 2026-01-10T14:00:00Z")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise TimestampError("must be an ISO 8601 timestamp such as 2026-01-10T14:00:00Z") from exc
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise TimestampError("must carry a timezone (Z or an offset such as +02:00)")
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:
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
