"""The synchronous route beside the sequenced consumer, two ways, on DynamoDB Local:
`python -m bench.sync_paths`.

(b) today's route: the ledger's TransactWriteItems, beside the consumer through the account
item's version (what the code does); (a) the route enqueues and waits on the receipt (one
writer per group), as DESIGN.md section 1 proposed. Each is timed end to end in process
(`ingest_sync.post_transactions`; `ingest_async.submit` + local consumer threads on the
embedded queue + polling the receipt every 10 ms), for one transaction and for the README's
batch (100 over 50 accounts), SAMPLES requests each, warm accounts; p50 and p95 in ms. On AWS,
(a) adds the SQS -> Lambda hop (event source mapping polling, typically tens of ms or more).
"""

from __future__ import annotations

import io
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import redirect_stdout
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from bench.cost import raw_batch
from chalicelib.adapters.dynamo.dynamo_store import DynamoStore
from chalicelib.adapters.sqlite.sqlite_queue import SqliteQueue
from chalicelib.bootstrap import Runtime, bootstrap
from chalicelib.config import QueueSettings, Settings
from chalicelib.usecases import ingest_async, ingest_sync
from chalicelib.usecases.consumer import start_local_workers
from scripts.dynamodb_local import DynamoDBLocal
from scripts.provision import create_table_request

BANK, SAMPLES, POLL_S = "demo", 25, 0.01


def percentiles(ms: list[float]) -> tuple[float, float]:
    """p50 and p95 of the samples (ms)."""
    cuts = statistics.quantiles(ms, n=20, method="inclusive")
    return statistics.median(ms), cuts[18]


def timed(send: Callable[[str, int], None], size: int) -> list[float]:
    out = []
    for n in range(SAMPLES + 2):
        start = time.perf_counter()
        send(f"{uuid.uuid4().hex[:6]}-{n}", size)
        if n >= 2:  # the first two warm the accounts
            out.append((time.perf_counter() - start) * 1000)
    return out


def items(prefix: str, size: int) -> bytes:
    batch = raw_batch(prefix, 50, datetime.now(UTC))[:size]
    return json.dumps({"transactions": batch}).encode()


def sync_sender(rt: Runtime) -> Callable[[str, int], None]:
    def send(prefix: str, size: int) -> None:
        status, _ = ingest_sync.post_transactions(rt, BANK, "application/json",
                                                  items(prefix, size), datetime.now(UTC), prefix)
        assert status in (200, 201), status
    return send


def waiting_sender(rt: Runtime) -> Callable[[str, int], None]:
    def send(prefix: str, size: int) -> None:
        ingest_async.submit(rt, BANK, items(prefix, size), datetime.now(UTC), prefix)
        while ingest_async.status(rt.receipts, BANK, prefix)["status"] != "done":
            time.sleep(POLL_S)
    return send


def main() -> int:
    print(__doc__.split("\n\n")[0])
    with DynamoDBLocal() as emulator, tempfile.TemporaryDirectory() as tmp:
        import boto3

        client = boto3.session.Session(region_name=emulator.env["AWS_REGION"]).client(
            "dynamodb", endpoint_url=emulator.endpoint,
            aws_access_key_id=emulator.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=emulator.env["AWS_SECRET_ACCESS_KEY"])
        table = f"paths-{uuid.uuid4().hex[:8]}"
        client.create_table(**create_table_request(table))
        store = DynamoStore(table, shards=8, client=client)
        queue = SqliteQueue(str(Path(tmp) / "queue.db"), max_receives=5)
        rt = bootstrap(Settings(store="dynamodb", table_name=table, queue=QueueSettings(
            groups=4, local_workers=0, visibility_s=30)), store, queue=queue,
            receipts=store.receipts())
        rt = replace(rt)
        workers = start_local_workers(rt, 4)
        rows = []
        with redirect_stdout(io.StringIO()):
            for size in (1, 100):
                for name, sender in (("(b) sync, transactions beside the consumer",
                                      sync_sender(rt)),
                                     ("(a) enqueue and wait on the receipt", waiting_sender(rt))):
                    rows.append((name, size, percentiles(timed(sender, size))))
        rt.stop.set()
        for w in workers:
            w.join(5)
    for name, size, (p50, p95) in rows:
        print(f"  {name:<45} {size:>3} tx: p50 {p50:6.1f} ms  p95 {p95:6.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
