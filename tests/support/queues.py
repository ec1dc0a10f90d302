"""Every queue the queue contract suite runs against: the embedded SQLite queue and SQS (moto)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import boto3
from moto import mock_aws

from chalicelib.adapters.sqs_queue import SqsQueue
from chalicelib.ports.queue import Queue
from tests.support.aws_calls import REGION, record_aws_calls

MAX_RECEIVES = 3
# the prod stage's names, so the policy test matches the calls without renaming
TEST_QUEUE = "txn-stream-prod-ingest.fifo"
TEST_DLQ = "txn-stream-prod-ingest-dlq.fifo"


@contextmanager
def sqlite_queue(tmp_path: Path) -> Iterator[Queue]:
    from chalicelib.adapters.sqlite.sqlite_queue import SqliteQueue

    # its own move after MAX_RECEIVES receives, as moto's queue's redrive policy below
    yield SqliteQueue(str(tmp_path / "queue.db"), max_receives=MAX_RECEIVES,
                      backstop_receives=MAX_RECEIVES)


def create_fifo_queues(client: object, max_receives: int = MAX_RECEIVES) -> tuple[str, str]:
    """The queue and its dead-letter queue as infra/resources.json makes them (FIFO both);
    `max_receives` is the redrive policy's maxReceiveCount (the template's: BACKSTOP_RECEIVES)."""
    sqs = client
    dlq = sqs.create_queue(QueueName=TEST_DLQ,  # type: ignore[attr-defined]
                           Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(  # type: ignore[attr-defined]
        QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=TEST_QUEUE, Attributes={  # type: ignore[attr-defined]
        "FifoQueue": "true", "VisibilityTimeout": "60",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn,
                                     "maxReceiveCount": str(max_receives)})})["QueueUrl"]
    return str(url), str(dlq)


@contextmanager
def moto_sqs_queue(tmp_path: Path) -> Iterator[Queue]:
    """SqsQueue on moto's FIFO queue and dead-letter queue, its calls recorded."""
    with mock_aws():
        client = boto3.client("sqs", region_name=REGION)
        url, dlq = create_fifo_queues(client)
        record_aws_calls(client)  # what the adapter asks, not the test's set-up
        yield SqsQueue(url, dlq, max_receives=MAX_RECEIVES, client=client)


QUEUES: dict[str, Callable[[Path], AbstractContextManager[Queue]]] = {
    "sqlite": sqlite_queue,
    "sqs": moto_sqs_queue,
}
