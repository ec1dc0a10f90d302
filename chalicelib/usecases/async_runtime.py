"""The asynchronous path's parts for a runtime (queue, receipts), and the local consumer.

Built on first use from the environment, never at import. With the embedded queue, consumer
threads start in the same process on first use (the local server, `make serve`, `chalice
local`), so nothing else needs to run; on AWS the consumer is the Lambda on the SQS queue.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from chalicelib import bootstrap as runtime_module
from chalicelib.bootstrap import Runtime
from chalicelib.domain.timeutil import now_utc
from chalicelib.observability import log
from chalicelib.ports.queue import MAX_RECEIVE_BATCH, Queue, QueueError, ReceivedMessage
from chalicelib.ports.store import ReceiptStore, StoreError
from chalicelib.queue_settings import QueueSettings, load_queue_settings
from chalicelib.usecases import ingest_async
from chalicelib.usecases.consumer import BatchOutcome, backoff_s, handle_batch

IDLE_WAIT_S = 1.0  # a worker's long poll of the embedded queue


@dataclass
class AsyncRuntime:
    """The queue and the receipts for one runtime, and its local consumer threads."""

    settings: QueueSettings
    queue: Queue
    receipts: ReceiptStore
    workers: list[threading.Thread] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)


_lock = threading.Lock()
_built: tuple[Runtime, AsyncRuntime] | None = None


def build(rt: Runtime, settings: QueueSettings | None = None) -> AsyncRuntime:
    """The queue and receipts the settings name (adapters imported only when chosen)."""
    qs = settings or load_queue_settings(rt.settings.sqlite_path, store=rt.settings.store)
    queue: Queue
    if qs.kind == "sqs":
        from chalicelib.adapters.sqs_queue import SqsQueue

        queue = SqsQueue(str(qs.url), qs.dead_letter_url, qs.max_receives)
    else:
        from chalicelib.adapters.sqlite.sqlite_queue import SqliteQueue

        queue = SqliteQueue(qs.path, qs.max_receives,
                            synchronous=rt.settings.sqlite_synchronous)
    receipts: ReceiptStore
    if rt.store.name == "dynamodb":
        from chalicelib.adapters.dynamo.dynamo_receipts import DynamoReceipts
        from chalicelib.adapters.dynamo.dynamo_store import DynamoStore

        assert isinstance(rt.store, DynamoStore)
        receipts = DynamoReceipts(rt.store.db)
    else:
        from chalicelib.adapters.sqlite.sqlite_receipts import SqliteReceipts

        receipts = SqliteReceipts(qs.receipts_path, rt.settings.sqlite_synchronous)
    return AsyncRuntime(qs, queue, receipts)


def get_async(rt: Runtime, start_workers: bool = True) -> AsyncRuntime:
    """The parts for `rt`, built once; the local consumer is started with the embedded queue."""
    global _built
    with _lock:
        if _built is None or _built[0] is not rt:
            if _built is not None:
                _built[1].stop.set()
            _built = (rt, build(rt))
        parts = _built[1]
        if start_workers and parts.settings.kind == "sqlite" and not parts.workers:
            start_local_workers(rt, parts, parts.settings.local_workers)
    return parts


def set_async(rt: Runtime | None, parts: AsyncRuntime | None) -> None:
    """Install parts for a runtime (tests), or None; stops the previous local consumer."""
    global _built
    with _lock:
        if _built is not None:
            _built[1].stop.set()
        _built = (rt, parts) if rt is not None and parts is not None else None


def consume_batch(rt: Runtime, parts: AsyncRuntime,
                  batch: list[ReceivedMessage]) -> BatchOutcome:
    """Handle delivered messages: all together in one ledger commit per bank when that works,
    else one by one under the FIFO rule, settling last failures in the receipts."""
    if len(batch) > 1:
        try:
            ingest_async.consume_many(rt, parts.receipts, batch, now_utc())
            return BatchOutcome(done=list(batch))
        except Exception as exc:  # isolate the failing message: one by one below
            log("WARNING", "ingest_batch_split", messages=len(batch), error=str(exc)[:300])
    return handle_batch(batch, lambda m: ingest_async.consume(rt, parts.receipts, m, now_utc()),
                        parts.queue.max_receives,
                        lambda m, why: ingest_async.give_up(parts.receipts, m, why))


def poll_once(rt: Runtime, parts: AsyncRuntime, wait_s: float = 0) -> int:
    """Receive one batch from the queue, handle it, delete what was handled, and let failed
    messages come back after a backoff; how many messages were received."""
    batch = parts.queue.receive(MAX_RECEIVE_BATCH, parts.settings.visibility_s, wait_s)
    outcome = consume_batch(rt, parts, batch)
    if outcome.done:
        parts.queue.delete_many([m.handle for m in outcome.done])
    for m in outcome.failed:
        parts.queue.change_visibility(m.handle, backoff_s(m.receive_count))
    for m in outcome.skipped:
        parts.queue.change_visibility(m.handle, 0)
    return len(batch)


def drain(rt: Runtime, parts: AsyncRuntime, max_batches: int = 10_000) -> None:
    """Consume until the queue has nothing deliverable (tests, `make worker --once`)."""
    for _ in range(max_batches):
        if not poll_once(rt, parts):
            return


def _work(rt: Runtime, parts: AsyncRuntime) -> None:
    # a worker serves only the runtime it was started for (tests install new ones)
    while not parts.stop.is_set() and getattr(runtime_module, "_current", None) is rt:
        try:
            poll_once(rt, parts, IDLE_WAIT_S)
        except (QueueError, StoreError) as exc:
            log("ERROR", "local_consumer_error", error=str(exc)[:500])
            parts.stop.wait(IDLE_WAIT_S)


def start_local_workers(rt: Runtime, parts: AsyncRuntime, count: int) -> None:
    """Daemon threads consuming the embedded queue in this process."""
    parts.workers = [threading.Thread(target=_work, args=(rt, parts), daemon=True,
                                      name=f"ingest-consumer-{i}") for i in range(count)]
    for t in parts.workers:
        t.start()
