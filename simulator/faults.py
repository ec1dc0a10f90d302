"""Ways to break a valid transaction so that the API must reject it; one fault per item."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

Raw = dict[str, Any]


def _drop(field: str) -> Callable[[Raw, datetime], Raw]:
    def fault(raw: Raw, now: datetime) -> Raw:
        return {k: v for k, v in raw.items() if k != field}
    return fault


def _set(field: str, value: Any) -> Callable[[Raw, datetime], Raw]:
    def fault(raw: Raw, now: datetime) -> Raw:
        return {**raw, field: value}
    return fault


def _future(raw: Raw, now: datetime) -> Raw:
    later = now + timedelta(hours=2)  # the API allows at most 5 minutes ahead
    return {**raw, "timestamp": later.strftime("%Y-%m-%dT%H:%M:%SZ")}


def _no_zone(raw: Raw, now: datetime) -> Raw:
    return {**raw, "timestamp": str(raw["timestamp"]).rstrip("Z")}


def _too_precise(raw: Raw, now: datetime) -> Raw:
    # one digit more than the currency allows (JPY has none, the others two)
    digits = 0 if raw.get("currency") == "JPY" else 2
    return {**raw, "amount": "12." + "5" * (digits + 1)}


FAULTS: dict[str, Callable[[Raw, datetime], Raw]] = {
    "missing_amount": _drop("amount"),
    "missing_account": _drop("account"),
    "missing_timestamp": _drop("timestamp"),
    "negative_amount": _set("amount", "-25.00"),
    "zero_amount": _set("amount", "0"),
    "scientific_amount": _set("amount", "1e3"),
    "huge_amount": _set("amount", "1000000000000"),
    "too_many_decimals": _too_precise,
    "unknown_currency": _set("currency", "XXQ"),
    "bad_type": _set("type", "refund"),
    "bad_account": _set("account", "FR76 3000 6000 0112 3456 7890 189"),
    "long_account": _set("account", "X" * 35),
    "bad_id": _set("id", "tx/1?drop"),
    "unknown_field": _set("memo", "not in the schema"),
    "no_timezone": _no_zone,
    "future_timestamp": _future,
    "long_description": _set("description", "x" * 300),
    "control_chars": _set("merchant", "Bad\x07Shop"),
}


def break_it(raw: Raw, rng: random.Random, now: datetime) -> tuple[Raw, str]:
    """A copy of `raw` with one random fault, and the fault's name."""
    name = rng.choice(sorted(FAULTS))
    return FAULTS[name](raw, now), name
