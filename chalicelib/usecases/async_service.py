"""The asynchronous routes and the SQS consumer in plain values (app.py only adapts them)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chalicelib.bootstrap import Runtime
from chalicelib.observability import log
from chalicelib.ports.queue import QueueError, ReceivedMessage
from chalicelib.usecases import ingest_async
from chalicelib.usecases.async_runtime import consume_batch, get_async
from chalicelib.usecases.consumer import backoff_s
from chalicelib.usecases.ingest_sync import check_content_type

wants_async = ingest_async.wants_async


def post(rt: Runtime, bank: str, content_type: str | None, raw: bytes,
         now: datetime) -> tuple[str, dict[str, Any]]:
    """Queue a request: its id and the 202 body."""
    check_content_type(content_type)
    parts = get_async(rt)
    request_id = uuid.uuid4().hex
    return request_id, ingest_async.submit(rt, parts.queue, parts.receipts, bank, raw, now,
                                           request_id, parts.settings.groups)


def status(rt: Runtime, bank: str, request_id: str) -> dict[str, Any]:
    """GET /ingest/{request_id} for the caller's bank."""
    return ingest_async.status(get_async(rt).receipts, bank, request_id)


def from_sqs_record(record: Mapping[str, Any]) -> ReceivedMessage:
    """A Lambda SQS event record as a delivered message."""
    attributes = record.get("attributes") or {}
    return ReceivedMessage(str(record["messageId"]), str(attributes.get("MessageGroupId", "")),
                           str(record["body"]), int(attributes.get("ApproximateReceiveCount", 1)),
                           str(record["receiptHandle"]))


def on_sqs_records(rt: Runtime, records: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The Lambda consumer: handle the batch, answer the partial batch response. A failed
    message comes back after a short backoff rather than the whole visibility timeout."""
    parts = get_async(rt, start_workers=False)
    outcome = consume_batch(rt, parts, [from_sqs_record(r) for r in records])
    for m in outcome.failed:
        try:
            parts.queue.change_visibility(m.handle, backoff_s(m.receive_count))
        except QueueError as exc:  # the visibility timeout brings it back anyway
            log("WARNING", "ingest_backoff_failed", message_id=m.message_id, error=str(exc))
    log("INFO", "ingest_batch", received=len(records), done=len(outcome.done),
        failed=len(outcome.failed), skipped=len(outcome.skipped))
    failed = outcome.failed_ids()
    if failed and not parts.settings.partial_batch:
        # Without ReportBatchItemFailures on the mapping (`chalice deploy` cannot set it) Lambda
        # would delete every message of a batch that returns: fail the whole batch instead;
        # what was applied is applied again as a no-op on the next delivery.
        raise BatchFailedError(f"{len(failed)} of {len(records)} messages failed")
    return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}


class BatchFailedError(Exception):
    """Some messages of an SQS batch failed and partial batch responses are off."""
