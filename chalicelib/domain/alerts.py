"""Alerts and their events as the commit records them: the seam between ingest and triage/delivery.

Every flagged transaction whose flags are not all suppressed opens an `Alert`, and each opened
alert has one `Event` (`alert.opened`) recorded with the same commit (an outbox): a crash after
the commit can delay an event, never lose it. Both are keyed by the transaction id, so writing
them again (a redelivered message, a retried commit) writes the same thing: idempotent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from chalicelib.domain.model import Transaction
from chalicelib.domain.timeutil import parse_timestamp

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

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> AlertChange:
        return cls(str(body["status"]), str(body["note"]), str(body["by"]), str(body["at"]))


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

    @classmethod
    def from_json(cls, bank: str, body: dict[str, Any]) -> Alert:
        """An alert as `to_json` wrote it (a store's copy)."""
        return cls(bank, Transaction.from_json(body["transaction"]), tuple(body["rules"]),
                   str(body["opened_at"]), str(body["status"]),
                   tuple(AlertChange.from_json(h) for h in body.get("history") or ()))

    def changed(self, change: AlertChange) -> Alert:
        """This alert after a triage step: its new status, the step kept in its history."""
        return replace(self, status=change.status, history=(*self.history, change))


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


@dataclass(frozen=True)
class Suppression:
    """While in force (until `until`), `rule` still flags `account`'s transactions (the flag is
    marked suppressed) but opens no alert and records no event. `created_by` is a key's id or a
    token's subject, never a secret."""

    bank: str
    id: str
    account: str
    rule: str
    until: str
    reason: str
    created_at: str
    created_by: str

    def in_force(self, at: datetime) -> bool:
        return at < parse_timestamp(self.until)

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "account": self.account, "rule": self.rule, "until": self.until,
                "reason": self.reason, "created_at": self.created_at,
                "created_by": self.created_by}

    @classmethod
    def from_json(cls, bank: str, body: dict[str, Any]) -> Suppression:
        return cls(bank, str(body["id"]), str(body["account"]), str(body["rule"]),
                   str(body["until"]), str(body["reason"]), str(body["created_at"]),
                   str(body["created_by"]))


def in_force(suppressions: list[Suppression], at: datetime) -> frozenset[tuple[str, str]]:
    """The (account, rule) pairs suppressed at `at`; expired suppressions stop applying."""
    return frozenset((s.account, s.rule) for s in suppressions if s.in_force(at))


def mark_suppressed(tx: Transaction, suppressed: frozenset[tuple[str, str]]) -> Transaction:
    """The transaction with each flag that a suppression covers marked so in its evidence."""
    if not tx.flags or not suppressed:
        return tx
    details = tuple(replace(d, suppressed=True) if (tx.account, d.rule) in suppressed else d
                    for d in tx.flag_details)
    return tx.with_flags(tx.flags, details)


def suppressed_flags(transactions: list[Transaction]) -> int:
    """How many flags of these transactions a suppression covered (counted, like the others)."""
    return sum(1 for tx in transactions for d in tx.flag_details if d.suppressed)


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
