"""Receipts of asynchronous requests in the ledger table: one item per part (keys in `table`).

A receipt is read with one strongly consistent Query on its partition; a consumer writes only
its own part (one UpdateItem per mark or settle). The parts are created in TransactWriteItems
calls of up to 100 actions (the Lambda role has no BatchWriteItem), each on the condition that
the part does not exist yet.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from chalicelib.adapters.dynamo import dynamo_table as t
from chalicelib.adapters.dynamo.dynamo_table import DynamoTable
from chalicelib.domain.receipts import ItemFate, Receipt, ReceiptPart
from chalicelib.ports.store import ReceiptStore

TRANSACT_MAX = 100  # TransactWriteItems' limit of actions
PARALLEL_WRITES = 10  # a batch's part updates go out together (boto3 clients are thread-safe)


def _part(item: dict[str, Any]) -> ReceiptPart:
    return ReceiptPart([ItemFate.from_json(i) for i in json.loads(item["items"]["S"])],
                       set(item.get("writing", {}).get("SS", [])))


def _dump(items: list[ItemFate]) -> str:
    return json.dumps([i.to_json() for i in items], separators=(",", ":"))


class DynamoReceipts(ReceiptStore):
    """Receipts beside the ledger, through the table's one call helper (errors: StoreError)."""

    def __init__(self, db: DynamoTable) -> None:
        self.db = db

    def create(self, bank: str, request_id: str, created_at: str,
               parts: dict[int, list[ItemFate]]) -> None:
        puts = [{"Put": {"TableName": self.db.name,
                         "ConditionExpression": "attribute_not_exists(pk)",
                         "Item": {**t.receipt_part_key(bank, request_id, n),
                                  "created_at": {"S": created_at},
                                  "items": {"S": _dump(items)}}}}
                for n, items in parts.items()]
        for start in range(0, len(puts), TRANSACT_MAX):
            self.db.call("transact_write_items", TransactItems=puts[start:start + TRANSACT_MAX])

    def get(self, bank: str, request_id: str) -> Receipt | None:
        items = list(self.db.query(KeyConditionExpression="pk = :pk", ConsistentRead=True,
                                   ExpressionAttributeValues={
                                       ":pk": {"S": t.receipt_pk(bank, request_id)}}))
        if not items:
            return None
        return Receipt(request_id, items[0]["created_at"]["S"],
                       {t.receipt_part_of(i[t.SK]["S"]): _part(i) for i in items})

    def get_part(self, bank: str, request_id: str, part: int) -> ReceiptPart | None:
        out = self.db.on_table("get_item", ConsistentRead=True,
                               Key=t.receipt_part_key(bank, request_id, part))
        return _part(out["Item"]) if "Item" in out else None

    def get_parts(self, keys: list[tuple[str, str, int]]
                  ) -> dict[tuple[str, str, int], ReceiptPart]:
        wanted = {t.item_key(t.receipt_part_key(*k)): k for k in keys}
        found = self.db.batch_get([t.receipt_part_key(*k) for k in keys])
        return {wanted[item_key]: _part(item) for item_key, item in found.items()}

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
        if ids:
            self.db.on_table("update_item", Key=t.receipt_part_key(bank, request_id, part),
                             UpdateExpression="ADD writing :ids",
                             ConditionExpression="attribute_exists(pk)",
                             ExpressionAttributeValues={":ids": {"SS": sorted(set(ids))}})

    def settle(self, bank: str, request_id: str, part: int, items: list[ItemFate]) -> None:
        self.db.on_table("update_item", Key=t.receipt_part_key(bank, request_id, part),
                         UpdateExpression="SET #items = :items",
                         ConditionExpression="attribute_exists(pk)",
                         ExpressionAttributeNames={"#items": "items"},
                         ExpressionAttributeValues={":items": {"S": _dump(items)}})
