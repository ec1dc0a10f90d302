"""Handling a batch of delivered messages under the FIFO rule, for Lambda and the local worker.

Messages are handled in order. When one fails, every later message of its group in the batch
is left alone and reported failed too: handling it would apply an account's items out of order.
A failure on the message's last allowed delivery settles its items `failed` in the receipt
first, because the queue moves it to the dead letters on the next receive; so does a message
skipped on its last allowed delivery (it goes to the dead letters beside the one that failed).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from chalicelib.observability import log
from chalicelib.ports.queue import ReceivedMessage

BACKOFF_BASE_S = 2  # a failed message comes back after 2, 4, 8 ... s (jittered), not the full
BACKOFF_CAP_S = 60  # visibility timeout: its group is blocked meanwhile


@dataclass
class BatchOutcome:
    """What became of a batch: handled messages, and failed ones (their own fault or skipped)."""

    done: list[ReceivedMessage] = field(default_factory=list)
    failed: list[ReceivedMessage] = field(default_factory=list)
    skipped: list[ReceivedMessage] = field(default_factory=list)

    def failed_ids(self) -> list[str]:
        return [m.message_id for m in (*self.failed, *self.skipped)]


def backoff_s(receive_count: int) -> int:
    """Seconds before a failed message is delivered again (full jitter, at least 1)."""
    return max(1, int(random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S ** receive_count))))


def handle_batch(batch: list[ReceivedMessage], handle: Callable[[ReceivedMessage], None],
                 max_receives: int,
                 give_up: Callable[[ReceivedMessage, str], None]) -> BatchOutcome:
    """Handle each message in order; a group stops at its first failure."""
    outcome = BatchOutcome()
    broken: set[str] = set()
    for message in batch:
        if message.group in broken:
            outcome.skipped.append(message)
            if message.receive_count >= max_receives:
                _give_up(give_up, message, f"moved to the dead-letter queue after "
                                           f"{message.receive_count} attempts, behind a failed"
                                           f" message of its group")
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
                _give_up(give_up, message, f"moved to the dead-letter queue after "
                                           f"{message.receive_count} attempts ({why[:200]})")
            continue
        outcome.done.append(message)
    return outcome


def _give_up(give_up: Callable[[ReceivedMessage, str], None], message: ReceivedMessage,
             why: str) -> None:
    try:
        give_up(message, why)
    except Exception as second:  # the dead letter still holds the items
        log("ERROR", "ingest_give_up_failed", message_id=message.message_id,
            error=str(second)[:500])
