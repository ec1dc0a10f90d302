"""Reading an account's history from its item and its pages (layout: dynamo_account).

Newest first: the item's pointers, then the pages by key descending (pages never overlap), each
page's pointers filtered by the cursor; then the transactions themselves in one BatchGetItem.
A pointer whose transaction is not there (a write that did not complete) is skipped, and an id
seen twice is read once.
"""

from __future__ import annotations

from collections.abc import Iterator

from chalicelib.adapters.dynamo import dynamo_codec as codec
from chalicelib.adapters.dynamo import dynamo_compact as compact
from chalicelib.adapters.dynamo import dynamo_table as t
from chalicelib.adapters.dynamo.dynamo_account import Page, doc_from, history_pk
from chalicelib.domain.model import Transaction


def read_pages(db: t.DynamoTable, bank: str, wanted: dict[str, list[str]]
               ) -> dict[str, dict[str, Page]]:
    """For each account, the pages that hold its `wanted` (backdated) pointers, by key: one
    Query per pointer for the page with the smallest key at or after it (rare: backdating)."""
    found: dict[str, dict[str, Page]] = {}
    for account, pointers in wanted.items():
        for p in pointers:
            if any(k >= p and (not page.pointers or page.pointers[0] <= p)
                   for k, page in found.get(account, {}).items()):
                continue
            for wire in db.query(1, KeyConditionExpression="pk = :p AND sk >= :k",
                                 ExpressionAttributeValues={
                                     ":p": {"S": history_pk(bank, account)}, ":k": {"S": p}},
                                 ConsistentRead=True):
                page = Page.from_item(codec.from_wire(wire))
                found.setdefault(account, {})[page.key] = page
    return found


def _pages(db: t.DynamoTable, bank: str, account: str, before: str | None) -> Iterator[Page]:
    """The account's pages that may hold pointers before `before`, newest first: the one
    straddling it (smallest key at or after it), then every page with a key before it."""
    pk = {":p": {"S": history_pk(bank, account)}}
    if before is not None:
        for wire in db.query(1, KeyConditionExpression="pk = :p AND sk >= :k",
                             ExpressionAttributeValues={**pk, ":k": {"S": before}},
                             ConsistentRead=True):
            yield Page.from_item(codec.from_wire(wire))
        condition, values = "pk = :p AND sk < :k", {**pk, ":k": {"S": before}}
    else:
        condition, values = "pk = :p", pk
    for wire in db.query(None, KeyConditionExpression=condition, ExpressionAttributeValues=values,
                         ScanIndexForward=False, ConsistentRead=True):
        yield Page.from_item(codec.from_wire(wire))


def account_history(db: t.DynamoTable, bank: str, account: str, limit: int,
                    after: tuple[str, str] | None) -> list[Transaction]:
    """An account's transactions newest first, strictly after the (sort key, id) position."""
    cursor = None if after is None else compact.pointer_of_position(*after)
    out = db.on_table("get_item", Key=t.account_key(bank, account), ConsistentRead=True)
    if "Item" not in out:
        return []
    doc = doc_from(codec.from_wire(out["Item"]))
    chosen: set[str] = {p for p in doc.history if cursor is None or p < cursor}
    if len(chosen) < limit and doc.boundary:
        extra = 0
        for page in _pages(db, bank, account, cursor):
            chosen.update(p for p in page.pointers if cursor is None or p < cursor)
            # pages never overlap, but one more page costs little and forgives a stray one
            if len(chosen) >= limit:
                extra += 1
                if extra > 1:
                    break
    ordered: list[str] = []
    ids: set[str] = set()
    for p in sorted(chosen, reverse=True):
        tx_id = compact.pointer_id(p)
        if tx_id not in ids:
            ids.add(tx_id)
            ordered.append(tx_id)
        if len(ordered) >= limit:
            break
    items = db.batch_get([t.tx_key(bank, i) for i in ordered])
    txs = [codec.tx_from(codec.from_wire(items[t.item_key(t.tx_key(bank, i))]))
           for i in ordered if t.item_key(t.tx_key(bank, i)) in items]
    return [tx for tx in txs if tx.account == account]
