"""The webhook store port: banks' registered webhooks and the deliveries' log, and the bus."""

from __future__ import annotations

from abc import ABC, abstractmethod

from chalicelib.domain.alerts import Event
from chalicelib.domain.webhooks import Delivery, Webhook


class WebhookStore(ABC):
    """Webhooks by bank (never a secret) and one log line per event and webhook. SQLite keeps
    them in a file of their own (delivery workers write it, never ingest's file); DynamoDB in
    the ledger table."""

    @abstractmethod
    def create_webhook(self, hook: Webhook, cap: int) -> bool:
        """Store a new webhook unless its bank already has `cap` of them (then False and
        nothing is written; concurrent registrations never exceed the cap)."""

    @abstractmethod
    def list_webhooks(self, bank: str) -> list[Webhook]:
        """The bank's webhooks, oldest first (deleted ones left out)."""

    @abstractmethod
    def get_webhook(self, bank: str, webhook_id: str) -> Webhook | None:
        """One of the bank's webhooks, or None (deleted, or another bank's)."""

    @abstractmethod
    def delete_webhook(self, bank: str, webhook_id: str, at: str) -> bool:
        """Delete the bank's webhook (at `at`); False if it has none by that id. Its log stays
        (a deleted webhook is marked, not removed: the API role never deletes items)."""

    @abstractmethod
    def get_delivery(self, bank: str, webhook_id: str, created: str,
                     event_id: str) -> Delivery | None:
        """The log line of one event (created at `created`) to one webhook, or None."""

    @abstractmethod
    def put_delivery(self, bank: str, delivery: Delivery) -> None:
        """Write the log line (replacing the one of the same webhook and event)."""

    @abstractmethod
    def list_deliveries(self, bank: str, webhook_id: str, limit: int) -> list[Delivery]:
        """The webhook's log, newest event first."""


class EventBus(ABC):
    """Where the same events go on AWS (EventBridge), for the bank's own routing rules."""

    @abstractmethod
    def publish(self, events: list[Event]) -> None:
        """Put the events on the bus; StoreError-like failures raise (the outbox keeps them)."""
