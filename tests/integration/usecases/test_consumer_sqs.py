"""The prod stage's asynchronous path on moto (DynamoDB + SQS FIFO), called as Lambda calls it:
the API event queues, SQS delivers (as the event source mapping would), the consumer Lambda
answers a partial batch response with the FIFO rule, GET /ingest reports every item. The queues
are the template's (the redrive policy's 1000 receives a backstop, the consumer's own limit 5);
the consumer's dead letters on the sequenced path: test_consumer_dead_letters.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from app import app, consume_ingest
from bench.moto_fifo import increasing_sequences
from chalicelib.adapters.dynamo import DynamoStore
from chalicelib.bootstrap import get_runtime, set_runtime
from chalicelib.domain.messages import group_for
from chalicelib.ports.queue import BACKSTOP_RECEIVES, OutgoingMessage, ReceivedMessage
from chalicelib.usecases.api_keys import create_key
from scripts.provision import create_table_request
from tests.integration.api.test_lambda_event import LambdaContext, rest_event
from tests.support.aws_calls import record_aws_calls
from tests.support.factories import raw_tx
from tests.support.queues import create_fifo_queues

pytestmark = [pytest.mark.emulator]  # moto: DynamoDB and SQS FIFO

TABLE = "txn-sqs-consumer"


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The prod stage's environment on moto, with the FIFO queue and its DLQ; a bank's key."""
    with mock_aws(), increasing_sequences():  # SQS numbers a group's messages increasingly
        sqs = boto3.client("sqs", region_name="us-east-1")
        url, dlq = create_fifo_queues(sqs, max_receives=BACKSTOP_RECEIVES)  # the template's
        for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                            "AWS_SECRET_ACCESS_KEY": "testing", "STORE": "dynamodb",
                            "TABLE_NAME": TABLE, "AGGREGATE_SHARDS": "2", "STAGE": "prod",
                            "QUEUE": "sqs", "QUEUE_URL": url, "DEAD_LETTER_QUEUE_URL": dlq,
                            "QUEUE_MAX_RECEIVES": "5", "QUEUE_PARTIAL_BATCH": "on",
                            "CURSOR_SECRET": "sqs-cursor-secret-" + "x" * 32}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("DEMO_API_KEY", raising=False)
        boto3.client("dynamodb").create_table(**create_table_request(TABLE))
        set_runtime(None)
        try:
            rt = get_runtime()
            assert isinstance(rt.store, DynamoStore)
            record_aws_calls(rt.store.client)
            record_aws_calls(rt.queue.client)  # type: ignore[attr-defined]
            key, _ = create_key(rt.store, "acme-bank")
            yield key
        finally:
            set_runtime(None)


def post_async(key: str, body: dict[str, Any]) -> dict[str, Any]:
    event = rest_event("POST", "/transactions", "/transactions", key, json.dumps(body).encode())
    event["headers"]["Prefer"] = "respond-async"
    event["multiValueHeaders"]["Prefer"] = ["respond-async"]
    response: dict[str, Any] = app(event, LambdaContext())
    assert response["statusCode"] == 202, response
    return response


def deliver(max_messages: int = 10) -> list[ReceivedMessage]:
    """What the event source mapping would hand the consumer: one receive from the queue."""
    return get_runtime().queue.receive(max_messages, 60)


def sqs_event(messages: list[ReceivedMessage]) -> dict[str, Any]:
    """An SQS event as Lambda delivers it from a FIFO queue."""
    return {"Records": [{
        "messageId": m.message_id, "receiptHandle": m.handle, "body": m.body,
        "attributes": {"ApproximateReceiveCount": str(m.receive_count),
                       "MessageGroupId": m.group, "SentTimestamp": "1768053600000"},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:txn-stream-prod-ingest.fifo",
        "awsRegion": "us-east-1"} for m in messages]}


def ingest_status(key: str, location: str) -> dict[str, Any]:
    request_id = location.rsplit("/", 1)[-1]
    event = rest_event("GET", f"/ingest/{request_id}", "/ingest/{request_id}", key,
                       path_parameters={"request_id": request_id})
    response = app(event, LambdaContext())
    assert response["statusCode"] == 200, response
    body: dict[str, Any] = json.loads(response["body"])
    return body


def test_lambda_event_async_post_is_applied_by_the_sqs_consumer(deployed: str) -> None:
    response = post_async(deployed, {"transactions": [raw_tx("a"), raw_tx("b", account="B9")]})
    location = response["headers"]["Location"]
    assert location.startswith("/api/ingest/")  # the stage's base path, as the caller sees it
    assert ingest_status(deployed, location)["status"] == "pending"
    batch = deliver()
    assert len(batch) == 2  # one message per account
    answer = consume_ingest(sqs_event(batch), LambdaContext())
    assert answer == {"batchItemFailures": []}
    for m in batch:  # the event source mapping deletes what the answer did not list
        get_runtime().queue.delete(m.handle)
    done = ingest_status(deployed, location)
    assert done["status"] == "done"
    assert [r["status"] for r in done["results"]] == ["created", "created"]


def test_lambda_event_a_failed_message_fails_the_rest_of_its_group_in_the_batch(
        deployed: str) -> None:
    queue = get_runtime().queue
    groups = get_runtime().settings.queue.groups  # A123 and B9 are in different groups
    queue.send([OutgoingMessage(group_for("acme-bank", "A123", groups), "poison",
                                "not a message")])
    response = post_async(deployed, {"transactions": [raw_tx("a1"), raw_tx("b1", account="B9"),
                                                      raw_tx("a2")]})
    batch = deliver()
    assert batch[0].body == "not a message"
    answer = consume_ingest(sqs_event(batch), LambdaContext())
    failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
    a_group = group_for("acme-bank", "A123", groups)
    assert failed == {m.message_id for m in batch if m.group == a_group}
    assert len(failed) == 2  # the poison message and the A123 message behind it
    status = ingest_status(deployed, response["headers"]["Location"])
    assert [(r["id"], r["status"]) for r in status["results"]] == [
        ("a1", "queued"), ("b1", "created"), ("a2", "queued")]


def test_lambda_event_generated_by_chalice_reaches_the_consumer(deployed: str) -> None:
    with Client(app) as client:
        event = client.events.generate_sqs_event(["not a message"],
                                                 queue_name="txn-stream-prod-ingest.fifo")
        answer = client.lambda_.invoke("consume_ingest", event).payload
    assert len(answer["batchItemFailures"]) == 1  # unreadable: left for the dead letters


def test_lambda_event_without_partial_batch_responses_a_failure_fails_the_whole_batch(
        deployed: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.usecases.consumer import BatchFailedError

    monkeypatch.setenv("QUEUE_PARTIAL_BATCH", "off")  # the `chalice deploy` mapping
    set_runtime(None)  # rebuilt from the environment on the next request
    queue = get_runtime().queue
    groups = get_runtime().settings.queue.groups  # A123 and B9 are in different groups
    queue.send([OutgoingMessage(group_for("acme-bank", "A123", groups), "poison",
                                "not a message")])
    response = post_async(deployed, {"transactions": [raw_tx("b1", account="B9")]})
    with pytest.raises(BatchFailedError):
        consume_ingest(sqs_event(deliver()), LambdaContext())
    # the good message was applied; its redelivery (the whole batch comes back) is a no-op
    status = ingest_status(deployed, response["headers"]["Location"])
    assert [(r["id"], r["status"]) for r in status["results"]] == [("b1", "created")]


@pytest.mark.parametrize(("values", "status"), [
    # API Gateway's `headers` holds the last of repeated headers; all are in multiValueHeaders
    (["respond-async", "wait=5;respond-async"], 202),
    (["wait=5;respond-async", "respond-async"], 202),
    (["return=minimal; respond-async", "wait=5"], 201),
])
def test_lambda_event_reads_every_prefer_header_as_one_list(deployed: str, values: list[str],
                                                            status: int) -> None:
    event = rest_event("POST", "/transactions", "/transactions", deployed,
                       json.dumps(raw_tx("p1")).encode())
    event["headers"]["Prefer"] = values[-1]
    event["multiValueHeaders"]["Prefer"] = values
    response = app(event, LambdaContext())
    assert response["statusCode"] == status, response
