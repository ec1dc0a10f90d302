"""The EventBridge adapter (boto3): the outbox's events on the template's bus, on AWS only.

Each event becomes one entry (source `txn-stream`, detail-type the event's type, detail the
delivery body plus the bank, so a bank's own rules can match on it), ten entries a call (the
API's limit). An entry EventBridge did not take fails the whole publish: the dispatcher then
leaves every event in the outbox and publishes them again (at least once, like the webhooks).
"""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.alerts import Event
from chalicelib.ports.store import StoreError
from chalicelib.ports.webhooks import EventBus

SOURCE = "txn-stream"
PUT_MAX = 10  # PutEvents' limit of entries a call
RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3},
                      connect_timeout=2, read_timeout=5)


def entry(event: Event, bus: str) -> dict[str, Any]:
    """One PutEvents entry for an event."""
    detail = {**event.to_json(), "bank": event.bank}
    return {"Source": SOURCE, "DetailType": event.type, "EventBusName": bus,
            "Detail": json.dumps(detail, separators=(",", ":"))}


class EventBridgeBus(EventBus):
    """A bus by name; the client is made on first use and reused."""

    def __init__(self, bus: str, client: Any = None,
                 config: Config = RETRY_CONFIG) -> None:
        self.bus = bus
        self._client = client
        self._config = config
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:  # no stubs for events installed: one call, checked by moto
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = boto3.session.Session().client("events", config=self._config)
        return self._client

    def publish(self, events: list[Event]) -> None:
        entries = [entry(e, self.bus) for e in events]
        for start in range(0, len(entries), PUT_MAX):
            try:
                out = self.client.put_events(Entries=entries[start:start + PUT_MAX])
            except (ClientError, BotoCoreError) as exc:
                raise StoreError(f"EventBridge PutEvents failed: {exc}") from exc
            if out.get("FailedEntryCount"):
                codes = sorted({str(e.get("ErrorCode")) for e in out.get("Entries", [])
                                if e.get("ErrorCode")})
                raise StoreError(f"EventBridge refused {out['FailedEntryCount']} entries: {codes}")
