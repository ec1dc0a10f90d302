"""The asynchronous path's consumer: Lambda's SQS batches and the local worker threads.

Messages are handled in order. When one fails, every later message of its group in the batch
is left alone and reported failed too: handling it would apply an account's items out of order.
A failure on the message's last allowed delivery settles its items `failed` in the receipt
first, because the queue moves it to the dead letters on the next receive; so does a message
skipped on its last allowed delivery (it goes to the dead letters beside the one that failed).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.bootstrap import Runtime
from chalicelib.domain.timeutil import now_utc
from chalicelib.observability import log
from chalicelib.ports.queue import MAX_RECEIVE_BATCH, QueueError, ReceivedMessage
from chalicelib.ports.store import StoreError
from chalicelib.support.backoff import Backoff
from chalicelib.usecases import ingest_async, replay_jobs

IDLE_WAIT_S = 1.0  # a worker's long poll of the embedded queue

BACKOFF_BASE_S = 2  # a failed message comes back after 2, 4, 8 ... s (jittered), not the full
BACKOFF_CAP_S = 60  # visibility timeout: its group is blocked meanwhile
REDELIVERY_BACKOFF = Backoff(BACKOFF_BASE_S, BACKOFF_CAP_S)


@dataclass
class BatchOutcome:
    """What became of a batch: handled messages, and failed ones (their own fault or skipped)."""

    done: list[ReceivedMessage] = field(default_factory=list)
    failed: list[ReceivedMessage] = field(default_factory=list)
    skipped: list[ReceivedMessage] = field(default_factory=list)

    def failed_ids(self) -> list[str]:
        return [m.message_id for m in (*self.failed, *self.skipped)]


def backoff_s(receive_count: int, backoff: Backoff = REDELIVERY_BACKOFF) -> int:
    """Seconds before a failed message is delivered again: the backoff's delay before retry
    `receive_count - 1`, in whole seconds (a visibility timeout), at least 1."""
    return max(1, int(backoff.delay(receive_count - 1)))


def handle_batch(batch: list[ReceivedMessage], handle: Callable[[ReceivedMessage], None],
                 max_receives: int,
                 give_up: Callable[[ReceivedMessage, str], None]) -> BatchOutcome:
    """Handle each message in order; a group stops at its first failure."""
    outcome = BatchOutcome()
    broken: set[str] = set()
    for message in batch:
        if message.group in broken:
            outcome.skipped.append(message)
            if message.receive_count >= max_receives:
                _give_up(give_up, message, f"moved to the dead-letter queue after "
                                           f"{message.receive_count} attempts, behind a failed"
                                           f" message of its group")
            continue
        try:
            handle(message)
        except Exception as exc:  # any failure leaves the message for a later delivery
            broken.add(message.group)
            outcome.failed.append(message)
            why = f"{type(exc).__name__}: {exc}"
            log("ERROR", "ingest_message_failed", message_id=message.message_id,
                receive_count=message.receive_count, error=why[:500])
            if message.receive_count >= max_receives:
                _give_up(give_up, message, f"moved to the dead-letter queue after "
                                           f"{message.receive_count} attempts ({why[:200]})")
            continue
        outcome.done.append(message)
    return outcome


def _give_up(give_up: Callable[[ReceivedMessage, str], None], message: ReceivedMessage,
             why: str) -> None:
    try:
        give_up(message, why)
    except Exception as second:  # the dead letter still holds the items
        log("ERROR", "ingest_give_up_failed", message_id=message.message_id,
            error=str(second)[:500])


def consume_batch(rt: Runtime, batch: list[ReceivedMessage]) -> BatchOutcome:
    """Handle delivered messages: all together in one ledger commit per bank when that works,
    else one by one under the FIFO rule, settling last failures in the receipts. Replay jobs
    (each a group of its own) are taken out first and run one by one."""
    jobs = [m for m in batch if replay_jobs.is_job(m.body)]
    if jobs:
        rest = consume_batch(rt, [m for m in batch if not replay_jobs.is_job(m.body)])
        ran = handle_batch(jobs, lambda m: replay_jobs.run(rt, m), rt.queue.max_receives,
                           lambda m, why: replay_jobs.give_up(rt, m, why))
        return BatchOutcome(rest.done + ran.done, rest.failed + ran.failed,
                            rest.skipped + ran.skipped)
    if len(batch) > 1:
        try:
            ingest_async.consume_many(rt, batch, now_utc())
            return BatchOutcome(done=list(batch))
        except Exception as exc:  # isolate the failing message: one by one below
            log("WARNING", "ingest_batch_split", messages=len(batch), error=str(exc)[:300])
    return handle_batch(batch, lambda m: ingest_async.consume(rt, m, now_utc()),
                        rt.queue.max_receives,
                        lambda m, why: ingest_async.give_up(rt.receipts, m, why))


def poll_once(rt: Runtime, wait_s: float = 0) -> int:
    """Receive one batch from the queue, handle it, delete what was handled, and let failed
    messages come back after a backoff; how many messages were received."""
    batch = rt.queue.receive(MAX_RECEIVE_BATCH, rt.settings.queue.visibility_s, wait_s)
    outcome = consume_batch(rt, batch)
    if outcome.done:
        rt.queue.delete_many([m.handle for m in outcome.done])
    for m in outcome.failed:
        rt.queue.change_visibility(m.handle, backoff_s(m.receive_count))
    for m in outcome.skipped:
        rt.queue.change_visibility(m.handle, 0)
    return len(batch)


def drain(rt: Runtime, max_batches: int = 10_000) -> None:
    """Consume until the queue has nothing deliverable (tests, `make worker ARGS=--once`)."""
    for _ in range(max_batches):
        if not poll_once(rt):
            return


def _work(rt: Runtime) -> None:
    while not rt.stop.is_set():  # set when the runtime is replaced or the process stops
        try:
            poll_once(rt, IDLE_WAIT_S)
        except (QueueError, StoreError) as exc:
            log("ERROR", "local_consumer_error", error=str(exc)[:500])
            rt.stop.wait(IDLE_WAIT_S)


def start_local_workers(rt: Runtime, count: int | None = None) -> list[threading.Thread]:
    """Daemon threads consuming the embedded queue in this process (the local server and
    `make worker` call this at start; on AWS the consumer is the Lambda on the SQS queue)."""
    n = rt.settings.queue.local_workers if count is None else count
    workers = [threading.Thread(target=_work, args=(rt,), daemon=True,
                                name=f"ingest-consumer-{i}") for i in range(n)]
    for t in workers:
        t.start()
    return workers


def from_sqs_record(record: Mapping[str, Any]) -> ReceivedMessage:
    """A Lambda SQS event record as a delivered message."""
    attributes = record.get("attributes") or {}
    return ReceivedMessage(str(record["messageId"]), str(attributes.get("MessageGroupId", "")),
                           str(record["body"]), int(attributes.get("ApproximateReceiveCount", 1)),
                           str(record["receiptHandle"]))


class BatchFailedError(Exception):
    """Some messages of an SQS batch failed and partial batch responses are off."""


def on_sqs_records(rt: Runtime, records: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The Lambda consumer: handle the batch, answer the partial batch response. A failed
    message comes back after a short backoff rather than the whole visibility timeout."""
    outcome = consume_batch(rt, [from_sqs_record(r) for r in records])
    for m in outcome.failed:
        try:
            rt.queue.change_visibility(m.handle, backoff_s(m.receive_count))
        except QueueError as exc:  # the visibility timeout brings it back anyway
            log("WARNING", "ingest_backoff_failed", message_id=m.message_id, error=str(exc))
    log("INFO", "ingest_batch", received=len(records), done=len(outcome.done),
        failed=len(outcome.failed), skipped=len(outcome.skipped))
    failed = outcome.failed_ids()
    if failed and not rt.settings.queue.partial_batch:
        # Without ReportBatchItemFailures on the mapping (`chalice deploy` cannot set it) Lambda
        # would delete every message of a batch that returns: fail the whole batch instead;
        # what was applied is applied again as a no-op on the next delivery.
        raise BatchFailedError(f"{len(failed)} of {len(records)} messages failed")
    return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}
