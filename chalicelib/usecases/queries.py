"""The read routes and health in plain values: app.py hands in the query, gets the body."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chalicelib.bootstrap import Runtime
from chalicelib.usecases import analytics, series


def get_analytics(rt: Runtime, bank: str, params: Mapping[str, str] | None,
                  now: datetime) -> dict[str, Any]:
    """Analytics for the whole history or an hourly window, with the alerts open now and the
    flags suppressions kept from opening one (counters kept with the commits and the triage,
    so they answer for now, whatever the window)."""
    body = analytics.bank_analytics(rt.store, bank, analytics.parse_window(params), now)
    counts = rt.store.alert_counts(bank)
    body["alerts"] = {"open": counts.open, "suppressed": counts.suppressed}
    return body


def get_series(rt: Runtime, bank: str, params: Mapping[str, str] | None,
               now: datetime) -> dict[str, Any]:
    """Transactions and flags per hour over a bounded window, from the hour aggregates."""
    return series.hourly_series(rt.store, bank, series.parse_series_window(params, now), now)


def health(rt: Runtime) -> dict[str, str]:
    """`ok` and the store's name once the store answers (StoreError otherwise)."""
    rt.store.ping()
    return {"status": "ok", "store": rt.store.name}
