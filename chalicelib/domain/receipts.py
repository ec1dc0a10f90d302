"""Receipts of asynchronous ingest requests: each item's fate, kept per (bank, request id).
(The values; `storage.port.ReceiptStore` is where they are kept.)

A receipt is stored in parts: part -1 holds the items refused at once (`rejected`), and part n
the items of queue message n. Only the consumer of message n writes part n, and one message is
handled by one consumer at a time, so parts never race. Before a commit the consumer marks in
its part the ids it is about to write: should it die after the commit but before recording the
outcome, the next delivery reads the marks and reports those ids `created` (the ledger will call
them duplicates of themselves), not `duplicate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

QUEUED, FAILED, REJECTED = "queued", "failed", "rejected"
REJECTED_PART = -1
FINAL = frozenset({"created", "duplicate", "conflict", REJECTED, FAILED})


@dataclass(frozen=True)
class ItemFate:
    """One item of a request: where it is in the request, its id, its status so far."""

    index: int
    id: str | None
    status: str
    flags: tuple[str, ...] = ()
    errors: tuple[dict[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.id, "status": self.status,
                "flags": list(self.flags), "errors": list(self.errors)}

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ItemFate:
        return cls(int(body["index"]), body.get("id"), str(body["status"]),
                   tuple(body.get("flags") or ()), tuple(body.get("errors") or ()))


@dataclass
class ReceiptPart:
    """The items one message carries (or the rejected ones), and the ids marked as writing."""

    items: list[ItemFate]
    writing: set[str] = field(default_factory=set)


@dataclass
class Receipt:
    """A whole request: its parts by number."""

    request_id: str
    created_at: str
    parts: dict[int, ReceiptPart]

    def items(self) -> list[ItemFate]:
        return sorted((i for p in self.parts.values() for i in p.items), key=lambda i: i.index)

    @property
    def done(self) -> bool:
        return all(i.status in FINAL for i in self.items())
