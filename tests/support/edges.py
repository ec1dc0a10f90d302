"""Helpers of the edge-input tests: an API on any store, the one error shape, a store snapshot."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.bootstrap import bootstrap, set_runtime
from chalicelib.ports.store import Store
from tests.conftest import TEST_KEY, Api
from tests.support.settings import dev_settings


def check_error_shape(body: Any) -> None:
    """`{"Code", "Message", "Details": [{"field", "message"}]}` and nothing else."""
    assert isinstance(body, dict) and set(body) == {"Code", "Message", "Details"}, body
    assert isinstance(body["Code"], str) and isinstance(body["Message"], str), body
    assert isinstance(body["Details"], list), body
    for detail in body["Details"]:
        assert set(detail) == {"field", "message"}, body
        assert isinstance(detail["field"], str) and isinstance(detail["message"], str), body


def snapshot(store: Store, bank: str = "demo") -> tuple[Any, ...]:
    """Everything a bank has stored: its transactions and every aggregate (a scan; tests only)."""
    txs = sorted(json.dumps(t.to_json(), sort_keys=True) for t in store.iter_transactions(bank))
    buckets = sorted((k.kind, k.name, json.dumps(b.to_json(), sort_keys=True))
                     for k, b in store.iter_buckets(bank))
    return tuple(txs), tuple(buckets)


@pytest.fixture
def store_api(store: Store) -> Iterator[tuple[Api, Store]]:
    """The test client on each store in turn (SQLite on disk, DynamoDB on moto)."""
    set_runtime(bootstrap(dev_settings(demo_api_key=TEST_KEY), store))
    try:
        with Client(app) as client:
            yield Api(client), store
    finally:
        set_runtime(None)
