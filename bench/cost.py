"""Dollars per million transactions, by part, measured on DynamoDB Local: `python -m bench.cost`.

The project's own ingest runs against Amazon's DynamoDB Local (SQS on moto, in process): the
synchronous route's use case (`ingest_sync.post_transactions`) and the asynchronous one
(`ingest_async.submit`, the consumer's `consume_batch` on receives of 10 as the event source
mapping makes them, then three `status` polls), the consumer at QUEUE_GROUPS=0 (a group per
account: the ledger's transactions) and 4 (the default) and 8 (the sequenced consumer, without
transactions). Every DynamoDB and SQS call goes through one botocore hook (`bench.meter`) that
bills it by AWS's rules (`bench.billing`) on the items' real sizes, never DynamoDB Local's
ConsumedCapacity. Accounts are warm: each mix first sends unmetered older transactions over the
same accounts (warm_items), so account items carry their rule state and history as in steady
use, each account at another fill of its history.

Assumed, not measured: Lambda at 512 MB for 0.3 s per POST or consumer invocation and 0.05 s
per poll; the API key's lookup is cached by a warm container (not billed); an idle event source
mapping's empty long polls are left out (a flat ~$0.30 a month, not per transaction).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
from moto import mock_aws

from bench import billing
from bench.meter import Meter
from bench.moto_fifo import increasing_sequences
from chalicelib.adapters.dynamo.dynamo_store import DynamoStore
from chalicelib.adapters.sqs_queue import SqsQueue
from chalicelib.bootstrap import Runtime, bootstrap
from chalicelib.config import QueueSettings, Settings
from chalicelib.usecases import ingest_async, ingest_sync
from chalicelib.usecases.consumer import consume_batch
from scripts.dynamodb_local import DynamoDBLocal
from scripts.provision import create_table_request

BANK = "demo"
PER_BATCH = 100
MILLION_BATCHES = 1_000_000 // PER_BATCH
# Warm: before the measured batches every account gets 2 * (WARM_BASE + a % WARM_CYCLE) older
# transactions (through the synchronous path, in requests of 500: the account item is the same
# on every path), so accounts carry rule state and history as in steady use, each at another
# fill of the pointers its item holds: the measured batches pay history pages in their share
# (an account item holds ~40 of the bench's pointers), not all accounts flushing in one lump.
WARM_BASE, WARM_CYCLE, MEASURED_BATCHES = 2, 24, 12
POLLS = 3  # GET /ingest per asynchronous request: a client's usual pending, pending, done
MEMORY_GB = Decimal("0.5")
SECONDS = {"post": Decimal("0.3"), "poll": Decimal("0.05"), "consumer": Decimal("0.3")}
MIXES = {"README mix: 100 tx over 50 accounts": 50, "100 tx over 100 accounts": 100}
PATHS: dict[str, int | None] = {"sync": None, "async, a group per account": 0,
                                "async, QUEUE_GROUPS=4": 4, "async, QUEUE_GROUPS=8": 8}
# what each line of the bill is made of: parts of the table's writes (bench.meter's names)
WRITE_LINES = {"records": ("records",), "account items": ("accounts",),
               "history pages": ("history",), "flagged index": ("index flagged",),
               "totals": ("totals",), "receipts": ("receipts",), "other writes": ("other",)}


def warm_items(accounts: int, now: datetime) -> list[dict[str, Any]]:
    """Older transactions spreading the accounts' history fills (see WARM_CYCLE), one an hour
    per account before the measured batches' hours."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    return [{"id": f"w{a}-{k}", "account": f"AC{a:04d}", "amount": f"{(a + k) % 900 + 1}.10",
             "type": "credit" if k % 3 else "debit", "merchant": "Corner Shop Ltd",
             "timestamp": (hour - timedelta(hours=2 * MEASURED_BATCHES + 4 + k)).strftime(
                 "%Y-%m-%dT%H:%M:%SZ")}
            for a in range(accounts) for k in range(2 * (WARM_BASE + a % WARM_CYCLE))]


def warm(rt: Runtime, accounts: int) -> None:
    """Send warm_items through the synchronous path, unmetered."""
    items = warm_items(accounts, datetime.now(UTC))
    for start in range(0, len(items), 500):
        raw = json.dumps({"transactions": items[start:start + 500]}).encode()
        with redirect_stdout(io.StringIO()):
            status, _ = ingest_sync.post_transactions(rt, BANK, "application/json", raw,
                                                      datetime.now(UTC), f"warm-{start}")
        assert status == 200, status


def raw_batch(prefix: str, accounts: int, now: datetime, ago: int = 0
              ) -> list[dict[str, Any]]:
    """The README's batch: 100 transactions over `accounts` accounts in two whole hours (the
    hour `ago` + 1 hours before the current one, and the one before that: the same items
    whatever the clock). The benches send batch k of n at `ago` = 2 (n - k): two transactions
    an account every two hours, a steady stream no rule flags (flagged ones would each cost a
    write in the `flagged` index: a price of what is flagged, not of the path)."""
    hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=ago)
    return [{"id": f"{prefix}-{i}", "account": f"AC{i % accounts:04d}",
             "amount": f"{i % 900 + 1}.10", "type": "credit" if i % 3 else "debit",
             "merchant": "Corner Shop Ltd",
             "timestamp": (hour - timedelta(minutes=30 + i % 60)).strftime("%Y-%m-%dT%H:%M:%SZ")}
            for i in range(PER_BATCH)]


@dataclass
class Measured:
    """What MEASURED_BATCHES batches cost through one path, summed."""

    batches: int
    wru: dict[str, int]
    rru: dict[str, Decimal]
    sqs: int
    calls: dict[str, int]
    invocations: dict[str, int] = field(default_factory=dict)  # Lambda, by kind

    def per_batch(self, value: Decimal | int) -> Decimal:
        return Decimal(value) / self.batches

    def dollars(self) -> dict[str, Decimal]:
        """Each line of the bill for 1M transactions."""
        scale = Decimal(MILLION_BATCHES) / self.batches
        out = {line: billing.per_million(sum(self.wru.get(p, 0) for p in parts) * scale,
                                         billing.WRITE_PER_M)
               for line, parts in WRITE_LINES.items()}
        out["reads"] = billing.per_million(sum(self.rru.values(), Decimal(0)) * scale,
                                           billing.READ_PER_M)
        requests = self.invocations.get("post", 0) + self.invocations.get("poll", 0)
        out["API Gateway"] = billing.per_million(requests * scale, billing.APIGW_REST_PER_M)
        out["Lambda"] = sum((billing.lambda_cost(n * scale, SECONDS[kind], MEMORY_GB)
                             for kind, n in self.invocations.items() if kind in SECONDS),
                            Decimal(0))
        out["SQS"] = billing.per_million(self.sqs * scale, billing.SQS_FIFO_PER_M)
        return out


@contextmanager
def aws(emulator: DynamoDBLocal) -> Iterator[tuple[Any, Any, Any]]:
    """(metered DynamoDB client, unhooked shadow client, SQS client): DynamoDB on the emulator,
    SQS on moto (which lets DynamoDB's calls through to the emulator)."""
    os.environ.update(emulator.env)
    with mock_aws(config={"core": {"passthrough": {"services": ["dynamodb"], "urls": []}}}), \
            increasing_sequences():
        session = boto3.session.Session(region_name=emulator.env["AWS_REGION"])
        yield (session.client("dynamodb", endpoint_url=emulator.endpoint),
               session.client("dynamodb", endpoint_url=emulator.endpoint),
               session.client("sqs"))


def indexes() -> dict[str, tuple[str, str]]:
    """The table's indexes and their key attributes (infra/resources.json's)."""
    return {i["IndexName"]: (i["KeySchema"][0]["AttributeName"],
                             i["KeySchema"][1]["AttributeName"])
            for i in create_table_request("x")["GlobalSecondaryIndexes"]}


def measure(emulator: DynamoDBLocal, groups: int | None, accounts: int) -> Measured:
    """Warm the accounts, then send MEASURED_BATCHES batches through one path, billed."""
    with aws(emulator) as (dynamodb, shadow, sqs):
        table = f"cost-{uuid.uuid4().hex[:8]}"
        dynamodb.create_table(**create_table_request(table))
        try:
            meter = Meter(shadow, table, indexes())
            meter.attach(dynamodb)
            meter.attach(sqs)
            store = DynamoStore(table, shards=8, client=dynamodb)
            rt = bootstrap(Settings(store="dynamodb", table_name=table), store)
            invocations: dict[str, int] = {}
            send = _sync(rt) if groups is None else _async(rt, sqs, groups)
            warm(rt, accounts)
            meter.reset()
            invocations.clear()
            for n in range(MEASURED_BATCHES):
                send(f"m{n}", accounts, invocations, 2 * (MEASURED_BATCHES - n))
            return Measured(MEASURED_BATCHES, dict(meter.wru), dict(meter.rru), meter.sqs,
                            dict(meter.calls), dict(invocations))
        finally:
            shadow.delete_table(TableName=table)


Sender = Any  # (prefix, accounts, invocations) -> None


def _sync(rt: Runtime) -> Sender:
    def send(prefix: str, accounts: int, invocations: dict[str, int],
             ago: int = 0) -> None:
        now = datetime.now(UTC)
        items = raw_batch(prefix, accounts, now, ago)
        raw = json.dumps({"transactions": items}).encode()
        with redirect_stdout(io.StringIO()):  # EMF lines are not figures
            status, body = ingest_sync.post_transactions(rt, BANK, "application/json", raw, now,
                                                         f"cost-{prefix}")
        assert status == 200 and body["summary"].get("created") == len(items), body["summary"]
        invocations["post"] = invocations.get("post", 0) + 1
    return send


def _async(rt: Runtime, sqs: Any, groups: int) -> Sender:
    name = f"cost-{uuid.uuid4().hex[:8]}"
    dlq = sqs.create_queue(QueueName=f"{name}-dlq.fifo", Attributes={"FifoQueue": "true"})
    url = sqs.create_queue(QueueName=f"{name}.fifo", Attributes={"FifoQueue": "true"})
    queue = SqsQueue(url["QueueUrl"], dlq["QueueUrl"], 5, client=sqs)
    parts = replace(rt, queue=queue, settings=replace(
        rt.settings, queue=QueueSettings(kind="sqs", groups=groups)))

    def send(prefix: str, accounts: int, invocations: dict[str, int],
             ago: int = 0) -> None:
        now = datetime.now(UTC)
        request_id = f"req-{prefix}"
        items = raw_batch(prefix, accounts, now, ago)
        raw = json.dumps({"transactions": items}).encode()
        with redirect_stdout(io.StringIO()):
            ingest_async.submit(parts, BANK, raw, now, request_id)
            invocations["post"] = invocations.get("post", 0) + 1
            while batch := queue.receive(10, 60):
                invocations["consumer"] = invocations.get("consumer", 0) + 1
                outcome = consume_batch(parts, batch)
                queue.delete_many([m.handle for m in outcome.done])
                for m in (*outcome.failed, *outcome.skipped):  # a store timeout on a busy
                    queue.change_visibility(m.handle, 0)  # machine: delivered again, counted
                    invocations["redelivered"] = invocations.get("redelivered", 0) + 1
            for _ in range(POLLS):
                answer = ingest_async.status(parts.receipts, BANK, request_id)
                invocations["poll"] = invocations.get("poll", 0) + 1
        assert answer["status"] == "done" and answer["summary"] == {"created": len(items)}, answer
    return send


def _sqs_operation(name: str) -> bool:
    """Whether a metered call was SQS's (its operations all name a message or a queue)."""
    return "Message" in name or "Queue" in name


def _n(value: Decimal) -> str:
    """A per-batch figure to two decimals at most (12.5, 2.08, 100)."""
    return f"{value.quantize(Decimal('0.01')).normalize():f}"


def report(results: dict[str, dict[str, Measured]]) -> str:
    """The figures as text: units per batch by part, then dollars per 1M by line."""
    lines: list[str] = []
    for mix, by_path in results.items():
        lines.append(f"\n{mix} (warm accounts; {MEASURED_BATCHES} batches measured, per batch)")
        for path, m in by_path.items():
            wru = ", ".join(f"{p} {_n(m.per_batch(n))}" for p, n in sorted(m.wru.items()) if n)
            rru = ", ".join(f"{p} {_n(m.per_batch(n))}" for p, n in sorted(m.rru.items()) if n)
            lam = ", ".join(f"{k} {_n(m.per_batch(v))}" for k, v in sorted(m.invocations.items()))
            dynamo = sum(n for op, n in m.calls.items() if not _sqs_operation(op))
            lines.append(f"  {path}: {_n(m.per_batch(sum(m.wru.values())))} write units ({wru});"
                         f" {_n(m.per_batch(sum(m.rru.values(), Decimal(0))))} read units"
                         f" ({rru}); {_n(m.per_batch(m.sqs))} SQS requests; Lambda invocations"
                         f" {lam}; {_n(m.per_batch(dynamo))} DynamoDB calls")
        columns = list(by_path)
        table = {path: m.dollars() for path, m in by_path.items()}
        width = max(len(c) for c in columns) + 2
        lines.append(f"  $ per 1M transactions{''.join(f'{c:>{width}}' for c in columns)}")
        for line in [*WRITE_LINES, "reads", "API Gateway", "Lambda", "SQS"]:
            cells = "".join(f"{table[c][line]:>{width}.3f}" for c in columns)
            lines.append(f"    {line:<20}{cells}")
        base = sum(table[columns[0]].values(), Decimal(0))
        totals = [sum(table[c].values(), Decimal(0)) for c in columns]
        lines.append(f"    {'total':<20}" + "".join(f"{t:>{width}.2f}" for t in totals))
        lines.append(f"    {'x sync':<20}" + "".join(f"{t / base:>{width}.2f}" for t in totals))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="also write the measured units to this file")
    args = parser.parse_args(argv)
    results: dict[str, dict[str, Measured]] = {}
    with DynamoDBLocal() as emulator:
        for mix, accounts in MIXES.items():
            results[mix] = {path: measure(emulator, groups, accounts)
                            for path, groups in PATHS.items()}
    print("On-demand list prices (bench/billing.py): DynamoDB $0.625 per million write units,"
          " $0.125 per million read units; API Gateway REST $3.50 per million; Lambda $0.20 per"
          " million + $0.0000166667 per GB-s (512 MB; 0.3 s a POST or consumer invocation,"
          " 0.05 s a poll: assumed); SQS FIFO $0.50 per million requests (64 KB each).")
    print(report(results))
    if args.json:
        with open(args.json, "w") as out:
            json.dump({mix: {path: {"batches": m.batches, "wru": m.wru,
                                    "rru": {k: str(v) for k, v in m.rru.items()}, "sqs": m.sqs,
                                    "calls": m.calls, "invocations": m.invocations}
                             for path, m in by_path.items()}
                       for mix, by_path in results.items()}, out, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
