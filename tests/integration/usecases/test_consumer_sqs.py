"""The prod stage's asynchronous path on moto (DynamoDB + SQS FIFO), called as Lambda calls it:
the API event queues, SQS delivers (as the event source mapping would), the consumer Lambda
answers a partial batch response with the FIFO rule, GET /ingest reports every item. The queues
are the template's: the consumer gives a message up after QUEUE_MAX_RECEIVES (5) receives and
moves it to the dead letters itself; the redrive policy's 1000 receives are a backstop only."""

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
from chalicelib.domain.aggregates import BANK_KEY
from chalicelib.domain.messages import group_for
from chalicelib.ports.queue import BACKSTOP_RECEIVES, OutgoingMessage, ReceivedMessage
from chalicelib.usecases.api_keys import create_key
from scripts.provision import create_table_request
from scripts.redrive import redrive
from tests.integration.api.test_lambda_event import LambdaContext, rest_event
from tests.support.aws_calls import record_aws_calls
from tests.support.factories import raw_tx
from tests.support.queues import create_fifo_queues
from tests.support.store_faults import StoreFaults, puts_of, reads_of

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
                       "MessageGroupId": m.group, "SequenceNumber": m.sequence,
                       "SentTimestamp": "1768053600000"},
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


BANK = "acme-bank"


def lambda_round(batch: list[ReceivedMessage]) -> set[str]:
    """One Lambda invocation on a delivered batch, as the event source mapping runs it: what
    the answer lists stays, the rest is deleted (what the consumer moved is gone already).
    The failed ones are made visible again at once: the test does not wait out the backoff."""
    queue = get_runtime().queue
    answer = consume_ingest(sqs_event(batch), LambdaContext())
    failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
    for m in batch:
        if m.message_id in failed:
            queue.change_visibility(m.handle, 0)
    queue.delete_many([m.handle for m in batch if m.message_id not in failed])
    return failed


def items(key: str, location: str) -> list[tuple[str, str]]:
    return [(r["id"], r["status"]) for r in ingest_status(key, location)["results"]]


def bank_count() -> int:
    """How many transactions the bank's totals count (0 before its first)."""
    bucket = get_runtime().store.get_buckets(BANK, [BANK_KEY]).get(BANK_KEY)
    return 0 if bucket is None else bucket.count


def same_group_accounts() -> tuple[str, str]:
    """Two accounts whose items go to one message group (QUEUE_GROUPS hashes accounts)."""
    groups = get_runtime().settings.queue.groups
    first = group_for(BANK, "X0", groups)
    other = next(f"X{i}" for i in range(1, 200) if group_for(BANK, f"X{i}", groups) == first)
    return "X0", other


def test_lambda_event_a_message_failing_before_any_write_is_dead_lettered_on_its_5th_receive(
        deployed: str) -> None:
    rt = get_runtime()
    assert isinstance(rt.store, DynamoStore) and rt.settings.queue.max_receives == 5
    poisoned, behind = same_group_accounts()
    # its accounts cannot be read: it fails before its first write, every time
    faults = StoreFaults(rt.store, reads_of(f"AC#{BANK}#{poisoned}"))
    head = post_async(deployed, {"transactions": [raw_tx("p1", account=poisoned),
                                                  raw_tx("p2", account=poisoned)]})
    head_at = head["headers"]["Location"]
    sibling_at = post_async(deployed, {"transactions": [raw_tx("q1", account=behind)]})[
        "headers"]["Location"]
    for receive in range(1, 6):
        batch = deliver()
        assert [m.receive_count for m in batch] == [receive, receive]  # the group's two, in order
        assert all(m.sequence for m in batch)  # applied in sequence, without transactions
        failed = lambda_round(batch)
        if receive < 5:
            assert failed == {m.message_id for m in batch}  # the sibling skipped behind it
            assert items(deployed, head_at) == [("p1", "queued"), ("p2", "queued")]
    # on its 5th receive the consumer settled it `failed` and moved it; the sibling, skipped
    # five times, never failed: it is reported to come back, and goes on
    assert failed == {batch[1].message_id}
    assert rt.queue.depth() == (1, 1)
    done = ingest_status(deployed, head_at)
    assert done["status"] == "done"
    assert [(r["id"], r["status"]) for r in done["results"]] == [("p1", "failed"),
                                                                ("p2", "failed")]
    assert all(r["errors"][0]["field"] == "queue" for r in done["results"])
    (sibling,) = deliver()
    assert sibling.receive_count == 6 and lambda_round([sibling]) == set()
    assert items(deployed, sibling_at) == [("q1", "created")]
    assert bank_count() == 1
    # mended: the operator redrives; the items read `queued`, then are applied once
    faults.on = False
    assert redrive(get_runtime()) == 1
    assert items(deployed, head_at) == [("p1", "queued"), ("p2", "queued")]
    (back,) = deliver()
    assert back.receive_count == 1 and lambda_round([back]) == set()
    assert items(deployed, head_at) == [("p1", "created"), ("p2", "created")]
    assert redrive(get_runtime()) == 0 and rt.queue.depth() == (0, 0)
    assert bank_count() == 3  # each counted once


def test_lambda_event_a_message_that_has_written_stays_queued_past_5_receives_and_applies_once(
        deployed: str) -> None:
    rt = get_runtime()
    assert isinstance(rt.store, DynamoStore)
    # each delivery writes the records, then dies: half applied (HalfApplied)
    faults = StoreFaults(rt.store, puts_of(f"TX#{BANK}#"), after=True)
    location = post_async(deployed, {"transactions": [raw_tx("h1"), raw_tx("h2")]})[
        "headers"]["Location"]
    for receive in range(1, 8):
        (message,) = deliver()
        assert message.receive_count == receive
        assert lambda_round([message]) == {message.message_id}  # never given up
        assert items(deployed, location) == [("h1", "queued"), ("h2", "queued")]
    assert faults.hits >= 7
    assert rt.queue.depth() == (1, 0)  # still in the queue, nothing in the dead letters
    assert bank_count() == 0  # its records are written, its accounts and totals not yet
    faults.on = False
    (message,) = deliver()
    assert message.receive_count == 8 and lambda_round([message]) == set()
    assert items(deployed, location) == [("h1", "created"), ("h2", "created")]
    assert bank_count() == 2 and rt.queue.depth() == (0, 0)


def test_lambda_event_a_message_whose_earlier_delivery_wrote_is_kept_though_this_one_wrote_nothing(
        deployed: str) -> None:
    rt = get_runtime()
    assert isinstance(rt.store, DynamoStore)
    crash = StoreFaults(rt.store, puts_of(f"TX#{BANK}#"), after=True)  # the first: writes, dies
    location = post_async(deployed, {"transactions": [raw_tx("w1")]})["headers"]["Location"]
    (message,) = deliver()
    assert lambda_round([message]) == {message.message_id}
    crash.on = False
    # from now on it fails before writing (its account cannot be read), past its 5th receive
    down = StoreFaults(rt.store, reads_of(f"AC#{BANK}#"))
    for receive in range(2, 7):
        (message,) = deliver()
        assert message.receive_count == receive
        assert lambda_round([message]) == {message.message_id}  # its record has its token
    assert rt.queue.depth() == (1, 0)
    assert items(deployed, location) == [("w1", "queued")]
    down.on = False
    (message,) = deliver()
    assert lambda_round([message]) == set()
    assert items(deployed, location) == [("w1", "created")] and bank_count() == 1
