"""The prod stage's webhooks on moto (DynamoDB, SQS FIFO, EventBridge), called as Lambda calls
them: the API registers and pings, the dispatcher puts the outbox's events on the delivery
queue and the bus, the delivery Lambda answers a partial batch response for retries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from app import app
from chalicelib.adapters.eventbridge import SOURCE, EventBridgeBus
from chalicelib.bootstrap import Runtime, get_runtime, set_runtime
from chalicelib.domain.webhook_urls import Target
from chalicelib.domain.webhooks import derive_secret, verify
from chalicelib.ports.store import StoreError
from chalicelib.usecases import webhook_delivery
from chalicelib.usecases.api_keys import create_key
from scripts.provision import create_table_request
from tests.integration.api.test_lambda_event import LambdaContext, rest_event
from tests.integration.usecases.test_consumer_sqs import sqs_event
from tests.support.aws_calls import record_aws_calls
from tests.support.outbox import MemoryOutbox, alert_event
from tests.support.queues import create_fifo_queues

pytestmark = [pytest.mark.emulator]

TABLE = "txn-webhooks-sqs"
BUS = "txn-stream-prod"  # the template's bus, so the policy test matches without renaming
WEBHOOK_QUEUE = "txn-stream-prod-webhooks.fifo"
KEY = "webhook-key-" + "k" * 40
URL = "https://93.184.216.34/hooks/txn"  # a public address: no DNS needed
SCHEDULED = {"version": "0", "id": "e1", "detail-type": "Scheduled Event", "source": "aws.events",
             "account": "123456789012", "time": "2026-01-10T18:00:00Z", "region": "us-east-1",
             "resources": ["arn:aws:events:us-east-1:123456789012:rule/dispatch"], "detail": {}}


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Runtime, str]]:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url, dlq = create_fifo_queues(sqs)
        hooks = sqs.create_queue(QueueName=WEBHOOK_QUEUE, Attributes={
            "FifoQueue": "true", "VisibilityTimeout": "60"})["QueueUrl"]
        boto3.client("events", region_name="us-east-1").create_event_bus(Name=BUS)
        for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                            "AWS_SECRET_ACCESS_KEY": "testing", "STORE": "dynamodb",
                            "TABLE_NAME": TABLE, "AGGREGATE_SHARDS": "2", "STAGE": "prod",
                            "QUEUE": "sqs", "QUEUE_URL": url, "DEAD_LETTER_QUEUE_URL": dlq,
                            "QUEUE_PARTIAL_BATCH": "on", "WEBHOOK_QUEUE_URL": hooks,
                            "WEBHOOK_KEY": KEY, "EVENT_BUS_NAME": BUS,
                            "CURSOR_SECRET": "sqs-cursor-secret-" + "x" * 32}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("DEMO_API_KEY", raising=False)
        boto3.client("dynamodb").create_table(**create_table_request(TABLE))
        set_runtime(None)
        try:
            rt = get_runtime()
            assert rt.webhook_queue is not None and rt.bus is not None
            for client in (rt.store.client, rt.webhook_queue.client,  # type: ignore[attr-defined]
                           rt.bus.client):  # type: ignore[attr-defined]
                record_aws_calls(client)
            key, _ = create_key(rt.store, "acme-bank")
            yield rt, key
        finally:
            set_runtime(None)


def call(key: str, method: str, path: str, resource: str, body: Any = None) -> tuple[int, Any]:
    raw = json.dumps(body).encode() if body is not None else None
    response = app(rest_event(method, path, resource, key, raw), LambdaContext())
    return response["statusCode"], json.loads(response["body"]) if response["body"] else None


class Sender:
    def __init__(self, *answers: int) -> None:
        self.answers = list(answers)
        self.seen: list[tuple[Target, bytes, dict[str, str]]] = []

    def __call__(self, target: Target, body: bytes, headers: dict[str, str],
                 timeout_s: float) -> tuple[int | None, str]:
        self.seen.append((target, body, headers))
        status = self.answers.pop(0)
        return status, "" if status < 300 else f"HTTP {status}"


def test_sqs_a_ping_is_retried_through_the_delivery_lambda_then_delivered(
        deployed: tuple[Runtime, str]) -> None:
    rt, key = deployed
    status, made = call(key, "POST", "/webhooks", "/webhooks", {"url": URL})
    assert status == 201 and made["secret"] == derive_secret(KEY.encode(), "acme-bank",
                                                             made["id"])
    status, ping = call_ping(key, made["id"])
    assert status == 202
    sender = Sender(500, 204)
    assert rt.webhook_queue is not None
    batch = rt.webhook_queue.receive(10, 60)
    answer = webhook_delivery.on_sqs_records(rt, sqs_event(batch)["Records"], sender)
    assert answer == {"batchItemFailures": [{"itemIdentifier": batch[0].message_id}]}
    assert rt.webhook_queue.receive(10, 60) == []  # hidden until its retry
    retry = webhook_delivery.on_sqs_records(rt, sqs_event(batch)["Records"], sender)
    assert retry == {"batchItemFailures": []}
    (_, _, headers), (_, again, headers2) = sender.seen
    assert headers["Txn-Event-Id"] == headers2["Txn-Event-Id"] == ping["event_id"]
    assert verify(made["secret"], headers2["Txn-Signature"], again, int(
        headers2["Txn-Signature"].split(",")[0][2:]))
    status, log = call_log(key, made["id"])
    assert status == 200 and [(d["status"], d["attempts"]) for d in log["deliveries"]] == [
        ("delivered", 2)]


def call_ping(key: str, webhook_id: str) -> tuple[int, Any]:
    event = rest_event("POST", f"/webhooks/{webhook_id}/test", "/webhooks/{webhook_id}/test",
                       key, path_parameters={"webhook_id": webhook_id})
    response = app(event, LambdaContext())
    return response["statusCode"], json.loads(response["body"])


def call_log(key: str, webhook_id: str) -> tuple[int, Any]:
    event = rest_event("GET", f"/webhooks/{webhook_id}/deliveries",
                       "/webhooks/{webhook_id}/deliveries", key,
                       path_parameters={"webhook_id": webhook_id})
    response = app(event, LambdaContext())
    return response["statusCode"], json.loads(response["body"])


def test_sqs_the_dispatcher_queues_each_delivery_and_puts_each_event_on_the_bus(
        deployed: tuple[Runtime, str]) -> None:
    rt, key = deployed
    _, made = call(key, "POST", "/webhooks", "/webhooks", {"url": URL})
    sqs, events = boto3.client("sqs", region_name="us-east-1"), boto3.client("events")
    seen = sqs.create_queue(QueueName="bus-watcher")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=seen, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"]
    events.put_rule(Name="alerts", EventBusName=BUS, EventPattern=json.dumps(
        {"source": [SOURCE], "detail-type": ["alert.opened"]}))
    events.put_targets(Rule="alerts", EventBusName=BUS, Targets=[{"Id": "q", "Arn": arn}])
    outbox = MemoryOutbox()
    outbox.record([alert_event("acme-bank", "t1"), alert_event("acme-bank", "t2")])
    assert webhook_delivery.dispatch_once(rt, outbox) == 2
    assert outbox.pending_events(10) == []
    assert rt.webhook_queue is not None
    queued = {(json.loads(m.body)["webhook_id"], json.loads(m.body)["event"]["id"])
              for m in rt.webhook_queue.receive(10, 60)}
    assert queued == {(made["id"], alert_event("acme-bank", t).id) for t in ("t1", "t2")}
    got = sqs.receive_message(QueueUrl=seen, MaxNumberOfMessages=10)["Messages"]
    details = [json.loads(m["Body"]) for m in got]
    assert {(d["source"], d["detail-type"], d["detail"]["bank"], d["detail"]["id"])
            for d in details} == {(SOURCE, "alert.opened", "acme-bank", alert_event(
                "acme-bank", t).id) for t in ("t1", "t2")}


def test_sqs_a_bus_that_refuses_leaves_every_event_in_the_outbox(
        deployed: tuple[Runtime, str]) -> None:
    from dataclasses import replace

    rt, _ = deployed
    missing = EventBridgeBus("no-such-bus", client=boto3.client("events"))
    outbox = MemoryOutbox()
    outbox.record([alert_event("acme-bank", "t1")])
    with pytest.raises(StoreError):
        webhook_delivery.dispatch_once(replace(rt, bus=missing), outbox)
    assert len(outbox.pending_events(10)) == 1


def test_sqs_a_flagged_transaction_goes_from_the_tables_outbox_to_the_queue_and_the_bus(
        deployed: tuple[Runtime, str]) -> None:
    """The dispatcher Lambda on the real commit side: ingest records the event in the table
    with the commit; the schedule's handler queues it and puts it on the bus, then marks it."""
    from app import dispatch_webhooks
    from chalicelib.domain.alerts import event_id
    from tests.support.factories import raw_tx

    rt, key = deployed
    _, made = call(key, "POST", "/webhooks", "/webhooks", {"url": URL})
    status, _ = call(key, "POST", "/transactions", "/transactions",
                     raw_tx("big1", amount="25000.00"))
    assert status == 201
    assert rt.outbox is not None and [e.id for e in rt.outbox.pending_events(10)] == [
        event_id("acme-bank", "big1")]
    assert dispatch_webhooks(SCHEDULED, LambdaContext()) == {"dispatched": 1}
    assert rt.outbox.pending_events(10) == []
    assert rt.webhook_queue is not None
    (message,) = rt.webhook_queue.receive(10, 60)
    body = json.loads(message.body)
    assert (body["webhook_id"], body["event"]["id"]) == (made["id"], event_id("acme-bank", "big1"))
    assert dispatch_webhooks(SCHEDULED, LambdaContext()) == {"dispatched": 0}  # marked
