"""The asynchronous path's consumer: Lambda's SQS batches and the local worker threads.

Messages are handled in order. When one fails, every later message of its group in the batch
is left alone and reported failed too (skipped): handling it would apply an account's items out
of order. The consumer decides what goes to the dead-letter queue, on SQS as on the embedded
queue (their own move, after BACKSTOP_RECEIVES receives, is a backstop): a message that failed
before any write, on its `max_receives`-th receive, has its items settled `failed` in the receipt
and is then moved (`Queue.dead_letter`; not moved if the settle fails: it comes back). A message
that has written (`HalfApplied`) is never settled failed nor moved, whatever its receive count:
it comes back until it completes. A skipped message is never given up: it did not fail, and goes
on once the one before it has completed or gone to the dead letters.
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
# A message still failing after this many receives is one that has written (never moved: the
# others went at `max_receives`) or whose receipt cannot be settled: it comes back every 15
# minutes, so the queue's backstop (BACKSTOP_RECEIVES = 1000) is ~9.4 days away (100 receives
# in under 100 minutes, then 900 x 15 min), inside the ingest queue's 14 days of retention.
PATIENT_AFTER_RECEIVES = 100
PATIENT_BACKOFF_S = 900


@dataclass
class BatchOutcome:
    """What became of a batch: handled messages, and failed ones (their own fault or skipped);
    of the failed ones, those kept because they have written and those moved to the dead
    letters."""

    done: list[ReceivedMessage] = field(default_factory=list)
    failed: list[ReceivedMessage] = field(default_factory=list)
    skipped: list[ReceivedMessage] = field(default_factory=list)
    held: list[ReceivedMessage] = field(default_factory=list)  # failed after a write: kept
    dead: list[ReceivedMessage] = field(default_factory=list)  # failed, moved to dead letters

    def retried(self) -> list[ReceivedMessage]:
        """The failed messages still in the queue (not moved to the dead letters)."""
        moved = {m.message_id for m in self.dead}
        return [m for m in self.failed if m.message_id not in moved]

    def failed_ids(self) -> list[str]:
        """The messages to deliver again: failed and still in the queue, and skipped."""
        return [m.message_id for m in (*self.retried(), *self.skipped)]


def backoff_s(receive_count: int, backoff: Backoff = REDELIVERY_BACKOFF) -> int:
    """Seconds before a failed message is delivered again: the backoff's delay before retry
    `receive_count - 1`, in whole seconds (a visibility timeout), at least 1; PATIENT_BACKOFF_S
    once it has been received more than PATIENT_AFTER_RECEIVES times."""
    if receive_count > PATIENT_AFTER_RECEIVES:
        return PATIENT_BACKOFF_S
    return max(1, int(backoff.delay(receive_count - 1)))


def handle_batch(batch: list[ReceivedMessage], handle: Callable[[ReceivedMessage], None],
                 max_receives: int,
                 give_up: Callable[[ReceivedMessage, str], None]) -> BatchOutcome:
    """Handle each message in order; a group stops at its first failure. A message that failed
    without writing on its `max_receives`-th receive (or later) goes to `give_up`, which settles
    it and moves it to the dead letters, or raises HalfApplied when it finds that the message
    has written after all (kept, as one that raised it here)."""
    outcome = BatchOutcome()
    broken: set[str] = set()
    for message in batch:
        if message.group in broken:
            outcome.skipped.append(message)
            continue
        try:
            handle(message)
        except Exception as exc:  # any failure leaves the message for a later delivery
            broken.add(message.group)
            outcome.failed.append(message)
            why = f"{type(exc).__name__}: {exc}"
            log("ERROR", "ingest_message_failed", message_id=message.message_id,
                receive_count=message.receive_count, error=why[:500])
            if isinstance(exc, ingest_async.HalfApplied):
                _hold(outcome, message)
            elif message.receive_count >= max_receives:
                _give_up(give_up, outcome, message,
                         f"moved to the dead-letter queue after {message.receive_count}"
                         f" attempts ({why[:200]})")
            continue
        outcome.done.append(message)
    return outcome


def _hold(outcome: BatchOutcome, message: ReceivedMessage) -> None:
    # it has written: retried until it completes, never dead-lettered (a later message of its
    # group would apply on top of half of it)
    outcome.held.append(message)
    log("ERROR", "ingest_message_half_applied", message_id=message.message_id,
        receive_count=message.receive_count)


def _give_up(give_up: Callable[[ReceivedMessage, str], None], outcome: BatchOutcome,
             message: ReceivedMessage, why: str) -> None:
    try:
        give_up(message, why)
    except ingest_async.HalfApplied:
        _hold(outcome, message)
        return
    except Exception as second:  # not settled, or not moved: it comes back and tries again
        log("ERROR", "ingest_give_up_failed", message_id=message.message_id,
            error=str(second)[:500])
        return
    outcome.dead.append(message)
    log("WARNING", "ingest_dead_lettered", message_id=message.message_id,
        receive_count=message.receive_count, error=why[:500])


def _ingest_give_up(rt: Runtime) -> Callable[[ReceivedMessage, str], None]:
    """Give an ingest message up: HalfApplied if a delivery of it has written after all, else
    its items read `failed` in the receipt first, then it moves to the dead letters."""
    def give_up(message: ReceivedMessage, why: str) -> None:
        ingest_async.check_unwritten(rt, message)
        ingest_async.give_up(rt.receipts, message, why)
        rt.queue.dead_letter(message)
    return give_up


def _job_give_up(rt: Runtime) -> Callable[[ReceivedMessage, str], None]:
    """Give a replay job up: recorded failed, then moved to the dead letters."""
    def give_up(message: ReceivedMessage, why: str) -> None:
        replay_jobs.give_up(rt, message, why)
        rt.queue.dead_letter(message)
    return give_up


def consume_batch(rt: Runtime, batch: list[ReceivedMessage]) -> BatchOutcome:
    """Handle delivered messages: all together in one ledger commit per bank when that works,
    else one by one under the FIFO rule, settling last failures in the receipts. Replay jobs
    (each a group of its own) are taken out first and run one by one. Messages a store applies
    in sequence (DynamoDB with QUEUE_GROUPS > 0) go one by one, each group's in order and the
    groups side by side (they share no item)."""
    jobs = [m for m in batch if replay_jobs.is_job(m.body)]
    if jobs:
        rest = consume_batch(rt, [m for m in batch if not replay_jobs.is_job(m.body)])
        ran = handle_batch(jobs, lambda m: replay_jobs.run(rt, m), rt.queue.max_receives,
                           _job_give_up(rt))
        return BatchOutcome(rest.done + ran.done, rest.failed + ran.failed,
                            rest.skipped + ran.skipped, rest.held + ran.held,
                            rest.dead + ran.dead)
    if any(ingest_async.sequenced(rt, m) for m in batch):
        return _by_group(rt, batch)
    if len(batch) > 1:
        try:
            ingest_async.consume_many(rt, batch, now_utc())
            return BatchOutcome(done=list(batch))
        except Exception as exc:  # isolate the failing message: one by one below
            log("WARNING", "ingest_batch_split", messages=len(batch), error=str(exc)[:300])
    return handle_batch(batch, lambda m: ingest_async.consume(rt, m, now_utc()),
                        rt.queue.max_receives, _ingest_give_up(rt))


def _by_group(rt: Runtime, batch: list[ReceivedMessage]) -> BatchOutcome:
    groups: dict[str, list[ReceivedMessage]] = {}
    for m in batch:
        groups.setdefault(m.group, []).append(m)

    def one(messages: list[ReceivedMessage]) -> BatchOutcome:
        if len(messages) > 1:  # the group's messages together: one read and write of each item
            try:
                ingest_async.consume_run(rt, messages, now_utc())
                return BatchOutcome(done=list(messages))
            except Exception as exc:  # one by one below (what was applied reads as applied)
                log("WARNING", "ingest_run_split", messages=len(messages), error=str(exc)[:300])
        return handle_batch(messages, lambda m: ingest_async.consume(rt, m, now_utc()),
                            rt.queue.max_receives, _ingest_give_up(rt))

    if len(groups) == 1:
        return one(batch)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(groups)) as pool:
        outcomes = list(pool.map(one, groups.values()))
    order = {m.message_id: i for i, m in enumerate(batch)}
    merged = BatchOutcome()
    for part in ("done", "failed", "skipped", "held", "dead"):
        found = [m for o in outcomes for m in getattr(o, part)]
        getattr(merged, part).extend(sorted(found, key=lambda m: order[m.message_id]))
    return merged


def poll_once(rt: Runtime, wait_s: float = 0) -> int:
    """Receive one batch from the queue, handle it, delete what was handled, and let failed
    messages come back after a backoff (those given up went to the dead letters already); how
    many messages were received."""
    batch = rt.queue.receive(MAX_RECEIVE_BATCH, rt.settings.queue.visibility_s, wait_s)
    outcome = consume_batch(rt, batch)
    if outcome.done:
        rt.queue.delete_many([m.handle for m in outcome.done])
    for m in outcome.retried():
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
                           str(record["receiptHandle"]), str(attributes.get("SequenceNumber", "")))


class BatchFailedError(Exception):
    """Some messages of an SQS batch failed and partial batch responses are off."""


def on_sqs_records(rt: Runtime, records: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The Lambda consumer: handle the batch, answer the partial batch response. A failed
    message comes back after a short backoff rather than the whole visibility timeout, and a
    message skipped behind it at once (it would hold its group for the visibility timeout);
    one given up is in the dead letters already, so not reported."""
    outcome = consume_batch(rt, [from_sqs_record(r) for r in records])
    backs = [(m, backoff_s(m.receive_count)) for m in outcome.retried()]
    for m, timeout_s in [*backs, *((m, 0) for m in outcome.skipped)]:
        try:
            rt.queue.change_visibility(m.handle, timeout_s)
        except QueueError as exc:  # the visibility timeout brings it back anyway
            log("WARNING", "ingest_backoff_failed", message_id=m.message_id, error=str(exc))
    log("INFO", "ingest_batch", received=len(records), done=len(outcome.done),
        failed=len(outcome.failed), skipped=len(outcome.skipped), held=len(outcome.held),
        dead_lettered=len(outcome.dead))
    failed = outcome.failed_ids()
    if failed and not rt.settings.queue.partial_batch:
        # Without ReportBatchItemFailures on the mapping (`chalice deploy` cannot set it) Lambda
        # would delete every message of a batch that returns: fail the whole batch instead;
        # what was applied is applied again as a no-op on the next delivery.
        raise BatchFailedError(f"{len(failed)} of {len(records)} messages failed")
    return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}
