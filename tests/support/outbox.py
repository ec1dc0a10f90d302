"""An in-memory outbox (the OutboxStore port) and helpers for webhook tests: a runtime whose
delivery queue and webhooks file sit in the test's directory, and events as a commit records."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

from chalicelib.bootstrap import Runtime, bootstrap, set_runtime
from chalicelib.config import WebhookSettings
from chalicelib.domain.alerts import Event, event_id
from chalicelib.ports.queue import OutgoingMessage, Queue, QueueError, ReceivedMessage
from chalicelib.ports.store import OutboxStore


class MemoryOutbox(OutboxStore):
    """Events in insertion order; `dispatched` counts marks (a repeat mark is a no-op)."""

    def __init__(self) -> None:
        self.events: dict[str, Event] = {}
        self.dispatched = 0
        self._lock = threading.Lock()

    def record(self, events: list[Event]) -> None:
        """What a commit does: keyed by id, so recording again writes the same thing."""
        with self._lock:
            for e in events:
                self.events[e.id] = e

    def pending_events(self, limit: int) -> list[Event]:
        with self._lock:
            return list(self.events.values())[:limit]

    def mark_dispatched(self, events: list[Event]) -> None:
        with self._lock:
            for e in events:
                if self.events.pop(e.id, None) is not None:
                    self.dispatched += 1


class FailingSends(Queue):
    """A queue whose sends fail (the dispatcher must then mark nothing)."""

    name, max_receives = "failing", 5

    def send(self, messages: list[OutgoingMessage]) -> None:
        raise QueueError("the queue is down", list(messages))

    def receive(self, max_messages: int, visibility_timeout_s: int,
                wait_s: float = 0) -> list[ReceivedMessage]:
        return []

    def delete(self, handle: str) -> None:
        raise AssertionError("nothing was received")

    def change_visibility(self, handle: str, timeout_s: int) -> None:
        raise AssertionError("nothing was received")

    def dead_letter(self, message: ReceivedMessage) -> None:
        raise AssertionError("nothing was received")

    def dead_letters(self, max_messages: int) -> list[ReceivedMessage]:
        return []

    def redrive(self, messages: list[ReceivedMessage]) -> int:
        return 0

    def depth(self) -> tuple[int, int]:
        return 0, 0


def alert_event(bank: str, tx_id: str, created: str = "2026-01-10T18:00:00Z") -> Event:
    """An `alert.opened` event as the commit records it (stable id per bank and transaction)."""
    return Event(event_id(bank, tx_id), "alert.opened", bank, created,
                 {"alert": {"transaction_id": tx_id, "status": "open", "rules": ["large_amount"],
                            "transaction": {"id": tx_id, "amount": "10000.00"}}})


def webhook_runtime(rt: Runtime, tmp_path: Path, **fields: object) -> Runtime:
    """`rt` with its webhooks' file, delivery queue and key file in `tmp_path`, fast retries
    unless told otherwise, installed."""
    settings = {"store_path": str(tmp_path / "webhooks.db"),
                "queue_path": str(tmp_path / "webhook-queue.db"), "retry_base_s": 1,
                "retry_cap_s": 2, "timeout_s": 2, "local_workers": 0, **fields}
    made = bootstrap(replace(rt.settings, sqlite_path=str(tmp_path / "ledger.db"),
                             webhooks=WebhookSettings(**settings)),  # type: ignore[arg-type]
                     rt.store, queue=rt.queue, receipts=rt.receipts)
    set_runtime(made)
    return made
