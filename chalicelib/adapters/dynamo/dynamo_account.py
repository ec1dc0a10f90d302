"""The account item and its history pages: what both ingest paths write for an account.

The account item (`AC#<bank>#<account>`, `AC`) holds the rules' state (`st`), the account's
totals (`b`), its version (`ver`, +1 on every write, the condition every writer puts it on),
the high-water mark (`hwm`: the sequence number of the last queue message applied to it, 40
digits; the synchronous path keeps it as read) and the newest history pointers (`h`). When the
item would pass ITEM_BUDGET bytes the oldest pointers move to a history page item
(`AH#<bank>#<account>`, sk = the page's newest pointer, `p` = its pointers), and `hb` says
where the pages end: pointers at or before it live in pages, newer ones in the item. Pages
never overlap, so the newest first history is the item's pointers, then the pages by key
descending. A backdated transaction (at or before `hb`) goes into the page whose range holds
it (read, then written back), a page past PAGE_MAX bytes splits in two. This replaces the
`by_account` index, which cost a whole extra write per transaction.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field, replace
from typing import Any

from chalicelib.adapters.dynamo import dynamo_compact as compact
from chalicelib.adapters.dynamo.dynamo_table import ACCOUNT_SK, PK, SK, account_pk
from chalicelib.domain.aggregates import Bucket
from chalicelib.domain.model import Transaction
from chalicelib.domain.rules import AccountState

ITEM_BUDGET = 1000  # bytes: an account item stays one write unit (1 KB) with room to spare
PAGE_MAX = 2048  # bytes of pointers a page may reach by backdated inserts before it splits
HISTORY_PAGE = "HP"  # sk prefix of nothing else: pages sit in their own partition


def history_pk(bank: str, account: str) -> str:
    """Partition key of an account's history pages."""
    return f"AH#{bank}#{account}"


@dataclass(frozen=True)
class AccountDoc:
    """An account item as read: what the rules, the totals and the history need."""

    state: AccountState = field(default_factory=AccountState)
    bucket: Bucket | None = None
    hwm: str = ""  # "" when no queue message has written it
    history: tuple[str, ...] = ()  # pointers newer than `boundary`, ascending
    boundary: str = ""  # the newest pointer kept in a page ("" when there is no page)
    created_by: str = ""  # the sequence of the message that created the item (until rewritten)

    @property
    def version(self) -> int:
        return self.state.version


def doc_from(item: dict[str, Any] | None) -> AccountDoc:
    """An account item (plain values) as a document; an item written before this layout (JSON
    `seen`, no history) reads too."""
    if item is None:
        return AccountDoc()
    version = int(item.get("ver", 0))
    if "st" in item:
        state = compact.decode_state(str(item["st"]), version)
    else:
        state = AccountState.from_json(json.loads(str(item.get("seen", "[]"))), version)
    bucket: Bucket | None = None
    if "b" in item:
        text = str(item["b"])
        bucket = (compact.decode_bucket(text, str(item[PK]).split("#", 2)[2])
                  if text.startswith("[") else Bucket.from_json(json.loads(text)))
    history = tuple(str(item["h"]).split(" ")) if item.get("h") else ()
    return AccountDoc(state, bucket, str(item.get("hwm", "")), history, str(item.get("hb", "")),
                      str(item.get("nw", "")))


def account_item(bank: str, account: str, doc: AccountDoc) -> dict[str, Any]:
    """The item for a document, written with `ver` = doc.version (the caller bumps it)."""
    item: dict[str, Any] = {PK: account_pk(bank, account), SK: ACCOUNT_SK,
                            "ver": doc.version, "st": compact.encode_state(doc.state)}
    if doc.bucket is not None:
        item["b"] = compact.encode_bucket(doc.bucket)
    if doc.hwm:
        item["hwm"] = doc.hwm
    if doc.created_by:
        item["nw"] = doc.created_by
    if doc.history:
        item["h"] = " ".join(doc.history)
    if doc.boundary:
        item["hb"] = doc.boundary
    return item


@dataclass
class Page:
    """A history page: its key (its newest pointer) and its pointers, ascending."""

    key: str
    pointers: list[str]

    def item(self, bank: str, account: str) -> dict[str, Any]:
        return {PK: history_pk(bank, account), SK: self.key, "p": " ".join(self.pointers)}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Page:
        return cls(str(item[SK]), str(item.get("p", "")).split(" ") if item.get("p") else [])


@dataclass
class HistoryWrites:
    """What adding pointers to an account's history writes besides the account item: new pages
    (flushed from the item, or split off a page) and pages rewritten with a backdated pointer
    (each with the pointers it had when read, the condition of its write)."""

    puts: list[Page] = field(default_factory=list)
    rewrites: list[tuple[Page, str]] = field(default_factory=list)  # (page, its old `p`)


def backdated(doc: AccountDoc, txs: list[Transaction]) -> list[str]:
    """The pointers of `txs` that belong in a page (at or before the pages' end)."""
    if not doc.boundary:
        return []
    return sorted(p for p in (compact.pointer(tx.timestamp, tx.id) for tx in txs)
                  if p <= doc.boundary)


def with_history(bank: str, account: str, doc: AccountDoc, txs: list[Transaction],
                 pages: dict[str, Page]) -> tuple[AccountDoc, HistoryWrites]:
    """The document with `txs`' pointers added, and the page writes that go with it. `pages`
    are the pages that hold `backdated(doc, txs)` as read (key -> page), found by the caller.
    Deterministic: the same document and transactions give the same writes."""
    writes = HistoryWrites()
    fresh = sorted({compact.pointer(tx.timestamp, tx.id) for tx in txs})
    history = list(doc.history)
    changed: dict[str, tuple[Page, str]] = {}
    for p in fresh:
        if doc.boundary and p <= doc.boundary:
            page = _page_for(pages, p)
            if page is None:  # the pages cover everything up to the boundary: a caller's bug
                raise ValueError(f"the history page holding {p} was not read")
            if p in page.pointers:
                continue  # written by an earlier delivery
            changed.setdefault(page.key, (page, " ".join(page.pointers)))
            bisect.insort(page.pointers, p)
        elif p not in history:
            bisect.insort(history, p)
    for page, old in changed.values():
        if len(" ".join(page.pointers)) > PAGE_MAX:  # split: the older half becomes a page
            half = len(page.pointers) // 2
            writes.puts.append(Page(page.pointers[half - 1], page.pointers[:half]))
            page = Page(page.key, page.pointers[half:])
        writes.rewrites.append((page, old))
    doc = replace(doc, history=tuple(history))
    boundary = doc.boundary
    while doc.history and compact.item_bytes(account_item(bank, account, doc)) > ITEM_BUDGET:
        flushed = list(doc.history)  # the whole buffer: one page as large as the room allows
        writes.puts.append(Page(flushed[-1], flushed))
        boundary = flushed[-1]
        doc = replace(doc, history=(), boundary=boundary)
    return doc, writes


def _page_for(pages: dict[str, Page], p: str) -> Page | None:
    """The page whose range holds pointer `p`: the one with the smallest key at or after it."""
    keys = sorted(k for k in pages if k >= p)
    return pages[keys[0]] if keys else None
