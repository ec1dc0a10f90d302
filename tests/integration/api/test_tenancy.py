"""Tenancy through the HTTP API: two banks, two keys from the admin command, no shared data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.adapters.sqlite.sqlite_store import SqliteStore
from chalicelib.bootstrap import bootstrap, set_runtime
from chalicelib.config import Settings
from tests.integration.scripts.test_keys import cli_create
from tests.support.factories import raw_tx


class Bank:
    """One bank's view of the API: its own key on every request."""

    def __init__(self, client: Client, key: str) -> None:
        self.client = client
        self.headers = {"x-api-key": key, "content-type": "application/json"}

    def post(self, body: Any) -> tuple[int, Any]:
        response = self.client.http.post("/transactions", body=json.dumps(body),
                                         headers=self.headers)
        return response.status_code, json.loads(response.body)

    def get(self, path: str) -> tuple[int, Any]:
        response = self.client.http.get(path, headers=self.headers)
        return response.status_code, json.loads(response.body)


@pytest.fixture
def banks(tmp_path: Path) -> Iterator[tuple[Bank, Bank]]:
    env = {"STORE": "sqlite", "SQLITE_PATH": str(tmp_path / "ledger.db")}
    key_a, _ = cli_create(env, "bank-a")
    key_b, _ = cli_create(env, "bank-b")
    store = SqliteStore(env["SQLITE_PATH"])
    set_runtime(bootstrap(Settings(sqlite_path=store.path, key_cache_ttl_s=0), store))
    with Client(app) as client:
        yield Bank(client, key_a), Bank(client, key_b)
    set_runtime(None)


def test_bank_b_cannot_read_list_or_count_bank_a_data(banks: tuple[Bank, Bank]) -> None:
    a, b = banks
    assert a.post(raw_tx("t1", account="ACC-1", amount="25000.00"))[0] == 201  # flagged, large
    assert a.get("/analytics")[1]["count"] == 1
    assert b.get("/transactions/t1")[0] == 404
    assert b.get("/accounts/ACC-1")[0] == 404
    assert b.get("/accounts/ACC-1/transactions") == (200, {"items": [], "next_cursor": None})
    status, stats = b.get("/analytics")
    assert status == 200
    assert (stats["count"], stats["accounts"], stats["totals"]) == (0, 0, {})
    assert stats["flags"] == {"count": 0, "by_rule": {}, "recent": []}
    window = b.get("/analytics?since=2026-01-10T00:00:00Z&until=2026-01-11T00:00:00Z")[1]
    assert window["count"] == 0


def test_bank_a_cursor_shows_bank_b_nothing(banks: tuple[Bank, Bank]) -> None:
    a, b = banks
    a.post({"transactions": [raw_tx(f"t{i}", account="ACC-1") for i in range(3)]})
    cursor = a.get("/accounts/ACC-1/transactions?limit=1")[1]["next_cursor"]
    assert cursor
    # a cursor is signed for one bank and account: another bank's use of it is refused
    status, body = b.get(f"/accounts/ACC-1/transactions?limit=1&cursor={cursor}")
    assert status == 400 and body["Details"] == [
        {"field": "cursor", "message": "is not a cursor this API gave"}]


def test_same_id_in_two_banks_is_two_transactions(banks: tuple[Bank, Bank]) -> None:
    a, b = banks
    assert a.post(raw_tx("t1", amount="10.00"))[0] == 201
    status, body = b.post(raw_tx("t1", amount="99.00"))  # other content: not a conflict
    assert (status, body["status"]) == (201, "created")
    assert b.post(raw_tx("t1", amount="99.00"))[1]["status"] == "duplicate"
    assert a.get("/transactions/t1")[1]["amount"] == "10.00"
    assert b.get("/transactions/t1")[1]["amount"] == "99.00"
    assert a.get("/analytics")[1]["totals"]["USD"]["credits"]["total"] == "10.00"
    assert b.get("/analytics")[1]["totals"]["USD"]["credits"]["total"] == "99.00"


def test_bank_b_cannot_overwrite_bank_a_transaction_or_aggregates(
        banks: tuple[Bank, Bank]) -> None:
    a, b = banks
    a.post(raw_tx("t1", account="ACC-1", amount="10.00"))
    before = a.get("/accounts/ACC-1")[1]
    summary = b.post({"transactions": [raw_tx("t1", account="ACC-1", amount="500.00"),
                                       raw_tx("t2", account="ACC-1", amount="1.00")]})[1]
    assert summary["summary"]["created"] == 2
    assert a.get("/accounts/ACC-1")[1] == before
    assert a.get("/transactions/t1")[1]["amount"] == "10.00"
    assert a.get("/transactions/t2")[0] == 404
    assert [t["id"] for t in a.get("/accounts/ACC-1/transactions")[1]["items"]] == ["t1"]


def test_an_identical_body_from_another_bank_is_not_a_duplicate(
        banks: tuple[Bank, Bank]) -> None:
    a, b = banks
    assert a.post(raw_tx("t1"))[1]["status"] == "created"
    assert b.post(raw_tx("t1"))[1]["status"] == "created"
    assert a.get("/analytics")[1]["count"] == b.get("/analytics")[1]["count"] == 1
