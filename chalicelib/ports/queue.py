"""The queue port: what asynchronous ingest needs of a FIFO queue, and nothing about how.

The semantics are SQS FIFO's, so that the embedded SQLite queue and SQS behave alike:
- a message belongs to a group; while any message of a group is in flight (received, neither
  deleted nor back to visible), no later message of that group is delivered, so one consumer at
  a time works on a group, in the order sent; different groups proceed in parallel;
- a received message stays invisible for the visibility timeout, then is delivered again;
- the consumer decides what goes to the dead-letter queue (`dead_letter`): a message that failed
  before any write, on its `max_receives`-th receive; never one that has written (a later
  message of its group would apply on top of half of it). The queue's own move, after
  BACKSTOP_RECEIVES receives (SQS's redrive policy, the embedded queue's receive rule), is only
  a backstop for a consumer that dies on a message every time;
- a message whose deduplication id was sent within the last five minutes is dropped on send.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

DEDUP_WINDOW_S = 300  # SQS FIFO's deduplication interval
MAX_MESSAGE_BYTES = 256 * 1024  # SQS's limit for one message (and one SendMessageBatch call)
MAX_RECEIVE_BATCH = 10  # SQS's limit of messages a receive returns
# The queue's own dead-letter move: the ingest queue's redrive policy's maxReceiveCount (SQS's
# highest), far above the consumer's QUEUE_MAX_RECEIVES, so that only the consumer decides
BACKSTOP_RECEIVES = 1000


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
    """A FIFO queue with a dead-letter queue; `max_receives` is the consumer's limit (the
    receive on which a message that failed before any write is moved to the dead letters)."""

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

    @abstractmethod
    def dead_letter(self, message: ReceivedMessage) -> None:
        """Move this delivered message to the dead-letter queue now (its group, its body), and
        out of the queue; QueueError if it may not have moved (it is still in the queue, and
        perhaps in the dead letters too: a redrive of such a copy applies nothing twice)."""

    @abstractmethod
    def dead_letters(self, max_messages: int) -> list[ReceivedMessage]:
        """Messages in the dead-letter queue (received from it; `redrive` moves them back)."""

    @abstractmethod
    def redrive(self, messages: list[ReceivedMessage]) -> int:
        """Move these dead letters back to the queue with a fresh receive count; how many moved."""

    @abstractmethod
    def depth(self) -> tuple[int, int]:
        """Approximate (messages in the queue, in flight included; dead letters)."""
