"""Handling a batch of delivered messages under the FIFO rule, for Lambda and the local worker.

Messages are handled in order. When one fails, every later message of its group in the batch
is left alone and reported failed too: handling it would apply an account's items out of order.
A failure on the message's last allowed delivery settles its items `failed` in the receipt
first, because the queue moves it to the dead letters on the next receive.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from chalicelib.observability import log
from chalicelib.ports.queue import ReceivedMessage
from chalicelib.support.backoff import Backoff

BACKOFF_BASE_S = 2  # a failed message comes back after 2, 4, 8 ... s (jittered), not the full
BACKOFF_CAP_S = 60  # visibility timeout: its group is blocked meanwhile
REDELIVERY_BACKOFF = Backoff(BACKOFF_BASE_S, BACKOFF_CAP_S)


@dataclass
class BatchOutcome:
    """What became of a batch: handled messages, and failed ones (their own fault or skipped)."""

    done: list[ReceivedMessage] = field(default_factory=list)
    failed: list[ReceivedMessage] = field(default_factory=list)
    skipped: list[ReceivedMessage] = field(default_factory=list)

    def failed_ids(self) -> list[str]:
        return [m.message_id for m in (*self.failed, *self.skipped)]


def backoff_s(receive_count: int, backoff: Backoff = REDELIVERY_BACKOFF) -> int:
    """Seconds before a failed message is delivered again: the backoff's delay before retry
    `receive_count - 1`, in whole seconds (a visibility timeout), at least 1."""
    return max(1, int(backoff.delay(receive_count - 1)))


def handle_batch(batch: list[ReceivedMessage], handle: Callable[[ReceivedMessage], None],
                 max_receives: int,
                 give_up: Callable[[ReceivedMessage, str], None]) -> BatchOutcome:
    """Handle each message in order; a group stops at its first failure."""
    outcome = BatchOutcome()
    broken: set[str] = set()
    for message in batch:
        if message.group in broken:
            outcome.skipped.append(message)
            continue
        try:
            handle(message)
        except Exception as exc:  # any failure leaves the message for a later delivery
            broken.add(message.group)
            outcome.failed.append(message)
            why = f"{type(exc).__name__}: {exc}"
            log("ERROR", "ingest_message_failed", message_id=message.message_id,
                receive_count=message.receive_count, error=why[:500])
            if message.receive_count >= max_receives:
                try:
                    give_up(message, f"moved to the dead-letter queue after "
                                     f"{message.receive_count} attempts ({why[:200]})")
                except Exception as second:  # the dead letter still holds the items
                    log("ERROR", "ingest_give_up_failed", message_id=message.message_id,
                        error=str(second)[:500])
            continue
        outcome.done.append(message)
    return outcome
