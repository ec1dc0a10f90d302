"""Helpers of the edge-input tests: an API on any store, the one error shape, a store snapshot."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client, HTTPResponse

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


def refused(response: Any, status: int, code: str, *, field: str | None = None,
            says: str | None = None) -> dict[str, Any]:
    """Assert a refusal: its status, the one error shape, its `Code`, the field it names (in
    Details) and words of its message or details; returns the body for more checks."""
    assert response.status_code == status, (response.status_code, response.body)
    body: dict[str, Any] = json.loads(response.body)
    check_error_shape(body)
    assert body["Code"] == code, body
    if field is not None:
        assert field in [d["field"] for d in body["Details"]], body
    if says is not None:
        assert says in body["Message"] or any(says in d["message"] for d in body["Details"]), body
    return body


def send_repeated(client: Client, method: str, path: str, lines: list[tuple[str, str]],
                  body: bytes = b"") -> HTTPResponse:
    """A request whose headers may repeat, as API Gateway hands it to the Lambda: every line in
    `multiValueHeaders`, the last of each name in `headers` (chalice's test client builds events
    with one value per name and no `multiValueHeaders`)."""
    headers: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in lines:
        headers[name.lower()] = value
        multi.setdefault(name.lower(), []).append(value)
    converter = client.http._local_gateway.event_converter
    make_event = converter.create_lambda_event

    def with_every_line(*args: Any, **kwargs: Any) -> Any:
        event = make_event(*args, **kwargs)
        event["multiValueHeaders"] = multi
        return event

    converter.create_lambda_event = with_every_line  # type: ignore[method-assign]
    try:
        return client.http.request(method, path, headers=headers, body=body)
    finally:
        del converter.create_lambda_event  # chalice's own method again


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
