"""Receipts of asynchronous requests in the ledger table: a header and one item per settled part.

The header (sk `H`, written once, on the condition that it is new) holds the request's time and
each message's items as queued, compactly (`[[index, id], ...]` per part); the rejected items
have items of their own (parts -1, -2 ..., each at most receipts.PART_BYTES), written before
the header. A consumer writes only its own part's item (`P#<n+1:05d>`, one put of compact
fates), which overrides the header's view of that part. A receipt is read with one strongly
consistent Query on its partition. Three writes per message before (a transactional create,
a mark, a settle) became one per message plus one per request.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from chalicelib.adapters.dynamo import dynamo_table as t
from chalicelib.adapters.dynamo.dynamo_table import DynamoTable
from chalicelib.domain.receipts import QUEUED, ItemFate, Receipt, ReceiptPart
from chalicelib.ports.store import ReceiptStore

PARALLEL_WRITES = 10  # a batch's part updates go out together (boto3 clients are thread-safe)
HEADER_SK = "H"


def _fate(row: Any) -> ItemFate:
    if isinstance(row, dict):  # written before the compact form
        return ItemFate.from_json(row)
    # [index, id, status, flags, errors, flag details, details omitted]: trailing empties left out
    index, tx_id, status, *rest = row
    rest += [[], [], [], 0][len(rest):]
    flags, errors, details, omitted = rest[:4]
    return ItemFate(int(index), tx_id, str(status), tuple(flags), tuple(errors),
                    tuple(details), int(omitted))


def _row(fate: ItemFate) -> list[Any]:
    row: list[Any] = [fate.index, fate.id, fate.status, list(fate.flags), list(fate.errors),
                      list(fate.flag_details), fate.details_omitted]
    while len(row) > 3 and not row[-1]:  # the compact form: no trailing empty fields
        row.pop()
    return row


def _part(item: dict[str, Any], header: dict[int, list[ItemFate]] | None = None,
          number: int | None = None) -> ReceiptPart | None:
    writing = set(item.get("writing", {}).get("SS", []))
    if "items" in item:
        return ReceiptPart([_fate(r) for r in json.loads(item["items"]["S"])], writing)
    if header is not None and number in header:
        return ReceiptPart(list(header[number]), writing)
    return None


def _header(item: dict[str, Any] | None) -> dict[int, list[ItemFate]] | None:
    if item is None:
        return None
    return {int(n): [ItemFate(i, tx_id, QUEUED) for i, tx_id in rows]
            for n, rows in json.loads(item["q"]["S"]).items()}


def _dump(items: list[ItemFate]) -> str:
    return json.dumps([_row(i) for i in items], separators=(",", ":"))


class DynamoReceipts(ReceiptStore):
    """Receipts beside the ledger, through the table's one call helper (errors: StoreError)."""

    def __init__(self, db: DynamoTable) -> None:
        self.db = db

    def create(self, bank: str, request_id: str, created_at: str,
               parts: dict[int, list[ItemFate]]) -> None:
        queued = {n: [[f.index, f.id] for f in items] for n, items in parts.items()
                  if n >= 0 and all(f.status == QUEUED and not f.errors for f in items)}
        own = {n: items for n, items in parts.items() if n not in queued and (n >= 0 or items)}
        for n, items in own.items():  # rejected items first: the header is the commit
            self.db.on_table("put_item", ConditionExpression="attribute_not_exists(pk)", Item={
                **t.receipt_part_key(bank, request_id, n), "created_at": {"S": created_at},
                "items": {"S": _dump(items)}})
        self.db.on_table("put_item", ConditionExpression="attribute_not_exists(pk)", Item={
            **t.key(t.receipt_pk(bank, request_id), HEADER_SK), "created_at": {"S": created_at},
            "q": {"S": json.dumps(queued, separators=(",", ":"))}})

    def get(self, bank: str, request_id: str) -> Receipt | None:
        items = list(self.db.query(KeyConditionExpression="pk = :pk", ConsistentRead=True,
                                   ExpressionAttributeValues={
                                       ":pk": {"S": t.receipt_pk(bank, request_id)}}))
        if not items:
            return None
        head = next((i for i in items if i[t.SK]["S"] == HEADER_SK), None)
        header = _header(head) or {}
        parts: dict[int, ReceiptPart] = {n: ReceiptPart(list(f)) for n, f in header.items()}
        for item in items:
            if item is head:
                continue
            number = t.receipt_part_of(item[t.SK]["S"])
            part = _part(item, header, number)
            if part is not None:
                parts[number] = part
        created = (head or items[0]).get("created_at", {}).get("S", "")
        return Receipt(request_id, created, parts)

    def get_part(self, bank: str, request_id: str, part: int) -> ReceiptPart | None:
        return self.get_parts([(bank, request_id, part)]).get((bank, request_id, part))

    def get_parts(self, keys: list[tuple[str, str, int]]
                  ) -> dict[tuple[str, str, int], ReceiptPart]:
        heads = {(b, r): t.key(t.receipt_pk(b, r), HEADER_SK) for b, r, _ in keys}
        found = self.db.batch_get([t.receipt_part_key(*k) for k in keys] + list(heads.values()))
        out: dict[tuple[str, str, int], ReceiptPart] = {}
        for bank, request_id, number in keys:
            header = _header(found.get(t.item_key(heads[bank, request_id])))
            item = found.get(t.item_key(t.receipt_part_key(bank, request_id, number)))
            part = (_part(item, header, number) if item is not None else
                    None if header is None or number not in header
                    else ReceiptPart(list(header[number])))
            if part is not None:
                out[bank, request_id, number] = part
        return out

    def _each(self, calls: Sequence[Callable[[], None]]) -> None:
        """Independent single-item updates (one per part), several in flight at once: a batch
        of ten messages costs one round trip's latency, not ten."""
        if len(calls) <= 1:
            for call in calls:
                call()
            return
        with ThreadPoolExecutor(max_workers=min(PARALLEL_WRITES, len(calls))) as pool:
            for future in [pool.submit(call) for call in calls]:
                future.result()  # the first StoreError is raised here

    def mark_writing_many(self, bank: str, marks: list[tuple[str, int, list[str]]]) -> None:
        self._each([partial(self.mark_writing, bank, r, p, ids) for r, p, ids in marks])

    def settle_many(self, bank: str, settles: list[tuple[str, int, list[ItemFate]]]) -> None:
        self._each([partial(self.settle, bank, r, p, items) for r, p, items in settles])

    def mark_writing(self, bank: str, request_id: str, part: int, ids: list[str]) -> None:
        if ids:  # the part's item may not exist yet: the header holds its queued items
            self.db.on_table("update_item", Key=t.receipt_part_key(bank, request_id, part),
                             UpdateExpression="ADD writing :ids",
                             ExpressionAttributeValues={":ids": {"SS": sorted(set(ids))}})

    def settle(self, bank: str, request_id: str, part: int, items: list[ItemFate]) -> None:
        self.db.on_table("update_item", Key=t.receipt_part_key(bank, request_id, part),
                         UpdateExpression="SET #items = :items",
                         ExpressionAttributeNames={"#items": "items"},
                         ExpressionAttributeValues={":items": {"S": _dump(items)}})
