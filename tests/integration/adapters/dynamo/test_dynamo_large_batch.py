"""A large batch on the prod stage's DynamoDB configuration, touching hundreds of accounts over
hundreds of hours, is answered like any other: through the app, on DynamoDB Local."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.adapters.dynamo.dynamo_store import DynamoStore
from chalicelib.bootstrap import bootstrap, set_runtime
from chalicelib.config import Settings, load_settings
from chalicelib.domain.aggregates import BANK_KEY
from chalicelib.usecases.api_keys import create_key
from chalicelib.usecases.ledger import CREATED, DUPLICATE
from tests.integration.adapters.dynamo.test_dynamo_store import BANK, batch
from tests.support.aws_calls import operations, record_aws_calls
from tests.support.dynamodb_local import dynamodb_local_store

pytestmark = [pytest.mark.emulator]

CHALICE_CONFIG = Path(__file__).resolve().parents[4] / ".chalice" / "config.json"


def prod_settings(table: str) -> Settings:
    """The prod stage's settings as deployed (shards, MAX_BATCH, ...), on the test's table."""
    env = json.loads(CHALICE_CONFIG.read_text())["stages"]["prod"]["environment_variables"]
    return load_settings({**env, "TABLE_NAME": table, "CURSOR_SECRET": "c" * 32})


@pytest.fixture
def prod_api(dynamodb_local: object) -> Iterator[tuple[DynamoStore, Client, dict[str, str]]]:
    shards = prod_settings("sized").aggregate_shards
    with dynamodb_local_store(shards=shards) as store:
        set_runtime(bootstrap(prod_settings(store.table), store))
        key, _ = create_key(store, BANK)
        try:
            with Client(app) as client:
                yield store, client, {"x-api-key": key, "content-type": "application/json"}
        finally:
            set_runtime(None)


def totals(items: list[dict[str, Any]], kind: str) -> str:
    return str(sum((Decimal(i["amount"]) for i in items if i["type"] == kind), Decimal(0)))


def test_a_batch_over_hundreds_of_accounts_and_hours_is_answered_like_any_other(
        prod_api: tuple[DynamoStore, Client, dict[str, str]]) -> None:
    store, client, headers = prod_api
    size = 420  # just enough for the accounts and hours of one read to pass 800 keys
    assert size <= prod_settings(store.table).max_batch  # no setting raised: prod as deployed
    items = batch("wide", size, accounts=size, hours=size)
    # the attempt reads every account, its bank shard and every hour at once
    keys = len({i["account"] for i in items}) + 1 + len({i["timestamp"][:13] for i in items})
    assert keys > 800
    calls = record_aws_calls(store.client)
    body = json.dumps({"transactions": items})
    response = client.http.post("/transactions", headers=headers, body=body)
    assert response.status_code == 200, response.body
    answer = json.loads(response.body)
    assert answer["summary"] == {"created": size, "duplicate": 0, "conflict": 0, "rejected": 0}
    assert {r["status"] for r in answer["results"]} == {CREATED}
    # the ids, then the accounts, shard and hours: 100 keys a call
    assert operations(calls).count("BatchGetItem") == math.ceil(size / 100) + math.ceil(keys / 100)

    analytics = json.loads(client.http.get("/analytics", headers=headers).body)
    assert analytics["count"] == size
    usd = analytics["totals"]["USD"]
    assert usd["credits"]["total"] == totals(items, "credit")
    assert usd["debits"]["total"] == totals(items, "debit")
    window = "?since=2025-12-01T00:00:00Z&until=2026-01-11T00:00:00Z"  # the sum of the hours
    hours = json.loads(client.http.get("/analytics" + window, headers=headers).body)
    assert (hours["count"], hours["totals"]) == (size, analytics["totals"])
    account = json.loads(client.http.get("/accounts/AC7", headers=headers).body)
    assert account["count"] == 1
    assert items[7]["type"] == "credit"
    assert account["totals"]["USD"]["net"] == items[7]["amount"]
    assert store.get_buckets(BANK, [BANK_KEY])[BANK_KEY].count == size

    again = client.http.post("/transactions", headers=headers, body=body)  # a client's resend
    assert again.status_code == 200
    assert json.loads(again.body)["summary"]["duplicate"] == size
    assert {r["status"] for r in json.loads(again.body)["results"]} == {DUPLICATE}


def test_one_account_over_hundreds_of_hours_fits_its_chunks_with_its_history_pages(
        prod_api: tuple[DynamoStore, Client, dict[str, str]]) -> None:
    # one account's transactions in as many hours: a chunk holds a piece of the account, an
    # hour item per transaction, the account item and the history page it may flush
    store, client, headers = prod_api
    items = batch("deep", 300, accounts=1, hours=300)
    response = client.http.post("/transactions", headers=headers,
                                body=json.dumps({"transactions": items}))
    assert response.status_code == 200, response.body
    history = store.account_transactions(BANK, items[0]["account"], 500, None)
    assert sorted(t.id for t in history) == sorted(i["id"] for i in items)
