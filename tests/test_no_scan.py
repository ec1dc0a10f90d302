"""No request path scans the transactions table: every statement is proved with EXPLAIN."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

import pytest

from chalicelib.runtime import Runtime
from chalicelib.storage.sqlite.store import SqliteStore
from tests.conftest import Api
from tests.factories import raw_tx

PATHS = ["/analytics", "/analytics?since=2026-01-10T00:00:00Z&until=2026-01-11T00:00:00Z",
         "/transactions/t3", "/accounts/A1", "/accounts/A1/transactions?limit=5"]


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
