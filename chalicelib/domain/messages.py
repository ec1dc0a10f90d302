"""How a request's valid items become queue messages, and back.

Items of one (bank, account) share a message group, so they are applied in the order sent and
never by two consumers at once. A message carries several items of one group (fewer messages
and fewer ledger commits), at most MAX_ITEMS and well under SQS's 256 KB. An item that repeats
an earlier id of the same request rides in that earlier item's message: the ledger settles the
repeat against it (duplicate or conflict) exactly as the synchronous path does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.model import Transaction
from chalicelib.ports.queue import MAX_MESSAGE_BYTES, OutgoingMessage

FORMAT = 1
MAX_ITEMS = 100  # items per message: one ledger commit's worth
MAX_BYTES = MAX_MESSAGE_BYTES // 2  # headroom under SQS's limit


class MessageError(ValueError):
    """A message body this code cannot read (it goes to the dead letters, never dropped)."""


@dataclass(frozen=True)
class Part:
    """One message: whose and which request it belongs to, and its items by request index."""

    bank: str
    request_id: str
    number: int
    group: str
    items: tuple[tuple[int, dict[str, Any]], ...]  # (index in the request, normalised content)

    def body(self) -> str:
        return json.dumps({"v": FORMAT, "bank": self.bank, "request": self.request_id,
                           "part": self.number, "group": self.group,
                           "items": [[i, c] for i, c in self.items]},
                          separators=(",", ":"), sort_keys=True)

    def message(self) -> OutgoingMessage:
        """The message; its dedup id hashes the whole body (request and part included), so only
        a resend of this very message is dropped, never other content under the same ids."""
        body = self.body()
        return OutgoingMessage(self.group, hashlib.sha256(body.encode()).hexdigest(), body)


def group_for(bank: str, account: str, groups: int = 0) -> str:
    """The message group of an account: a hash, so no account number shows in queue metadata.
    With `groups` = 0 each account is a group of its own; with N > 0 the bank's accounts are
    hashed into N groups (an account always into the same one, so it stays serialised and in
    order), and a message carries the items of several accounts: fewer messages and commits
    for requests that touch many accounts, at the price of parallelism (N per bank)."""
    digest = hashlib.sha256(f"{bank}\0{account}".encode()).hexdigest()
    if groups <= 0:
        return digest[:40]
    bank_digest = hashlib.sha256(bank.encode()).hexdigest()[:32]
    # the count rides along: a consumer refuses a message hashed under another count (the
    # group totals of number n would get two writers), so the count changes only when drained
    return f"{bank_digest}-{int(digest, 16) % groups}-{groups}"


def plan(bank: str, request_id: str, valid: list[tuple[int, Transaction]],
         groups: int = 0) -> list[Part]:
    """The messages for a request's valid items, in request order within each group."""
    leader_group: dict[str, str] = {}
    by_group: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for index, tx in valid:
        group = leader_group.setdefault(tx.id, group_for(bank, tx.account, groups))
        by_group.setdefault(group, []).append((index, tx.content()))
    parts: list[Part] = []
    for group, items in by_group.items():
        chunk: list[tuple[int, dict[str, Any]]] = []
        size = 0
        for item in items:
            length = len(json.dumps(item[1])) + 16
            # a repeat of an id stays with its leader (same chunk) so the ledger settles it
            repeat = any(c["id"] == item[1]["id"] for _, c in chunk)
            if chunk and not repeat and (len(chunk) >= MAX_ITEMS or size + length > MAX_BYTES):
                parts.append(Part(bank, request_id, len(parts), group, tuple(chunk)))
                chunk, size = [], 0
            chunk.append(item)
            size += length
        parts.append(Part(bank, request_id, len(parts), group, tuple(chunk)))
    return parts


def parse(body: str) -> Part:
    """A message body back into a part; MessageError if it is not one of ours."""
    try:
        raw = json.loads(body)
        if raw.get("v") != FORMAT:
            raise MessageError(f"unknown message format {raw.get('v')!r}")
        items = tuple((int(i), dict(c)) for i, c in raw["items"])
        return Part(str(raw["bank"]), str(raw["request"]), int(raw["part"]), str(raw["group"]),
                    items)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MessageError(f"not an ingest message: {exc}") from exc
