"""Receipts of asynchronous ingest requests: each item's fate, kept per (bank, request id).
(The values; `storage.port.ReceiptStore` is where they are kept.)

A receipt is stored in parts: part -1 holds the items refused at once (`rejected`), and part n
the items of queue message n. Only the consumer of message n writes part n, and one message is
handled by one consumer at a time, so parts never race. Before a commit the consumer marks in
its part the ids it is about to write: should it die after the commit but before recording the
outcome, the next delivery reads the marks and reports those ids `created` (the ledger will call
them duplicates of themselves), not `duplicate`.

Nothing in a part grows with a request's content without a bound (a DynamoDB item holds 400 KB):
an item keeps at most MAX_ERRORS errors (one more says how many were left out) and MAX_TEXT
characters of any text it echoes; the rejected items fill as many parts as they need (-1, -2,
...), each of at most PART_BYTES; a message's part holds at most messages.MAX_ITEMS items.
A created item carries its flags' evidence as the synchronous answer does (`flag_details`), in
flag order and whole, as many as fit in MAX_DETAIL_BYTES of JSON (a set may hold 50 rules);
`flag_details_omitted` counts the rest (the transaction itself keeps every one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

QUEUED, FAILED, REJECTED = "queued", "failed", "rejected"
REJECTED_PART = -1
MAX_ERRORS = 5  # errors kept per item; how many more there were is said in one more
MAX_TEXT = 200  # characters kept of an id, an error's field or message echoed from a request
MAX_DETAIL_BYTES = 1024  # JSON of the flag details an item keeps (100 items: 100 KB at most)
PART_BYTES = 200 * 1024  # a part of rejected items, well under DynamoDB's 400 KB item
FINAL = frozenset({"created", "duplicate", "conflict", REJECTED, FAILED})


@dataclass(frozen=True)
class ItemFate:
    """One item of a request: where it is in the request, its id, its status so far, and for a
    created one its flags with their evidence (`flag_details`, as `FlagDetail.to_json`)."""

    index: int
    id: str | None
    status: str
    flags: tuple[str, ...] = ()
    errors: tuple[dict[str, str], ...] = ()
    flag_details: tuple[dict[str, Any], ...] = ()
    details_omitted: int = 0  # flag details left out to keep the receipt bounded

    def to_json(self) -> dict[str, Any]:
        body = {"index": self.index, "id": self.id, "status": self.status,
                "flags": list(self.flags), "flag_details": list(self.flag_details),
                "errors": list(self.errors)}
        if self.details_omitted:
            body["flag_details_omitted"] = self.details_omitted
        return body

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ItemFate:
        # parts written before flag details were kept have none: read as an empty list
        return cls(int(body["index"]), body.get("id"), str(body["status"]),
                   tuple(body.get("flags") or ()), tuple(body.get("errors") or ()),
                   tuple(body.get("flag_details") or ()),
                   int(body.get("flag_details_omitted") or 0))


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


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 1] + "\u2026"


def bounded(fate: ItemFate) -> ItemFate:
    """The fate as kept and answered: at most MAX_ERRORS errors (and a note of how many more),
    texts cut to MAX_TEXT characters, flag details within MAX_DETAIL_BYTES."""
    errors = [{k: _cut(str(v)) for k, v in e.items()} for e in fate.errors[:MAX_ERRORS]]
    if len(fate.errors) > MAX_ERRORS:
        errors.append({"field": "errors",
                       "message": f"{len(fate.errors) - MAX_ERRORS} more errors not shown"})
    details, omitted = _bounded_details(fate.flag_details)
    return ItemFate(fate.index, None if fate.id is None else _cut(fate.id), fate.status,
                    tuple(_cut(f) for f in fate.flags), tuple(errors), details,
                    omitted + fate.details_omitted)


def _bounded_details(details: tuple[dict[str, Any], ...]
                     ) -> tuple[tuple[dict[str, Any], ...], int]:
    """The leading details whose JSON fits MAX_DETAIL_BYTES (each kept whole: evidence cut
    halfway would mislead), and how many did not fit."""
    kept: list[dict[str, Any]] = []
    size = 0
    for detail in details:
        size += len(json.dumps(detail, separators=(",", ":"))) + 1
        if size > MAX_DETAIL_BYTES:
            break
        kept.append(detail)
    return tuple(kept), len(details) - len(kept)


def rejected_parts(fates: list[ItemFate]) -> dict[int, list[ItemFate]]:
    """Rejected (bounded) items in parts -1, -2, ... of at most PART_BYTES each; part -1 is
    always there, empty when nothing was rejected."""
    parts: dict[int, list[ItemFate]] = {REJECTED_PART: []}
    number, size = REJECTED_PART, 0
    for fate in fates:
        length = len(json.dumps(fate.to_json(), separators=(",", ":"))) + 1
        if parts[number] and size + length > PART_BYTES:
            number, size = number - 1, 0
            parts[number] = []
        parts[number].append(fate)
        size += length
    return parts
