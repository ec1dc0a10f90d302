"""The dispatcher and the delivery worker with a recording sender (no socket): fan-out, at
least once, retries with backoff, dead-lettering after the maximum age, DNS checked again."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib.bootstrap import Runtime
from chalicelib.domain.webhook_urls import Target
from chalicelib.domain.webhooks import verify
from chalicelib.ports.queue import QueueError
from chalicelib.usecases import webhook_delivery, webhooks
from tests.support.outbox import FailingSends, MemoryOutbox, alert_event, webhook_runtime

NOW = datetime(2026, 1, 10, 18, 0, tzinfo=UTC)


def public(host: str, port: int) -> list[str]:
    return ["93.184.216.34"]


class Sender:
    """Records every POST and answers from a script (None: no answer)."""

    def __init__(self, *answers: int | None) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[Target, bytes, dict[str, str]]] = []

    def __call__(self, target: Target, body: bytes, headers: dict[str, str],
                 timeout_s: float) -> tuple[int | None, str]:
        self.calls.append((target, body, headers))
        status = self.answers.pop(0) if self.answers else 200
        return status, "" if status and status < 300 else f"HTTP {status}"


@pytest.fixture
def wrt(runtime: Runtime, tmp_path: Path) -> Runtime:
    return webhook_runtime(runtime, tmp_path, retry_base_s=30, retry_cap_s=3600)


def register(rt: Runtime, bank: str = "demo") -> dict[str, Any]:
    return webhooks.register(rt, bank, {"url": "https://hooks.example/in"}, NOW, public)


def messages(rt: Runtime) -> list[Any]:
    assert rt.webhook_queue is not None
    return rt.webhook_queue.receive(10, 30)


def test_each_event_goes_to_each_webhook_of_its_bank_and_is_marked_after_sending(
        wrt: Runtime) -> None:
    one, two, other = register(wrt), register(wrt), register(wrt, "bank-b")
    outbox = MemoryOutbox()
    outbox.record([alert_event("demo", "t1"), alert_event("demo", "t2"),
                   alert_event("bank-c", "t3")])  # a bank without webhooks: marked, not sent
    assert webhook_delivery.dispatch_once(wrt, outbox) == 3
    sent = {(json.loads(m.body)["webhook_id"], json.loads(m.body)["event"]["id"])
            for m in messages(wrt)}
    assert sent == {(h["id"], alert_event("demo", t).id) for h in (one, two) for t in ("t1", "t2")}
    assert other["id"] not in {w for w, _ in sent}
    assert outbox.pending_events(10) == [] and outbox.dispatched == 3


def test_a_failed_send_marks_nothing_so_the_events_go_again(wrt: Runtime) -> None:
    from dataclasses import replace

    register(wrt)
    outbox = MemoryOutbox()
    outbox.record([alert_event("demo", "t1")])
    with pytest.raises(QueueError):
        webhook_delivery.dispatch_once(replace(wrt, webhook_queue=FailingSends()), outbox)
    assert [e.id for e in outbox.pending_events(10)] == [alert_event("demo", "t1").id]


def test_a_repeated_dispatch_is_delivered_once(wrt: Runtime) -> None:
    """A crash between sending and marking sends the event again: the queue drops the repeat
    within its window, and after it the log shows it delivered, so it is skipped."""
    register(wrt)
    sender, event = Sender(), alert_event("demo", "t1")
    for _ in range(2):
        outbox = MemoryOutbox()
        outbox.record([event])
        webhook_delivery.drain(wrt, sender, outbox=outbox, resolve=public)
    assert len(sender.calls) == 1
    assert wrt.webhook_queue is not None
    # after the five-minute window the queue takes the repeat; the log skips it
    message = webhook_delivery.to_message(event, wrt.webhooks.list_webhooks("demo")[0])
    assert webhook_delivery.deliver(wrt, message.body, NOW, sender, public).done
    assert len(sender.calls) == 1


def test_the_post_is_signed_with_the_secret_shown_at_registration(wrt: Runtime) -> None:
    hook, sender = register(wrt), Sender()
    event = alert_event("demo", "t1")
    message = webhook_delivery.to_message(event, wrt.webhooks.list_webhooks("demo")[0])
    assert webhook_delivery.deliver(wrt, message.body, NOW, sender, public).done
    ((target, body, headers),) = sender.calls
    assert (target.host, target.address, target.path) == ("hooks.example", "93.184.216.34", "/in")
    assert headers["Txn-Event-Id"] == event.id
    assert verify(hook["secret"], headers["Txn-Signature"], body, int(NOW.timestamp()))
    assert json.loads(body) == json.loads(json.dumps(event.to_json()))
    (line,) = wrt.webhooks.list_deliveries("demo", hook["id"], 10)
    assert (line.status, line.attempts, line.last_status) == ("delivered", 1, 200)


def test_a_failure_is_retried_with_backoff_within_the_first_30_s_with_the_same_id(
        wrt: Runtime) -> None:
    hook, sender = register(wrt), Sender(500, None, 204)
    event = alert_event("demo", "t1")
    body = webhook_delivery.to_message(event, wrt.webhooks.list_webhooks("demo")[0]).body
    first = webhook_delivery.deliver(wrt, body, NOW, sender, public)
    assert not first.done and 1 <= first.retry_in_s <= 30
    (line,) = wrt.webhooks.list_deliveries("demo", hook["id"], 10)
    assert (line.status, line.attempts, line.last_status, line.last_error) == (
        "pending", 1, 500, "HTTP 500")
    assert line.next_retry_at is not None
    later = NOW + timedelta(seconds=first.retry_in_s)
    assert not webhook_delivery.deliver(wrt, body, later, sender, public).done
    assert webhook_delivery.deliver(wrt, body, later + timedelta(minutes=1), sender, public).done
    assert {h["Txn-Event-Id"] for _, _, h in sender.calls} == {event.id}
    (line,) = wrt.webhooks.list_deliveries("demo", hook["id"], 10)
    assert (line.status, line.attempts, line.first_attempt_at) == ("delivered", 3,
                                                                   "2026-01-10T18:00:00Z")


def test_after_24_hours_of_failures_the_delivery_is_dead_lettered(wrt: Runtime) -> None:
    hook, sender = register(wrt), Sender(*[None] * 10_000)
    body = webhook_delivery.to_message(alert_event("demo", "t1"),
                                       wrt.webhooks.list_webhooks("demo")[0]).body
    at, waits = NOW, []
    while True:
        outcome = webhook_delivery.deliver(wrt, body, at, sender, public)
        if outcome.done:
            break
        waits.append(outcome.retry_in_s)
        at += timedelta(seconds=outcome.retry_in_s)
    assert at - NOW >= timedelta(hours=24) and at - NOW < timedelta(hours=25)
    assert max(waits) <= 3600 and len(sender.calls) == len(waits) + 1
    (line,) = wrt.webhooks.list_deliveries("demo", hook["id"], 10)
    assert (line.status, line.attempts, line.next_retry_at) == ("failed", len(sender.calls), None)
    assert webhook_delivery.deliver(wrt, body, at, sender, public).done  # settled: no call
    assert len(sender.calls) == len(waits) + 1


def test_dns_answering_a_private_address_at_delivery_fails_the_attempt_without_a_call(
        wrt: Runtime) -> None:
    hook, sender = register(wrt), Sender()
    body = webhook_delivery.to_message(alert_event("demo", "t1"),
                                       wrt.webhooks.list_webhooks("demo")[0]).body
    outcome = webhook_delivery.deliver(wrt, body, NOW, sender, lambda h, p: ["169.254.169.254"])
    assert not outcome.done and sender.calls == []
    (line,) = wrt.webhooks.list_deliveries("demo", hook["id"], 10)
    assert "metadata" in line.last_error and line.last_status is None


def test_a_deleted_webhooks_messages_are_dropped(wrt: Runtime) -> None:
    hook, sender = register(wrt), Sender()
    body = webhook_delivery.to_message(alert_event("demo", "t1"),
                                       wrt.webhooks.list_webhooks("demo")[0]).body
    webhooks.delete(wrt, "demo", hook["id"], NOW)
    assert webhook_delivery.deliver(wrt, body, NOW, sender, public).done
    assert sender.calls == []
