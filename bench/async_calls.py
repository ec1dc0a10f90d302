"""The asynchronous path's AWS calls and cost, counted on moto: `python -m bench.async_calls`.

One batch of 100 transactions over 50 accounts goes the synchronous way (the baseline) and the
asynchronous way with a message group per account (QUEUE_GROUPS=0) and with accounts hashed into
8 groups (QUEUE_GROUPS=8): the POST (receipt + SendMessageBatch), the consumer (receives of 10,
as the event source mapping does, one consumer invocation each, deletes) and three GET /ingest
polls. DynamoDB units are derived from the calls (items of 1 KB or less, as in the README's cost
table); the cost of 1M transactions (10,000 such batches) uses on-demand list prices.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections import Counter
from contextlib import redirect_stdout
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
from moto import mock_aws

from chalicelib.adapters.dynamo import DynamoStore
from chalicelib.adapters.sqs_queue import SqsQueue
from chalicelib.bootstrap import bootstrap
from chalicelib.config import QueueSettings, Settings
from chalicelib.domain.rules import RuleConfig
from chalicelib.usecases import ingest_async
from chalicelib.usecases.consumer import consume_batch
from chalicelib.usecases.ledger import ingest
from scripts.provision import create_table_request

BANK = "demo"
NOW = datetime(2026, 1, 10, 18, tzinfo=UTC)
BATCHES = 10_000  # 1M transactions
WRITE_PER_M, READ_PER_M = Decimal("0.625"), Decimal("0.125")
APIGW_PER_M, LAMBDA_PER_M, GB_S = Decimal("3.50"), Decimal("0.20"), Decimal("0.0000166667")
SQS_FIFO_PER_M = Decimal("0.50")  # per million requests (64 KB chunks), FIFO queues
LAMBDA_S = {"api": Decimal("0.3"), "poll": Decimal("0.05"), "consumer": Decimal("0.3")}
POLLS = 3  # GET /ingest per request: a client's usual pending, pending, done


def raw_batch(prefix: str) -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{i}", "account": f"AC{i % 50:04d}", "amount": f"{i % 900 + 1}.10",
             "type": "credit" if i % 3 else "debit", "merchant": "Corner Shop Ltd",
             "timestamp": (NOW - timedelta(minutes=30 + i % 60)).strftime("%Y-%m-%dT%H:%M:%SZ")}
            for i in range(100)]


class Meter:
    """DynamoDB write/read units and SQS requests, from the calls' parameters."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.wru = 0
        self.rru = 0
        self.sqs = 0

    def on_dynamodb(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls[model.name] += 1
        if model.name == "TransactWriteItems":
            for action in params["TransactItems"]:
                ((kind, body),) = action.items()
                self.wru += 2  # transactional: 2 units per KB
                item = body.get("Item") or {}
                if kind == "Put" and str(item.get("pk", {}).get("S", "")).startswith("TX#"):
                    self.wru += 1 + ("g2pk" in item)  # index copies: by_account (+ flagged)
        elif model.name in ("UpdateItem", "PutItem"):
            self.wru += 1
        elif model.name == "BatchGetItem":
            self.rru += sum(len(t["Keys"]) for t in params["RequestItems"].values())
        elif model.name in ("GetItem", "Query"):
            self.rru += 1 if model.name == "GetItem" else 2  # a receipt's parts: a few KB

    def on_sqs(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1
        self.sqs += 1


def measure(groups: int | None) -> tuple[Meter, int]:
    """One batch through the chosen path; (what it cost, consumer invocations). `None`: sync."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x",
                                        region_name="us-east-1")
        dynamodb, sqs = session.client("dynamodb"), session.client("sqs")
        dynamodb.create_table(**create_table_request("bench"))
        dlq = sqs.create_queue(QueueName="b-dlq.fifo", Attributes={"FifoQueue": "true"})
        url = sqs.create_queue(QueueName="b.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        store = DynamoStore("bench", shards=8, client=dynamodb)
        rt = bootstrap(Settings(store="dynamodb", table_name="bench"), store)
        meter = Meter()
        dynamodb.meta.events.register("before-parameter-build.dynamodb", meter.on_dynamodb)
        sqs.meta.events.register("before-parameter-build.sqs", meter.on_sqs)
        body = raw_batch("b")
        if groups is None:
            ingest(store, BANK, body, NOW, RuleConfig())
            return meter, 0
        queue = SqsQueue(url, dlq["QueueUrl"], 5, client=sqs)
        parts = replace(rt, queue=queue, settings=replace(
            rt.settings, queue=QueueSettings(kind="sqs", groups=groups)))
        raw = json.dumps({"transactions": body}).encode()
        invocations = 0
        with redirect_stdout(io.StringIO()):  # EMF lines are not figures
            ingest_async.submit(parts, BANK, raw, NOW, "req")
            while batch := queue.receive(10, 60):
                invocations += 1
                outcome = consume_batch(parts, batch)
                assert not outcome.failed_ids()
                meter.sqs += 1  # the event source mapping's DeleteMessageBatch
                for m in batch:  # (moto: one call each; not counted again)
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=m.handle)
                    meter.calls["DeleteMessage"] -= 1
                    meter.sqs -= 1
            for _ in range(POLLS):
                ingest_async.status(parts.receipts, BANK, "req")
        return meter, invocations


def cost(meter: Meter, invocations: int, asynchronous: bool) -> dict[str, Decimal]:
    per = Decimal(BATCHES) / 1_000_000
    polls = POLLS if asynchronous else 0
    gb = Decimal("0.5")
    lam = ((1 + polls + invocations) * LAMBDA_PER_M * per
           + BATCHES * gb * GB_S * (LAMBDA_S["api"] + polls * LAMBDA_S["poll"]
                                    + invocations * LAMBDA_S["consumer"]))
    return {"DynamoDB writes": meter.wru * per * WRITE_PER_M,
            "DynamoDB reads": meter.rru * per * READ_PER_M,
            "API Gateway": (1 + polls) * per * APIGW_PER_M,
            "Lambda": lam,
            "SQS FIFO": meter.sqs * per * SQS_FIFO_PER_M}


def main() -> None:
    print("One batch of 100 transactions over 50 accounts, counted on moto (8 shards)")
    rows = []
    for label, groups in (("sync", None), ("async, group per account", 0),
                          ("async, QUEUE_GROUPS=8", 8)):
        meter, invocations = measure(groups)
        prices = cost(meter, invocations, groups is not None)
        rows.append((label, meter, invocations, prices))
        calls = ", ".join(f"{n} {op}" for op, n in sorted(meter.calls.items()) if n)
        print(f"  {label}: {meter.wru} write units, {meter.rru} read units, {meter.sqs} SQS"
              f" requests, {invocations} consumer invocations; calls: {calls}")
    print(f"\n1M transactions ({BATCHES:,} such batches), on-demand list prices; Lambda 512 MB at"
          f" {LAMBDA_S['api']} s per POST, {LAMBDA_S['poll']} s per poll,"
          f" {LAMBDA_S['consumer']} s per consumer invocation (assumed, not measured)")
    base = sum(rows[0][3].values(), Decimal(0))
    for label, _, _, prices in rows:
        total = sum(prices.values(), Decimal(0))
        detail = ", ".join(f"{k} ${v:.3f}" for k, v in prices.items() if v)
        print(f"  {label}: ${total:.2f} ({total / base:.2f}x sync): {detail}")
    assert math.isfinite(float(base))


if __name__ == "__main__":
    main()
