"""The API's use cases in plain values: app.py hands in the request parts, gets status + body."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chalicelib.bootstrap import Runtime
from chalicelib.domain.validation import parse_json, split_batch
from chalicelib.errors import ConflictError, UnsupportedMediaTypeError, ValidationError
from chalicelib.usecases import analytics, series
from chalicelib.usecases.ledger import (
    CONFLICT,
    CREATED,
    DUPLICATE,
    count_rule_errors,
    ingest,
    summarise,
)
from chalicelib.usecases.rule_sets import active_rule_set

JSON_TYPES = ("application/json",)


def check_content_type(content_type: str | None) -> None:
    """JSON only (`application/json`, `application/*+json`); a missing header means JSON."""
    if content_type is None:
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json")):
        return
    raise UnsupportedMediaTypeError(f"send application/json, not {media or 'nothing'}")


def post_transactions(rt: Runtime, bank: str, content_type: str | None, raw: bytes,
                      now: datetime) -> tuple[int, dict[str, Any]]:
    """Ingest one transaction (201/200, or 409/400) or a batch (200 with each item's fate)."""
    check_content_type(content_type)
    body = parse_json(raw, rt.settings.max_body_bytes)
    items, is_batch = split_batch(body, rt.settings.max_batch)
    rules = active_rule_set(rt.store, bank, rt.settings.rules, rt.settings.key_cache_ttl_s)
    results = ingest(rt.store, bank, items, now, rules)
    count_rule_errors(rt.settings.stage, results, "ingest_sync")
    if is_batch:
        return 200, {"results": [r.to_json() for r in results], "summary": summarise(results)}
    (result,) = results
    if result.status == CONFLICT:
        raise ConflictError(f"transaction {result.id} already exists with other content",
                            result.errors)
    if result.status not in (CREATED, DUPLICATE) or result.transaction is None:
        raise ValidationError("the transaction is invalid", result.errors)
    return (201 if result.status == CREATED else 200,
            {"status": result.status, "transaction": result.transaction.to_json()})


def get_analytics(rt: Runtime, bank: str, params: Mapping[str, str] | None,
                  now: datetime) -> dict[str, Any]:
    """Analytics for the whole history or an hourly window."""
    return analytics.bank_analytics(rt.store, bank, analytics.parse_window(params), now)


def get_series(rt: Runtime, bank: str, params: Mapping[str, str] | None,
               now: datetime) -> dict[str, Any]:
    """Transactions and flags per hour over a bounded window, from the hour aggregates."""
    return series.hourly_series(rt.store, bank, series.parse_series_window(params, now), now)


def health(rt: Runtime) -> dict[str, str]:
    """`ok` and the store's name once the store answers (StoreError otherwise)."""
    rt.store.ping()
    return {"status": "ok", "store": rt.store.name}
