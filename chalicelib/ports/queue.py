"""The queue port: what asynchronous ingest needs of a FIFO queue, and nothing about how.

The semantics are SQS FIFO's, so that the embedded SQLite queue and SQS behave alike:
- a message belongs to a group; while any message of a group is in flight (received, neither
  deleted nor back to visible), no later message of that group is delivered, so one consumer at
  a time works on a group, in the order sent; different groups proceed in parallel;
- a received message stays invisible for the visibility timeout, then is delivered again;
- a message received `max_receives` times without being deleted goes to the dead-letter queue
  on its next receive;
- a message whose deduplication id was sent within the last five minutes is dropped on send.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

DEDUP_WINDOW_S = 300  # SQS FIFO's deduplication interval
MAX_MESSAGE_BYTES = 256 * 1024  # SQS's limit for one message (and one SendMessageBatch call)
MAX_RECEIVE_BATCH = 10  # SQS's limit of messages a receive returns


class QueueError(Exception):
    """The queue failed in a way a retry later may mend (throttled, unreachable). A failed
    send lists in `unsent` the messages not known to be queued (None: not known at all)."""

    def __init__(self, message: str, unsent: list[OutgoingMessage] | None = None) -> None:
        super().__init__(message)
        self.unsent = unsent


@dataclass(frozen=True)
class OutgoingMessage:
    """A message to send: its group (ordering and exclusion), deduplication id and body."""

    group: str
    dedup_id: str
    body: str


@dataclass(frozen=True)
class ReceivedMessage:
    """A delivered message; `handle` deletes it or changes its visibility (this delivery only).
    `sequence` is the queue's sequence number of the message (SQS FIFO's SequenceNumber, the
    embedded queue's row number): it only grows within a group, so a consumer can tell which of
    a group's messages an item has already seen ("" when the queue gave none)."""

    message_id: str
    group: str
    body: str
    receive_count: int
    handle: str
    sequence: str = ""


class Queue(ABC):
    """A FIFO queue with a dead-letter queue after `max_receives` receives."""

    name: str
    max_receives: int

    @abstractmethod
    def send(self, messages: list[OutgoingMessage]) -> None:
        """Send in order (a group's messages keep the order given); QueueError if any failed."""

    @abstractmethod
    def receive(self, max_messages: int, visibility_timeout_s: int,
                wait_s: float = 0) -> list[ReceivedMessage]:
        """Up to `max_messages` deliverable messages (waiting up to `wait_s` for one)."""

    @abstractmethod
    def delete(self, handle: str) -> None:
        """Remove a delivered message for good (it was handled)."""

    def delete_many(self, handles: list[str]) -> None:
        """`delete` for several delivered messages (one call or transaction where it can)."""
        for handle in handles:
            self.delete(handle)

    @abstractmethod
    def change_visibility(self, handle: str, timeout_s: int) -> None:
        """Deliver a received message again after `timeout_s` (0: as soon as possible)."""

    def hold(self, handle: str) -> None:  # noqa: B027 (optional: SQS cannot)
        """A delivered message has made writes and must never reach the dead-letter queue:
        forget its receives so far. The embedded queue does; SQS cannot reset a receive count,
        so on AWS the redrive policy's maxReceiveCount bounds it (docs/operations.md)."""

    @abstractmethod
    def dead_letters(self, max_messages: int) -> list[ReceivedMessage]:
        """Messages in the dead-letter queue (received from it; `redrive` moves them back)."""

    @abstractmethod
    def redrive(self, messages: list[ReceivedMessage]) -> int:
        """Move these dead letters back to the queue with a fresh receive count; how many moved."""

    @abstractmethod
    def depth(self) -> tuple[int, int]:
        """Approximate (messages in the queue, in flight included; dead letters)."""
