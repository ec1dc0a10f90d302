"""Webhook delivery, off the request path: the dispatcher and the delivery worker.

The dispatcher moves events from the outbox (recorded with the commit that flagged) to the
delivery queue, one message per event and subscribed webhook, publishes them on the
EventBridge bus when there is one, and only then marks them dispatched: a crash in between
sends them again (at least once; the queue drops a repeat within five minutes and the
deliveries' log skips an event already delivered). The worker POSTs each message's event,
signed, to the URL checked again after DNS; any non-2xx or no answer within the timeout comes
back after an exponential backoff with full jitter, for up to WEBHOOK_MAX_AGE_S (24 h) from the
first attempt, then the delivery is dead-lettered: failed in the log, no longer retried.
Locally threads beside the server run both; on AWS a scheduled Lambda dispatches and a Lambda
on the SQS delivery queue delivers.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from chalicelib.bootstrap import Runtime, webhook_key
from chalicelib.config import ConfigError
from chalicelib.domain.alerts import Event
from chalicelib.domain.timeutil import format_timestamp, now_utc, parse_timestamp
from chalicelib.domain.webhook_urls import Resolver, Target, UnsafeUrlError, check_url
from chalicelib.domain.webhooks import (
    DELIVERED,
    EVENT_ID_HEADER,
    FAILED,
    SIGNATURE_HEADER,
    Delivery,
    Webhook,
    body_of,
    derive_secret,
    sign,
)
from chalicelib.observability import log
from chalicelib.ports.queue import MAX_RECEIVE_BATCH, OutgoingMessage, QueueError, ReceivedMessage
from chalicelib.ports.store import OutboxStore, StoreError
from chalicelib.support.backoff import Backoff

DISPATCH_BATCH = 100
Sender = Callable[[Target, bytes, dict[str, str], float], tuple[int | None, str]]


def to_message(event: Event, hook: Webhook) -> OutgoingMessage:
    """The queue message of one event to one webhook: its own group (a slow receiver delays
    only its own deliveries) and a deduplication id stable across dispatches."""
    key = f"{hook.id}:{event.id}"
    body = {"bank": hook.bank, "webhook_id": hook.id, "event": event.to_json()}
    return OutgoingMessage(key, key, json.dumps(body, separators=(",", ":"), default=str))


def _from_message(body: str) -> tuple[str, str, Event]:
    data = json.loads(body)
    e = data["event"]
    return (str(data["bank"]), str(data["webhook_id"]),
            Event(str(e["id"]), str(e["type"]), str(data["bank"]), str(e["created"]),
                  dict(e["data"])))


def dispatch_once(rt: Runtime, outbox: OutboxStore, limit: int = DISPATCH_BATCH) -> int:
    """Hand up to `limit` pending events to delivery; how many were handed over."""
    events = outbox.pending_events(limit)
    if not events:
        return 0
    hooks = {bank: rt.webhooks.list_webhooks(bank) for bank in {e.bank for e in events}}
    messages = [to_message(e, h) for e in events for h in hooks[e.bank] if h.wants(e.type)]
    if messages:
        if rt.webhook_queue is None:
            raise ConfigError("WEBHOOK_QUEUE_URL is required with QUEUE=sqs to deliver webhooks")
        rt.webhook_queue.send(messages)  # QueueError: nothing is marked, all sent again
    if rt.bus is not None:
        rt.bus.publish(events)
    outbox.mark_dispatched(events)
    log("INFO", "webhook_dispatch", events=len(events), messages=len(messages))
    return len(events)


def dispatch_all(rt: Runtime, budget_s: float = 50.0) -> int:
    """Dispatch until the outbox is empty or the budget is spent (the scheduled Lambda)."""
    outbox = rt.outbox
    if outbox is None:
        return 0
    started, moved = time.monotonic(), 0
    while time.monotonic() - started < budget_s:
        n = dispatch_once(rt, outbox)
        moved += n
        if n < DISPATCH_BATCH:
            break
    return moved


@dataclass(frozen=True)
class Outcome:
    """What became of one message: done (delete it) or retry after `retry_in_s` seconds."""

    done: bool
    retry_in_s: int = 0


DONE = Outcome(True)


def _default_sender() -> Sender:
    from chalicelib.adapters.webhook_http import post

    return post


def _default_resolver() -> Resolver:
    from chalicelib.adapters.webhook_http import resolve

    return resolve


def deliver(rt: Runtime, body: str, now: datetime, sender: Sender | None = None,
            resolve: Resolver | None = None) -> Outcome:
    """One attempt at one message's delivery, written to the deliveries' log."""
    bank, webhook_id, event = _from_message(body)
    hook = rt.webhooks.get_webhook(bank, webhook_id)
    if hook is None:  # deleted since: nothing to deliver to
        log("INFO", "webhook_gone", event_id=event.id)
        return DONE
    line = (rt.webhooks.get_delivery(bank, webhook_id, event.created, event.id)
            or Delivery(webhook_id, event.id, event.type, event.created))
    if line.status in (DELIVERED, FAILED):  # a repeat from the dispatcher: already settled
        log("INFO", "webhook_repeat_skipped", event_id=event.id, status=line.status)
        return DONE
    ws, at = rt.settings.webhooks, format_timestamp(now)
    try:
        target = check_url(hook.url, rt.settings.stage, resolve or _default_resolver())
    except UnsafeUrlError as exc:  # DNS now answers a refused address: an attempt that fails
        status, error = None, exc.message
    else:
        raw = body_of(event)
        secret = derive_secret(webhook_key(rt.settings), bank, webhook_id)
        headers = {EVENT_ID_HEADER: event.id,
                   SIGNATURE_HEADER: sign(secret, int(now.timestamp()), raw)}
        status, error = (sender or _default_sender())(target, raw, headers, ws.timeout_s)
    line = line.attempted(at, status, error)
    if status is not None and 200 <= status < 300:
        rt.webhooks.put_delivery(bank, replace(line, status=DELIVERED))
        return DONE
    assert line.first_attempt_at is not None
    age = (now - parse_timestamp(line.first_attempt_at)).total_seconds()
    if age >= ws.max_age_s:
        rt.webhooks.put_delivery(bank, replace(line, status=FAILED))
        log("WARNING", "webhook_dead_lettered", event_id=event.id, attempts=line.attempts,
            error=error[:200])
        return DONE
    backoff = Backoff(ws.retry_base_s, ws.retry_cap_s)
    wait = max(1, min(int(backoff.delay(line.attempts - 1)), int(ws.max_age_s - age) + 1))
    rt.webhooks.put_delivery(bank, replace(
        line, next_retry_at=format_timestamp(now + timedelta(seconds=wait))))
    return Outcome(False, wait)


def _attempt(rt: Runtime, message: ReceivedMessage, sender: Sender | None,
             resolve: Resolver | None) -> Outcome:
    try:
        return deliver(rt, message.body, now_utc(), sender, resolve)
    except Exception as exc:  # the log or the key failed: the message comes back
        log("ERROR", "webhook_delivery_error", message_id=message.message_id,
            error=f"{type(exc).__name__}: {exc}"[:300])
        return Outcome(False, rt.settings.webhooks.retry_base_s)


def deliver_batch(rt: Runtime, batch: list[ReceivedMessage], sender: Sender | None = None,
                  resolve: Resolver | None = None) -> list[Outcome]:
    """Deliver a batch's messages at once (one slow receiver does not delay the others)."""
    if len(batch) <= 1:
        return [_attempt(rt, m, sender, resolve) for m in batch]
    with ThreadPoolExecutor(len(batch)) as pool:
        return list(pool.map(lambda m: _attempt(rt, m, sender, resolve), batch))


def poll_once(rt: Runtime, wait_s: float = 0, sender: Sender | None = None,
              resolve: Resolver | None = None) -> int:
    """Receive a batch of the embedded delivery queue, deliver it, delete what is done and
    hide the rest until their retry; how many messages were received."""
    queue = rt.webhook_queue
    if queue is None:
        return 0
    batch = queue.receive(MAX_RECEIVE_BATCH, rt.settings.webhooks.visibility_s, wait_s)
    outcomes = deliver_batch(rt, batch, sender, resolve)
    done = [m.handle for m, o in zip(batch, outcomes, strict=True) if o.done]
    if done:
        queue.delete_many(done)
    for m, o in zip(batch, outcomes, strict=True):
        if not o.done:
            queue.change_visibility(m.handle, o.retry_in_s)
    return len(batch)


def drain(rt: Runtime, sender: Sender | None = None, max_batches: int = 1000,
          outbox: OutboxStore | None = None, resolve: Resolver | None = None) -> None:
    """Dispatch and deliver until nothing is deliverable now (tests, `worker --once`)."""
    outbox = outbox or rt.outbox
    while outbox is not None and dispatch_once(rt, outbox):
        pass
    for _ in range(max_batches):
        if not poll_once(rt, 0, sender, resolve):
            return


def _dispatch_loop(rt: Runtime, outbox: OutboxStore) -> None:
    pause = rt.settings.webhooks.dispatch_interval_s
    while not rt.stop.is_set():
        try:
            if dispatch_once(rt, outbox) < DISPATCH_BATCH:
                rt.stop.wait(pause)
        except (QueueError, StoreError, ConfigError) as exc:
            log("ERROR", "webhook_dispatch_error", error=str(exc)[:500])
            rt.stop.wait(pause)


def _delivery_loop(rt: Runtime) -> None:
    while not rt.stop.is_set():
        try:
            poll_once(rt, 1.0)
        except (QueueError, StoreError) as exc:
            log("ERROR", "webhook_worker_error", error=str(exc)[:500])
            rt.stop.wait(1.0)


def start_local_workers(rt: Runtime, outbox: OutboxStore | None = None,
                        workers: int | None = None) -> list[threading.Thread]:
    """The dispatcher and WEBHOOK_LOCAL_WORKERS delivery threads, daemons of this process (the
    local server and `make worker`); on AWS these are the Lambdas. They stop with the runtime."""
    threads: list[threading.Thread] = []
    outbox = outbox or rt.outbox
    count = rt.settings.webhooks.local_workers if workers is None else workers
    if outbox is not None:
        threads.append(threading.Thread(target=_dispatch_loop, args=(rt, outbox), daemon=True,
                                        name="webhook-dispatcher"))
    threads += [threading.Thread(target=_delivery_loop, args=(rt,), daemon=True,
                                 name=f"webhook-delivery-{i}")
                for i in range(count)]
    for t in threads:
        t.start()
    return threads


def on_sqs_records(rt: Runtime, records: list[Mapping[str, Any]],
                   sender: Sender | None = None) -> dict[str, Any]:
    """The delivery Lambda: deliver the batch; a message to retry is hidden until its retry
    and reported failed (partial batch response), the others are deleted by Lambda."""
    from chalicelib.usecases.consumer import BatchFailedError, from_sqs_record

    batch = [from_sqs_record(r) for r in records]
    outcomes = deliver_batch(rt, batch, sender)
    failed = []
    for m, o in zip(batch, outcomes, strict=True):
        if o.done:
            continue
        failed.append(m.message_id)
        if rt.webhook_queue is not None:
            try:
                rt.webhook_queue.change_visibility(m.handle, o.retry_in_s)
            except QueueError as exc:  # the visibility timeout brings it back anyway
                log("WARNING", "webhook_backoff_failed", message_id=m.message_id, error=str(exc))
    if failed and not rt.settings.queue.partial_batch:
        raise BatchFailedError(f"{len(failed)} of {len(records)} deliveries to retry")
    return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}
