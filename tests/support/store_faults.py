"""Faults on demand in a DynamoDB store's calls, at the seam the crash injection of
tests/integration/usecases/test_sequenced_exactly_once.py uses (`store.db.call`): chosen calls
fail with StoreError, before they reach DynamoDB or after, for as long as `on` is set."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.adapters.dynamo.dynamo_insert import inserted_item
from chalicelib.adapters.dynamo.dynamo_store import DynamoStore
from chalicelib.ports.store import StoreError

Pick = Callable[[str, dict[str, Any]], bool]  # (operation, its parameters) -> fail it?


def _pks(params: dict[str, Any]) -> list[str]:
    """The partition keys a call names: a put's item, a key, a batch read's keys, the items of
    a batch of PartiQL INSERTs (dynamo_insert)."""
    keys = [params.get("Item") or {}, params.get("Key") or {}]
    for request in (params.get("RequestItems") or {}).values():
        keys += request.get("Keys", []) if isinstance(request, dict) else []
    keys += [inserted_item(s) for s in params.get("Statements") or []
             if str(s.get("Statement", "")).startswith("INSERT")]
    return [str(k["pk"]["S"]) for k in keys if "pk" in k]


def reads_of(prefix: str) -> Pick:
    """A batch read that includes an item whose key starts with `prefix` (`AC#bank#account`:
    the sequenced consumer's first read of a message's accounts, before any write)."""
    return lambda op, params: op == "batch_get_item" and any(
        pk.startswith(prefix) for pk in _pks(params))


def puts_of(prefix: str) -> Pick:
    """A put of an item whose key starts with `prefix`, one by one or inserted 25 a call
    (`TX#`: a record, the sequenced consumer's first write)."""
    return lambda op, params: op in ("put_item", "batch_execute_statement") and any(
        pk.startswith(prefix) for pk in _pks(params))


class StoreFaults:
    """While `on`, the calls `pick` chooses fail: before DynamoDB sees them, or (`after`) once
    it has applied them (a consumer that dies right after a write); `hits` counts them."""

    def __init__(self, store: DynamoStore, pick: Pick, after: bool = False) -> None:
        self.on = True
        self.hits = 0
        real = store.db.call

        def call(operation: str, **params: Any) -> dict[str, Any]:
            hit = self.on and pick(operation, params)
            if hit and not after:
                self.hits += 1
                raise StoreError(f"injected: {operation} failed")
            out = real(operation, **params)
            if hit:
                self.hits += 1
                raise StoreError(f"injected: crash after {operation}")
            return out

        store.db.call = call  # type: ignore[method-assign]
