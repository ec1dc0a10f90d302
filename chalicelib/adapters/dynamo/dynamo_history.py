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
from chalicelib.ports.store import HistoryDrift


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


# --- reconcile: check and rebuild -------------------------------------------------------------

def _listed(db: t.DynamoTable, bank: str) -> dict[str, list[str]]:
    """Every account's history pointers, item and pages (a scan)."""
    listed: dict[str, list[str]] = {}
    for wire in db.scan_prefixes([f"AC#{bank}#", f"AH#{bank}#"]):
        item = codec.from_wire(wire)
        pk = str(item[t.PK])
        if pk.split("#")[1] != bank:
            continue  # a bank whose name starts with this one's
        account = pk.split("#", 2)[2]
        if pk.startswith("AC#"):
            listed.setdefault(account, []).extend(doc_from(item).history)
        else:
            listed.setdefault(account, []).extend(Page.from_item(item).pointers)
    return listed


def history_drift(db: t.DynamoTable, bank: str, txs: Iterator[Transaction]
                  ) -> list[HistoryDrift]:
    """Accounts whose pointers do not list their transactions exactly once."""
    want: dict[str, set[str]] = {}
    for tx in txs:
        want.setdefault(tx.account, set()).add(compact.pointer(tx.timestamp, tx.id))
    listed = _listed(db, bank)
    drift = []
    for account in sorted(set(want) | set(listed)):
        have = listed.get(account, [])
        expected = want.get(account, set())
        missing = sorted(compact.pointer_id(p) for p in expected - set(have))
        stray = sorted({compact.pointer_id(p) for p in have
                        if p not in expected or have.count(p) > 1})
        if missing or stray:
            drift.append(HistoryDrift(account, tuple(missing), tuple(stray)))
    return drift


def rebuild_history(db: t.DynamoTable, bank: str, account: str,
                    txs: list[Transaction]) -> None:
    """The account's pages and item pointers written anew from its transactions: the old
    pages deleted, the pointers laid out newest in the item, the rest in pages of about
    ITEM_BUDGET bytes; the item put on its version (with the queue drained)."""
    from dataclasses import replace

    from chalicelib.adapters.dynamo.dynamo_account import ITEM_BUDGET, account_item

    out = db.on_table("get_item", Key=t.account_key(bank, account), ConsistentRead=True)
    if "Item" not in out:
        return
    doc = doc_from(codec.from_wire(out["Item"]))
    pointers = sorted({compact.pointer(tx.timestamp, tx.id) for tx in txs})
    old = [Page.from_item(codec.from_wire(w)) for w in db.query(
        None, KeyConditionExpression="pk = :p", ConsistentRead=True,
        ExpressionAttributeValues={":p": {"S": history_pk(bank, account)}})]
    keep: list[str] = []
    while pointers:  # the newest that fit in the item
        trial = replace(doc, history=(pointers[-1], *keep))
        if compact.item_bytes(account_item(bank, account, trial)) > ITEM_BUDGET:
            break
        keep.insert(0, pointers.pop())
    pages: list[Page] = []
    for p in pointers:
        if not pages or len(" ".join(pages[-1].pointers)) + len(p) + 1 > ITEM_BUDGET:
            pages.append(Page("", []))
        pages[-1].pointers.append(p)
    for page in old:
        db.on_table("delete_item", Key=t.key(history_pk(bank, account), page.key))
    for page in pages:
        page.key = page.pointers[-1]
        db.on_table("put_item", Item=codec.to_wire(page.item(bank, account)))
    new = replace(doc, state=replace(doc.state, version=doc.version + 1), history=tuple(keep),
                  boundary=pointers[-1] if pointers else "")
    db.on_table("put_item", Item=codec.to_wire(account_item(bank, account, new)),
                ConditionExpression="ver = :v",
                ExpressionAttributeValues={":v": {"N": str(doc.version)}})
