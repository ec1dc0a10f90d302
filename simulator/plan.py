"""What the simulator intends to send: each item with the fate it expects from the API."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

VALID = "valid"  # must be accepted (created, or duplicate if its replay got there first)
REPLAY = "replay"  # an identical resend of an earlier valid item: accepted, counted once
INVALID = "invalid"  # must be rejected


@dataclass(frozen=True)
class Planned:
    """One transaction as sent (`raw`), and what the simulator knows about it."""

    raw: dict[str, Any]
    kind: str
    amount: Decimal = Decimal(0)  # exact, for the bookkeeping of valid items
    currency: str = "USD"
    credit: bool = True
    rule: str | None = None  # the flag rule this item is meant to trip (fraud scenario)
    fault: str | None = None  # what is wrong with it (invalid items)

    @property
    def id(self) -> str:
        return str(self.raw.get("id", ""))

    @property
    def should_be_accepted(self) -> bool:
        return self.kind != INVALID


Group = list[Planned]  # items that must reach the server in this order (a fraud pattern)
