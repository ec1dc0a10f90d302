"""The hourly time series: one point per hour of a bounded window, read from the hour aggregates."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from chalicelib.domain.aggregates import Bucket, CurrencyTotals
from chalicelib.domain.money import quantize, to_text
from chalicelib.domain.timeutil import floor_hour, format_timestamp, hour_key
from chalicelib.errors import FieldError, ValidationError
from chalicelib.ports.store import Store
from chalicelib.usecases.analytics import Window, parse_window

MAX_HOURS = 31 * 24  # the longest window one request may ask for (744 points)
DEFAULT_HOURS = 24
HOUR = timedelta(hours=1)


def parse_series_window(params: Mapping[str, str] | None, now: datetime) -> Window:
    """`since`/`until` widened to whole hours like /analytics; both optional (until defaults to
    the end of the current hour, since to 24 hours before until), at most MAX_HOURS apart."""
    window = parse_window(params)
    try:
        until = window.until or floor_hour(now) + HOUR
        since = window.since or until - timedelta(hours=DEFAULT_HOURS)
    except OverflowError as exc:  # a default pushed past year 1 or 9999
        raise ValidationError("the series window is invalid",
                              [FieldError("since", "is out of range")]) from exc
    if since >= until:  # a defaulted until: the `since` sent is what is wrong
        raise ValidationError("the series window is invalid", [
            FieldError("until", "must be after since") if window.until else
            FieldError("since", "must be before until, which defaults to"
                                f" {format_timestamp(until)} (the end of this hour)")])
    if until - since > timedelta(hours=MAX_HOURS):
        raise ValidationError("the series window is too long", [FieldError(
            "since", f"the window may span at most {MAX_HOURS} hours (31 days)")])
    return Window(since, until)


def _side(count: int, total: Decimal, currency: str) -> dict[str, Any]:
    return {"count": count, "total": to_text(quantize(total, currency))}


def _currencies(bucket: Bucket) -> dict[str, Any]:
    def one(code: str, t: CurrencyTotals) -> dict[str, Any]:
        return {"credits": _side(t.credit_count, t.credit_total, code),
                "debits": _side(t.debit_count, t.debit_total, code)}

    return {code: one(code, t) for code, t in sorted(bucket.currencies.items())}


def hourly_series(store: Store, bank: str, window: Window, now: datetime) -> dict[str, Any]:
    """Every hour of the window, empty ones included, from one range read of the hour buckets:
    the cost grows with the hours asked for, never with the transactions stored."""
    assert window.since is not None and window.until is not None
    found = store.get_hour_buckets(bank, hour_key(window.since), hour_key(window.until - HOUR))
    by_hour: dict[str, Bucket] = {}
    for bucket in found:
        # The port returns buckets without their names; an hour bucket only ever holds its
        # hour's transactions, so its last activity's first 13 characters are the hour
        # (Transaction.hour is the same slice of the same UTC text).
        if bucket.last_activity is not None:
            by_hour.setdefault(bucket.last_activity[:13], Bucket()).merge(bucket)
    points = []
    moment = window.since
    while moment < window.until:
        bucket = by_hour.get(hour_key(moment), Bucket())
        points.append({"hour": format_timestamp(moment), "count": bucket.count,
                       "flagged": bucket.flagged, "currencies": _currencies(bucket)})
        moment += HOUR
    return {"window": window.to_json(), "hours": points,
            "generated_at": format_timestamp(now.replace(microsecond=0))}
