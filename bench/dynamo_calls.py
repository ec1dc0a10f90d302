"""DynamoDB call budget, measured on moto by counting boto3 calls: `python -m bench.dynamo_calls`.

moto is far slower than DynamoDB (it deep-copies the table on each TransactWriteItems), so
this bench counts calls and item sizes, never seconds. It prints the calls of a 100-transaction
batch over 50 accounts and of GET /analytics at 10 and at 1,000 stored transactions, with the
units bench.meter bills for them (the one counter, also bench.cost's), and the on-demand cost of
10k analytics requests. The cost of ingest, by part and path, is bench.cost's (DynamoDB Local).
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
from chalice.test import Client
from moto import mock_aws

from app import app
from bench import billing
from bench.cost import indexes
from bench.meter import Meter
from chalicelib.adapters.dynamo import dynamo_codec as codec
from chalicelib.adapters.dynamo.dynamo_store import DynamoStore
from chalicelib.bootstrap import bootstrap, set_runtime
from chalicelib.config import Settings
from chalicelib.domain.rules import RuleConfig
from chalicelib.domain.validation import validate_transaction
from chalicelib.usecases.api_keys import create_key
from chalicelib.usecases.ledger import ingest
from chalicelib.usecases.reconcile import find_drift, repair
from scripts.provision import create_table_request

TABLE = "bench"
BANK = "demo"
NOW = datetime(2026, 1, 10, 18, tzinfo=UTC)
READ_PER_M, APIGW_PER_M = billing.READ_PER_M, billing.APIGW_REST_PER_M


def raw_batch(prefix: str, n: int, accounts: int, hours: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        at = NOW - timedelta(hours=1 + i % hours, minutes=i % 60)
        out.append({"id": f"{prefix}{i}", "account": f"AC{i % accounts:04d}",
                    "amount": f"{10000 + i}.25" if i % 50 == 0 else f"{i % 900 + 1}.10",
                    "type": "credit" if i % 3 else "debit", "merchant": "Corner Shop Ltd",
                    "timestamp": at.strftime("%Y-%m-%dT%H:%M:%SZ")})
    return out


def item_kb(wire: dict[str, Any]) -> int:
    """An item's size in (rounded up) KB, by DynamoDB's rule (bench.billing)."""
    return billing.write_units(0, billing.item_size(wire))


@contextmanager
def counted_api() -> Iterator[tuple[DynamoStore, Client, dict[str, str], Meter]]:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x",
                                        region_name="us-east-1")
        client, shadow = session.client("dynamodb"), session.client("dynamodb")
        client.create_table(**create_table_request(TABLE))
        store = DynamoStore(TABLE, shards=8, client=client)
        meter = Meter(shadow, TABLE, indexes())
        meter.attach(client)
        set_runtime(bootstrap(Settings(store="dynamodb", table_name=TABLE), store))
        key, _ = create_key(store, BANK)
        with Client(app) as http:
            yield store, http, {"x-api-key": key, "content-type": "application/json"}, meter
        set_runtime(None)


def measure(meter: Meter, action: Any) -> tuple[list[str], int, Decimal]:
    """The calls an action made, and the write and read units they were billed."""
    start, wru, rru = len(meter.log), meter.write_units, meter.read_units
    with redirect_stdout(io.StringIO()):  # the app's request logs and EMF lines: not figures
        response = action()
    assert response.status_code == 200, response.body
    return meter.log[start:], meter.write_units - wru, meter.read_units - rru


def shown(measured: tuple[list[str], int, Decimal]) -> str:
    calls, wru, rru = measured
    return f"{len(calls)} calls: {calls}; {wru} write units, {rru} read units"


def seed(store: DynamoStore, n: int) -> None:
    """n stored transactions written as items, then aggregates repaired (moto is slow)."""
    txs = [validate_transaction(r, NOW) for r in raw_batch("seed", n, 50, 24)]
    requests: list[Any] = [{"PutRequest": {"Item": codec.to_wire(codec.tx_item(BANK, t))}}
                           for t in txs]
    for start in range(0, len(requests), 25):
        store.client.batch_write_item(RequestItems={TABLE: requests[start:start + 25]})
    repair(store, BANK, find_drift(store, BANK))


def main() -> None:
    rows: list[tuple[str, str]] = []
    with counted_api() as (store, http, headers, meter):
        analytics = lambda: http.http.get("/analytics", headers=headers)  # noqa: E731
        ingest(store, BANK, raw_batch("s", 10, 5, 1), NOW, RuleConfig())
        cold_10 = measure(meter, analytics)
        warm_10 = measure(meter, analytics)
        batches = {}
        for hours in (1, 48):
            body = json.dumps({"transactions": raw_batch(f"h{hours}-", 100, 50, hours)})
            batches[hours] = measure(meter, lambda b=body: http.http.post(  # type: ignore[misc]
                "/transactions", headers=headers, body=b))
        window = measure(meter, lambda: http.http.get(
            "/analytics?since=2026-01-10T00:00:00Z", headers=headers))
        seed(store, 1000 - 210)
        warm_1000 = measure(meter, analytics)
        items = store.client.scan(TableName=TABLE)["Items"]
    tx_kb = max(item_kb(i) for i in items if str(i["pk"]["S"]).startswith("TX#"))
    acct_kb = max(item_kb(i) for i in items if str(i["pk"]["S"]).startswith("AC#"))
    agg_kb = max(item_kb(i) for i in items if str(i["pk"]["S"]).startswith(("BS#", "HR#")))
    for hours, ops in batches.items():
        rows.append((f"POST 100 tx / 50 new accounts / {hours} h", shown(ops)))
    rows += [("GET /analytics, 10 tx, key looked up", shown(cold_10)),
             ("GET /analytics, 10 tx, key cached", shown(warm_10)),
             ("GET /analytics, 1,000 tx, key cached", shown(warm_1000)),
             ("GET /analytics?since= (window)", f"{len(window[0])} calls (1 + one Query per"
                                                " shard + 1)"),
             ("largest items (KB): tx / account / aggregate", f"{tx_kb} / {acct_kb} / {agg_kb}")]
    width = max(len(r[0]) for r in rows)
    print("DynamoDB calls, counted with a before-parameter-build hook on moto (8 shards)")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print_cost(tx_kb, agg_kb)


def print_cost(tx_kb: int, agg_kb: int) -> None:
    """On-demand cost of 10k analytics requests over 10M stored rows, beside a design that
    scans for analytics (ingest's cost by part: `python -m bench.cost`)."""
    # analytics: 8 shard items (consistent) + 20 flagged from the index (eventual) + key
    rru_analytics = 8 * math.ceil(agg_kb / 4) + Decimal("0.5") * math.ceil(20 * tx_kb / 4) + 1
    a_read = 10_000 * rru_analytics * READ_PER_M / 1_000_000
    a_api = 10_000 * APIGW_PER_M / 1_000_000
    a_lam = billing.lambda_cost(10_000, Decimal("0.05"), Decimal("0.5"))
    scan_rru = Decimal(10_000_000 * 400) / 4096 / 2  # 10M items of ~400 B, eventually consistent
    s_read = 10_000 * scan_rru * READ_PER_M / 1_000_000
    s_lam = 10_000 * Decimal(80) * 1 * billing.LAMBDA_GB_S  # ~4,000 sequential 1 MB pages
    print("\nOn-demand cost (us-east-1 list prices)")
    print(f"  10k GET /analytics over 10M rows, precomputed: {rru_analytics} read units each ->"
          f" ${a_read + a_api + a_lam:.3f}")
    print(f"  10k GET /analytics over 10M rows, scanning: {scan_rru:,.0f} read units each ->"
          f" ${s_read + a_api + s_lam:,.2f} (and ~80 s a request: past API Gateway's 29 s)")


if __name__ == "__main__":
    main()
