"""The SQS FIFO adapter (boto3): the ingest queue and its dead-letter queue on AWS.

The client is made on first use and reused; its endpoint and region come from the environment
(`AWS_ENDPOINT_URL_SQS`, `AWS_REGION`). Throttling and transient errors are retried by
botocore's standard mode; what is left becomes QueueError. The consumer moves a message to the
dead letters itself (`dead_letter`: SendMessage there, then DeleteMessage here); the queue's
RedrivePolicy (maxReceiveCount BACKSTOP_RECEIVES, far above `max_receives`) is a backstop only.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.ports.queue import (
    MAX_MESSAGE_BYTES,
    MAX_RECEIVE_BATCH,
    OutgoingMessage,
    Queue,
    QueueError,
    ReceivedMessage,
)

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3},
                      connect_timeout=2, read_timeout=25)  # long polls wait up to 20 s
SEND_BATCH = 10  # SendMessageBatch's (and DeleteMessageBatch's) limit of entries
ATTRIBUTES = ["ApproximateReceiveCount", "MessageGroupId", "SequenceNumber"]


def _batches(messages: list[OutgoingMessage]) -> Iterator[list[OutgoingMessage]]:
    """Runs of at most 10 messages and 256 KB, in the order given."""
    batch: list[OutgoingMessage] = []
    size = 0
    for m in messages:
        length = len(m.body.encode("utf-8"))
        if batch and (len(batch) == SEND_BATCH or size + length > MAX_MESSAGE_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(m)
        size += length
    if batch:
        yield batch


class SqsQueue(Queue):
    """A FIFO queue and its dead-letter queue, by URL."""

    name = "sqs"

    def __init__(self, url: str, dead_letter_url: str | None, max_receives: int = 5,
                 client: SQSClient | None = None, config: Config = RETRY_CONFIG) -> None:
        self.url = url
        self.dead_letter_url = dead_letter_url
        self.max_receives = max_receives
        self._client = client
        self._config = config
        self._lock = threading.Lock()

    @property
    def client(self) -> SQSClient:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = boto3.session.Session().client("sqs", config=self._config)
        return self._client

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """One API call; whatever is left after botocore's retries becomes QueueError."""
        method: Callable[..., dict[str, Any]] = getattr(self.client, operation)
        try:
            return method(**params)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            raise QueueError(f"SQS {operation} failed: {code}") from exc
        except BotoCoreError as exc:
            raise QueueError(f"SQS {operation} failed: {exc}") from exc

    def send(self, messages: list[OutgoingMessage]) -> None:
        done = 0
        for batch in _batches(messages):
            try:
                out = self.call("send_message_batch", QueueUrl=self.url, Entries=[
                    {"Id": str(i), "MessageBody": m.body, "MessageGroupId": m.group,
                     "MessageDeduplicationId": m.dedup_id} for i, m in enumerate(batch)])
            except QueueError as exc:  # this batch may or may not have gone: not known queued
                raise QueueError(str(exc), messages[done:]) from exc
            failed = out.get("Failed") or []
            if failed:
                # a later batch must not overtake a failed message of its group: stop here
                codes = sorted({str(f.get("Code")) for f in failed})
                refused = [batch[int(f["Id"])] for f in failed]
                raise QueueError(f"SQS refused {len(failed)} message(s): {', '.join(codes)}",
                                 refused + messages[done + len(batch):])
            done += len(batch)

    def _receive(self, url: str, max_messages: int, visibility_timeout_s: int,
                 wait_s: float) -> list[ReceivedMessage]:
        out = self.call("receive_message", QueueUrl=url,
                        MaxNumberOfMessages=max(1, min(MAX_RECEIVE_BATCH, max_messages)),
                        VisibilityTimeout=visibility_timeout_s,
                        WaitTimeSeconds=int(min(20, wait_s)),
                        MessageSystemAttributeNames=ATTRIBUTES)
        return [ReceivedMessage(m["MessageId"], m["Attributes"]["MessageGroupId"], m["Body"],
                                int(m["Attributes"]["ApproximateReceiveCount"]),
                                m["ReceiptHandle"], m["Attributes"].get("SequenceNumber", ""))
                for m in out.get("Messages", [])]

    def receive(self, max_messages: int, visibility_timeout_s: int,
                wait_s: float = 0) -> list[ReceivedMessage]:
        return self._receive(self.url, max_messages, visibility_timeout_s, wait_s)

    def delete(self, handle: str) -> None:
        self.call("delete_message", QueueUrl=self.url, ReceiptHandle=handle)

    def delete_many(self, handles: list[str]) -> None:
        for start in range(0, len(handles), SEND_BATCH):
            chunk = handles[start:start + SEND_BATCH]
            out = self.call("delete_message_batch", QueueUrl=self.url, Entries=[
                {"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(chunk)])
            if out.get("Failed"):
                codes = sorted({str(f.get("Code")) for f in out["Failed"]})
                raise QueueError(f"SQS kept {len(out['Failed'])} message(s): {', '.join(codes)}")

    def change_visibility(self, handle: str, timeout_s: int) -> None:
        self.call("change_message_visibility", QueueUrl=self.url, ReceiptHandle=handle,
                  VisibilityTimeout=timeout_s)

    def _dlq(self) -> str:
        if not self.dead_letter_url:
            raise QueueError("no dead-letter queue configured (DEAD_LETTER_QUEUE_URL)")
        return self.dead_letter_url

    def dead_letter(self, message: ReceivedMessage) -> None:
        """Send the message to the dead letters (its group and body; its deduplication id
        derived from its message id, as SQS's own move does, so a second try within five
        minutes is dropped there), then delete it here. A failure between the two leaves it in
        both: its receipt already reads `failed`, and whichever copy comes back first applies
        it, the other then finds nothing left to apply."""
        dedup = hashlib.sha256(f"dead\0{message.message_id}".encode()).hexdigest()
        self.call("send_message", QueueUrl=self._dlq(), MessageBody=message.body,
                  MessageGroupId=message.group, MessageDeduplicationId=dedup,
                  MessageAttributes={"SourceMessageId": {
                      "DataType": "String", "StringValue": message.message_id}})
        self.call("delete_message", QueueUrl=self.url, ReceiptHandle=message.handle)

    def dead_letters(self, max_messages: int) -> list[ReceivedMessage]:
        return self._receive(self._dlq(), max_messages, 60, 0)

    def redrive(self, messages: list[ReceivedMessage]) -> int:
        """Send each dead letter to the queue again, then delete it from the dead letters.
        The new deduplication id is derived from the dead letter's own delivery, so the resend
        is not dropped as a repeat of the original send (which may lie inside the window)."""
        dlq = self._dlq()
        for m in messages:
            dedup = hashlib.sha256(f"redrive\0{m.message_id}\0{m.handle}".encode()).hexdigest()
            self.send([OutgoingMessage(m.group, dedup, m.body)])
            self.call("delete_message", QueueUrl=dlq, ReceiptHandle=m.handle)
        return len(messages)

    def depth(self) -> tuple[int, int]:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]

        def count(url: str) -> int:
            attrs = self.call("get_queue_attributes", QueueUrl=url, AttributeNames=names)
            return sum(int(attrs.get("Attributes", {}).get(n, 0)) for n in names)

        return count(self.url), count(self._dlq()) if self.dead_letter_url else 0
