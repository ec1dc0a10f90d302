"""Alerts and their events as the commit records them: the seam between ingest and triage/delivery.

Every flagged transaction whose flags are not all suppressed opens an `Alert`, and each opened
alert has one `Event` (`alert.opened`) recorded with the same commit (an outbox): a crash after
the commit can delay an event, never lose it. Both are keyed by the transaction id, so writing
them again (a redelivered message, a retried commit) writes the same thing: idempotent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.model import Transaction

ALERT_OPENED = "alert.opened"
OPEN, CONFIRMED, DISMISSED = "open", "confirmed", "dismissed"
ALERT_STATUSES = (OPEN, CONFIRMED, DISMISSED)


def event_id(bank: str, transaction_id: str, event_type: str = ALERT_OPENED) -> str:
    """A stable id for the event of a transaction: the same on every retry and redelivery, so
    a receiver deduplicates on it (`evt_` + 24 hex digits of a SHA-256)."""
    digest = hashlib.sha256(f"{bank}\x1f{transaction_id}\x1f{event_type}".encode()).hexdigest()
    return f"evt_{digest[:24]}"


@dataclass(frozen=True)
class AlertChange:
    """One step of an alert's history: who (a key's id or a token's subject) set what, when."""

    status: str
    note: str
    by: str
    at: str

    def to_json(self) -> dict[str, str]:
        return {"status": self.status, "note": self.note, "by": self.by, "at": self.at}


@dataclass(frozen=True)
class Alert:
    """An alert on one flagged transaction. `rules` are the flags that opened it (suppressed
    flags excluded); `opened_at` is the commit's time, not the transaction's."""

    bank: str
    transaction: Transaction
    rules: tuple[str, ...]
    opened_at: str
    status: str = OPEN
    history: tuple[AlertChange, ...] = field(default_factory=tuple)

    @property
    def transaction_id(self) -> str:
        return self.transaction.id

    def to_json(self) -> dict[str, Any]:
        return {"transaction_id": self.transaction.id, "account": self.transaction.account,
                "status": self.status, "rules": list(self.rules), "opened_at": self.opened_at,
                "transaction": self.transaction.to_json(),
                "history": [h.to_json() for h in self.history]}


@dataclass(frozen=True)
class Event:
    """An event waiting in the outbox to be delivered (webhooks; EventBridge on AWS)."""

    id: str
    type: str
    bank: str
    created: str
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The body a receiver gets (DESIGN.md section 4): no bank, the receiver knows its own."""
        return {"id": self.id, "type": self.type, "created": self.created, "data": self.data}


def opened_event(alert: Alert) -> Event:
    """The `alert.opened` event of a newly opened alert."""
    return Event(event_id(alert.bank, alert.transaction_id), ALERT_OPENED, alert.bank,
                 alert.opened_at, {"alert": alert.to_json()})


def open_alerts(bank: str, accepted: list[Transaction], opened_at: str,
                suppressed: frozenset[tuple[str, str]] = frozenset()) -> list[Alert]:
    """The alerts a commit opens: one per flagged transaction with at least one flag that is not
    suppressed for its account (`suppressed` holds (account, rule) pairs in force)."""
    alerts = []
    for tx in accepted:
        rules = tuple(r for r in tx.flags if (tx.account, r) not in suppressed)
        if rules:
            alerts.append(Alert(bank, tx, rules, opened_at))
    return alerts
