"""No request path scans the transactions table: every statement is proved with EXPLAIN."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

import pytest
from chalice.test import Client

from app import app
from chalicelib.adapters.sqlite.sqlite_store import SqliteStore
from chalicelib.bootstrap import Runtime, bootstrap, set_runtime
from chalicelib.domain.rules import RuleConfig
from chalicelib.usecases.ledger import ingest
from scripts.dynamodb_local import DynamoDBLocal
from tests.conftest import NOW, TEST_KEY, Api
from tests.support.aws_calls import operations, record_aws_calls
from tests.support.dynamodb_local import dynamodb_local_store
from tests.support.factories import raw_tx
from tests.support.settings import dev_settings

PATHS = ["/analytics", "/analytics?since=2026-01-10T00:00:00Z&until=2026-01-11T00:00:00Z",
         "/transactions/t3", "/accounts/A1", "/accounts/A1/transactions?limit=5",
         "/analytics/series?since=2026-01-10T00:00:00Z&until=2026-01-11T00:00:00Z",
         "/analytics/series?since=2026-01-01T00:00:00Z&until=2026-02-01T00:00:00Z",
         "/alerts", "/alerts?status=open&limit=5", "/alerts?account=A1",
         "/alerts?status=dismissed&account=A1", "/alerts?rule=velocity",
         "/alerts?status=open&rule=velocity", "/suppressions"]
SERIES_DAY = "/analytics/series?since=2026-01-10T00:00:00Z&until=2026-01-11T00:00:00Z"
SERIES_MONTH = "/analytics/series?since=2026-01-01T00:00:00Z&until=2026-02-01T00:00:00Z"


def fill(api: Api, count: int) -> None:
    for start in range(0, count, 250):
        batch = [raw_tx(f"t{i}", account=f"A{i % 40}", amount=f"{i % 997 + 1}.00",
                        timestamp=f"2026-01-10T{i % 24:02d}:{i % 60:02d}:00Z")
                 for i in range(start, min(count, start + 250))]
        assert api.post(json.dumps({"transactions": batch})).status_code == 200


@pytest.fixture
def traced(runtime: Runtime) -> Iterator[list[str]]:
    """Every SQL statement the request thread's connection runs."""
    statements: list[str] = []
    assert isinstance(runtime.store, SqliteStore)
    conn = runtime.store._conn()
    conn.set_trace_callback(statements.append)
    yield statements
    conn.set_trace_callback(None)


def plan(conn: sqlite3.Connection, statement: str) -> str:
    rows = conn.execute("EXPLAIN QUERY PLAN " + statement).fetchall()
    return " | ".join(str(r[-1]) for r in rows)


@pytest.mark.parametrize("path", PATHS)
def test_read_route_never_scans_transactions(api: Api, runtime: Runtime, traced: list[str],
                                             path: str) -> None:
    fill(api, 500)
    traced.clear()
    assert api.get(path).status_code == 200
    assert isinstance(runtime.store, SqliteStore)
    conn = runtime.store._conn()
    queries = [s for s in traced if s.lstrip().upper().startswith("SELECT")]
    assert queries
    for statement in queries:
        explained = plan(conn, statement)
        assert "SCAN" not in explained, (statement, explained)  # every table read is a SEARCH


def test_ingest_never_scans_transactions(api: Api, runtime: Runtime, traced: list[str]) -> None:
    fill(api, 300)
    assert isinstance(runtime.store, SqliteStore)
    conn = runtime.store._conn()
    for statement in {s for s in traced if s.lstrip().upper().startswith("SELECT")}:
        assert "SCAN" not in plan(conn, statement), statement


def test_analytics_runs_the_same_statements_at_any_size(api: Api, traced: list[str]) -> None:
    fill(api, 50)
    traced.clear()
    api.get("/analytics")
    small = list(traced)
    fill(api, 1000)
    traced.clear()
    api.get("/analytics")
    assert len(traced) == len(small)


def test_series_runs_the_same_statements_at_any_size(api: Api, traced: list[str]) -> None:
    fill(api, 50)
    traced.clear()
    api.get(SERIES_MONTH)
    small = list(traced)
    fill(api, 1000)
    traced.clear()
    api.get(SERIES_MONTH)
    assert len(traced) == len(small)


# DynamoDB Local, not moto: moto copies the whole table on every transaction, so hundreds of
# items there cost tens of seconds (docs/architecture.md, rejected alternatives).
@pytest.mark.emulator
@pytest.mark.parametrize("shards", [1, 4])
def test_series_on_dynamodb_is_one_query_per_shard_and_one_for_groups_and_never_a_scan(
        shards: int, dynamodb_local: DynamoDBLocal) -> None:
    """The hour buckets of a window are one key range per shard: a day and a month, 10 and
    610 transactions, all cost the same calls."""
    with dynamodb_local_store(shards=shards) as store:
        set_runtime(bootstrap(dev_settings(store="dynamodb", demo_api_key=TEST_KEY), store))
        try:
            with Client(app) as client:
                calls = record_aws_calls(store.client)

                def cost(path: str) -> list[str]:
                    start = len(calls)
                    answer = client.http.get(path, headers={"x-api-key": TEST_KEY})
                    assert answer.status_code == 200, answer.body
                    return operations(calls[start:])

                batch = [raw_tx(f"s{i}", account=f"A{i % 7}", amount=f"{i + 1}.00",
                                timestamp=f"2026-01-10T{i % 18:02d}:{i % 60:02d}:00Z")
                         for i in range(10)]
                ingest(store, "demo", batch, NOW, RuleConfig())
                small = [cost(SERIES_DAY), cost(SERIES_MONTH)]
                for start in range(10, 610, 100):
                    ingest(store, "demo", [
                        raw_tx(f"s{i}", account=f"A{i % 7}", amount=f"{i + 1}.00",
                               timestamp=f"2026-01-10T{i % 18:02d}:{i % 60:02d}:00Z")
                        for i in range(start, start + 100)], NOW, RuleConfig())
                large = [cost(SERIES_DAY), cost(SERIES_MONTH)]
        finally:
            set_runtime(None)
    # one Query per shard, and one for the queue groups' hours (however many groups)
    assert small == large == [["Query"] * (shards + 1)] * 2
