"""Builders of valid transactions for tests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from chalicelib.domain.model import Transaction

SEED_SAMPLE = ('{"id": "1", "account": "A123", "amount": 250.50, "type": "credit", '
               '"timestamp": "2026-01-10T14:00:00Z"}')


def raw_tx(tx_id: str = "t1", **fields: Any) -> dict[str, Any]:
    """A valid raw transaction body with `fields` overriding the defaults."""
    body: dict[str, Any] = {"id": tx_id, "account": "A123", "amount": "10.00", "type": "credit",
                            "timestamp": "2026-01-10T14:00:00Z"}
    body.update(fields)
    return body


def tx(tx_id: str = "t1", account: str = "A123", amount: str = "10.00", kind: str = "credit",
       at: datetime | None = None, currency: str = "USD",
       flags: tuple[str, ...] = ()) -> Transaction:
    """A validated transaction."""
    return Transaction(tx_id, account, Decimal(amount), currency, kind,
                       at or datetime(2026, 1, 10, 14, tzinfo=UTC), flags=flags)
